#!/usr/bin/env node
// Says where an installed copy's native parts came from, by hash:
//
//   node PREFIX/lib/node_modules/ts-sudospawner/scripts/native/verify-native.mjs
//
// For build/Release/tsss_native.node and build/Release/tsss-reaper it prints the SHA-256 and
// whether that is the SHA-256 the SBOM (dist/sbom.cdx.json) records for this platform's prebuilt
// file (so: the prebuilt file, unchanged) or not (built from source here, or changed since).
// Exit status 0 when both match the SBOM, 1 when either does not or is missing, 2 on a broken
// package. Reads only; needs nothing but node.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const target = `${process.platform}-${process.arch}`;

let sbom;
try {
  sbom = JSON.parse(fs.readFileSync(path.join(root, "dist", "sbom.cdx.json"), "utf8"));
} catch (error) {
  console.error(`cannot read ${path.join(root, "dist", "sbom.cdx.json")}: ${error.message}`);
  process.exit(2);
}
const recorded = new Map(
  sbom.components.filter((c) => c.type === "file").map((c) => [c.name, c.hashes.find((h) => h.alg === "SHA-256")?.content]),
);

let allPrebuilt = true;
for (const file of ["tsss_native.node", "tsss-reaper"]) {
  const installed = path.join(root, "build", "Release", file);
  const expected = recorded.get(`prebuilds/${target}/${file}`);
  let actual;
  try {
    actual = createHash("sha256").update(fs.readFileSync(installed)).digest("hex");
  } catch (error) {
    console.log(`${installed}: missing (${error.code ?? error.message})`);
    allPrebuilt = false;
    continue;
  }
  const stats = fs.statSync(installed);
  const owner = `uid ${stats.uid}, mode ${(stats.mode & 0o7777).toString(8)}`;
  if (!expected) {
    console.log(`${installed}: sha256 ${actual} (${owner}); the SBOM has no prebuilt ${file} for ${target}: built from source`);
    allPrebuilt = false;
  } else if (actual === expected) {
    console.log(`${installed}: sha256 ${actual} (${owner}) = the SBOM's prebuilds/${target}/${file}: the prebuilt file`);
  } else {
    console.log(`${installed}: sha256 ${actual} (${owner}) differs from the SBOM's prebuilds/${target}/${file} (${expected}): built from source, or changed since`);
    allPrebuilt = false;
  }
}
process.exit(allPrebuilt ? 0 : 1);
