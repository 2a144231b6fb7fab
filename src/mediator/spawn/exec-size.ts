/**
 * Linux's bounds on what execve(2) takes (pure), so that a server that cannot start says why
 * (fs/exec.c): each string of the arguments and of the environment is at most MAX_ARG_STRLEN bytes,
 * its terminating NUL included; all of them together, with one pointer each, at most a quarter of
 * the stack limit, but no more than 3/4 of 8 MiB and no less than MAX_ARG_STRLEN. Beyond either,
 * execve fails with E2BIG.
 */
import { SudoSpawnerError } from "../../errors.js";

/** 32 pages of 4 KiB: the longest single argument or "NAME=value", with its NUL. */
export const MAX_ARG_STRLEN = 32 * 4096;
/** The kernel's _STK_LIM (8 MiB), of which at most 3/4 goes to arguments and environment. */
const STK_LIM = 8 * 1024 * 1024;
/** Each string also costs a pointer on the new stack (8 bytes on 64-bit, an upper bound). */
const POINTER_BYTES = 8;

/** What one string takes: its UTF-8 bytes and the NUL. */
export function stringBytes(text: string): number {
  return Buffer.byteLength(text, "utf8") + 1;
}

/** The server's arguments (after the executable) and environment ("NAME=value"): none too long. */
export function checkExecStrings(args: readonly string[], env: readonly string[]): void {
  const limit = `above Linux's limit of ${MAX_ARG_STRLEN} bytes for one string (MAX_ARG_STRLEN), so no program can be started with it`;
  for (const entry of env) {
    const size = stringBytes(entry);
    if (size > MAX_ARG_STRLEN) {
      const name = entry.slice(0, entry.indexOf("="));
      throw new SudoSpawnerError("BAD_REQUEST", `environment variable ${name} is ${size} bytes as "${name}=..." with its NUL, ${limit}; send a shorter value`);
    }
  }
  args.forEach((arg, index) => {
    const size = stringBytes(arg);
    if (size > MAX_ARG_STRLEN) {
      throw new SudoSpawnerError("BAD_REQUEST", `server argument ${index + 1} (counting from 1 after the executable) is ${size} bytes with its NUL, ${limit}; pass a shorter one`);
    }
  });
}

/** What execve counts against the total: every string with its NUL, and a pointer each. */
export function execBytes(argv: readonly string[], env: readonly string[]): number {
  let total = 0;
  for (const text of [...argv, ...env]) total += stringBytes(text) + POINTER_BYTES;
  return total;
}

/** The total execve allows under a stack limit (soft, in bytes; undefined: unlimited). */
export function execLimit(stackBytes: number | undefined): number {
  const quarter = stackBytes === undefined ? Number.POSITIVE_INFINITY : Math.floor(stackBytes / 4);
  return Math.max(Math.min((STK_LIM / 4) * 3, quarter), MAX_ARG_STRLEN);
}

/** The soft "Max stack size" of /proc/self/limits, in bytes; undefined when unlimited or not found. */
export function stackSoftLimit(limitsText: string): number | undefined {
  const line = limitsText.split("\n").find((l) => l.startsWith("Max stack size"));
  const soft = line?.slice("Max stack size".length).trim().split(/\s+/)[0];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

/** The hint for an exec that failed with E2BIG: the real sizes, instead of a guess. */
export function e2bigHint(argv: readonly string[], env: readonly string[], stackBytes: number | undefined): string {
  const total = execBytes(argv, env);
  const limit = execLimit(stackBytes);
  const stack = stackBytes === undefined ? "unlimited" : `${stackBytes} bytes`;
  return (
    `; its ${argv.length} arguments and ${env.length} environment variables take ${total} bytes (with a NUL and a pointer each), ` +
    `and Linux allows ${limit} (a quarter of the stack limit, ${stack}, at most ${(STK_LIM / 4) * 3}, at least ${MAX_ARG_STRLEN}): ` +
    "send fewer or shorter environment variables and arguments, or raise the stack limit (ulimit -s) of the hub"
  );
}
