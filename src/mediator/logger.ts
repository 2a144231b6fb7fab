/**
 * Logging to stderr only (stdout carries the one JSON answer). pino, written synchronously so no
 * line is lost when the mediator exits right after answering. The default text format is one
 * human-readable line in JupyterHub's style, because the hub copies these lines raw into its log.
 */
import { join } from "node:path";
import { escapeControls, type LogLevel } from "../protocol/index.js";
import type { LogFormat } from "./args.js";
import { writeAllSync } from "../system/write-all.js";

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const PINO_LEVEL: Record<LogLevel, string> = {
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  critical: "fatal",
  none: "silent",
};

const LETTER: Record<number, string> = { 10: "T", 20: "D", 30: "I", 40: "W", 50: "E", 60: "C" };

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** `[I 2026-11-25 07:30:00.123 ts-sudospawner] message` (pure). */
export function formatTextLine(level: number, time: number, message: string, name = "ts-sudospawner"): string {
  const d = new Date(time);
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  // One line per record: the hub relays stderr line by line.
  return `[${LETTER[level] ?? "I"} ${stamp} ${name}] ${escapeControls(message)}\n`;
}

function stderrWriter(format: LogFormat): { write(line: string): void } {
  return {
    write(line: string) {
      let out = line;
      if (format === "text") {
        const record = JSON.parse(line) as { level: number; time: number; msg?: string };
        out = formatTextLine(record.level, record.time, record.msg ?? "");
      }
      try {
        writeAllSync(2, out);
      } catch {
        // stderr closed by the hub: nothing left to tell.
      }
    },
  };
}

type PinoFactory = typeof import("pino").pino;
type PinoLogger = ReturnType<PinoFactory>;

/**
 * pino is bundled on its own (dist/pino.cjs, next to the CLI bundle) and loaded only when the
 * first record is actually written: a quiet kill at the default level never reads or compiles it.
 */
function bundledPino(): PinoFactory {
  return (require(join(__dirname, "pino.cjs")) as typeof import("pino")).pino;
}

const THRESHOLD: Record<LogLevel, number> = { debug: 20, info: 30, warning: 40, error: 50, critical: 60, none: Infinity };

type Method = "debug" | "info" | "warn" | "error";
/** pino's numeric level of each method. */
const METHOD_LEVEL: Record<Method, number> = { debug: 20, info: 30, warn: 40, error: 50 };
type Sink = Pick<PinoLogger, Method>;

/**
 * Where pino itself cannot be loaded (a damaged install), records still go out, in the same
 * format: logging must never be the reason the hub gets no answer.
 */
function fallbackSink(format: LogFormat, name: string, reason: string): Sink {
  const writer = stderrWriter(format);
  const write = (method: Method) => (message: string) =>
    writer.write(`${JSON.stringify({ level: METHOD_LEVEL[method], time: Date.now(), name, pid: process.pid, msg: message })}\n`);
  const sink = { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
  sink.warn(`logging without pino: ${reason}; reinstall ts-sudospawner`);
  return sink;
}

export function createLogger(level: LogLevel, format: LogFormat, name = "ts-sudospawner", loadPino: () => PinoFactory = bundledPino): Logger {
  let sink: Sink | undefined;
  const open = (): Sink => {
    try {
      return loadPino()({ name, level: PINO_LEVEL[level], base: format === "json" ? { name, pid: process.pid } : undefined }, stderrWriter(format));
    } catch (error) {
      return fallbackSink(format, name, error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error));
    }
  };
  const emit = (method: Method, message: string) => {
    if (METHOD_LEVEL[method] < THRESHOLD[level]) return;
    sink ??= open();
    // Escaped before pino sees it, so the JSON format is as safe as the text one.
    sink[method](escapeControls(message));
  };
  return {
    debug: (message) => emit("debug", message),
    info: (message) => emit("info", message),
    warn: (message) => emit("warn", message),
    error: (message) => emit("error", message),
  };
}
