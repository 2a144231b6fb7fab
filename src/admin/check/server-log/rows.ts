/**
 * The `server-log-dir` row of `ts-sudospawner check` (pure): can one user make the file another
 * user's server log will be? The reaper refuses a log file that is not the user's own regular
 * file with one link (native/src/reaper.c, open_log), so a file planted in a shared directory no
 * longer reads anyone's output, but it still stops that user's spawns. The fix is a directory per
 * user, which `{home}` or `{user}` in the template's directory gives.
 */
import { WRITE, EXECUTE, permits, type ModeInfo, type Principal } from "../../host/access.js";
import type { CheckRow } from "../report.js";

export const SERVER_LOG_ROW = { id: "server-log-dir", title: "server log safe from other users, and writable" } as const;

/** Below this much free space (or a twentieth of a smaller filesystem), writes are about to fail. */
export const LOW_FREE_BYTES = 1024 * 1024;

/** What the reaper wrote into the log when writing resumed after a failure (native/src/reaper.c, log_mark_gap). */
const LOSS_MARK = /^\[W tsss-reaper\] (\d+) bytes of server output are missing here(?: \((.+)\))?$/gm;

export interface LogLoss {
  bytes: number;
  /** The error that stopped the writes (strerror text); absent in marks from before it was recorded. */
  reason: string | undefined;
}

/** The last loss the reaper marked in the log's tail (pure). */
export function lastLossMark(tail: string): LogLoss | undefined {
  let last: LogLoss | undefined;
  for (const match of tail.matchAll(LOSS_MARK)) last = { bytes: Number(match[1]), reason: match[2] };
  return last;
}

/** What a path holds, from lstat (the file) or stat (its directory). */
export interface Entry extends ModeInfo {
  kind: "file" | "directory" | "symbolic link" | "other";
  nlink: number;
}

export interface ServerLogFacts {
  user: { name: string; uid: number };
  /** The policy's serverLog, or why there is none to judge. */
  template: string | { skip: string };
  /** The template expanded for this user, and its directory. */
  file: string;
  dir: string;
  perUser: boolean;
  dirEntry: Entry | undefined;
  fileEntry: Entry | undefined;
  who: Principal;
  describeUid: (uid: number) => string;
  /** The log's filesystem: its size and free bytes (for unprivileged users), where they could be measured. */
  space?: { freeBytes: number; sizeBytes: number } | undefined;
  /** The last loss marked in the log's tail, where it could be read. */
  lastLoss?: LogLoss | undefined;
}

const PER_USER_FIX =
  'give each user a directory of their own in the site policy: "serverLog": "{home}/.jupyterhub-singleuser.log", or "/var/log/jupyterhub/{user}/server.log" with each directory made by root (`install -d -o USER -m 0700 /var/log/jupyterhub/USER`)';

function mode(m: number): string {
  return (m & 0o7777).toString(8).padStart(4, "0");
}

function describeEntry(entry: ModeInfo, f: ServerLogFacts): string {
  return `owner ${f.describeUid(entry.uid)}, group ${entry.gid}, mode ${mode(entry.mode)}`;
}

/** Who besides the owner may create names in the directory. */
function otherWriters(dir: ModeInfo): string | undefined {
  if ((dir.mode & 0o002) !== 0) return "everyone";
  if ((dir.mode & 0o020) !== 0) return `group ${dir.gid}`;
  return undefined;
}

/** What the reaper would refuse in the file already there, if anything. */
function refusedFile(file: Entry, f: ServerLogFacts): string | undefined {
  if (file.kind !== "file") return `is a ${file.kind}, not a regular file`;
  if (file.uid !== f.user.uid) return `is owned by ${f.describeUid(file.uid)}, not ${f.user.name}`;
  if (file.nlink !== 1) return `has ${file.nlink} hard links`;
  return undefined;
}

/** Writes that failed or are about to: the file's tail and its filesystem (pure). */
function writeTrouble(f: ServerLogFacts): { detail: string; fix: string } | undefined {
  const said: string[] = [];
  if (f.space !== undefined && f.space.freeBytes < Math.min(LOW_FREE_BYTES, f.space.sizeBytes / 20)) {
    said.push(`the filesystem holding ${f.file} has ${f.space.freeBytes} bytes free: the reaper cannot write the server's output there (the hub's log still has it)`);
  }
  if (f.lastLoss !== undefined) {
    const why = f.lastLoss.reason === undefined ? "" : ` (${f.lastLoss.reason})`;
    said.push(`the log's tail records that ${f.lastLoss.bytes} bytes of server output could not be written${why}; the hub's log has them`);
  }
  if (said.length === 0) return undefined;
  return { detail: said.join("; "), fix: `free space where the log lives (\`df -h ${f.dir}\`); the reaper resumes on its own and marks what is missing` };
}

