/**
 * One mediator call as the hub makes it (inside the guest, as root): the hub's ids (setpriv, no
 * PAM of its own), real sudo, the request on stdin.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { GUEST } from "./names.js";
import { ok, read } from "./observe.js";

const hubIds = { uid: ok("id", ["-u", GUEST.hub]), gid: ok("id", ["-g", GUEST.hub]) };
let calls = 0;

/** stderr goes to a file: a started server inherits it, and a pipe would wait for it. */
export function asHub(user: string, request: Record<string, unknown>): { status: number | null; answer: Record<string, unknown>; stderr: string } {
  const errFile = `/tmp/tsss-mediator-${++calls}.err`;
  const errFd = fs.openSync(errFile, "w", 0o644);
  const result = spawnSync(
    "setpriv",
    [`--reuid=${hubIds.uid}`, `--regid=${hubIds.gid}`, "--init-groups", "sudo", "-u", user, "-nH", GUEST.mediator, "--logging=INFO"],
    { input: JSON.stringify(request), stdio: ["pipe", "pipe", errFd], encoding: "utf8", cwd: "/", env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" } },
  );
  fs.closeSync(errFd);
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    answer = { unparsed: result.stdout };
  }
  return { status: result.status, answer, stderr: read(errFile) ?? "" };
}

