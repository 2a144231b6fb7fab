/**
 * The privilege tool's own refusals, recognised in its stderr: the messages of sudo 1.8/1.9, dzdo
 * (sudo's wording) and OpenBSD doas/OpenDoas. One table for the hub client and `check`; the Python
 * spawner (src/jupyterhub) has the same kinds, and a test feeds both the examples below.
 * Matched on lower-cased text; the first matching row wins, so the order matters.
 */
export type RefusalKind = "asks_password" | "not_allowed" | "needs_tty" | "unknown_user" | "not_found" | "cannot_execute" | "no_privileges";

export interface Refusal {
  kind: RefusalKind;
  pattern: RegExp;
  /** Real messages of this kind, for tests on both sides. */
  examples: readonly string[];
}

export const SUDO_REFUSALS: readonly Refusal[] = [
  {
    // sudo -n reports a rule that does not match, or does not exist, this way too.
    kind: "asks_password",
    pattern: /a password is required|a terminal is required|password for|\[sudo\] password|no tty present|no askpass program|authorization required|authentication failed/,
    examples: ["sudo: a password is required", "sudo: a terminal is required to read the password; either use the -S option", "doas: Authorization required", "doas: authentication failed"],
  },
  {
    kind: "not_allowed",
    pattern: /is not allowed to (?:run|execute)|is not in the sudoers file|may not run sudo|operation not permitted/,
    examples: ["Sorry, user rhea is not allowed to execute '/bin/echo fail' as alice on vm.", "rhea is not in the sudoers file.  This incident will be reported.", "doas: Operation not permitted"],
  },
  { kind: "needs_tty", pattern: /you must have a tty/, examples: ["sudo: sorry, you must have a tty to run sudo"] },
  { kind: "unknown_user", pattern: /unknown user|user \S+ unknown|no passwd entry|unknown login/, examples: ["sudo: unknown user alice", "doas: no passwd entry for alice", "sudo: unknown user: alice"] },
  { kind: "not_found", pattern: /command not found|no such file or directory/, examples: ["sudo: /opt/tsss/bin/ts-sudospawner: command not found", "doas: /opt/x: No such file or directory"] },
  { kind: "cannot_execute", pattern: /unable to execute|permission denied/, examples: ["sudo: unable to execute /opt/tsss/bin/ts-sudospawner: Permission denied"] },
  {
    kind: "no_privileges",
    pattern: /effective uid is not 0|must be owned by uid 0 and have the setuid bit set|no new privileges/,
    examples: ["sudo: effective uid is not 0, is /usr/bin/sudo on a file system with the 'nosuid' option set?", "sudo: The \"no new privileges\" flag is set, which prevents sudo from running as root."],
  },
];

/** The kind of the first refusal found in `stderr`, or undefined. */
export function classifyRefusal(stderr: string): RefusalKind | undefined {
  const text = stderr.toLowerCase();
  return SUDO_REFUSALS.find((refusal) => refusal.pattern.test(text))?.kind;
}
