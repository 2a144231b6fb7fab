/**
 * The `selinux-execmem` row of `ts-sudospawner check` (pure): may the hub's SELinux domain map
 * writable executable memory? V8's compiler needs it, and the mediator runs in the hub's domain
 * (sudo does not change it). Where the policy denies it, every Node program under the hub stops at
 * its first compiled function ("Check failed: 12 == (*__errno_location ())", SIGTRAP): the mediator
 * at every spawn, and JupyterHub's configurable-http-proxy. Debian's reference policy denies it to
 * initrc_t, where a system unit's program runs, unless allow_execmem is on (docs/admin-guide.md §8).
 */
import type { SelinuxFacts } from "../host/selinux.js";
import type { CheckRow } from "./report.js";

export const SELINUX_EXECMEM_ROW = { id: "selinux-execmem", title: "SELinux lets Node compile in the hub's domain (execmem)" } as const;

/** The way to allow it with the loaded policy's own booleans, else a local policy module. */
function execmemFix(type: string, booleans: Record<string, boolean>): string {
  if (booleans.allow_execmem === false) return "as root: `setsebool -P allow_execmem on` (it lets unconfined domains, initrc_t among them, use execmem)";
  if (booleans.deny_execmem === true) return "as root: `setsebool -P deny_execmem off`";
  return `as root: a local policy module with \`allow ${type} self:process execmem;\` (checkmodule, semodule_package, semodule -i)`;
}

export function judgeSelinuxExecmem(facts: SelinuxFacts): CheckRow {
  const row = SELINUX_EXECMEM_ROW;
  if (!facts.on) return { ...row, status: "skip", detail: "SELinux is off (no /sys/fs/selinux/enforce)", fix: "" };
  const mode = facts.enforcing ? "enforcing" : "permissive";
  if (facts.domain === undefined) {
    return { ...row, status: "warn", detail: `SELinux is ${mode}, and the hub's domain could not be told (the hub is not running, and the policy has neither unconfined_service_t nor initrc_t)`, fix: "start the hub and run check again" };
  }
  const where = `${facts.domain.context} (${facts.domain.from})`;
  const execmem = facts.execmem;
  if (execmem === true) return { ...row, status: "pass", detail: `SELinux is ${mode}; ${where} may use execmem`, fix: "" };
  if (typeof execmem === "object" || execmem === undefined) {
    const why = execmem === undefined ? "not asked" : execmem.error;
    return { ...row, status: "warn", detail: `SELinux is ${mode}; whether ${where} may use execmem could not be asked: ${why}`, fix: "if spawns fail with a Node crash (SIGTRAP), look for `ausearch -m avc -c node`" };
  }
  const type = facts.domain.context.split(":")[2] ?? facts.domain.context;
  const effect = "every Node program in it (the mediator through sudo, configurable-http-proxy) stops at its first compiled function with \"Check failed: 12 == (*__errno_location ())\"";
  return {
    ...row,
    status: facts.enforcing ? "fail" : "warn",
    detail: facts.enforcing ? `SELinux is enforcing, and ${where} may not use execmem: ${effect}` : `SELinux is permissive now, and ${where} may not use execmem: once enforcing, ${effect}`,
    fix: execmemFix(type, facts.booleans),
  };
}