export function judgeServerLogDir(f: ServerLogFacts): CheckRow {
  const row = judgePlanting(f);
  if (row.status === "fail" || row.status === "skip") return row;
  const trouble = writeTrouble(f);
  if (trouble === undefined) return row;
  if (row.status === "warn") return { ...row, detail: `${row.detail} Also: ${trouble.detail}`, fix: `${row.fix}; ${trouble.fix}` };
  return { ...row, status: "warn", detail: `${row.detail}, but ${trouble.detail}`, fix: trouble.fix };
}

/** Can one user make another's log file? */
function judgePlanting(f: ServerLogFacts): CheckRow {
  const row = { ...SERVER_LOG_ROW };
  if (typeof f.template !== "string") return { ...row, status: "skip", detail: f.template.skip, fix: "" };
  const where = `serverLog "${f.template}" (${f.file} for ${f.user.name})`;
  const dir = f.dirEntry;
  if (dir === undefined || dir.kind !== "directory") {
    return {
      ...row,
      status: "fail",
      detail: `${f.dir}, the directory of ${where}, ${dir === undefined ? "does not exist" : "is not a directory"}: every spawn for ${f.user.name} fails (the reaper creates the file, not its directory)`,
      fix: f.perUser ? `as root: \`install -d -o ${f.user.name} -m 0700 ${f.dir}\` (for every user)` : PER_USER_FIX,
    };
  }
  if (f.fileEntry !== undefined) {
    const refused = refusedFile(f.fileEntry, f);
    if (refused !== undefined) {
      return {
        ...row,
        status: "fail",
        detail: `${f.file} ${refused} (${describeEntry(f.fileEntry, f)}): the reaper refuses it, so every spawn for ${f.user.name} fails`,
        fix: `as root: \`rm ${f.file}\`${f.perUser ? "" : `; then ${PER_USER_FIX}`}`,
      };
    }
  } else if (!permits(dir, f.who, WRITE) || !permits(dir, f.who, EXECUTE)) {
    return {
      ...row,
      status: "fail",
      detail: `${f.user.name} cannot create ${f.file} in ${f.dir} (${describeEntry(dir, f)}): every spawn for ${f.user.name} fails`,
      fix: f.perUser ? `as root: \`chown ${f.user.name} ${f.dir} && chmod u+rwx ${f.dir}\`` : PER_USER_FIX,
    };
  }
  const writers = otherWriters(dir);
  if (writers !== undefined && !f.perUser) {
    const sticky = (dir.mode & 0o1000) !== 0 ? " The sticky bit keeps a file from being replaced once it exists, not from being made first." : "";
    return {
      ...row,
      status: "warn",
      detail:
        `${f.dir} (${describeEntry(dir, f)}) is writable by ${writers}, and ${where} puts every user's log in it: ` +
        `one user can make another's log file (or a link) before that user's server starts. The reaper refuses such a file, so that user's spawns fail until it is removed.${sticky}`,
      fix: PER_USER_FIX,
    };
  }
  const why = f.perUser ? "a directory of each user's own" : `writable only by its owner (${describeEntry(dir, f)})`;
  return { ...row, status: "pass", detail: `${where}: ${f.dir} is ${why}`, fix: "" };
}

/** The policy's serverLog, from the policy file's text (the mediator validates the rest). */
export function policyServerLog(policyText: string | undefined): string | { skip: string } {
  if (policyText === undefined) return { skip: "no site policy: the server's output goes to the hub's log only" };
  let policy: unknown;
  try {
    policy = JSON.parse(policyText);
  } catch {
    return { skip: "the site policy is not JSON: the mediator refuses every spawn until it is fixed" };
  }
  const value = typeof policy === "object" && policy !== null ? (policy as Record<string, unknown>).serverLog : undefined;
  if (value === undefined) return { skip: "the site policy sets no serverLog: the server's output goes to the hub's log only" };
  if (typeof value !== "string" || !(value.startsWith("/") || value.startsWith("{home}/")) || value.split("/").includes("..")) {
    return { skip: `the site policy's serverLog ${JSON.stringify(value)} is not a valid path template: the mediator refuses every spawn until it is fixed` };
  }
  return value;
}
