/**
 * The Slurm rows of `ts-sudospawner check`, judged from what was run (pure): the mediator's
 * `slurm-options` and `submit-test` answers, and `munge -n` as the user decoded by `unmunge`.
 * check/slurm/probe.ts runs those; this module only turns their results into rows, so every answer and
 * every failure can be unit-tested without a cluster.
 *
 * Nothing here audits the policy's executables: the mediator does that on every Slurm action (all
 * four of sbatch, squeue, scancel and scontrol, and /bin/sh for the watchdog, whatever the action)
 * and its NOT_FOUND or UNSAFE_PATH message arrives in the rows through its answers.
 */
import { errorMessage } from "../../../errors.js";
import { JOB_RESOURCE_NAMES, SLURM_OFF, slurmOptionsAnswer, type SlurmOptions } from "../../../protocol/index.js";
import type { CheckRow } from "../report.js";
import { diagnoseSudoFailure, type FailureContext } from "../diagnose.js";
import type { CommandResult } from "../../host/commands.js";
import type { MediatorReply } from "../mediator-ask.js";

export const SLURM_ROW_IDS = { mode: "slurm-mode", munge: "slurm-munge", submitTest: "slurm-submit-test" } as const;

const POLICY_DOC = "docs/policy.md#slurm";

/** The mediator's refusal of a Slurm action when the policy has no `slurm` section (its DISABLED error). */
export function isSlurmOff(error: string): boolean {
  return error.startsWith(SLURM_OFF);
}

/** "partitions debug (default), short; minutes 60 (max 480), ..." */
export function describeOptions(options: SlurmOptions): string {
  const [first, ...rest] = options.partitions;
  const partitions = [`${first ?? ""} (default)`, ...rest].join(", ");
  const resources = JOB_RESOURCE_NAMES.map((name) => `${name} ${options[name].default} (max ${options[name].max})`).join(", ");
  return `partitions ${partitions}; ${resources}`;
}

/** Quote a mediator's failure: its error, or sudo's output when it gave no answer. */
function failureText(reply: MediatorReply): string {
  if (reply.answer?.ok === false && typeof reply.answer.error === "string") return reply.answer.error;
  if (reply.answer !== undefined) return `an answer this check does not understand: ${JSON.stringify(reply.answer).slice(0, 300)}`;
  const output = reply.output.trim().split("\n").filter(Boolean).slice(0, 3).join(" / ");
  return `no JSON answer (exit ${reply.status ?? "by a signal"})${output === "" ? "" : `: ${output}`}`;
}

export type SlurmModeVerdict = { row: CheckRow; options?: SlurmOptions };

/** The "Slurm mode" row from the `slurm-options` answer; `options` only when Slurm mode is on. */
export function judgeSlurmMode(user: string, reply: MediatorReply, ctx: FailureContext): SlurmModeVerdict {
  const row = { id: SLURM_ROW_IDS.mode, title: "Slurm mode" };
  const { answer } = reply;
  if (answer === undefined) {
    const diagnosis = diagnoseSudoFailure(reply.output, ctx);
    return { row: { ...row, status: "fail", detail: `could not ask the mediator as ${user} (slurm-options): ${failureText(reply)}. ${diagnosis.cause}`, fix: diagnosis.fix } };
  }
  if (answer.ok === true) {
    let options: SlurmOptions;
    try {
      options = slurmOptionsAnswer(answer);
    } catch (error) {
      return {
        row: { ...row, status: "fail", detail: errorMessage(error), fix: "the mediator is not the one this check belongs to: run the check of the installed mediator (--mediator, the path the hub runs)" },
      };
    }
    return { row: { ...row, status: "pass", detail: `on, as ${user}: ${describeOptions(options)}`, fix: "" }, options };
  }
  const error = failureText(reply);
  if (isSlurmOff(error)) {
    // The mediator's own words, without repeating the title.
    const why = error.slice(SLURM_OFF.length).replace(/^:\s*/, "");
    return { row: { ...row, status: "skip", detail: `off: ${why}`, fix: `to start servers as Slurm jobs, add a "slurm" section to the site policy (${POLICY_DOC})` } };
  }
  return { row: { ...row, status: "fail", detail: `the mediator refused slurm-options as ${user}: ${error}`, fix: `fix what the message names in the site policy or the install (${POLICY_DOC}); the munge and sbatch rows follow once it answers` } };
}

// ---------------------------------------------------------------------------------------------
// munge

/** The fields of `unmunge`'s report ("STATUS:  Success (0)", "UID:  alice (1001)"), by name. */
export function parseUnmunge(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z_]+):\s+(.*)$/.exec(line.trim());
    if (match) fields[match[1] as string] = (match[2] as string).trim();
  }
  return fields;
}

/** The uid in unmunge's "UID: alice (1001)". */
export function unmungeUid(fields: Record<string, string>): number | undefined {
  const match = /\((\d+)\)$/.exec(fields.UID ?? "");
  return match ? Number(match[1]) : undefined;
}

