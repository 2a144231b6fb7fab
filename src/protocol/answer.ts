/**
 * Reading the mediator's answers on the hub side (pure). An ok answer must carry exactly the field
 * its request calls for; anything else is a MEDIATOR error that quotes what arrived.
 */
import { SudoSpawnerError } from "../errors.js";
import { JOB_RESOURCE_NAMES, MAX_JOB_ID, MAX_PID, PARTITION_NAME_PATTERN, PROFILE_NAME_PATTERN, type JobResourceName, type JsonObject, type ProfileSummary, type ResourceBounds, type SlurmOptions } from "./wire.js";

/** At most `max` characters of text, JSON-quoted, for quoting output in an error message. */
export function excerpt(text: string, max = 300): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed);
}

function malformed(what: string, answer: JsonObject): SudoSpawnerError {
  return new SudoSpawnerError("MEDIATOR", `the mediator's ${what}: ${excerpt(JSON.stringify(answer))}`);
}

/** A pid the hub may act on: one positive pid > 1 (never a group, never init). */
export function isServerPid(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 1 && value <= MAX_PID;
}

/** The pid of a spawn answer. */
export function spawnAnswerPid(answer: JsonObject): number {
  if (!isServerPid(answer.pid)) throw malformed("spawn answer has no valid pid", answer);
  return answer.pid;
}

/**
 * What a reconciling spawn or submit stopped first: `stopped`, a list of pids (or job ids), or
 * [] when the answer has none (a request without reconcile; an older mediator).
 */
export function answerStopped(answer: JsonObject): number[] {
  const { stopped } = answer;
  if (stopped === undefined) return [];
  if (!Array.isArray(stopped) || !stopped.every((id): id is number => typeof id === "number" && Number.isSafeInteger(id) && id > 1 && id <= MAX_JOB_ID)) {
    throw malformed('answer has an invalid "stopped" list', answer);
  }
  return [...stopped];
}

/** The liveness of a kill answer. */
export function killAnswerAlive(answer: JsonObject): boolean {
  if (typeof answer.alive !== "boolean") throw malformed('kill answer has no boolean "alive"', answer);
  return answer.alive;
}

/** The launch profiles of a profiles answer. */
export function profilesAnswerList(answer: JsonObject): ProfileSummary[] {
  const { profiles } = answer;
  if (!Array.isArray(profiles)) throw malformed('profiles answer has no "profiles" list', answer);
  return profiles.map((entry: unknown) => {
    const { name, description } = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof name !== "string" || !PROFILE_NAME_PATTERN.test(name) || typeof description !== "string") {
      throw malformed("profiles answer has an invalid entry", answer);
    }
    return { name, description };
  });
}

/** The partitions and bounds of a slurm-options answer. */
export function slurmOptionsAnswer(answer: JsonObject): SlurmOptions {
  const { partitions } = answer;
  if (!Array.isArray(partitions) || partitions.length === 0 || !partitions.every((p): p is string => typeof p === "string" && PARTITION_NAME_PATTERN.test(p))) {
    throw malformed('slurm-options answer has no list of partition names in "partitions"', answer);
  }
  const bounds = {} as Record<JobResourceName, ResourceBounds>;
  for (const name of JOB_RESOURCE_NAMES) {
    const entry = answer[name];
    const { default: fallback, max } = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    if (!Number.isSafeInteger(fallback) || !Number.isSafeInteger(max) || (fallback as number) < 0 || (fallback as number) > (max as number)) {
      throw malformed(`slurm-options answer has no valid {"default","max"} in "${name}"`, answer);
    }
    bounds[name] = { default: fallback as number, max: max as number };
  }
  return { partitions: [...partitions], ...bounds };
}
