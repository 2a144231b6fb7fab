#!/usr/bin/env node
// Bundles the CLI into one CommonJS file (fast start: one file to read, dependencies evaluated
// only when used), the library into one ES module, and the demo single-user server; then emits
// type declarations with tsc. From esbuild's metafiles it writes what the bundles contain of other
// people's code: dist/THIRD-PARTY-NOTICES.txt (name, version, licence, licence text of every
// bundled package) and dist/third-party.json (the same, machine-readable: for the SBOM,
// scripts/package/build-sbom.mjs, and the audit, scripts/test/audit-bundled.mjs).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const outdir = path.join(root, "dist");
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  absWorkingDir: root,
};

fs.rmSync(outdir, { recursive: true, force: true });
console.log("ts-sudospawner: bundling dist/cli.cjs, dist/mediator.cjs, dist/admin.cjs, dist/index.js, dist/demo-singleuser.cjs");
/** One of the command's CommonJS bundles (dist/cli.cjs requires the others only when needed). */
function commandBundle(entry, outfile, extra = {}) {
  return build({
    ...common,
    entryPoints: [path.join(root, entry)],
    outfile: path.join(outdir, outfile),
    format: "cjs",
    ...extra,
  });
}

const results = await Promise.all([
  commandBundle("src/cli.ts", "cli.cjs", { banner: { js: "#!/usr/bin/env node" } }),
  // The mediator, required by dist/cli.cjs for a request (not for --help, --version or an admin command).
  commandBundle("src/mediator/main.ts", "mediator.cjs"),
  // Admin commands and commander, required by dist/cli.cjs only for `sudoers` and `check`.
  commandBundle("src/admin/cli.ts", "admin.cjs"),
  build({
    ...common,
    entryPoints: [path.join(root, "src/index.ts")],
    outfile: path.join(outdir, "index.js"),
    format: "esm",
    packages: "external",
  }),
  build({
    ...common,
    entryPoints: [path.join(root, "examples/demo-singleuser.ts")],
    outfile: path.join(outdir, "demo-singleuser.cjs"),
    format: "cjs",
    banner: { js: "#!/usr/bin/env node" },
    external: ["bufferutil", "utf-8-validate"],
  }),
]);
fs.chmodSync(path.join(outdir, "cli.cjs"), 0o755);
writeThirdPartyNotices(results.map((result) => result.metafile));
fs.chmodSync(path.join(outdir, "demo-singleuser.cjs"), 0o755);
console.log("ts-sudospawner: emitting type declarations");
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });

/** node_modules/a/node_modules/@s/b/lib/x.js -> node_modules/a/node_modules/@s/b (the innermost package). */
function packageDirOf(input) {
  const parts = input.split("/");
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) return undefined;
  const length = parts[at + 1]?.startsWith("@") ? 3 : 2;
  return parts.slice(0, at + length).join("/");
}

function licenceOf(manifest) {
  if (typeof manifest.license === "string") return manifest.license;
  if (manifest.license?.type) return manifest.license.type;
  if (Array.isArray(manifest.licenses)) return manifest.licenses.map((l) => l.type ?? l).join(" OR ");
  return undefined;
}

/** Every package whose code esbuild put into a dist/ file, with its licence and licence text. */
function writeThirdPartyNotices(metafiles) {
  const packages = new Map();
  for (const metafile of metafiles) {
    for (const [output, info] of Object.entries(metafile.outputs)) {
      for (const input of Object.keys(info.inputs)) {
        const dir = packageDirOf(input);
        if (!dir) continue;
        const entry = packages.get(dir) ?? { dir, bundledInto: new Set() };
        entry.bundledInto.add(output);
        packages.set(dir, entry);
      }
    }
  }
  const listed = [...packages.values()]
    .map(({ dir, bundledInto }) => {
      const manifest = JSON.parse(fs.readFileSync(path.join(root, dir, "package.json"), "utf8"));
      const license = licenceOf(manifest);
      const licenseFiles = fs
        .readdirSync(path.join(root, dir))
        .filter((file) => /^(licen[cs]e|copying|notice)([.-].*)?$/i.test(file))
        .sort();
      if (!license) throw new Error(`${dir}/package.json names no licence: cannot ship its code without knowing it`);
      if (licenseFiles.length === 0) throw new Error(`${dir} has no LICENSE file: its licence text must ship with the bundle`);
      const repository = typeof manifest.repository === "string" ? manifest.repository : manifest.repository?.url;
      return {
        name: manifest.name,
        version: manifest.version,
        license,
        path: dir,
        repository: repository ?? null,
        bundledInto: [...bundledInto].sort(),
        licenseFiles,
        texts: licenseFiles.map((file) => fs.readFileSync(path.join(root, dir, file), "utf8").trim()),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const rule = "=".repeat(78);
  const notices = [
    "Third-party software in ts-sudospawner's dist/ bundles",
    "",
    "The files in dist/ contain code of the packages below, bundled by esbuild (scripts/package/build-ts.mjs",
    "lists them from esbuild's metafile at build time). ts-sudospawner itself is under the",
    "BSD-3-Clause licence in LICENSE. The native addon and the reaper contain no third-party code",
    "besides the C/C++ runtime; node-addon-api (MIT), needed only to build the addon from source, is",
    "installed with the package as node_modules/node-addon-api with its own LICENSE.md.",
    "",
    ...listed.flatMap((p) => [
      rule,
      `${p.name} ${p.version}`,
      `Licence: ${p.license}`,
      ...(p.repository ? [`Source: ${p.repository}`] : []),
      `Bundled into: ${p.bundledInto.join(", ")}`,
      "",
      ...p.licenseFiles.flatMap((file, i) => [`--- ${file} ---`, p.texts[i], ""]),
    ]),
    rule,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(outdir, "THIRD-PARTY-NOTICES.txt"), notices);
  const machine = listed.map(({ texts, ...rest }) => rest);
  fs.writeFileSync(path.join(outdir, "third-party.json"), `${JSON.stringify({ packages: machine }, null, 2)}\n`);
  console.log(`ts-sudospawner: dist/THIRD-PARTY-NOTICES.txt: ${listed.map((p) => `${p.name}@${p.version}`).join(", ")}`);
}
