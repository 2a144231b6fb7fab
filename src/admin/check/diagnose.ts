/**
 * From what a failed `sudo ... MEDIATOR` printed to what the admin should do next (pure). sudo's
 * own refusals come from the shared table (src/system/sudo-refusals.ts); the other patterns are
 * the real messages of env, the kernel and the mediator (docs/admin-guide.md lists them in its
 * troubleshooting table).
 */
import { shellQuote } from "../../protocol/index.js";
import { linkCommand } from "../host/singleuser-link.js";
import { pamHomeAdvice } from "../pam-homes.js";
import { classifyRefusal } from "../../system/sudo-refusals.js";
import { parseLongListing, splitListEntries, unquoteListedName } from "../host/sudo-listing.js";

export interface FailureContext {
  hub: string;
  user: string;
  mediator: string;
  /** The venv's jupyterhub-singleuser, by its full path: what the link next to the mediator should name. */
  singleUser: string;
  /** `sudo -l -U HUB` output, when the check could read it (root). */
  listing?: string;
  /** How to put node on secure_path, when the caller could work it out. */
  nodeFix?: string;
}

export interface Diagnosis {
  /** What went wrong, in one sentence. */
  cause: string;
  fix: string;
}

/**
 * The Runas list of the first listed rule that names `command`, e.g. "%jupyterhub, !#0": from
 * `sudo -ll` (one entry per rule), or from the one-line-per-rule `sudo -l` format.
 */
export function runasForCommand(listing: string, command: string): string | undefined {
  const names = (commands: readonly string[]) => commands.some((cmd) => cmd.trim().split(/\s+/)[0] === command);
  if (/^Sudoers entry:/m.test(listing)) {
    const rule = parseLongListing(listing).rules.find((entry) => names(entry.commands));
    return rule === undefined ? undefined : rule.runAsUsers.join(", ");
  }
  for (const line of listing.split("\n")) {
    const match = /^\s*\(([^)]*)\)\s*(?:[A-Z_]+:\s*)*(.*)$/.exec(line);
    if (match && names((match[2] as string).split(/,\s*/))) return (match[1] as string).trim();
  }
  return undefined;
}

/** The first group of a listed Runas list, as the account has it: `%jupyterhub` → jupyterhub, `"%domain users"` → domain users. */
export function runasGroup(runas: string): string | undefined {
  const entry = splitListEntries(runas)
    .map(unquoteListedName)
    .find((name) => name.startsWith("%") && !name.startsWith("%#") && !name.startsWith("%:"));
  return entry?.slice(1);
}

function generatorCommand(ctx: FailureContext): string {
  return `as root: \`ts-sudospawner sudoers --hub-user ${shellQuote(ctx.hub)} --group GROUP --mediator ${ctx.mediator} --install\``;
}

function refusedBySudo(ctx: FailureContext): Diagnosis {
  if (ctx.listing !== undefined) {
    const runas = runasForCommand(ctx.listing, ctx.mediator);
    if (runas !== undefined) {
      const group = runasGroup(runas);
      return {
        cause: `${ctx.hub} may run ${ctx.mediator} only as (${runas}), which does not include ${ctx.user}`,
        fix:
          group !== undefined
            ? `as root: \`usermod -aG ${shellQuote(group)} ${shellQuote(ctx.user)}\` (or add ${ctx.user} to ${group} in the directory service)`
            : `add ${ctx.user} to the rule's Runas list (${generatorCommand(ctx)})`,
      };
    }
    return {
      cause: `no sudoers rule lets ${ctx.hub} run ${ctx.mediator} without a password (a rule for another path does not match: sudo compares the path the hub runs)`,
      fix: generatorCommand(ctx),
    };
  }
  return {
    cause: `sudo did not let ${ctx.hub} run ${ctx.mediator} as ${ctx.user} without a password: the rule is missing, names another path, or ${ctx.user} is not in its Runas list`,
    fix: `${generatorCommand(ctx)}; check the group with \`id ${shellQuote(ctx.user)}\``,
  };
}

/** Make one home now, and every future one on first spawn (docs/admin-guide.md, "Home directories"). */
export function homeFix(user: string, hub: string): string {
  return `as root: \`mkhomedir_helper ${shellQuote(user)}\`; ${pamHomeAdvice(hub)}`;
}

export function diagnoseSudoFailure(output: string, ctx: FailureContext): Diagnosis {
  const refusal = classifyRefusal(output);
  if (refusal === "asks_password" || refusal === "not_allowed") return refusedBySudo(ctx);
  if (/env: .node.: No such file or directory/.test(output)) {
    return {
      cause: "sudo runs the mediator with PATH=secure_path, and node is not in any of its directories",
      fix: ctx.nodeFix ?? "add node's directory to `Defaults secure_path=...` with visudo, or link node into /usr/bin",
    };
  }
  if (refusal === "needs_tty") {
    return { cause: "sudo requires a terminal (requiretty) and the hub has none", fix: `add \`Defaults:${ctx.hub} !requiretty\` (the generated rule has it)` };
  }
  if (refusal === "unknown_user") {
    return { cause: `sudo does not know one of the users (${ctx.hub}, ${ctx.user})`, fix: "create the account or fix NSS (getent passwd NAME must find it)" };
  }
  if (/refusing to act as (?:root|system account)/.test(output)) {
    return { cause: "the mediator refuses to run servers as root or system accounts", fix: `spawn for ordinary users only (uid >= UID_MIN); restrict the Runas list (${generatorCommand(ctx)})` };
  }
  if (/cannot load the native addon/.test(output)) {
    return { cause: "the mediator's native addon is missing or built for another Node", fix: "as root: `npm rebuild -g --prefix PREFIX ts-sudospawner` with the node that sudo finds" };
  }
  if (/no sudospawner-singleuser or jupyterhub-singleuser/.test(output)) {
    return { cause: "no single-user executable next to the mediator", fix: `as root: \`${linkCommand(ctx.mediator.replace(/\/[^/]*$/, ""), ctx.singleUser)}\` (the venv's jupyterhub-singleuser by its full path)` };
  }
  if (/home directory .* does not exist/.test(output)) {
    return { cause: `${ctx.user} has no home directory`, fix: homeFix(ctx.user, ctx.hub) };
  }
  if (refusal === "not_found") {
    return {
      cause: `sudo cannot find ${ctx.mediator}: it does not exist, or ${ctx.hub} cannot search a directory above it`,
      fix: "as root: install it there, and make every directory above it searchable by all (`chmod a+x DIR`), owned by root",
    };
  }
  if (refusal === "cannot_execute") {
    return {
      cause: `${ctx.user} cannot read or execute the mediator, node, or a directory above them`,
      fix: "as root: make the install world-readable and searchable, e.g. `chmod -R a+rX PREFIX` (owned by root, not writable by others)",
    };
  }
  return { cause: "the command failed; its output says why", fix: "read the output above; run it by hand with --logging=debug" };
}
