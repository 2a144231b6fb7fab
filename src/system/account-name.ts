/**
 * Which user and group names the tools accept (pure). Directory services (sssd, winbind, LDAP)
 * hand out names like `alice@corp.example.com`, `Alice.Smith`, `CORP\alice` and groups like
 * `domain users`: every tool takes any such name, because the hub passes it to sudo as one argv
 * element and the sudoers generator quotes it (admin/sudoers/rule.ts). Refused are only names
 * that sudo or the account files would read as something else:
 *
 * - a leading `#` (sudo reads `#1234` as a uid, `%#1234` as a gid), `%` or `+` (a group or a
 *   netgroup in sudoers), `!` (a negation in sudoers) or `-` (an option to sudo, getent and id);
 * - `:` (the field separator of /etc/passwd and /etc/group) and `/` (no account database allows it);
 * - control characters (a newline would end a sudoers line), whitespace other than an inner space,
 *   and leading or trailing spaces.
 *
 * The Python spawner applies the same rule (src/jupyterhub/ts_sudospawner/usernames.py); the
 * tests hold both to one table of examples.
 */

export const MAX_ACCOUNT_NAME_LENGTH = 256;

const LEADING: Readonly<Record<string, string>> = {
  "#": "sudo reads #N as a numeric id",
  "%": "sudo reads it as a group",
  "+": "sudo reads it as a netgroup",
  "!": "sudoers reads it as a negation",
  "-": "commands read it as an option",
};

/** Why `name` cannot be given to sudo as a user or group name, or undefined when it can. */
export function accountNameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name.length > MAX_ACCOUNT_NAME_LENGTH) return `it is longer than ${MAX_ACCOUNT_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "it contains a control character (a tab, a newline, ...)";
  if (/[^\S ]/u.test(name)) return "it contains whitespace other than a space";
  if (name.startsWith(" ") || name.endsWith(" ")) return "it begins or ends with a space";
  if (name.includes(":")) return 'it contains ":", the field separator of /etc/passwd and /etc/group';
  if (name.includes("/")) return 'it contains "/"';
  const first = name.charAt(0);
  const leading = LEADING[first];
  if (leading !== undefined) return `it begins with "${first}" (${leading})`;
  return undefined;
}

export function isAcceptedAccountName(name: string): boolean {
  return accountNameProblem(name) === undefined;
}
