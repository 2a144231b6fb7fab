#!/usr/bin/env node
// Builds the prebuilt native parts that `npm pack` puts into the tarball (npm run build:prebuilt;
// also run by prepack):
//
//   prebuilds/linux-x64/tsss_native.node    Node-API addon (NAPI_VERSION=8: one file for Node 20, 22, 24)
//   prebuilds/linux-x64/tsss-reaper         static reaper
//   prebuilds/linux-arm64/...               the same, when the Debian cross compiler
//                                           (g++-aarch64-linux-gnu) is installed
//   prebuilds/manifest.json                 sizes, SHA-256, glibc floor, compiler, inputs hash
//
// The compilers are called directly (not node-gyp), with every input named: the sources, the
// node-addon-api and node-api-headers packages from node_modules (not the running Node's headers),
// and the flags below. The result is reproducible: no build id, stripped, paths relative to the
// package root, SOURCE_DATE_EPOCH fixed; building twice, anywhere, gives the same bytes.
// The addon must not need glibc symbols newer than 2.28 (checked with readelf); the reaper must be
// static (checked too).
//
// Options: --out DIR (default prebuilds/), --target linux-x64 (repeatable; default: every target
// whose compiler is installed, and linux-x64 is required), --force (ignore the up-to-date check).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GLIBC_FLOOR = "2.28";
// libstdc++ of GCC 8 (RHEL 8's system compiler), the oldest a glibc 2.28 system ships.
const GLIBCXX_FLOOR = "3.4.25";
const NAPI_VERSION = 8;

/** Every target we know how to build; `compilers` are tried in order. */
const TARGETS = {
  "linux-x64": {
    cc: ["x86_64-linux-gnu-gcc", ...(process.arch === "x64" ? ["gcc"] : [])],
    cxx: ["x86_64-linux-gnu-g++", ...(process.arch === "x64" ? ["g++"] : [])],
    machine: "X86-64",
    required: true,
  },
  "linux-arm64": {
    cc: ["aarch64-linux-gnu-gcc", ...(process.arch === "arm64" ? ["gcc"] : [])],
    cxx: ["aarch64-linux-gnu-g++", ...(process.arch === "arm64" ? ["g++"] : [])],
    machine: "AArch64",
    required: false,
  },
};

const SOURCES = {
  addon: "native/src/addon.cc",
  reaper: "native/src/reaper.c",
  common: "native/src/tsss_common.h",
  compat: "native/prebuilt/glibc-compat.h",
};

