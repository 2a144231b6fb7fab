#!/usr/bin/env node
// Bundles the CLI into one CommonJS file (fast start: one file to read, dependencies evaluated
// only when used), the library into one ES module, and the demo single-user server; then emits
// type declarations with tsc.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.join(root, "dist");
const common = { bundle: true, platform: "node", target: "node20", legalComments: "none", logLevel: "warning" };

fs.rmSync(outdir, { recursive: true, force: true });
console.log("ts-sudospawner: bundling dist/cli.cjs, dist/admin.cjs, dist/pino.cjs, dist/index.js, dist/demo-singleuser.cjs");
await Promise.all([
  build({
    ...common,
    entryPoints: [path.join(root, "src/cli.ts")],
    outfile: path.join(outdir, "cli.cjs"),
    format: "cjs",
    banner: { js: "#!/usr/bin/env node" },
    logOverride: { "empty-import-meta": "silent" },
  }),
  // pino, required by the CLI bundles only when a log record is written.
  build({
    ...common,
    stdin: { contents: 'module.exports = require("pino");', resolveDir: root, sourcefile: "pino-entry.cjs" },
    outfile: path.join(outdir, "pino.cjs"),
    format: "cjs",
    external: ["pino-pretty"],
  }),
  // Admin commands and commander, required by dist/cli.cjs only for `sudoers` and `check`.
  build({
    ...common,
    entryPoints: [path.join(root, "src/admin/cli.ts")],
    outfile: path.join(outdir, "admin.cjs"),
    format: "cjs",
    logOverride: { "empty-import-meta": "silent" },
  }),
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
fs.chmodSync(path.join(outdir, "demo-singleuser.cjs"), 0o755);
console.log("ts-sudospawner: emitting type declarations");
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
