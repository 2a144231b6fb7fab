/**
 * Read the whole request from stdin, bounded in size and time, so a hub that never closes the
 * pipe or sends endless data gets a clear error instead of a hung or exhausted mediator.
 *
 * Pipes, sockets and terminals are read through libuv's event loop, never by a blocking read(2)
 * in a thread-pool thread: such a thread cannot be interrupted, and Node's exit waits for it, so
 * a hub that keeps stdin open would keep the mediator alive past its answer and past SIGTERM.
 */
import { fstatSync, readSync } from "node:fs";
import { Socket } from "node:net";
import { isatty, ReadStream } from "node:tty";
import { SudoSpawnerError } from "../errors.js";

export const STDIN_TIMEOUT_MS = 30_000;

function tooLarge(limit: number): SudoSpawnerError {
  return new SudoSpawnerError("REQUEST_TOO_LARGE", `the request on stdin is larger than ${limit} bytes`);
}

function timedOut(timeoutMs: number): SudoSpawnerError {
  return new SudoSpawnerError("REQUEST_TIMEOUT", `no complete request on stdin after ${timeoutMs / 1000} s; the hub must write one JSON object and close stdin`);
}

/** A file or a device that never blocks (/dev/null): plain reads until end or the limit. */
function readWhole(fd: number, limit: number): Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) return Buffer.concat(chunks);
    size += n;
    if (size > limit) throw tooLarge(limit);
    chunks.push(buffer.subarray(0, n));
  }
}

/** A pipe, socket or terminal, through the event loop; destroyed on every way out. */
function readStream(stream: Socket, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: SudoSpawnerError | undefined) => {
      clearTimeout(timer);
      stream.removeAllListeners("data");
      stream.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(() => finish(timedOut(timeoutMs)), timeoutMs);
    timer.unref();
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge(limit));
      else chunks.push(chunk);
    });
    stream.on("end", () => finish(undefined));
    stream.on("error", (error: Error) => finish(new SudoSpawnerError("BAD_REQUEST", `cannot read stdin: ${error.message}`)));
  });
}

export async function readRequestBytes(limit: number, timeoutMs = STDIN_TIMEOUT_MS, fd = 0): Promise<Buffer> {
  let stats;
  try {
    stats = fstatSync(fd);
  } catch (error) {
    throw new SudoSpawnerError("BAD_REQUEST", `cannot read stdin: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (stats.isFIFO() || stats.isSocket()) return readStream(new Socket({ fd, readable: true, writable: false }), limit, timeoutMs);
  if (isatty(fd)) return readStream(new ReadStream(fd), limit, timeoutMs);
  return readWhole(fd, limit);
}
