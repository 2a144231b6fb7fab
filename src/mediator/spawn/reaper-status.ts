/**
 * Reads the reaper's status pipe as a sequence of events, each awaited with its own deadline.
 *
 * Read on the main thread with the addon's poll-then-read, in short slices, as stdin is: no libuv
 * handle (node:net's Socket) to load, open and close, and no timer. Between slices the event loop
 * runs, so a SIGTERM's handler aborts the wait at once: poll(2) returns EINTR on a signal, and a
 * signal taken by another thread ends the wait within one slice.
 */
import { constants } from "node:os";
import { parseReaperLine, splitLines, type ReaperEvent } from "./reaper-lines.js";

export type NextEvent =
  | ReaperEvent
  | { kind: "eof" }
  | { kind: "timeout" }
  | { kind: "interrupted" }
  | { kind: "garbage"; line: string };

export interface StatusSource {
  readWithin(fd: number, max: number, timeoutMs: number): Buffer | number;
}

/** How long one wait blocks the main thread at most: the longest a signal's handler waits. */
export const STATUS_SLICE_MS = 50;
/** The reaper's lines are a few dozen bytes: a longer one is not the reaper speaking. */
export const MAX_STATUS_LINE = 4096;
const { EAGAIN, EINTR } = constants.errno;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ReaperStatus {
  private readonly queue: NextEvent[] = [];
  /** An unfinished line: a read may end anywhere, and may carry more than one line ("P pid\nX code sig\n"). */
  private partial = "";
  private ended = false;

  constructor(
    private readonly source: StatusSource,
    private readonly fd: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The next event, or "timeout" after `timeoutMs`, or "interrupted" as soon as `interrupt` aborts. */
  async next(timeoutMs: number, interrupt?: AbortSignal): Promise<NextEvent> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      if (interrupt?.aborted) return { kind: "interrupted" };
      const queued = this.queue.shift();
      if (queued) return queued;
      if (this.ended) return { kind: "eof" };
      const left = deadline - this.now();
      if (left <= 0) return { kind: "timeout" };
      // Rounded up: poll(2) counts whole milliseconds, and waking early would only poll again.
      if (!this.readSlice(Math.min(Math.ceil(left), STATUS_SLICE_MS))) await yieldToEventLoop();
    }
  }

  /** One poll-then-read; true when it produced an event (or the end). */
  private readSlice(timeoutMs: number): boolean {
    const got = this.source.readWithin(this.fd, MAX_STATUS_LINE, timeoutMs);
    if (typeof got === "number") {
      if (got === -EAGAIN || got === -EINTR) return false;
      this.end(); // the pipe cannot be read: as good as closed
      return true;
    }
    if (got.length === 0) {
      this.end();
      return true;
    }
    const { lines, rest } = splitLines(this.partial + got.toString("utf8"));
    this.partial = rest;
    for (const line of lines) this.queue.push(parseReaperLine(line) ?? { kind: "garbage", line });
    if (this.partial.length > MAX_STATUS_LINE) {
      this.queue.push({ kind: "garbage", line: this.partial.slice(0, 200) });
      this.partial = "";
    }
    return this.queue.length > 0;
  }

  private end(): void {
    if (this.partial.length > 0) this.queue.push({ kind: "garbage", line: this.partial.slice(0, 200) });
    this.partial = "";
    this.ended = true;
  }
}
