// The one rule for what a test run needs from the machine (root, a tool, a kernel feature, a
// resolvable host name, the Node under test on sudo's secure_path, a known setting): where it is
// missing, a local run goes on without it and says so in a banner, but a CI run (CI set, as CI
// services and .ci/run set it) fails at once, naming what is missing. So CI cannot go green by
// skipping a proof: .ci/run installs what the suites need. Used by the test helpers
// (test/helpers/prerequisites.ts) and by the scripts of `npm test`.

/** CI is set: any value but empty, "0" or "false" (CI services set CI=true). */
export function inCi(env = process.env) {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** A prerequisite missing under CI. */
export class MissingPrerequisite extends Error {
  name = "MissingPrerequisite";
}

/** A loud banner on stderr, so that nothing is left out silently. */
export function banner(lines) {
  const width = Math.min(160, Math.max(...lines.map((line) => line.length)) + 4);
  process.stderr.write(`\n${"!".repeat(width)}\n${lines.map((line) => `!! ${line}`).join("\n")}\n${"!".repeat(width)}\n\n`);
}

/**
 * The rule, once. `missing` is why `what` cannot run as it must, or empty/undefined when nothing
 * is missing: then false. Under CI: throws MissingPrerequisite. Otherwise: a banner saying
 * `${consequence} ${what}` and why, and true (the caller skips, or goes on with less).
 */
export function prerequisiteMissing(what, missing, consequence = "SKIPPED", env = process.env) {
  if (!missing) return false;
  if (inCi(env)) {
    throw new MissingPrerequisite(
      `${what} cannot run as it must: ${missing}. CI is set, so a missing prerequisite fails the run instead of being skipped ` +
        "(.ci/run installs what the suites need; a local run without CI skips with a banner)",
    );
  }
  banner([`${consequence} ${what}: ${missing}`]);
  return true;
}
