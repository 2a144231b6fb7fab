/**
 * The reaper's last word on the stderr the hub relays (native/src/reaper.c, report_exit): how the
 * server ended. The hub is not the server's parent, so this line is how it learns the real exit
 * status. Pure; the Python spawner parses the same format.
 */
const EXIT_LINE = /^\[I tsss-reaper\] server pid (\d+) (?:exited with status (\d+)|was killed by signal (\d+))$/;

export interface ServerExit {
  pid: number;
  /** The exit code, or minus the signal that killed it (as Python's subprocess reports it). */
  status: number;
}

export function parseExitLine(line: string): ServerExit | undefined {
  const match = EXIT_LINE.exec(line.trim());
  if (!match) return undefined;
  const pid = Number(match[1]);
  return { pid, status: match[2] !== undefined ? Number(match[2]) : -Number(match[3]) };
}
