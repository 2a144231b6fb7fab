/**
 * Whether a path can be trusted to stay what the install made it: every directory walked through
 * and the final file must be owned by a trusted uid (root or the target user) and not writable by
 * group or others. Symlinks are followed component by component, so a link anywhere in the chain
 * is judged by where it really leads. Pure over an injected file-system view, so it is unit-testable.
 */
import { Stats, lstatSync, readlinkSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { SudoSpawnerError } from "../errors.js";

export interface NodeInfo {
  uid: number;
  gid: number;
  mode: number;
  kind: "file" | "directory" | "symlink" | "other";
}

export interface FsView {
  /** lstat; undefined when the path does not exist; throws when it cannot be examined (EACCES). */
  lstat(p: string): NodeInfo | undefined;
  readlink(p: string): string;
}

export interface PathProblem {
  path: string;
  problem: string;
}

export interface PathAudit {
  /** The fully resolved path (symlinks followed), when it exists. */
  realPath?: string;
  exists: boolean;
  problems: PathProblem[];
}

export interface TrustOptions {
  /** uids whose files and directories are trusted (root and the target user). */
  trustedUids: ReadonlySet<number>;
  /** Names for uids in messages (e.g. the hub user from SUDO_UID). */
  describeUid?: (uid: number) => string;
}

const MAX_SYMLINKS = 40;
const STICKY = 0o1000;

function describeOwner(uid: number, options: TrustOptions): string {
  return options.describeUid ? options.describeUid(uid) : `uid ${uid}`;
}

function judge(p: string, info: NodeInfo, options: TrustOptions, problems: PathProblem[]): void {
  if (!options.trustedUids.has(info.uid)) {
    problems.push({ path: p, problem: `owned by ${describeOwner(info.uid, options)}, who must not control what runs` });
  }
  const writable = info.mode & 0o022;
  // A sticky world-writable directory (like /tmp) protects entries owned by others; those entries
  // are judged on their own as the walk continues.
  const stickyDirectory = info.kind === "directory" && (info.mode & STICKY) !== 0;
  if (writable && !stickyDirectory) {
    const who = info.mode & 0o002 ? "everyone" : `group ${info.gid}`;
    problems.push({ path: p, problem: `writable by ${who} (mode ${(info.mode & 0o7777).toString(8)})` });
  }
}

/** Walk `target` (absolute) from "/", judging every directory, link and the final node. */
export function auditPath(target: string, view: FsView, options: TrustOptions): PathAudit {
  if (!isAbsolute(target)) {
    return { exists: false, problems: [{ path: target, problem: "not an absolute path" }] };
  }
  const problems: PathProblem[] = [];
  const root = view.lstat("/");
  if (root) judge("/", root, options, problems);
  let current = "/";
  let pending = target.split("/").filter((part) => part !== "" && part !== ".");
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      current = dirname(current);
      continue;
    }
    const next = join(current, part);
    const info = view.lstat(next);
    if (!info) return { exists: false, problems };
    if (info.kind === "symlink") {
      // Whoever owns a link chooses where it leads: in a sticky directory (/tmp) anyone may
      // have made it, so its owner is judged like a file's (its own mode means nothing).
      if (!options.trustedUids.has(info.uid)) {
        problems.push({ path: next, problem: `a symbolic link owned by ${describeOwner(info.uid, options)}, who must not choose where it leads` });
      }
      if (++links > MAX_SYMLINKS) {
        problems.push({ path: next, problem: "too many levels of symbolic links" });
        return { exists: false, problems };
      }
      const link = view.readlink(next);
      const linkParts = link.split("/").filter((p) => p !== "" && p !== ".");
      if (isAbsolute(link)) current = "/";
      pending = [...linkParts, ...pending];
      continue;
    }
    judge(next, info, options, problems);
    if (pending.length > 0 && info.kind !== "directory") {
      problems.push({ path: next, problem: "not a directory" });
      return { exists: false, problems };
    }
    current = next;
  }
  return { realPath: current, exists: true, problems };
}

function kindOf(stats: Stats): NodeInfo["kind"] {
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isDirectory()) return "directory";
  if (stats.isFile()) return "file";
  return "other";
}

/** The real file system, as seen by this process. */
export const realFs: FsView = {
  lstat(p) {
    let stats: Stats;
    try {
      stats = lstatSync(p);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Only a path that really is not there is absent; an unreadable one must not pass as absent.
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new SudoSpawnerError("UNSAFE_PATH", `cannot examine ${p}: ${(error as Error).message}`);
    }
    return { uid: stats.uid, gid: stats.gid, mode: stats.mode, kind: kindOf(stats) };
  },
  readlink(p) {
    return readlinkSync(p);
  },
};

export function formatProblems(problems: readonly PathProblem[]): string {
  return problems.map((p) => `${p.path}: ${p.problem}`).join("; ");
}
