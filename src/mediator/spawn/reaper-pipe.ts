/**
 * Reads the reaper's status pipe as a sequence of events, each awaited with its own deadline.
 */
import { Socket } from "node:net";
import { parseReaperLine, splitLines, type ReaperEvent } from "./reaper-lines.js";

export type NextEvent =
  | ReaperEvent
  | { kind: "eof" }
  | { kind: "timeout" }
  | { kind: "interrupted" }
  | { kind: "garbage"; line: string };

export class ReaperEvents {
  private readonly socket: Socket;
  private readonly queue: NextEvent[] = [];
  private waiter: ((event: NextEvent) => void) | undefined;
  private rest = "";
  private ended = false;

  constructor(fd: number) {
    this.socket = new Socket({ fd, readable: true, writable: false });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (chunk: string) => {
      const { lines, rest } = splitLines(this.rest + chunk);
      this.rest = rest;
      for (const line of lines) this.push(parseReaperLine(line) ?? { kind: "garbage", line });
    });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      this.push({ kind: "eof" });
    };
    this.socket.on("end", end);
    this.socket.on("close", end);
    this.socket.on("error", end);
  }

  private push(event: NextEvent): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(event);
    } else {
      this.queue.push(event);
    }
  }

  /** The next event, or "timeout" after `timeoutMs`, or "interrupted" as soon as `interrupt` aborts. */
  next(timeoutMs: number, interrupt?: AbortSignal): Promise<NextEvent> {
    if (interrupt?.aborted) return Promise.resolve({ kind: "interrupted" });
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve({ kind: "eof" });
    return new Promise((resolve) => {
      const settle = (event: NextEvent) => {
        clearTimeout(timer);
        interrupt?.removeEventListener("abort", onAbort);
        this.waiter = undefined;
        resolve(event);
      };
      const onAbort = () => settle({ kind: "interrupted" });
      const timer = setTimeout(() => settle({ kind: "timeout" }), timeoutMs);
      interrupt?.addEventListener("abort", onAbort, { once: true });
      this.waiter = settle;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
