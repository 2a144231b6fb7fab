/**
 * One root integration run at a time on a machine: they share fixed user names, a prefix and a
 * sudoers file. A second run waits (saying so) until the first releases the lock or dies.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const LOCK_DIR = "/tmp/tsss-test-run.lock";

function holder(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(`${LOCK_DIR}/pid`, "utf8"));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function acquireRunLock(timeoutMs = 30 * 60_000): () => void {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR, { mode: 0o700 });
      fs.writeFileSync(`${LOCK_DIR}/pid`, String(process.pid));
      return () => {
        if (holder() === process.pid) fs.rmSync(LOCK_DIR, { recursive: true, force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const pid = holder();
    if (pid !== undefined && !alive(pid)) {
      fs.rmSync(LOCK_DIR, { recursive: true, force: true }); // a crashed run's lock
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another ts-sudospawner test run (pid ${pid}) has held ${LOCK_DIR} for too long`);
    if (!announced) {
      process.stderr.write(`test setup: waiting for another root test run (pid ${pid ?? "?"}) to finish...\n`);
      announced = true;
    }
    spawnSync("sleep", ["1"]);
  }
}
