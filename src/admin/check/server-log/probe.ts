/**
 * The `server-log-dir` row, effects: read the site policy's serverLog, expand it for the checked
 * user, and look at the directory and the file it names. Judged in check/server-log/rows.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { POLICY_PATH } from "../../../install/layout.js";
import { expandPathTemplate, perUserDirectory } from "../../../install/path-template.js";
import type { CheckRow } from "../report.js";
import type { CheckSubject } from "../subject.js";
import { groupIds, readTextIfPresent, uidWithName } from "../../host/commands.js";
import { judgeServerLogDir, lastLossMark, policyServerLog, type Entry, type LogLoss } from "./rows.js";

/** How much of the log's end is searched for the reaper's loss marks. */
const TAIL_BYTES = 64 * 1024;

function readTail(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) return undefined;
    const length = Math.min(stats.size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    const read = fs.readSync(fd, buffer, 0, length, stats.size - length);
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return undefined; // not there yet, or not readable by whoever runs the check
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function space(dir: string): { freeBytes: number; sizeBytes: number } | undefined {
  try {
    const stats = fs.statfsSync(dir);
    return { freeBytes: stats.bavail * stats.bsize, sizeBytes: stats.blocks * stats.bsize };
  } catch {
    return undefined;
  }
}

function lastLoss(file: string): LogLoss | undefined {
  const tail = readTail(file);
  return tail === undefined ? undefined : lastLossMark(tail);
}

function entry(file: string, follow: boolean): Entry | undefined {
  let stats: fs.Stats;
  try {
    stats = follow ? fs.statSync(file) : fs.lstatSync(file);
  } catch {
    return undefined;
  }
  const kind = stats.isFile() ? "file" : stats.isDirectory() ? "directory" : stats.isSymbolicLink() ? "symbolic link" : "other";
  return { kind, uid: stats.uid, gid: stats.gid, mode: stats.mode, nlink: stats.nlink };
}

export function checkServerLog(s: CheckSubject): CheckRow {
  const template = policyServerLog(readTextIfPresent(POLICY_PATH));
  const file = typeof template === "string" ? expandPathTemplate(template, s.user.name, s.user.home) : "";
  const dir = path.dirname(file);
  const gids = groupIds(s.user.name);
  return judgeServerLogDir({
    user: s.user,
    template,
    file,
    dir,
    perUser: typeof template === "string" && perUserDirectory(template),
    // The reaper follows links on the way to the file, not the file itself.
    dirEntry: file === "" ? undefined : entry(dir, true),
    fileEntry: file === "" ? undefined : entry(file, false),
    who: { uid: s.user.uid, gids: gids.length > 0 ? gids : [s.user.gid] },
    describeUid: uidWithName,
    space: file === "" ? undefined : space(dir),
    lastLoss: file === "" ? undefined : lastLoss(file),
  });
}
