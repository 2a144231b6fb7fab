#!/usr/bin/env node
// `npm run demo`: one spawn / poll / stop cycle of a single-user server, on embedded defaults.
// As root: through real sudo, as a hub user starting a server for another user (both created
// here, prefixed tsss-demo-, removed at the end). Otherwise: as yourself, calling the mediator
// directly. The server is the tiny demo server (HTTP + WebSocket), installed next to the mediator.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const asRoot = process.getuid() === 0;
const HUB = "tsss-demo-hub";
const USER = "tsss-demo-user";
const SUDOERS = "/etc/sudoers.d/tsss-demo";
const cleanups = [];

function step(message) {
  process.stdout.write(`\n== ${message}\n`);
}

function have(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** A minimal install in a fresh directory: the layout `npm install -g --prefix` makes. */
function installInto(prefix) {
  const pkg = path.join(prefix, "lib/node_modules/ts-sudospawner");
  const files = ["package.json", "dist/cli.cjs", "dist/mediator.cjs", "dist/admin.cjs", "build/Release/tsss_native.node", "build/Release/tsss-reaper"];
  for (const file of files) {
    const source = path.join(root, file);
    if (!fs.existsSync(source)) throw new Error(`${file} is missing: run \`npm ci\` (builds the addon) before the demo`);
    fs.mkdirSync(path.dirname(path.join(pkg, file)), { recursive: true, mode: 0o755 });
    fs.copyFileSync(source, path.join(pkg, file));
  }
  fs.chmodSync(path.join(pkg, "dist/cli.cjs"), 0o755);
  fs.chmodSync(path.join(pkg, "build/Release/tsss-reaper"), 0o755);
  const bin = path.join(prefix, "bin");
  fs.mkdirSync(bin, { mode: 0o755 });
  fs.symlinkSync("../lib/node_modules/ts-sudospawner/dist/cli.cjs", path.join(bin, "ts-sudospawner"));
  fs.copyFileSync(path.join(root, "dist/demo-singleuser.cjs"), path.join(bin, "jupyterhub-singleuser"));
  fs.chmodSync(path.join(bin, "jupyterhub-singleuser"), 0o755);
  return path.join(bin, "ts-sudospawner");
}

function createAccounts(mediator) {
  for (const name of [HUB, USER]) {
    if (spawnSync("getent", ["passwd", name]).status !== 0) {
      execFileSync("useradd", ["--create-home", "--user-group", "--shell", "/bin/bash", name]);
      cleanups.push(() => {
        spawnSync("pkill", ["-KILL", "-u", name]);
        spawnSync("userdel", ["--remove", "--force", name], { stdio: "ignore" });
      });
    }
  }
  const rule = [
    "# ts-sudospawner demo (removed when the demo ends)",
    `Defaults:${HUB} !requiretty`,
    `${HUB} ALL=(${USER}) NOPASSWD: ${mediator}`,
    "",
  ].join("\n");
  const staging = `${SUDOERS}.tmp`;
  fs.writeFileSync(staging, rule, { mode: 0o440 });
  execFileSync("visudo", ["-cqf", staging]);
  fs.renameSync(staging, SUDOERS);
  cleanups.push(() => fs.rmSync(SUDOERS, { force: true }));
  process.stdout.write(rule.replace(/^/gm, "   "));
}

/** One mediator call as the hub makes it; prints the request and the answer. */
function call(mediator, request) {
  const argv = asRoot ? ["sudo", "-u", HUB, "sudo", "-n", "-u", USER, "-H", mediator, "--logging=INFO"] : [mediator, "--logging=INFO"];
  process.stdout.write(`   $ echo '${JSON.stringify(request)}' | ${argv.join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    // The server inherits stderr and keeps writing there: relay it, as a hub does, until it closes.
    child.stderr.setEncoding("utf8").on("data", (chunk) => process.stdout.write(chunk.replace(/^(?=.)/gm, "   | ")));
    child.on("error", reject);
    child.on("exit", () => {
      process.stdout.write(`   -> ${stdout.trim()}\n`);
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`the mediator did not answer with JSON: ${JSON.stringify(stdout)}`));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

async function freePort() {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  if (!fs.existsSync(path.join(root, "dist/cli.cjs"))) throw new Error("dist/ is missing: run `npm run build:ts`");
  if (asRoot && !have("sudo")) throw new Error("sudo is not installed: `apt-get install sudo` (or run the demo as a normal user)");
  step(asRoot ? `demo as root: hub user ${HUB} starts a server for ${USER} through sudo` : `demo as ${os.userInfo().username}: no sudo, the mediator acts as you`);

  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-demo-"));
  fs.chmodSync(prefix, 0o755);
  cleanups.push(() => fs.rmSync(prefix, { recursive: true, force: true }));
  const mediator = installInto(prefix);
  process.stdout.write(`   installed into ${prefix} (mediator ${mediator}, demo server next to it as jupyterhub-singleuser)\n`);
  if (asRoot) {
    step("sudoers rule");
    createAccounts(mediator);
  }

  const port = await freePort();
  step("spawn");
  const started = await call(mediator, { action: "spawn", args: [`--port=${port}`], env: { PATH: "/usr/local/bin:/usr/bin:/bin", JUPYTERHUB_API_TOKEN: "demo-token" } });
  if (!started.ok) throw new Error(`spawn failed: ${started.error}`);

  step("poll (signal 0) and talk to the server");
  const polled = await call(mediator, { action: "kill", pid: started.pid, signal: 0 });
  let status;
  for (let i = 0; i < 50 && !status; i++) {
    status = await fetch(`http://127.0.0.1:${port}/api/status`).then((r) => r.json(), () => undefined);
    if (!status) await sleep(100);
  }
  if (!status) throw new Error("the server did not answer HTTP");
  process.stdout.write(`   GET http://127.0.0.1:${port}/api/status -> pid ${status.pid}, uid ${status.uid}, cwd ${status.cwd}\n`);

  step("stop (SIGTERM), then poll until gone");
  await call(mediator, { action: "kill", pid: started.pid, signal: 15 });
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    await sleep(100);
    alive = (await call(mediator, { action: "kill", pid: started.pid, signal: 0 })).alive;
  }
  if (polled.alive !== true || alive) throw new Error("the server did not stop");
  step("done: spawned, polled, served HTTP, stopped");
}

function cleanup() {
  for (const undo of cleanups.reverse()) {
    try {
      undo();
    } catch (error) {
      process.stderr.write(`demo cleanup: ${error.message}\n`);
    }
  }
  cleanups.length = 0;
}

process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

main().then(
  () => {
    cleanup();
  },
  (error) => {
    process.stderr.write(`\ndemo failed: ${error.message}\n`);
    cleanup();
    process.exit(1);
  },
);
