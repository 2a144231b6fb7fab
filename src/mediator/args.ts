/**
 * Command-line parsing for mediator mode. The hub controls this argv, so only options that cannot
 * change what runs or which policy applies are accepted: log level, log format, help, version.
 */
import { SudoSpawnerError } from "../errors.js";
import { LOG_LEVELS, logLevelOf, type LogLevel } from "../protocol/index.js";

export type LogFormat = "text" | "json";

export interface MediatorArgs {
  mode: "run" | "help" | "version";
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export function parseLogLevel(raw: string): LogLevel {
  const level = logLevelOf(raw);
  if (level !== undefined) return level;
  throw new SudoSpawnerError(
    "USAGE",
    `invalid --logging level ${JSON.stringify(raw)}: use one of ${LOG_LEVELS.join(", ")}`,
  );
}

function parseLogFormat(raw: string): LogFormat {
  if (raw === "text" || raw === "json") return raw;
  throw new SudoSpawnerError("USAGE", `invalid --log-format ${JSON.stringify(raw)}: use text or json`);
}

const VALUE_OPTIONS = {
  "--logging": (args: MediatorArgs, value: string) => {
    args.logLevel = parseLogLevel(value);
  },
  "--log-format": (args: MediatorArgs, value: string) => {
    args.logFormat = parseLogFormat(value);
  },
} as const;

type ValueOption = keyof typeof VALUE_OPTIONS;

function isValueOption(name: string): name is ValueOption {
  return Object.hasOwn(VALUE_OPTIONS, name);
}

/** Parse mediator argv (without node and script path). Throws SudoSpawnerError("USAGE"). */
export function parseMediatorArgs(argv: readonly string[]): MediatorArgs {
  const args: MediatorArgs = { mode: "run", logLevel: "info", logFormat: "text" };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--help" || token === "-h") {
      args.mode = "help";
      continue;
    }
    if (token === "--version" || token === "-V") {
      if (args.mode !== "help") args.mode = "version";
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq === -1 ? token : token.slice(0, eq);
    if (!isValueOption(name)) {
      throw new SudoSpawnerError(
        "USAGE",
        `unknown argument ${JSON.stringify(token)}; the mediator accepts only --logging=LEVEL, --log-format=text|json, --help and --version`,
      );
    }
    let value: string | undefined;
    if (eq !== -1) {
      value = token.slice(eq + 1);
    } else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new SudoSpawnerError("USAGE", `${name} needs a value`);
    VALUE_OPTIONS[name](args, value);
  }
  return args;
}
