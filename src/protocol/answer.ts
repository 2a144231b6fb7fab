/**
 * Reading the mediator's answers on the hub side (pure). An ok answer must carry exactly the field
 * its request calls for; anything else is a MEDIATOR error that quotes what arrived.
 */
import { SudoSpawnerError } from "../errors.js";
import { MAX_PID, PROFILE_NAME_PATTERN, type JsonObject, type ProfileSummary } from "./wire.js";

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
