/**
 * The PAM lines that make a missing home on a user's first spawn (pure; docs/admin-guide.md,
 * "Home directories for new users"). pam_mkhomedir in /etc/pam.d/sudo acts on every session sudo
 * opens, so a bare line would also make homes for an admin's `sudo -u nobody` (/nonexistent) or
 * `sudo -u www-data`. The guard before it skips it unless the hub user ran sudo: sudo sets
 * PAM_RUSER to the user who invoked it, and the hub may run nothing but the mediator.
 */
import { shellQuote } from "../protocol/index.js";

export const PAM_SUDO_SERVICE = "/etc/pam.d/sudo";

/** The two lines, in order: the guard, then pam_mkhomedir (skel from /etc/skel, the home 0700). */
export function pamHomeLines(hubUser: string): [guard: string, mkhomedir: string] {
  return [`session [success=1 default=ignore] pam_succeed_if.so quiet ruser != ${hubUser}`, "session optional pam_mkhomedir.so skel=/etc/skel umask=0077"];
}

/** A command root can paste: appends both lines to sudo's PAM service. */
export function pamHomeCommand(hubUser: string): string {
  return `printf '%s\\n' ${pamHomeLines(hubUser).map(shellQuote).join(" ")} >> ${PAM_SUDO_SERVICE}`;
}
