/**
 * The commit of a spawn. The reaper keeps the server provisional until the mediator has written its
 * answer (the pid) to the hub: then it gets one byte on the commit pipe and the server is final.
 * EOF without that byte (the mediator killed, its answer unwritable, or a start refused after the
 * reaper began) makes the reaper stop the server's whole tree, so nothing runs that no hub knows.
 */
import { closeSync, writeSync } from "node:fs";

/** Where the addon puts the commit pipe's read end in the reaper (native/src/addon.cc, kCommitFd). */
export const REAPER_COMMIT_FD = 4;

export interface ServerCommit {
  /** After the answer reached the hub: the server becomes final. False when the reaper was already gone. */
  confirm(): boolean;
  /** No hub will learn the pid: close the pipe unconfirmed, and the reaper stops the server. */
  abandon(): void;
}

/** The commit through the write end `fd` of the pipe; whichever comes first closes it. */
export function commitThrough(fd: number): ServerCommit {
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    try {
      closeSync(fd);
    } catch {
      // already unusable: the reaper sees EOF either way
    }
  };
  return {
    confirm() {
      if (!open) return false;
      try {
        // One byte into an empty pipe: never blocks. EPIPE when the reaper is gone (Node ignores SIGPIPE).
        return writeSync(fd, "C") === 1;
      } catch {
        return false;
      } finally {
        close();
      }
    },
    abandon: close,
  };
}