// The same meaning as binding.gyp (defines, hardening), plus what makes the bytes reproducible.
const COMMON_FLAGS = [
  "-O2",
  "-Wall",
  "-Wextra",
  "-fstack-protector-strong",
  "-D_FORTIFY_SOURCE=2",
  "-D_FILE_OFFSET_BITS=64",
  "-fno-ident",
];
// Sources are named relative to the package root and compiled from there; this maps any absolute
// path the compiler still records (there should be none without -g) to a relative one. Not part of
// the inputs hash: the hash must not depend on where the checkout is.
const prefixMap = () => [`-ffile-prefix-map=${root}/=`];
const LINK_FLAGS = ["-s", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack", "-Wl,--build-id=none", "-Wl,--hash-style=gnu"];

function addonFlags(includeDirs) {
  return [
    "-std=gnu++17",
    ...COMMON_FLAGS,
    "-Wno-unused-parameter",
    "-fPIC",
    "-shared",
    "-fvisibility=hidden",
    "-fno-exceptions",
    "-fno-rtti",
    `-DNAPI_VERSION=${NAPI_VERSION}`,
    "-DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
    "-DBUILDING_NODE_EXTENSION",
    "-frandom-seed=tsss_native",
    "-include",
    SOURCES.compat,
    ...includeDirs.flatMap((dir) => ["-I", dir]),
    ...LINK_FLAGS,
    "-Wl,--as-needed",
  ];
}

function reaperFlags() {
  return ["-std=gnu11", ...COMMON_FLAGS, "-frandom-seed=tsss-reaper", "-static", ...LINK_FLAGS];
}

function log(message) {
  console.error(`ts-sudospawner prebuilt: ${message}`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  process.exit(1);
}

function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

function commandPath(name) {
  const result = spawnSync("sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function run(file, args, options = {}) {
  const result = spawnSync(file, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C", TZ: "UTC", SOURCE_DATE_EPOCH: "0" },
    ...options,
  });
  if (result.error) fail(`could not run ${file}: ${result.error.message}`);
  if (result.status !== 0) fail(`${file} ${args.join(" ")} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** The package directory of a dependency, found from the package root (never from the cwd). */
function packageDir(name) {
  const dir = path.join(root, "node_modules", name);
  if (!fs.existsSync(path.join(dir, "package.json"))) fail(`${name} is not installed in node_modules (npm ci)`);
  return dir;
}

function headerInputs() {
  const addonApi = packageDir("node-addon-api");
  const apiHeaders = path.join(packageDir("node-api-headers"), "include");
  const files = [
    ...fs.readdirSync(addonApi).filter((f) => f.endsWith(".h")).map((f) => path.join(addonApi, f)),
    ...fs.readdirSync(apiHeaders).filter((f) => f.endsWith(".h")).map((f) => path.join(apiHeaders, f)),
  ];
  return { includeDirs: [path.relative(root, addonApi), path.relative(root, apiHeaders)], files };
}

function findCompilers(name) {
  const target = TARGETS[name];
  const cc = target.cc.map(commandPath).find(Boolean);
  const cxx = target.cxx.map(commandPath).find(Boolean);
  return cc && cxx ? { cc, cxx } : undefined;
}

/** What the bytes depend on besides our own files: the compiler and the static C library. */
function toolchainIdentity(compilers) {
  const version = run(compilers.cxx, ["--version"]).split("\n")[0];
  const ccVersion = run(compilers.cc, ["--version"]).split("\n")[0];
  const libc = run(compilers.cc, ["-print-file-name=libc.a"]).trim();
  if (!path.isAbsolute(libc)) fail(`${compilers.cc} has no static C library (libc.a): install libc6-dev (glibc-static)`);
  return { cxx: version, cc: ccVersion, libcSha256: sha256(fs.readFileSync(libc)) };
}

function inputsHash(name, toolchain, headers) {
  const hash = createHash("sha256");
  const add = (label, data) => hash.update(`${label}\0${data.length}\0`).update(data);
  add("script", fs.readFileSync(fileURLToPath(import.meta.url)));
  add("target", name);
  add("toolchain", JSON.stringify(toolchain));
  add("addon-flags", JSON.stringify(addonFlags(headers.includeDirs)));
  add("reaper-flags", JSON.stringify(reaperFlags()));
  for (const file of [...Object.values(SOURCES), ...headers.files.map((f) => path.relative(root, f))].sort()) {
    add(file, fs.readFileSync(path.join(root, file)));
  }
  return hash.digest("hex");
}

/** GLIBC_x.y / GLIBCXX_x.y.z / CXXABI_x.y versions an ELF file needs (readelf -V). */
function neededVersions(file) {
  const text = run("readelf", ["-V", "--wide", file]);
  const needs = text.slice(text.indexOf("Version needs section") >= 0 ? text.indexOf("Version needs section") : text.length);
  return [...new Set([...needs.matchAll(/Name: ((?:GLIBC|GLIBCXX|CXXABI)_[0-9.]+)/g)].map((m) => m[1]))].sort();
}

function compareVersions(a, b) {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function maxVersion(versions, prefix) {
  return versions
    .filter((v) => v.startsWith(`${prefix}_`))
    .map((v) => v.slice(prefix.length + 1))
    .sort(compareVersions)
    .pop();
}

function checkAddon(file, target) {
  const header = run("readelf", ["-h", "--wide", file]);
  if (!new RegExp(`Machine:[^\\n]*\\b${target.machine}\\n`).test(header)) fail(`${file} is not a ${target.machine} ELF file`);
  const versions = neededVersions(file);
  const glibc = maxVersion(versions, "GLIBC");
  const glibcxx = maxVersion(versions, "GLIBCXX");
  if (glibc && compareVersions(glibc, GLIBC_FLOOR) > 0) {
    fail(`${file} needs GLIBC_${glibc}, newer than the floor ${GLIBC_FLOOR}: add the symbol to ${SOURCES.compat} (readelf -V --wide ${file})`);
  }
  if (glibcxx && compareVersions(glibcxx, GLIBCXX_FLOOR) > 0) fail(`${file} needs GLIBCXX_${glibcxx}, newer than ${GLIBCXX_FLOOR}`);
  const dynamic = run("readelf", ["-d", "--wide", file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  if (!/napi_register_module_v1/.test(run("readelf", ["--dyn-syms", "--wide", file]))) fail(`${file} does not export napi_register_module_v1`);
  return { maxGlibc: glibc ?? null, maxGlibcxx: glibcxx ?? null, needed };
}

function checkReaper(file, target) {
  const header = run("readelf", ["-h", "-l", "--wide", file]);
  if (!new RegExp(`Machine:[^\\n]*\\b${target.machine}\\n`).test(header)) fail(`${file} is not a ${target.machine} ELF file`);
  if (/\bINTERP\b/.test(header) || /\bDYNAMIC\b/.test(header)) fail(`${file} is not statically linked`);
}

function buildTarget(name, compilers, headers, outDir) {
  const target = TARGETS[name];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `tsss-prebuilt-${name}-`));
  try {
    const addon = path.join(work, "tsss_native.node");
    const reaper = path.join(work, "tsss-reaper");
    log(`${name}: ${path.basename(compilers.cxx)} ${SOURCES.addon} -> tsss_native.node`);
    run(compilers.cxx, [...addonFlags(headers.includeDirs), ...prefixMap(), SOURCES.addon, "-o", addon]);
    log(`${name}: ${path.basename(compilers.cc)} ${SOURCES.reaper} -> tsss-reaper (static)`);
    run(compilers.cc, [...reaperFlags(), ...prefixMap(), SOURCES.reaper, "-o", reaper]);
    const addonFacts = checkAddon(addon, target);
    checkReaper(reaper, target);
    const dir = path.join(outDir, name);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const files = {};
    for (const [file, from] of [["tsss_native.node", addon], ["tsss-reaper", reaper]]) {
      const data = fs.readFileSync(from);
      fs.writeFileSync(path.join(dir, file), data, { mode: 0o755 });
      fs.chmodSync(path.join(dir, file), 0o755);
      files[file] = { size: data.length, sha256: sha256(data) };
    }
    return { files, addon: { napiVersion: NAPI_VERSION, ...addonFacts }, reaper: { static: true } };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function readManifest(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

function upToDate(previous, name, inputs, outDir) {
  const entry = previous?.targets?.[name];
  if (!entry || entry.inputs !== inputs) return false;
  return Object.entries(entry.files).every(([file, facts]) => {
    try {
      return sha256(fs.readFileSync(path.join(outDir, name, file))) === facts.sha256;
    } catch {
      return false;
    }
  });
}

function main() {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      target: { type: "string", multiple: true },
      force: { type: "boolean", default: false },
    },
  });
  const outDir = path.resolve(values.out ?? path.join(root, "prebuilds"));
  const wanted = values.target ?? Object.keys(TARGETS);
  for (const name of wanted) if (!TARGETS[name]) fail(`unknown target ${name} (known: ${Object.keys(TARGETS).join(", ")})`);
  if (!commandPath("readelf")) fail("readelf (binutils) is needed to check the prebuilt files");
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const headers = headerInputs();
  const manifestFile = path.join(outDir, "manifest.json");
  const previous = readManifest(manifestFile);
  const manifest = {
    format: 1,
    package: `${pkg.name}@${pkg.version}`,
    note: "Prebuilt native parts (scripts/native/build-prebuilt.mjs). The install script copies the files of the matching target into build/Release when the addon loads and the reaper runs; else it builds from source.",
    glibcFloor: GLIBC_FLOOR,
    targets: {},
  };
  fs.mkdirSync(outDir, { recursive: true, mode: 0o755 });
  for (const name of wanted) {
    const compilers = findCompilers(name);
    if (!compilers) {
      const how = name === "linux-arm64" ? " (Debian: apt-get install g++-aarch64-linux-gnu)" : "";
      if (TARGETS[name].required || values.target) fail(`no compiler for ${name}: ${TARGETS[name].cxx.join(" or ")}${how}`);
      log(`!!! ${name}: SKIPPED, no ${TARGETS[name].cxx[0]}${how}; the tarball will not carry ${name} prebuilt files`);
      fs.rmSync(path.join(outDir, name), { recursive: true, force: true });
      continue;
    }
    const toolchain = toolchainIdentity(compilers);
    const inputs = inputsHash(name, toolchain, headers);
    if (!values.force && upToDate(previous, name, inputs, outDir)) {
      log(`${name}: up to date (inputs ${inputs.slice(0, 12)})`);
      manifest.targets[name] = previous.targets[name];
      continue;
    }
    const built = buildTarget(name, compilers, headers, outDir);
    manifest.targets[name] = { inputs, toolchain: { cc: toolchain.cc, cxx: toolchain.cxx, libcSha256: toolchain.libcSha256 }, ...built };
    for (const [file, facts] of Object.entries(built.files)) log(`${name}/${file}: ${facts.size} bytes, sha256 ${facts.sha256}`);
  }
  for (const entry of fs.readdirSync(outDir)) {
    if (entry !== "manifest.json" && !manifest.targets[entry]) fs.rmSync(path.join(outDir, entry), { recursive: true, force: true });
  }
  fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  fs.chmodSync(manifestFile, 0o644);
  log(`wrote ${path.relative(process.cwd(), manifestFile) || manifestFile} (${Object.keys(manifest.targets).join(", ")})`);
}

main();
