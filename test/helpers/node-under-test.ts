/**
 * Which node the root suites' mediators really run on. The installed mediator is
 * `#!/usr/bin/env node`: under sudo it finds node on secure_path, run directly (the admin suite's
 * clean environment) on /usr/local/bin:/usr/bin. When the tests themselves run on another node (the
 * Node 22/24 matrix, scripts/test/test-node-matrix.mjs), both would quietly find the system node.
 *
 * With TSSS_TEST_NODE_ON_PATH=1 (set by the matrix, as root, under the run lock) the fixture makes
 * /usr/local/bin/node a link to the node running the tests for the duration of the run: first on
 * Debian's secure_path and on every PATH the suites use. An existing /usr/local/bin/node is moved
 * aside and put back at teardown (or by the next run, after a crash). Then it checks through real
 * sudo that `env node` is that node, and fails the setup if not. Without the variable it changes
 * nothing: when the mediator would run on another node than the tests (sudo's secure_path finding
 * Debian's own node, say), a local run says so loudly and goes on, and a CI run fails (the rule of
 * test/helpers/prerequisites.ts; .ci/run sets TSSS_TEST_NODE_ON_PATH=1).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { noteWithout } from "./prerequisites.js";

const LINK = "/usr/local/bin/node";
const BACKUP = "/usr/local/bin/.node.tsss-test-backup";
const MARK = "/usr/local/bin/.node.tsss-test-link";

/** The node version `sudo -u nobody` finds through secure_path (what the mediator runs on). */
export function nodeUnderSudo(): string | undefined {
  const result = spawnSync("sudo", ["-n", "-u", "nobody", "/usr/bin/env", "node", "-p", "process.version + ' ' + process.execPath"], {
    encoding: "utf8",
    cwd: "/",
  });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function expected(): string {
  return `${process.version} ${fs.realpathSync(process.execPath)}`;
}

/** Put back what an interrupted run left: our link removed, a moved-aside node restored. */
function restore(): void {
  if (fs.existsSync(MARK)) {
    fs.rmSync(LINK, { force: true });
    fs.rmSync(MARK, { force: true });
  }
  if (fs.existsSync(BACKUP) && !fs.existsSync(LINK)) fs.renameSync(BACKUP, LINK);
}

/** Returns the undo step for teardown. */
export function putTestNodeOnPath(): () => void {
  restore();
  const under = nodeUnderSudo();
  if (under === expected()) return () => undefined;
  if (process.env.TSSS_TEST_NODE_ON_PATH !== "1") {
    noteWithout(
      "the installed mediator on the Node under test",
      `the tests run on ${expected()}, but sudo's secure_path finds ${under ?? "no node"}, so the installed mediator would run on that one ` +
        "(TSSS_TEST_NODE_ON_PATH=1 links this node into /usr/local/bin for the run, as .ci/run and scripts/test/test-node-matrix.mjs do)",
    );
    return () => undefined;
  }
  const target = fs.realpathSync(process.execPath);
  for (const dir of [path.dirname(target), path.dirname(path.dirname(target))]) {
    const stats = fs.statSync(dir);
    if (stats.uid !== 0 || (stats.mode & 0o022) !== 0) throw new Error(`${dir} must be root-owned and not group/world-writable to put its node on secure_path`);
  }
  if (fs.existsSync(LINK) || fs.lstatSync(LINK, { throwIfNoEntry: false })) fs.renameSync(LINK, BACKUP);
  fs.writeFileSync(MARK, `${target}\n`);
  fs.symlinkSync(target, LINK);
  const now = nodeUnderSudo();
  if (now !== expected()) {
    restore();
    throw new Error(`linked ${LINK} -> ${target}, but sudo's secure_path still finds ${now ?? "no node"}: the matrix cannot run the mediator on ${process.version} here`);
  }
  process.stderr.write(`test setup: ${LINK} -> ${target} for this run: the mediator runs on ${process.version} under sudo\n`);
  return restore;
}
