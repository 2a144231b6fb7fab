/**
 * Whether SELinux is on, and enforcing, as selinuxfs says: the one reading the mediator (a refused
 * scope's message) and `check` (its SELinux rows) share.
 */
import { readFileSync } from "node:fs";

export const SELINUXFS = "/sys/fs/selinux";

export type SelinuxMode = "off" | "permissive" | "enforcing";

export function selinuxMode(): SelinuxMode {
  let enforce: string;
  try {
    enforce = readFileSync(`${SELINUXFS}/enforce`, "utf8");
  } catch {
    return "off";
  }
  return enforce.trim() === "1" ? "enforcing" : "permissive";
}