/**
 * The munge socket slurm.conf names (`AuthInfo=socket=PATH`, possibly among other options such as
 * `cred_expire=120`); undefined when it names none, and munge's default socket applies.
 */
export function authInfoSocket(conf: string): string | undefined {
  let socket: string | undefined;
  for (const raw of conf.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const match = /^AuthInfo\s*=\s*(.*)$/i.exec(line);
    if (!match) continue;
    for (const option of (match[1] as string).replace(/^"|"$/g, "").split(",")) {
      const [key, value] = option.split("=", 2).map((part) => part.trim());
      if (key?.toLowerCase() === "socket" && value) socket = value;
    }
  }
  return socket;
}

/**
 * The policy's `slurm.conf`, read only to find the munge socket for the munge row (the mediator
 * validates the policy; a policy it refuses shows in the "Slurm mode" row).
 */
export function policySlurmConf(policyText: string): string | undefined {
  try {
    const policy: unknown = JSON.parse(policyText);
    const slurm: unknown = typeof policy === "object" && policy !== null ? (policy as Record<string, unknown>).slurm : undefined;
    const conf: unknown = typeof slurm === "object" && slurm !== null ? (slurm as Record<string, unknown>).conf : undefined;
    return typeof conf === "string" && conf.startsWith("/") ? conf : undefined;
  } catch {
    return undefined;
  }
}

/** Where the munge socket came from, for details and fixes. */
export interface MungeSocket {
  /** Passed as --socket; undefined: munge's compiled-in default. */
  path?: string;
  /** E.g. "AuthInfo in /etc/slurm/slurm.conf", "munge's default (slurm.conf names none)". */
  from: string;
}

export type MungeFacts =
  | { kind: "missing"; missing: string[] }
  | { kind: "not-root" }
  | { kind: "ran"; socket: MungeSocket; encode: CommandResult; decode?: CommandResult };

const MUNGE_PACKAGE_FIX =
  "as root: `apt-get install munge` (Debian/Ubuntu; RHEL family: `dnf install munge` from EPEL), with the same /etc/munge/munge.key as the cluster (owner munge, mode 0400), then `systemctl enable --now munge`";

function output(result: CommandResult): string {
  return `${result.stderr}\n${result.stdout}\n${result.failure ?? ""}`.trim().split("\n").filter(Boolean).slice(0, 2).join(" / ") || `exit ${result.status ?? "by a signal"}`;
}

function socketName(socket: MungeSocket): string {
  return socket.path === undefined ? `munge's default socket (${socket.from})` : `${socket.path} (${socket.from})`;
}

/** What to do when `munge -n` as the user fails: start munged, the socket's modes, the key. */
function encodeFix(user: string, socket: MungeSocket, text: string): string {
  const where = socket.path ?? "munge's default socket";
  const start = `start munged on this host (as root: \`systemctl enable --now munge\`) listening on ${where}, the socket slurm.conf's AuthInfo=socket= names (or none, for the default); if it does not start, \`journalctl -u munge\`: the key /etc/munge/munge.key must be owned by munge with mode 0400`;
  if (/permission denied/i.test(text)) {
    return `${user} cannot reach ${where}: the socket must be writable by everyone (srwxrwxrwx) in directories every user can enter (Debian's /run/munge is 0755); as root, fix those modes or munged's --socket`;
  }
  if (/did you start munged|no such file|connection refused/i.test(text)) return start;
  return `${start}; and ${user} must be able to reach the socket`;
}

/** The "munge as USER" row. */
export function judgeMunge(user: { name: string; uid: number }, facts: MungeFacts): CheckRow {
  const row = { id: SLURM_ROW_IDS.munge, title: `munge as ${user.name}` };
  if (facts.kind === "missing") {
    return { ...row, status: "fail", detail: `${facts.missing.join(" and ")} not found on PATH: Slurm's commands authenticate every user through munge`, fix: MUNGE_PACKAGE_FIX };
  }
  if (facts.kind === "not-root") {
    return { ...row, status: "skip", detail: `running munge as ${user.name} needs root (runuser)`, fix: "run the check as root" };
  }
  const shown = `runuser -u ${user.name} -- munge -n${facts.socket.path === undefined ? "" : ` --socket ${facts.socket.path}`} | unmunge`;
  if (facts.encode.status !== 0 || facts.encode.stdout.trim() === "") {
    const text = output(facts.encode);
    return { ...row, status: "fail", detail: `\`${shown}\`: munge failed as ${user.name} on ${socketName(facts.socket)}: ${text}`, fix: encodeFix(user.name, facts.socket, text) };
  }
  const decode = facts.decode;
  const fields = decode === undefined ? {} : parseUnmunge(decode.stdout);
  const uid = unmungeUid(fields);
  if (decode === undefined || decode.status !== 0 || !/^Success\b/.test(fields.STATUS ?? "")) {
    const text = decode === undefined ? "not run" : fields.STATUS ?? output(decode);
    return {
      ...row,
      status: "fail",
      detail: `\`${shown}\`: unmunge could not decode ${user.name}'s credential: ${text}`,
      fix: "every host of the cluster needs the same /etc/munge/munge.key (owner munge, mode 0400; restart munged after copying it) and synchronised clocks (Expired or Rewound credential: chrony/ntp)",
    };
  }
  if (uid !== user.uid) {
    return { ...row, status: "fail", detail: `\`${shown}\`: the credential decodes as UID ${fields.UID ?? "(none)"}, not ${user.name} (uid ${user.uid})`, fix: "report this: munge must encode the uid it runs as" };
  }
  return { ...row, status: "pass", detail: `\`${shown}\`: ${fields.STATUS}, UID ${fields.UID}, through ${socketName(facts.socket)}`, fix: "" };
}

