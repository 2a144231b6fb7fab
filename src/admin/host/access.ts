/**
 * Whether a given user may search a path and use its final node, from the mode bits alone (pure).
 * `check` runs as root (or the hub user), so access(2) would answer for the wrong user; this
 * evaluates the owner/group/other classes for the user in question instead. ACLs are not read:
 * where a path fails here only because of an ACL, the real sudo run in check 1 or 7 still tells.
 */

export interface Principal {
  uid: number;
  /** Primary and supplementary groups. */
  gids: readonly number[];
}

export interface ModeInfo {
  uid: number;
  gid: number;
  mode: number;
}

export const READ = 4;
export const WRITE = 2;
export const EXECUTE = 1;

/** The permission class that applies to `who`, as the kernel picks it (owner, else group, else other). */
export function permits(info: ModeInfo, who: Principal, bit: number): boolean {
  if (who.uid === 0) {
    // root bypasses read/write/search checks, but executing a file still needs some x bit.
    return bit !== EXECUTE || (info.mode & 0o111) !== 0;
  }
  if (info.uid === who.uid) return ((info.mode >> 6) & bit) === bit;
  if (who.gids.includes(info.gid)) return ((info.mode >> 3) & bit) === bit;
  return (info.mode & bit) === bit;
}

export interface PathStep extends ModeInfo {
  path: string;
}

/**
 * The first directory on the way that `who` cannot search, or undefined when every one is
 * searchable. `steps` are the directories from "/" down to (not including) the final node.
 */
export function firstUnsearchable(steps: readonly PathStep[], who: Principal): PathStep | undefined {
  return steps.find((step) => !permits(step, who, EXECUTE));
}
