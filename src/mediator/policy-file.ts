/**
 * Loading the site policy. The path is fixed (POLICY_PATH) in the mediator; only tests pass another.
 * The file and every directory above it must be root-owned and not group/world-writable, or the
 * mediator refuses to act at all: a policy the hub could have edited is no policy.
 */
import { readFileSync } from "node:fs";
import { SudoSpawnerError, errnoCode, errorMessage } from "../errors.js";
import { auditPath, formatProblems, realFs, type FsView } from "../install/path-trust.js";
import { EMPTY_POLICY, POLICY_PATH, validatePolicy, type Policy } from "./policy.js";

const ROOT_ONLY = new Set([0]);

export function loadPolicy(file: string = POLICY_PATH, view: FsView = realFs): Policy {
  // Judge before reading: once the chain is root-only, nobody else can swap the file under us.
  let audit: ReturnType<typeof auditPath>;
  try {
    audit = auditPath(file, view, { trustedUids: ROOT_ONLY });
  } catch (error) {
    // A policy this user cannot even reach (a 0700 directory) must not silently stop applying.
    throw new SudoSpawnerError(
      "POLICY",
      `refusing the policy ${file}: ${errorMessage(error)}, so it cannot be applied. As root: chmod 0755 its directories and 0644 the file`,
    );
  }
  if (!audit.exists) return EMPTY_POLICY;
  if (audit.problems.length > 0) {
    throw new SudoSpawnerError(
      "POLICY",
      `refusing the policy ${file}: ${formatProblems(audit.problems)}. As root: chown root:root it and its directories, chmod go-w`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    const reason = errnoCode(error) ? `cannot read it: ${errorMessage(error)}` : `it is not valid JSON: ${errorMessage(error)}`;
    throw new SudoSpawnerError("POLICY", `refusing the policy ${file}: ${reason}`);
  }
  return validatePolicy(value);
}
