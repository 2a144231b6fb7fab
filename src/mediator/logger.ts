/**
 * Logging to stderr only (stdout carries the one JSON answer). Each record is one line, written
 * synchronously, so no line is lost when the mediator exits right after answering. The default
 * text format is one human-readable line in JupyterHub's style, because the hub copies these lines
 * raw into its log; `json` writes one object per line with a numeric level, as the hub's relay and
 * log shippers read it.
 *
 * No logging library: a call writes a handful of lines and exits, and loading one (pino, about 8
 * ms of a spawn's 55) cost more than everything else a spawn does beyond a kill.
 */
import { escapeControls, type LogLevel } from "../protocol/index.js";
import type { LogFormat } from "./args.js";
import { writeAllSync } from "../system/write-all.js";

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Method = keyof Logger;

/** The numeric levels of JSON log lines (10 trace … 60 fatal), which log shippers already know. */
const METHOD_LEVEL: Record<Method, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const THRESHOLD: Record<LogLevel, number> = { debug: 20, info: 30, warning: 40, error: 50, critical: 60, none: Infinity };
const LETTER: Record<number, string> = { 20: "D", 30: "I", 40: "W", 50: "E", 60: "C" };

export interface LogRecord {
  level: number;
  time: number;
  name: string;
  pid: number;
  msg: string;
}

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

/** One record as a line of the chosen format (pure). Control characters never reach the line. */
export function formatRecord(record: LogRecord, format: LogFormat): string {
  if (format === "text") return formatTextLine(record.level, record.time, record.msg, record.name);
  const { level, time, name, pid, msg } = record;
  return `${JSON.stringify({ level, time, name, pid, msg: escapeControls(msg) })}\n`;
}

function writeStderr(line: string): void {
  try {
    writeAllSync(2, line);
  } catch {
    // stderr closed by the hub: nothing left to tell.
  }
}

export function createLogger(level: LogLevel, format: LogFormat, name = "ts-sudospawner", write: (line: string) => void = writeStderr): Logger {
  const emit = (method: Method) => (message: string) => {
    if (METHOD_LEVEL[method] < THRESHOLD[level]) return;
    write(formatRecord({ level: METHOD_LEVEL[method], time: Date.now(), name, pid: process.pid, msg: message }, format));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
