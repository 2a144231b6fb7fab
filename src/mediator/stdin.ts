/**
 * Read the whole request from stdin, bounded in size and time, so a hub that never closes the
 * pipe or sends endless data gets a clear error instead of a hung or exhausted mediator.
 *
 * Read on the main thread with the addon's poll-then-read, in short slices: never by a blocking
 * read(2) in libuv's thread pool, which nothing can interrupt and for which Node's exit waits, so
 * that a hub keeping stdin open would keep the mediator alive past its answer and past SIGTERM.
 * Between slices the event loop runs, so a signal's handler (and the exit) happens at once.
 */
import { constants } from "node:os";
import { SudoSpawnerError } from "../errors.js";

export const STDIN_TIMEOUT_MS = 30_000;
/** How long one wait blocks the main thread at most; a signal ends it sooner (EINTR). */
const SLICE_MS = 100;
const CHUNK = 64 * 1024;
const { EAGAIN, EINTR } = constants.errno;

export interface StdinReader {
  readWithin(fd: number, max: number, timeoutMs: number): Buffer | number;
  strerror(errno: number): string;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function readRequestBytes(reader: StdinReader, limit: number, timeoutMs = STDIN_TIMEOUT_MS, fd = 0): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new SudoSpawnerError("REQUEST_TIMEOUT", `no complete request on stdin after ${timeoutMs / 1000} s; the hub must write one JSON object and close stdin`);
    }
    const got = reader.readWithin(fd, CHUNK, Math.min(left, SLICE_MS));
    if (typeof got === "number") {
      if (got !== -EAGAIN && got !== -EINTR) throw new SudoSpawnerError("BAD_REQUEST", `cannot read stdin: ${reader.strerror(-got)}`);
      await yieldToEventLoop();
      continue;
    }
    if (got.length === 0) return Buffer.concat(chunks);
    size += got.length;
    if (size > limit) throw new SudoSpawnerError("REQUEST_TOO_LARGE", `the request on stdin is larger than ${limit} bytes`);
    chunks.push(got);
  }
}
