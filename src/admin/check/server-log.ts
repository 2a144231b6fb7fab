/**
 * The `server-log-dir` row, effects: read the site policy's serverLog, expand it for the checked
 * user, and look at the directory and the file it names. Judged in check/server-log-dir.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { POLICY_PATH } from "../../install/layout.js";
import { expandPathTemplate, perUserDirectory } from "../../install/path-template.js";
import type { CheckRow } from "./report.js";
import type { CheckSubject } from "./subject.js";
import { groupIds, uidWithName } from "../host/commands.js";
import { judgeServerLogDir, policyServerLog, type Entry } from "./server-log-dir.js";

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
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
  const template = policyServerLog(readText(POLICY_PATH));
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
  });
}
