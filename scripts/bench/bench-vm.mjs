// The "systemd host (VM, qemu TCG)" section of `npm run bench` (issue 17): the cgroup placement
// can only be measured under systemd with cgroup v2, so the VM tier boots a guest for it. The host
// side (test/vm/bench/main.ts) is bundled with esbuild and run with this Node; it says itself when
// this host cannot boot the VM (tools missing), and then the section is skipped loudly, never failed.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { placementReport } from "./bench-vm-table.mjs";

const INSTALL_HINT = "apt-get install -y --no-install-recommends mmdebstrap mount gpg libdpkg-perl e2fsprogs qemu-system-x86";

let running;

/** Stop the VM run if one is going on (the bench is exiting); its own exit handler removes the VM. */
export function stopVmBench() {
  if (running && running.exitCode === null) running.kill("SIGTERM");
}

function loud(lines) {
  const bar = "!".repeat(100);
  process.stdout.write(`\n${bar}\n${lines.map((line) => `!!! ${line}`).join("\n")}\n${bar}\n`);
}

/** Bundle the host side next to node_modules (its packages, esbuild among them, stay external). */
async function bundleHost(root) {
  const cache = path.join(root, "node_modules/.cache");
  fs.mkdirSync(cache, { recursive: true });
  const dir = fs.mkdtempSync(path.join(cache, "tsss-bench-vm-"));
  const outfile = path.join(dir, "vm-bench.mjs");
  await build({ entryPoints: [path.join(root, "test/vm/bench/main.ts")], outfile, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "error" });
  return { dir, outfile };
}

function runHost(outfile, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [outfile, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    running = child;
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      running = undefined;
      if (code !== 0) reject(new Error(`the VM bench exited with ${code ?? signal} (its error is above)`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

/**
 * The section: `hostNode()` times one `node -e 0` on the host as the bench's user (ms); it runs
 * reps + warmup times before the boot, while qemu does not yet load the machine. True unless a
 * target is missed or the VM run failed.
 */
export async function vmSection({ root, tarball, reps, warmup, hostNode, progress }) {
  if (process.env.BENCH_VM === "0") {
    progress("systemd host (VM) section skipped: BENCH_VM=0");
    return true;
  }
  const samples = [];
  for (let i = 0; i < warmup + reps; i++) {
    const ms = await hostNode();
    if (i >= warmup) samples.push(ms);
  }
  progress("systemd host (VM, qemu TCG): bundling test/vm/bench/main.ts");
  const { dir, outfile } = await bundleHost(root);
  try {
    const result = await runHost(outfile, ["--tarball", tarball, "--repo", root, "--reps", String(reps), "--warmup", String(warmup)]);
    if (result.unavailable !== undefined) {
      loud([
        `systemd host (VM, qemu TCG) section NOT RUN: ${result.unavailable}.`,
        `The cgroup placement's cost (issue 17) needs a real systemd host; as root: ${INSTALL_HINT}`,
        "(BENCH_VM=0 skips the section quietly.) The figures above are complete without it.",
      ]);
      return true;
    }
    const section = placementReport(result, samples);
    process.stdout.write(`\n${section.text}\n`);
    return section.pass;
  } catch (error) {
    loud([`systemd host (VM, qemu TCG) section FAILED: ${error instanceof Error ? error.message : String(error)}`]);
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
