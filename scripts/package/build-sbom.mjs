#!/usr/bin/env node
// Writes dist/sbom.cdx.json, a CycloneDX 1.5 SBOM of what the npm tarball delivers (run by prepack
// after build:ts and build:prebuilt; npm run build:sbom):
//   - every package bundled into dist/ by esbuild (from dist/third-party.json, which build-ts.mjs
//     wrote from esbuild's metafile), with its licence and the registry's SHA-512 from the lockfile;
//   - every package installed with it (the bundleDependencies: node-addon-api);
//   - the files it installs that are code: the dist/ bundles and the prebuilt native parts, with
//     SHA-256 (an admin compares build/Release/* with these; see docs/admin-guide.md).
// Deterministic: no timestamp unless SOURCE_DATE_EPOCH is set, a serial number derived from the content.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = path.join(root, "dist");

function fail(message) {
  console.error(`ts-sudospawner sbom: ERROR: ${message}`);
  process.exit(1);
}

function readJson(file, what) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    return fail(`cannot read ${what} ${path.relative(root, file)} (${error.message})`);
  }
}

function sha256(file) {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function purl(name, version) {
  return `pkg:npm/${name.startsWith("@") ? `%40${name.slice(1)}` : name}@${version}`;
}

function licenses(expression) {
  return /\s(OR|AND|WITH)\s/.test(expression) || expression.startsWith("(") ? [{ expression }] : [{ license: { id: expression } }];
}

function registryHashes(lockEntry) {
  const match = /^sha512-(.+)$/.exec(lockEntry?.integrity ?? "");
  return match ? [{ alg: "SHA-512", content: Buffer.from(match[1], "base64").toString("hex") }] : [];
}

function tarballUrl(name, version) {
  const base = name.includes("/") ? name.split("/")[1] : name;
  return `https://registry.npmjs.org/${name}/-/${base}-${version}.tgz`;
}

function libraryComponent(pkg, lockEntry, delivery) {
  if (lockEntry && lockEntry.version !== pkg.version) fail(`${pkg.name}: ${pkg.version} in node_modules but ${lockEntry.version} in package-lock.json (npm ci)`);
  return {
    type: "library",
    "bom-ref": purl(pkg.name, pkg.version),
    name: pkg.name,
    version: pkg.version,
    scope: "required",
    licenses: licenses(pkg.license),
    purl: purl(pkg.name, pkg.version),
    hashes: registryHashes(lockEntry),
    externalReferences: [
      { type: "distribution", url: lockEntry?.resolved ?? tarballUrl(pkg.name, pkg.version) },
      ...(pkg.repository ? [{ type: "vcs", url: pkg.repository }] : []),
    ],
    properties: delivery.map((value) => ({ name: "ts-sudospawner:delivery", value })),
  };
}

function fileComponent(name, sha, properties) {
  return {
    type: "file",
    "bom-ref": `file:${name}`,
    name,
    hashes: [{ alg: "SHA-256", content: sha }],
    properties: Object.entries(properties).map(([key, value]) => ({ name: `ts-sudospawner:${key}`, value: String(value) })),
  };
}

function main() {
  const manifest = readJson(path.join(root, "package.json"), "the package manifest");
  const lock = readJson(path.join(root, "package-lock.json"), "the lockfile");
  const thirdParty = readJson(path.join(dist, "third-party.json"), "the bundled-package list (npm run build:ts)");
  const components = [];

  for (const pkg of thirdParty.packages) {
    components.push(libraryComponent(pkg, lock.packages[pkg.path], pkg.bundledInto.map((file) => `bundled into ${file}`)));
  }
  for (const name of manifest.bundleDependencies ?? []) {
    const dir = `node_modules/${name}`;
    const installed = readJson(path.join(root, dir, "package.json"), `the bundled dependency ${name}`);
    components.push(
      libraryComponent(
        { name, version: installed.version, license: installed.license, repository: installed.repository?.url ?? installed.repository ?? null },
        lock.packages[dir],
        [`installed as ${dir} (bundleDependencies: in the tarball, never fetched at install time)`],
      ),
    );
  }

  for (const file of fs.readdirSync(dist).filter((f) => /\.(c?js)$/.test(f)).sort()) {
    components.push(fileComponent(`dist/${file}`, sha256(path.join(dist, file)), { delivery: "in the tarball, run as is" }));
  }

  const prebuilt = path.join(root, "prebuilds", "manifest.json");
  if (fs.existsSync(prebuilt)) {
    const targets = readJson(prebuilt, "the prebuilt manifest").targets;
    for (const [target, entry] of Object.entries(targets).sort()) {
      for (const [file, facts] of Object.entries(entry.files).sort()) {
        const name = `prebuilds/${target}/${file}`;
        const actual = sha256(path.join(root, name));
        if (actual !== facts.sha256) fail(`${name} does not match prebuilds/manifest.json (npm run build:prebuilt)`);
        components.push(
          fileComponent(name, actual, {
            target,
            "installed-as": `build/Release/${file} (when the install uses the prebuilt parts)`,
            ...(file.endsWith(".node") ? { "napi-version": entry.addon.napiVersion, "glibc-needed": entry.addon.maxGlibc ?? "none" } : { linkage: "static" }),
            compiler: file.endsWith(".node") ? entry.toolchain.cxx : entry.toolchain.cc,
            "inputs-sha256": entry.inputs,
          }),
        );
      }
    }
  } else {
    console.error("ts-sudospawner sbom: !!! no prebuilds/manifest.json: the SBOM lists no prebuilt native parts (npm run build:prebuilt)");
  }

  const self = {
    type: "application",
    "bom-ref": purl(manifest.name, manifest.version),
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    licenses: licenses(manifest.license),
    purl: purl(manifest.name, manifest.version),
  };
  const body = {
    metadata: {
      ...(process.env.SOURCE_DATE_EPOCH ? { timestamp: new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString() } : {}),
      tools: { components: [{ type: "application", name: "ts-sudospawner scripts/package/build-sbom.mjs" }] },
      component: self,
    },
    components,
    dependencies: [{ ref: self["bom-ref"], dependsOn: components.filter((c) => c.type === "library").map((c) => c["bom-ref"]) }],
  };
  const digest = createHash("sha256").update(JSON.stringify(body)).digest("hex");
  const uuid = `${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-${((parseInt(digest[16], 16) & 0x3) | 0x8).toString(16)}${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
  const sbom = { bomFormat: "CycloneDX", specVersion: "1.5", serialNumber: `urn:uuid:${uuid}`, version: 1, ...body };
  fs.writeFileSync(path.join(dist, "sbom.cdx.json"), `${JSON.stringify(sbom, null, 2)}\n`);
  const files = components.filter((c) => c.type === "file").length;
  console.error(`ts-sudospawner sbom: wrote dist/sbom.cdx.json (${components.length - files} packages, ${files} files)`);
}

main();
