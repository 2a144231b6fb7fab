/**
 * The reaper's status lines (pure parsing). The reaper writes, on the pipe the mediator reads:
 *   P <pid>               the server was exec'd
 *   E <errno> <stage>     something failed before or at exec
 *   X <code> <signal>     the server exited
 */
export type ReaperEvent =
  | { kind: "started"; pid: number }
  | { kind: "failed"; errno: number; stage: string }
  | { kind: "exited"; code: number; signal: number };

export function parseReaperLine(line: string): ReaperEvent | undefined {
  const parts = line.trim().split(" ");
  const [tag, a, b] = parts;
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  if (tag === "P" && parts.length === 2) {
    const pid = num(a);
    return pid !== undefined && pid > 1 ? { kind: "started", pid } : undefined;
  }
  if (tag === "E" && parts.length === 3) {
    const errno = num(a);
    return errno !== undefined && b ? { kind: "failed", errno, stage: b } : undefined;
  }
  if (tag === "X" && parts.length === 3) {
    const code = num(a);
    const signal = num(b);
    return code !== undefined && signal !== undefined ? { kind: "exited", code, signal } : undefined;
  }
  return undefined;
}

/** Split a growing buffer into complete lines, returning the unfinished rest. */
export function splitLines(buffer: string): { lines: string[]; rest: string } {
  const parts = buffer.split("\n");
  const rest = parts.pop() ?? "";
  return { lines: parts.filter((l) => l.length > 0), rest };
}

const STAGE_TEXT: Record<string, string> = {
  "exec-reaper": "could not start the reaper",
  usage: "the reaper rejected its arguments",
  env: "could not prepare the server's environment",
  fork: "fork failed",
  signals: "could not reset signal handling",
  setsid: "setsid failed",
  fds: "could not set up the server's file descriptors",
  stdin: "could not put stdin on /dev/null",
  stdout: "could not point stdout at stderr",
  stderr: "could not keep stderr",
  "status-fd": "could not pass the status pipe to the reaper",
  "commit-fd": "could not pass the commit pipe to the reaper",
  "close-fds": "could not close inherited file descriptors",
  wait: "waiting for the server failed",
  chdir: "could not change into the home directory",
  rlimit: "could not apply a resource limit",
  umask: "could not set the umask",
  nice: "could not set the nice value",
  exec: "could not execute the single-user server",
  "log-file": "could not open the server log file",
  parent: "could not tie the server's life to its reaper",
  userns: "could not set up the server sandbox's user and mount namespace",
  "private-tmp": "could not mount the server sandbox's private /tmp",
  "read-only": "could not make a path read-only in the server sandbox",
  "no-new-privs": "could not set no_new_privs on the server",
};

export function describeStage(stage: string): string {
  return STAGE_TEXT[stage] ?? `failed at ${stage}`;
}

export function describeExit(code: number, signal: number): string {
  return signal !== 0 ? `was killed by signal ${signal}` : `exited with status ${code}`;
}
