/**
 * The PAM lines that make a missing home on a user's first spawn (pure; docs/admin-guide.md,
 * "Home directories for new users"). pam_mkhomedir in /etc/pam.d/sudo acts on every session sudo
 * opens, so a bare line would also make homes for an admin's `sudo -u nobody` (/nonexistent) or
 * `sudo -u www-data`. The guard before it skips it unless the hub user ran sudo: sudo sets
 * PAM_RUSER to the user who invoked it, and the hub may run nothing but the mediator.
 */
import { shellQuote } from "../protocol/index.js";

export const PAM_SUDO_SERVICE = "/etc/pam.d/sudo";

/**
 * Why no guard line can name `hubUser`, or undefined when one can. PAM cuts a line at '#' and has
 * no escape for it: the guard would compare against a prefix of the name, and never match the hub.
 */
export function pamGuardProblem(hubUser: string): string | undefined {
  return hubUser.includes("#") ? `PAM reads "#" as the start of a comment, so no line of /etc/pam.d/sudo can name the hub user ${hubUser}` : undefined;
}

/**
 * The name as one PAM argument. PAM splits arguments at whitespace unless one is in [brackets],
 * where "\]" is a "]": a bare `ruser != CORP jhub` is an incomplete condition, pam_succeed_if fails,
 * `default=ignore` goes on, and pam_mkhomedir runs for everyone (tried with real sudo).
 */
function pamArgument(value: string): string {
  return /[\s[\]]/.test(value) ? `[${value.replaceAll("]", "\\]")}]` : value;
}

/**
 * The two lines, in order: the guard, then pam_mkhomedir (skel from /etc/skel, the home 0700); or
 * undefined when no guard can name the hub user (pamGuardProblem). A second hub on the host appends
 * its own pair: each guard skips only the line after it.
 */
export function pamHomeLines(hubUser: string): [guard: string, mkhomedir: string] | undefined {
  if (pamGuardProblem(hubUser) !== undefined) return undefined;
  return [`session [success=1 default=ignore] pam_succeed_if.so quiet ruser != ${pamArgument(hubUser)}`, "session optional pam_mkhomedir.so skel=/etc/skel umask=0077"];
}

/** A command root can paste that appends both lines to sudo's PAM service, or undefined (pamGuardProblem). */
export function pamHomeCommand(hubUser: string): string | undefined {
  const lines = pamHomeLines(hubUser);
  return lines === undefined ? undefined : `printf '%s\\n' ${lines.map(shellQuote).join(" ")} >> ${PAM_SUDO_SERVICE}`;
}

/** The clause the admin tools print: how homes get made at first spawn, or why PAM cannot make them. */
export function pamHomeAdvice(hubUser: string): string {
  const command = pamHomeCommand(hubUser);
  return command === undefined ? `homes cannot be created on first spawn: ${pamGuardProblem(hubUser) ?? ""}` : `to create homes on first spawn, for ${hubUser}'s sudo calls only: \`${command}\``;
}
