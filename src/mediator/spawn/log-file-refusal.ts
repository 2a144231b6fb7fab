/**
 * What a spawn answers when the reaper did not open the server log (pure): the path, what is wrong
 * with what is there, and what the admin does. The reaper's own reasons (open_log in
 * native/src/reaper.c) are errno values: EPERM another owner, EMLINK more than one link, ELOOP a
 * symbolic link, EISDIR or EBADFD not a regular file; ENOSPC or EDQUOT from its check that the next
 * byte can be written (fallocate); anything else is open(2)'s.
 */
import { constants } from "node:os";

const { EACCES, EDQUOT, EISDIR, ELOOP, EMLINK, ENOENT, ENOSPC, ENXIO, EPERM } = constants.errno;
/** Linux's "file descriptor in bad state", which Node's errno table leaves out. */
export const EBADFD = 77;

/** What the mediator found at the path after the refusal (lstat, as the user), if it could look. */
export interface FoundEntry {
  uid: number;
  nlink: number;
  /** "file", "directory", "symbolic link", "FIFO", "socket", "device". */
  kind: string;
}

export interface LogFileFacts {
  path: string;
  user: { name: string; uid: number };
  found: FoundEntry | undefined;
  /** "uid 1002", or "uid 1002 (the hub user that called sudo)". */
  describeUid: (uid: number) => string;
  strerror: string;
}

const SHARED_FIX = 'remove it, and make its directory sticky (chmod +t) or per-user (e.g. "serverLog": "{home}/.jupyterhub-singleuser.log")';

/** Why a file someone else could have made there is refused, or undefined for open(2)'s own errors. */
function plantedReason(errno: number, facts: LogFileFacts): string | undefined {
  const { found, user } = facts;
  if (errno === EPERM && found?.uid !== user.uid) {
    const owner = found === undefined ? "someone else" : facts.describeUid(found.uid);
    return `it is owned by ${owner}, not ${user.name}, who could read the server's output`;
  }
  if (errno === EMLINK && found !== undefined && found.nlink > 1) return `it has ${found.nlink} hard links, and whoever holds another could read the server's output`;
  if (errno === ELOOP && found?.kind === "symbolic link") return "it is a symbolic link, which is never followed";
  if ((errno === EISDIR || errno === EBADFD || errno === ENXIO) && found !== undefined && found.kind !== "file") return `it is a ${found.kind}, not a regular file`;
  return undefined;
}

export function logFileRefusal(errno: number, facts: LogFileFacts): string {
  const head = `could not open the server log file ${facts.path}`;
  const planted = plantedReason(errno, facts);
  if (planted !== undefined) return `${head}: ${planted} (errno ${errno}); ${SHARED_FIX}`;
  const reason = `${head}: ${facts.strerror} (errno ${errno})`;
  if (errno === ENOENT) return `${reason}; its directory does not exist: create it, or change "serverLog" in the site policy`;
  if (errno === ENOSPC || errno === EDQUOT) {
    const dir = facts.path.slice(0, facts.path.lastIndexOf("/")) || "/";
    const what = errno === ENOSPC ? "its filesystem is full" : `${facts.user.name}'s disk quota there is used up`;
    return `${reason}; ${what}, so the server's output could not be kept: free space (\`df -h ${dir}\`${errno === EDQUOT ? `, \`quota -u ${facts.user.name}\`` : ""}), or change "serverLog" in the site policy`;
  }
  if (errno === EACCES) {
    return `${reason}; ${facts.user.name} must be able to create it and append to it: check the owner and mode of its directory, or change "serverLog" in the site policy`;
  }
  return reason;
}
