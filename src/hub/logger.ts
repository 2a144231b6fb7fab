/**
 * The logger the hub client writes to. Deliberately the smallest common shape, so pino, winston,
 * console or a JupyterHub-style logger can be passed as is.
 */
export interface HubLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type HubLogLevel = keyof HubLogger;

/** Default: one line per message on this process's stderr, tagged so it can be found in a hub log. */
export function stderrLogger(tag = "ts-sudospawner"): HubLogger {
  const write = (level: string) => (message: string) => {
    process.stderr.write(`[${level} ${tag}] ${message}\n`);
  };
  return { debug: () => undefined, info: write("I"), warn: write("W"), error: write("E") };
}

export const silentLogger: HubLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
