/**
 * Turning what one mediator call produced (exit status, stdout, stderr) into a result or into an
 * error that names the cause and the fix. Pure: no I/O, so every failure mode is unit-tested.
 */
import { SudoSpawnerError } from "../errors.js";
import { describeCommand, type SudoCommand } from "./sudo-command.js";

export type JsonObject = Record<string, unknown>;

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

/** At most `max` characters of text, for quoting output in an error message. */
export function excerpt(text: string, max = 300): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed);
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
 * Recognise the privilege tool's own refusals in stderr. Matched on the messages of sudo 1.8/1.9,
 * dzdo (sudo's wording) and OpenBSD/OpenDoas doas; undefined when nothing matches.
 */
export function classifySudoFailure(outcome: CallOutcome, ctx: CallContext): SudoSpawnerError | undefined {
  const text = outcome.stderr.toLowerCase();
  const { tool, user, mediatorPath } = ctx.command;
  const hub = ctx.hubUser;
  const rule = isSudoLike(ctx.command) ? "sudoers rule" : "doas.conf rule";

  const asksPassword = /a password is required|a terminal is required|password for|\[sudo\] password|no tty present|no askpass program|authorization required|authentication failed/.test(text);
  if ((asksPassword || /command not found|no such file or directory/.test(text)) && ctx.mediatorFound === false) {
    return notFound(outcome, ctx);
  }
  if (asksPassword) {
    return sudoError(
      `${tool} asked for a password: the ${rule} for hub user ${hub} does not cover user ${user} (or does not name ${mediatorPath} exactly, with NOPASSWD); ${sudoersFix(ctx)}`,
      outcome,
    );
  }
  if (/is not allowed to execute|is not in the sudoers file|may not run sudo|operation not permitted/.test(text)) {
    return sudoError(`${tool} refused: the ${rule} for hub user ${hub} does not allow running ${mediatorPath} as ${user}; ${sudoersFix(ctx)}`, outcome);
  }
  if (/unknown user|no passwd entry|unknown login/.test(text)) {
    return sudoError(`${tool} does not know the user ${user}: create the system account (useradd ${user}) or map the hub's user name to an existing account`, outcome);
  }
  if (/command not found|no such file or directory/.test(text)) return notFound(outcome, ctx);
  if (/unable to execute|permission denied/.test(text)) {
    return sudoError(`${tool} could not execute ${mediatorPath} as ${user}: make it and every directory above it readable and executable by ${user} (e.g. chmod 755)`, outcome);
  }
  if (/effective uid is not 0|must be owned by uid 0 and have the setuid bit set|no new privileges/.test(text)) {
    return sudoError(`${tool} cannot gain privileges here (setuid is disabled: a nosuid mount or a container started with no-new-privileges); run the hub where ${tool} works`, outcome);
  }
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

/** The pid of a spawn answer. */
export function spawnAnswerPid(answer: JsonObject): number {
  const { pid } = answer;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 1) {
    throw new SudoSpawnerError("MEDIATOR", `the mediator's spawn answer has no valid pid: ${excerpt(JSON.stringify(answer))}`);
  }
  return pid;
}

/** The liveness of a kill answer. */
export function killAnswerAlive(answer: JsonObject): boolean {
  const { alive } = answer;
  if (typeof alive !== "boolean") {
    throw new SudoSpawnerError("MEDIATOR", `the mediator's kill answer has no boolean "alive": ${excerpt(JSON.stringify(answer))}`);
  }
  return alive;
}
