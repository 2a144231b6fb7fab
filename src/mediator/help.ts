import { VERSION } from "../version.js";
import type { MediatorArgs } from "./args.js";

export const HELP_TEXT = `ts-sudospawner ${VERSION} - start and stop JupyterHub single-user servers as their users

Mediator (run by the hub through sudo as the target user):
  sudo -n -u USER -H /path/to/ts-sudospawner --logging=INFO
  stdin:  {"action":"spawn","args":[...],"env":{...}}   ->  {"ok":true,"pid":N}
          {"action":"kill","pid":N,"signal":S}           ->  {"ok":true,"alive":true|false}
  errors: {"ok":false,"error":"..."} and exit status 1; logs go to stderr.

Options:
  --logging LEVEL       debug, info, warning, error, critical or none (default info)
  --log-format FORMAT   text (one line per record, default) or json
  -h, --help            show this help (admins check their sudo rule with it)
  -V, --version         print the version

Admin commands (as root or the hub user, never through the hub's sudo rule):
  ts-sudospawner sudoers --hub-user HUB (--group G | --users a,b) [--mediator PATH]
                         [--output FILE | --install]
  ts-sudospawner check --hub-user HUB --user USER [--mediator PATH] [--unit FILE]
                       [--spawn] [--json]
  ts-sudospawner ps [--hub-url URL --token-file FILE [--stop-orphans]] [--json]   (root)
  ts-sudospawner linger-rule --group G [--install]
  ts-sudospawner user-cap (--user USER | --all-users) [--memory-max 8G] [--cpu-quota 400%]
                          [--tasks-max 2048] [--install | --remove]
  Run \`ts-sudospawner COMMAND --help\` for details.
`;

/** What --help and --version print (pure); undefined for a mediator run. */
export function modeText(mode: MediatorArgs["mode"]): string | undefined {
  if (mode === "help") return HELP_TEXT;
  if (mode === "version") return `${VERSION}\n`;
  return undefined;
}
