/**
 * Turning what one mediator call produced (exit status, stdout, stderr) into a result or into an
 * error that names the cause and the fix. Pure: no I/O, so every failure mode is unit-tested.
 */
import { SudoSpawnerError } from "../errors.js";
import { excerpt, type JsonObject } from "../protocol/index.js";
import { classifyRefusal } from "../system/sudo-refusals.js";
import { describeCommand, type SudoCommand } from "./command-line.js";

/** What a finished mediator call left behind. */
export interface CallOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stderr seen while the call ran (sudo's complaints and the mediator's log lines). */
  stderr: string;
}

export interface CallContext {
  command: SudoCommand;
  /** The user the hub runs as: the one the sudoers rule must name. */
  hubUser: string;
  /**
   * Whether the mediator exists where sudo will look (checked by the caller after a failure).
   * sudo -n says "a password is required" for a missing command too, since no rule matches it.
   */
  mediatorFound?: boolean;
}

export type Extracted = { kind: "object"; value: JsonObject } | { kind: "none" } | { kind: "several"; count: number };

function asObject(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as JsonObject;
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * Find the one JSON object on stdout. The mediator writes exactly one line, but a site's sudo may
 * add a banner or lecture; so: the whole text if it parses, else the lines that parse as objects.
 */
export function extractJsonObject(stdout: string): Extracted {
  const whole = asObject(stdout.trim());
  if (whole) return { kind: "object", value: whole };
  const found = stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("{"))
    .map(asObject)
    .filter((value): value is JsonObject => value !== undefined);
  if (found.length === 1) return { kind: "object", value: found[0] as JsonObject };
  if (found.length === 0) return { kind: "none" };
  return { kind: "several", count: found.length };
}

function lastLines(text: string, count = 5): string {
  return text.trim().split("\n").slice(-count).join(" | ");
}

function isSudoLike(command: SudoCommand): boolean {
  return command.tool !== "doas";
}

function sudoersFix(ctx: CallContext): string {
  const { hubUser } = ctx;
  const { user, mediatorPath } = ctx.command;
  if (!isSudoLike(ctx.command)) {
    return `add \`permit nopass ${hubUser} as ${user} cmd ${mediatorPath}\` to /etc/doas.conf`;
  }
  return `run \`ts-sudospawner sudoers --hub-user ${hubUser} --users ${user} --install\` as root (or add ${user} to the group the rule names), then check with \`ts-sudospawner check --hub-user ${hubUser} --user ${user}\``;
}

function sudoError(message: string, outcome: CallOutcome): SudoSpawnerError {
  return new SudoSpawnerError("SUDO", `${message} [${lastLines(outcome.stderr, 3)}]`);
}

function notFound(outcome: CallOutcome, ctx: CallContext): SudoSpawnerError {
  const { tool, mediatorPath } = ctx.command;
  const rule = isSudoLike(ctx.command) ? "sudoers rule" : "doas.conf rule";
  if (!mediatorPath.startsWith("/")) {
    return sudoError(
      `${tool} could not find the mediator ${JSON.stringify(mediatorPath)}: it is not on ${tool}'s secure_path; set mediatorPath to the absolute path of the installed ts-sudospawner (e.g. /opt/ts-sudospawner/bin/ts-sudospawner) and name that same path in the ${rule}`,
      outcome,
    );
  }
  return sudoError(
    `${tool} could not find the mediator ${mediatorPath}: it does not exist; install it there (\`npm install -g --prefix PREFIX ts-sudospawner-*.tgz\` gives PREFIX/bin/ts-sudospawner) or point mediatorPath at the installed one`,
    outcome,
  );
}

/**
 * Explain the privilege tool's own refusal in stderr (the table is src/system/sudo-refusals.ts);
 * undefined when it did not refuse.
 */
