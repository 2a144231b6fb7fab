/**
 * One request to the mediator the way the hub sends it: `sudo -u USER -nH MEDIATOR --logging=INFO`
 * run as the hub, the JSON request on stdin, the JSON answer read from stdout. For requests that
 * start nothing that outlives the mediator (check/spawn.ts keeps its own: a server inherits stderr).
 */
import type { JsonObject, MediatorRequest } from "../../protocol/index.js";
import { runAsHub, type CheckSubject } from "./subject.js";

/** What came back from one request to the mediator through the hub's sudo rule. */
export interface MediatorReply {
  /** The JSON object the mediator printed, when it printed one. */
  answer?: JsonObject;
  /** Everything else it (or sudo) printed, for the detail of a failure. */
  output: string;
  status: number | null;
}

/** The answer is the last line of stdout; anything else there is not the mediator's. */
export function readReply(stdout: string, stderr: string, status: number | null, failure?: string): MediatorReply {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  let answer: JsonObject | undefined;
  try {
    const parsed: unknown = JSON.parse(last);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) answer = parsed as JsonObject;
  } catch {
    answer = undefined;
  }
  const output = [stderr, answer === undefined ? stdout : "", failure ?? ""].map((text) => text.trim()).filter(Boolean).join("\n");
  return { ...(answer === undefined ? {} : { answer }), output, status };
}

export function askMediator(s: CheckSubject, request: MediatorRequest, timeoutMs = 60_000): MediatorReply {
  const args = ["sudo", "-u", s.user.name, "-nH", s.mediator.path, "--logging=INFO"];
  const result = runAsHub(s, args, { input: JSON.stringify(request), timeoutMs });
  return readReply(result.stdout, result.stderr, result.status, result.failure);
}
