/**
 * The mediator's `--logging` levels. The hub passes them upper-case, as the Python SudoSpawner does;
 * any case is accepted, and Python's aliases "warn" and "fatal" too. Pure.
 */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical", "none"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const ALIASES: Readonly<Record<string, LogLevel>> = { warn: "warning", fatal: "critical" };

/** The level a `--logging` value names, or undefined when it names none. */
export function logLevelOf(raw: string): LogLevel | undefined {
  const lower = raw.trim().toLowerCase();
  const level = ALIASES[lower] ?? lower;
  return (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : undefined;
}
