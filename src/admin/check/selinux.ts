/**
 * The `selinux-execmem` row of `ts-sudospawner check` (pure): may the hub's SELinux domain map
 * writable executable memory? V8's compiler needs it, and the mediator runs in the hub's domain
 * (sudo does not change it). Where the policy denies it, every Node program under the hub stops at
 * its first compiled function ("Check failed: 12 == (*__errno_location ())", SIGTRAP): the mediator
 * at every spawn, and JupyterHub's configurable-http-proxy. Debian's reference policy denies it to
 * initrc_t, where a system unit's program runs, unless allow_execmem is on (docs/admin-guide.md §8).
 */
import { cgroupSelinuxModule } from "../../mediator/cgroup/scope.js";
import type { ScopeFacts, SelinuxFacts } from "../host/selinux.js";
import type { CheckRow } from "./report.js";

/** The type of an SELinux context (user:role:type:level). */
function typeOf(context: string): string {
  return context.split(":")[2] ?? context;
}

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
  const type = typeOf(facts.domain.context);
  const effect = "every Node program in it (the mediator through sudo, configurable-http-proxy) stops at its first compiled function with \"Check failed: 12 == (*__errno_location ())\"";
  return {
    ...row,
    status: facts.enforcing ? "fail" : "warn",
    detail: facts.enforcing ? `SELinux is enforcing, and ${where} may not use execmem: ${effect}` : `SELinux is permissive now, and ${where} may not use execmem: once enforcing, ${effect}`,
    fix: execmemFix(type, facts.booleans),
  };
}

export const SELINUX_SCOPE_ROW_ID = "selinux-scope";


/** The shipped module where it names these two types, else a rule of the site's own in the same form. */
function scopeFix(source: string, target: string, packageRoot: string): string {
  const shipped = cgroupSelinuxModule(packageRoot);
  if (source === "initrc_t" && target === "unconfined_t") return `as root: \`semodule -i ${shipped}\` (one rule: initrc_t may start units in, and read their status from, managers in unconfined_t)`;
  return `as root: a policy module of your own with \`(allow ${source} ${target} (system (start status)))\`, loaded with \`semodule -i FILE.cil\` (${shipped} is the one for initrc_t and unconfined_t)`;
}

/**
 * The `selinux-scope` row (pure), shown with the cgroup section only. In cgroup mode the reaper,
 * in the hub's domain, asks the user's own systemd manager for a transient scope, and the manager
 * checks that against the policy itself: Debian's policy lets initrc_t do neither "start" nor
 * "status" in unconfined_t. Enforcing, the manager answers "Access denied", and since it may not
 * write to the audit log, nothing shows in `ausearch`.
 */
export function judgeSelinuxScope(facts: SelinuxFacts, scope: ScopeFacts | undefined, user: string, packageRoot: string): CheckRow {
  const row = { id: SELINUX_SCOPE_ROW_ID, title: `SELinux lets the hub's domain ask ${user}'s systemd manager for a scope (cgroup mode)` };
  if (!facts.on) return { ...row, status: "skip", detail: "SELinux is off (no /sys/fs/selinux/enforce)", fix: "" };
  const mode = facts.enforcing ? "enforcing" : "permissive";
  if (facts.domain === undefined || scope === undefined) {
    return { ...row, status: "warn", detail: `SELinux is ${mode}, and the hub's domain could not be told`, fix: "start the hub and run check again" };
  }
  if (scope.manager === undefined) {
    return { ...row, status: "warn", detail: `SELinux is ${mode}, and ${user}'s systemd manager is not running, so its domain could not be asked`, fix: "run check again with --spawn, which starts it" };
  }
  const where = `${facts.domain.context} (${facts.domain.from}) in ${user}'s manager ${scope.manager.context} (pid ${scope.manager.pid})`;
  const allowed = scope.allowed;
  if (allowed === undefined || "error" in allowed) {
    return { ...row, status: "warn", detail: `SELinux is ${mode}; what ${where} may do could not be asked: ${allowed?.error ?? "not asked"}`, fix: "if cgroup-mode spawns fail with \"Access denied\", look in the journal: `journalctl -b | grep 'avc:  denied'`" };
  }
  if (allowed.start && allowed.status) return { ...row, status: "pass", detail: `SELinux is ${mode}; ${where} may start a scope and read its status`, fix: "" };
  const missing = [allowed.start ? undefined : "start", allowed.status ? undefined : "status"].filter((perm) => perm !== undefined).join(" and ");
  const effect = 'the manager refuses the scope ("Access denied") and every cgroup-mode spawn fails, with nothing in the audit log';
  return {
    ...row,
    status: facts.enforcing ? "fail" : "warn",
    detail: `SELinux is ${mode}${facts.enforcing ? "" : " now"}, and the policy denies ${missing} (class system) to ${where}: ${facts.enforcing ? "" : "once enforcing, "}${effect}`,
    fix: scopeFix(typeOf(facts.domain.context), typeOf(scope.manager.context), packageRoot),
  };
}