// ---------------------------------------------------------------------------------------------
// sbatch --test-only

/** One `submit-test` of a partition: with the policy's defaults, or asking for every maximum. */
export interface SubmitTestProbe {
  partition: string;
  ask: "defaults" | "maxima";
  reply: MediatorReply;
}

/** The estimate of an ok submit-test answer. */
function estimateOf(reply: MediatorReply): string | undefined {
  const { answer } = reply;
  return answer?.ok === true && typeof answer.estimate === "string" ? answer.estimate : undefined;
}

/** The next step for a refused test submission, from what Slurm (or the mediator) said. */
export function submitTestFix(user: string, error: string): string {
  if (/invalid partition/i.test(error)) return 'the policy\'s "slurm.partitions" names a partition Slurm does not have (`sinfo -s` lists them): fix /etc/ts-sudospawner/config.json';
  if (/refusing|writable by|owned by/i.test(error)) return "as root: make the named path and every directory above it owned by root and not writable by group or others (chown root:root, chmod go-w)";
  // Before "no such file": munge names its missing socket that way.
  if (/munge|authenticat|credential/i.test(error)) return "munge: see the munge row; every host of the cluster needs munged running and the same /etc/munge/munge.key";
  if (/does not exist|no such file|not found/i.test(error)) return `install Slurm's client commands (Debian: \`apt-get install slurm-client\`) or correct the policy's "slurm.sbatch", "slurm.squeue", "slurm.scancel", "slurm.scontrol" and "slurm.conf" (${POLICY_DOC})`;
  if (/unable to contact|connection refused|slurm_load|controller/i.test(error)) {
    return 'slurmctld is not reachable from this host: `scontrol ping` (with the policy\'s "slurm.conf" as SLURM_CONF), the SlurmctldHost and ports of slurm.conf, the firewall';
  }
  if (/node configuration is not available|memory|cpu|gres|time limit/i.test(error)) {
    return `the request exceeds what the partition's nodes have: lower the policy's defaults and maxima ("slurm.memoryMB", "slurm.cpus", "slurm.gpus", "slurm.minutes") or use another partition (\`scontrol show partition\`, \`sinfo -N -l\`)`;
  }
  if (/not permitted|account|association|allow/i.test(error)) return `${user} may not submit to this partition: its AllowGroups/AllowAccounts, or ${user}'s association in slurmdbd (\`sacctmgr show assoc user=${user}\`)`;
  return `run \`sbatch --test-only -p PARTITION --wrap true\` as ${user} with the policy's "slurm.conf" as SLURM_CONF to see more (docs/admin-guide.md, Slurm)`;
}

/** The "sbatch --test-only as USER" row: every partition must take a job with the defaults; maxima it refuses are warnings. */
export function judgeSubmitTest(user: string, probes: readonly SubmitTestProbe[], ctx: FailureContext): CheckRow {
  const row = { id: SLURM_ROW_IDS.submitTest, title: `sbatch --test-only as ${user}` };
  const defaults = probes.filter((probe) => probe.ask === "defaults");
  const failed = defaults.filter((probe) => estimateOf(probe.reply) === undefined);
  if (failed.length > 0) {
    const first = failed[0] as SubmitTestProbe;
    const detail = failed.map((probe) => `partition ${probe.partition}: ${failureText(probe.reply)}`).join("; ");
    const fix = first.reply.answer === undefined ? diagnoseSudoFailure(first.reply.output, ctx).fix : submitTestFix(user, failureText(first.reply));
    return { ...row, status: "fail", detail: `submit-test through the mediator (the policy's defaults) was refused: ${detail}`, fix };
  }
  const estimates = defaults.map((probe) => `partition ${probe.partition}: ${estimateOf(probe.reply) ?? ""}`).join("; ");
  const refusedMaxima = probes.filter((probe) => probe.ask === "maxima" && estimateOf(probe.reply) === undefined);
  if (refusedMaxima.length > 0) {
    const detail = refusedMaxima.map((probe) => `partition ${probe.partition}: ${failureText(probe.reply)}`).join("; ");
    return {
      ...row,
      status: "warn",
      detail: `with the defaults: ${estimates}. Asking for every maximum of the policy was refused, so a user who picks them gets no server: ${detail}`,
      fix: submitTestFix(user, failureText((refusedMaxima[0] as SubmitTestProbe).reply)),
    };
  }
  return { ...row, status: "pass", detail: `nothing queued; with the defaults: ${estimates}`, fix: "" };
}
