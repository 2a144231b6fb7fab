/**
 * What an interrupted root run leaves on the machine, removed before the next one starts (under
 * the run lock, so nothing of another run is in use). Every suite cleans up after itself, but a run
 * killed midway (a machine restart, a CI timeout) leaves its suite's users, groups, sudoers files
 * and test policy behind; a later run would then meet a leftover user that is no longer in the
 * recreated group, or a rule it did not write, and fail far from the cause. Everything here carries
 * the tests' marks: the tsss- prefix, the site policy directory's marker file, or the mark above
 * each line a test added to /etc/pam.d/sudo.
 */
import fs from "node:fs";
import { readTextIfPresent } from "../../src/admin/host/commands.js";
import { PAM_SUDO_SERVICE } from "../../src/admin/pam-homes.js";
import { withoutTestLines } from "./pam-sudo.js";
import { POLICY_DIR, POLICY_MARKER } from "./site-policy.js";
import { removeGroup, removeSudoers, removeUser } from "./system.js";

const TEST_PREFIX = "tsss-";

/** Names in a colon-separated account file (/etc/passwd, /etc/group) that carry the test prefix. */
function testNames(file: string): string[] {
  return (readTextIfPresent(file) ?? "")
    .split("\n")
    .map((line) => line.split(":")[0] ?? "")
    .filter((name) => name.startsWith(TEST_PREFIX));
}

/** Removes what earlier runs left; returns what it removed, for the setup's log line. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const entry of fs.readdirSync("/etc/sudoers.d")) {
    if (!entry.startsWith(TEST_PREFIX) && !entry.startsWith(`.${TEST_PREFIX}`)) continue;
    removeSudoers(entry);
    removed.push(`/etc/sudoers.d/${entry}`);
  }
  for (const user of testNames("/etc/passwd")) {
    removeUser(user);
    removed.push(`user ${user}`);
  }
  for (const group of testNames("/etc/group")) {
    removeGroup(group);
    removed.push(`group ${group}`);
  }
  if (fs.existsSync(POLICY_MARKER)) {
    fs.rmSync(POLICY_DIR, { recursive: true, force: true });
    removed.push(POLICY_DIR);
  }
  const pam = readTextIfPresent(PAM_SUDO_SERVICE);
  if (pam !== undefined && withoutTestLines(pam) !== pam) {
    fs.writeFileSync(PAM_SUDO_SERVICE, withoutTestLines(pam));
    removed.push(`the tests' lines in ${PAM_SUDO_SERVICE}`);
  }
  return removed;
}
