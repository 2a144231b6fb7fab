/**
 * Lines a test adds to /etc/pam.d/sudo, marked so that a run interrupted before it put the file
 * back does not leave it there: the next run's setup removes the marked lines and nothing else
 * (test/helpers/leftovers.ts). An admin's own copy of the same line carries no mark and stays.
 */

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