export function classifySudoFailure(outcome: CallOutcome, ctx: CallContext): SudoSpawnerError | undefined {
  const { tool, user, mediatorPath } = ctx.command;
  const hub = ctx.hubUser;
  const rule = isSudoLike(ctx.command) ? "sudoers rule" : "doas.conf rule";
  const kind = classifyRefusal(outcome.stderr);
  // sudo -n says "a password is required" for a command it cannot find, too.
  if ((kind === "asks_password" || kind === "not_found") && ctx.mediatorFound === false) return notFound(outcome, ctx);
  switch (kind) {
    case "asks_password":
      return sudoError(
        `${tool} asked for a password: the ${rule} for hub user ${hub} does not cover user ${user} (or does not name ${mediatorPath} exactly, with NOPASSWD); ${sudoersFix(ctx)}`,
        outcome,
      );
    case "not_allowed":
      return sudoError(`${tool} refused: the ${rule} for hub user ${hub} does not allow running ${mediatorPath} as ${user}; ${sudoersFix(ctx)}`, outcome);
    case "needs_tty":
      return sudoError(`${tool} requires a terminal (requiretty) and the hub has none: add \`Defaults:${hub} !requiretty\` (the generated rule has it)`, outcome);
    case "unknown_user":
      return sudoError(`${tool} does not know the user ${user}: create the system account (useradd ${user}) or map the hub's user name to an existing account`, outcome);
    case "not_found":
      return notFound(outcome, ctx);
    case "cannot_execute":
      return sudoError(`${tool} could not execute ${mediatorPath} as ${user}: make it and every directory above it readable and executable by ${user} (e.g. chmod 755)`, outcome);
    case "no_privileges":
      return sudoError(`${tool} cannot gain privileges here (setuid is disabled: a nosuid mount or a container started with no-new-privileges); run the hub where ${tool} works`, outcome);
    case undefined:
      break;
  }
  const text = outcome.stderr.toLowerCase();
  if (/^(sudo|doas|dzdo):/m.test(text) && outcome.stdout.trim() === "") {
    return sudoError(`${tool} failed before the mediator answered (exit status ${outcome.exitCode ?? outcome.signal}); check the ${rule} with \`${describeCommand(ctx.command)}\` as ${hub}`, outcome);
  }
  return undefined;
}

/**
 * The ok:true answer object of a finished call, or the error explaining why there is none.
 * A pid in an ok:true answer is trusted even with an odd exit status: a running server must stay
 * managed rather than be forgotten.
 */
export function interpretOutcome(outcome: CallOutcome, ctx: CallContext): JsonObject {
  const extracted = extractJsonObject(outcome.stdout);
  if (extracted.kind === "object") {
    const answer = extracted.value;
    if (answer.ok === true) return answer;
    if (answer.ok === false) {
      const reason = typeof answer.error === "string" ? answer.error : `unexpected error field ${excerpt(JSON.stringify(answer.error ?? null))}`;
      const usage = outcome.exitCode === 2 ? " (a usage error: is the installed mediator older than this client? compare `ts-sudospawner --version`)" : "";
      return fail("MEDIATOR", `the mediator refused (as ${ctx.command.user}): ${reason}${usage}`);
    }
    return fail("MEDIATOR", `the mediator answered without "ok": ${excerpt(JSON.stringify(answer))}; is ${ctx.command.mediatorPath} really ts-sudospawner?`);
  }
  const sudo = classifySudoFailure(outcome, ctx);
  if (sudo) throw sudo;
  if (extracted.kind === "several") {
    return fail("MEDIATOR", `the mediator wrote ${extracted.count} JSON objects on stdout instead of one: ${excerpt(outcome.stdout)}`);
  }
  if (outcome.signal !== null) {
    return fail("MEDIATOR", `the mediator was killed by ${outcome.signal} before answering; stderr: ${excerpt(lastLines(outcome.stderr))}`);
  }
  if (outcome.stdout.trim() !== "") {
    return fail(
      "MEDIATOR",
      `the mediator's output is not JSON: ${excerpt(outcome.stdout)}; is ${ctx.command.mediatorPath} really ts-sudospawner (try \`${ctx.command.mediatorPath} --version\`)?`,
    );
  }
  return fail(
    "MEDIATOR",
    `the mediator exited with status ${outcome.exitCode} without an answer; stderr: ${excerpt(lastLines(outcome.stderr))}`,
  );
}

function fail(code: "MEDIATOR", message: string): never {
  throw new SudoSpawnerError(code, message);
}
