/**
 * What a suite needs from the machine (root, a tool, a kernel feature, a resolvable host name,
 * the Node under test on sudo's secure_path, a known setting). The rule is written once, in
 * scripts/test/prerequisites.mjs: where something is missing a local run skips (or goes on with less)
 * and says so in a banner; with CI set the run fails at once, naming what is missing. Every suite
 * decides through skipWithout() or noteWithout(); none decides on its own.
 */
import { inCi, MissingPrerequisite, prerequisiteMissing } from "../../scripts/test/prerequisites.mjs";

export { inCi, MissingPrerequisite };

/**
 * Whether the suite `suite` must skip because of `missing` (a reason; undefined or "" when
 * nothing is missing). Under CI it throws instead; locally it prints a loud banner.
 *
 *     const skip = skipWithout("faults (test/integration/spawn/faults.test.ts)", fx.reason);
 *     describe.skipIf(skip)(...)
 */
export function skipWithout(suite: string, missing: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return prerequisiteMissing(suite, missing, "SKIPPED", env);
}

/**
 * For what a run can do without but then proves less (the mediator on another Node than the one
 * under test): the same rule, but locally the run goes on after the banner. True when missing.
 */
export function noteWithout(what: string, missing: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return prerequisiteMissing(what, missing, "NOTE:", env);
}

/** The first reason that is not empty, for a suite with several prerequisites. */
export function firstMissing(...reasons: Array<string | undefined | false | null>): string | undefined {
  return reasons.find((reason): reason is string => typeof reason === "string" && reason !== "");
}
