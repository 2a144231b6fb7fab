/**
 * Relaying the mediator's stderr into the hub's logger, line by line, as it arrives.
 *
 * The single-user server inherits that pipe (the mediator hands it its stderr), so lines keep
 * coming long after the call has returned: the relay runs until the pipe closes, which is when the
 * server exits. Stopping early would also be harmful: a full pipe blocks the server's logging.
 */
import type { Readable } from "node:stream";
import type { HubLogger, HubLogLevel } from "./logger.js";

/** Longest line passed on in one piece; a writer that never ends its line cannot grow memory. */
export const MAX_LINE = 16 * 1024;
/** How much stderr is kept for explaining a failed call (sudo's messages come first). */
export const MAX_CAPTURE = 64 * 1024;

/** Splits a character stream into lines (pure). */
export class LineSplitter {
  private partial = "";

  constructor(private readonly maxLine = MAX_LINE) {}

  /** Complete lines in `chunk` (plus what was pending), without their line endings. */
  push(chunk: string): string[] {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    const lines = parts.map((line) => line.replace(/\r$/, ""));
    while (this.partial.length > this.maxLine) {
      lines.push(this.partial.slice(0, this.maxLine));
      this.partial = this.partial.slice(this.maxLine);
    }
    return lines;
  }

  /** What is left when the stream ends (a last line without "\n"). */
  flush(): string[] {
    const rest = this.partial.replace(/\r$/, "");
    this.partial = "";
    return rest === "" ? [] : [rest];
  }
}

const LETTER_LEVELS: Record<string, HubLogLevel> = { D: "debug", T: "debug", I: "info", W: "warn", E: "error", C: "error", F: "error" };

/**
 * The level a relayed line deserves. The mediator, tornado and Jupyter servers all write
 * `[X yyyy-mm-dd ...] message` with X in D/I/W/E/C; JSON lines (`--log-format=json`) carry a numeric level.
 * Anything else (a traceback line, sudo's own complaint) is passed on at "info".
 */
export function levelOfLine(line: string): HubLogLevel {
  const bracket = /^\[([DTIWECF])[ \]]/.exec(line);
  if (bracket) return LETTER_LEVELS[bracket[1] as string] ?? "info";
  const json = /^\{.*"level":\s*(\d+)/.exec(line);
  if (json) {
    const level = Number(json[1]);
    if (level >= 50) return "error";
    if (level >= 40) return "warn";
    if (level >= 30) return "info";
    return "debug";
  }
  return "info";
}

export interface Relay {
  /** stderr captured so far (bounded), for explaining a failed call. */
  captured(): string;
  /** Stop capturing once the call is over; relaying to the logger continues. */
  stopCapture(): void;
  /** Resolves when the pipe has closed (the mediator and every process sharing its stderr are gone). */
  closed: Promise<void>;
}

/** `onLine` sees every relayed line (the spawner watches for the reaper's exit line). */
export function relayStderr(stream: Readable, logger: HubLogger, tag: string, onLine?: (line: string) => void): Relay {
  const splitter = new LineSplitter();
  let capture = "";
  let capturing = true;
  const emit = (lines: string[]) => {
    for (const line of lines) {
      if (line.trim() === "") continue;
      onLine?.(line);
      try {
        logger[levelOfLine(line)](`${tag} ${line}`);
      } catch {
        // A hub's logger that throws must not become an uncaught exception of the hub's process.
      }
    }
  };
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    if (capturing && capture.length < MAX_CAPTURE) capture += chunk.slice(0, MAX_CAPTURE - capture.length);
    emit(splitter.push(chunk));
  });
  const closed = new Promise<void>((resolve) => {
    const finish = () => {
      emit(splitter.flush());
      resolve();
    };
    stream.once("close", finish);
    // A read error on a pipe means it is gone: nothing more will come.
    stream.once("error", () => stream.destroy());
  });
  return {
    captured: () => capture,
    stopCapture: () => {
      capturing = false;
      capture = "";
    },
    closed,
  };
}
