/**
 * Lines a test adds to /etc/pam.d/sudo, marked so that a run interrupted before it put the file
 * back does not leave it there: the next run's setup removes the marked lines and nothing else
 * (test/helpers/leftovers.ts). An admin's own copy of the same line carries no mark and stays.
 */

import path from "node:path";
import { readTextIfPresent } from "../../src/admin/host/commands.js";

/** PAM ignores a line that starts with '#'; this one names the line after it as a test's. */
export const TEST_LINE_MARK = "# tsss-test: the next line is a test's; the next test run removes both if they are still here";

/**
 * `text` with `lines` appended, each under the mark. withoutTestLines gives `text` back exactly when
 * it ended in a newline (a file that did not gains one; the test itself restores the saved bytes).
 */
export function withTestLines(text: string, lines: readonly string[]): string {
  const separator = text === "" || text.endsWith("\n") ? "" : "\n";
  return `${text}${separator}${lines.map((line) => `${TEST_LINE_MARK}\n${line}\n`).join("")}`;
}

/** `text` without any marked line (the mark and the line after it); everything else byte for byte. */
export function withoutTestLines(text: string): string {
  const lines = text.split("\n");
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (lines[i] === TEST_LINE_MARK) {
      i += 1; // the marked line itself
      continue;
    }
    kept.push(lines[i] as string);
  }
  return kept.join("\n");
}

/**
 * Whether a PAM service's stack makes homes: a session line with pam_mkhomedir, through @include and
 * include/substack (`read` gives a service's file text, or undefined). Any such line counts, guarded
 * or not: a test that needs a homeless user cannot trust the guard to name its hub.
 */
export function stackMakesHomes(service: string, read: (service: string) => string | undefined, seen = new Set<string>()): boolean {
  if (seen.has(service)) return false;
  seen.add(service);
  for (const raw of (read(service) ?? "").split("\n")) {
    const words = raw.replace(/#.*/, "").trim().split(/\s+/);
    const included = words[0] === "@include" ? words[1] : undefined;
    if (included !== undefined && stackMakesHomes(included, read, seen)) return true;
    if (words[0]?.replace(/^-/, "") !== "session") continue;
    const nested = words[1] === "include" || words[1] === "substack" ? words[2] : undefined;
    if (nested !== undefined && stackMakesHomes(nested, read, seen)) return true;
    if (words.some((word) => /(^|\/)pam_mkhomedir\.so$/.test(word))) return true;
  }
  return false;
}

/**
 * A prerequisite's reason ("" when met) for a test that needs a user to stay homeless through sudo:
 * where this machine's own PAM stack for sudo makes homes, any sudo call as that user makes one.
 */
export function sudoMakesHomes(): string {
  const makes = stackMakesHomes("sudo", (service) => readTextIfPresent(path.join("/etc/pam.d", service)));
  return makes ? "this machine's PAM stack for sudo makes homes (pam_mkhomedir in /etc/pam.d/sudo or a file it includes), so no user stays homeless through sudo" : "";
}
