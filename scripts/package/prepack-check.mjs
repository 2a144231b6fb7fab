#!/usr/bin/env node
// The first step of `npm pack` (prepack): the tarball is built from this checkout with its dev
// dependencies (esbuild bundles dist/, node-api-headers builds the prebuilt addon, the lockfile
// feeds the SBOM). In a fresh checkout they are not there yet; say so, with the command, instead
// of failing later with "esbuild: not found".
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const needed = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
const missing = needed.filter((name) => !fs.existsSync(path.join(root, "node_modules", name, "package.json")));
if (missing.length > 0) {
  console.error(
    `ts-sudospawner pack: the build tools are not installed in ${root} (missing: ${missing.join(", ")}). ` +
      "Run `npm ci && npm pack` in the checkout (npm ci installs them from package-lock.json), or install a released tarball instead.",
  );
  process.exit(1);
}
