/**
 * The command line the hub runs for every mediator call (pure: no I/O).
 *
 *   sudo -u USER -nH /opt/ts-sudospawner/bin/ts-sudospawner --logging=INFO
 *
 * The hub controls nothing else: the mediator decides what runs, so the only inputs here are who
 * to run as, which privilege tool, and how verbose the mediator should be.
 */
import path from "node:path";
import { SudoSpawnerError } from "../errors.js";
import { LOG_LEVELS, logLevelOf, shellLine } from "../protocol/index.js";
import { accountNameProblem } from "../system/account-name.js";

export interface SudoCommandOptions {
  /** The user the single-user server runs as. */
  user: string;
  /** Absolute path of the installed mediator, or a bare name sudo looks up on its `secure_path`. */
  mediatorPath: string;
  /** The privilege tool: "sudo" (default), "doas", "dzdo", or an absolute path to one. */
  sudo?: string;
  /** Options between `-u USER` and the mediator; default `["-nH"]` (`["-n"]` for doas, which has no -H). */
  sudoArgs?: readonly string[];
  /** The mediator's `--logging` level; default "INFO". */
  logLevel?: string;
}

export interface SudoCommand {
  file: string;
  args: string[];
  /** The privilege tool's base name ("sudo", "doas", "dzdo", ...), for error messages. */
  tool: string;
  user: string;
  mediatorPath: string;
}

/**
 * Names we pass to `-u`: any name a directory service may hand out (`alice@corp.example.com`,
 * `Alice.Smith`, `CORP\alice`, `host01$`), but none that sudo would read as a uid (`#0`) or an
 * option, nor control characters (system/account-name.ts; the Python spawner has the same rule).
 */
export function assertUsername(user: string): void {
  const problem = accountNameProblem(user);
  if (problem !== undefined) {
    throw new SudoSpawnerError(
      "USAGE",
      `invalid user name ${JSON.stringify(user)}: ${problem}; map hub names to system users, e.g. with Authenticator.username_map`,
    );
  }
}

export function toolName(sudo: string): string {
  return path.basename(sudo);
}

export function defaultSudoArgs(sudo: string): string[] {
  // doas has no -H; it always sets HOME for the target user.
  return toolName(sudo) === "doas" ? ["-n"] : ["-nH"];
}

export function normaliseLogLevel(level: string): string {
  if (logLevelOf(level) === undefined) {
    throw new SudoSpawnerError("USAGE", `invalid mediator log level ${JSON.stringify(level)}: use one of ${LOG_LEVELS.join(", ")}`);
  }
  // Upper case, as the Python SudoSpawner passes it; the mediator accepts any case and the aliases.
  return level.trim().toUpperCase();
}

function assertMediatorPath(mediatorPath: string): void {
  if (mediatorPath === "" || mediatorPath.includes("\0")) {
    throw new SudoSpawnerError("USAGE", "mediatorPath is empty or contains a NUL byte: set it to the installed ts-sudospawner, e.g. /opt/ts-sudospawner/bin/ts-sudospawner");
  }
  // A relative path with a slash would depend on the hub's working directory, and sudoers rules
  // name absolute paths: refuse it. A bare name is searched on sudo's secure_path.
  if (!path.isAbsolute(mediatorPath) && mediatorPath.includes("/")) {
    throw new SudoSpawnerError(
      "USAGE",
      `mediatorPath ${JSON.stringify(mediatorPath)} is relative: use the absolute path your sudoers rule names, e.g. /opt/ts-sudospawner/bin/ts-sudospawner`,
    );
  }
  if (mediatorPath.startsWith("-")) throw new SudoSpawnerError("USAGE", `mediatorPath ${JSON.stringify(mediatorPath)} looks like an option`);
}

export function buildSudoCommand(options: SudoCommandOptions): SudoCommand {
  const sudo = options.sudo ?? "sudo";
  if (sudo === "" || sudo.includes("\0")) throw new SudoSpawnerError("USAGE", "the sudo command is empty: use sudo, doas or dzdo");
  assertUsername(options.user);
  assertMediatorPath(options.mediatorPath);
  const sudoArgs = options.sudoArgs ?? defaultSudoArgs(sudo);
  for (const arg of sudoArgs) {
    if (arg.includes("\0")) throw new SudoSpawnerError("USAGE", "sudoArgs contain a NUL byte");
  }
  const level = normaliseLogLevel(options.logLevel ?? "INFO");
  return {
    file: sudo,
    args: ["-u", options.user, ...sudoArgs, options.mediatorPath, `--logging=${level}`],
    tool: toolName(sudo),
    user: options.user,
    mediatorPath: options.mediatorPath,
  };
}

/** The command as one shell-quoted line, for logs and error messages. */
export function describeCommand(command: Pick<SudoCommand, "file" | "args">): string {
  return shellLine([command.file, ...command.args]);
}
