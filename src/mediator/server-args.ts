/**
 * Which single-user server arguments the hub may pass (pure). Jupyter servers take traitlets
 * options on the command line, and some of them load code or config, or hand the hub a way in:
 * `--config=/hub-owned/x.py` executes that file as the user; a runtime or connection directory
 * the hub can read gives it the kernels' keys; a kernel or terminal command runs a program. Those
 * are refused by default, an option a launch profile fixes cannot be overridden, and a strict
 * site allow-lists the options the hub may pass at all (policy "serverArgs").
 */
import { SudoSpawnerError } from "../errors.js";
import { logExcerpt } from "../protocol/index.js";

/** Option names (normalised by optionName) the hub may never set. */
export const DENIED_OPTIONS: readonly RegExp[] = [
  // config files and directories are Python that runs as the user
  /^config$/, /config_file(s|_name)?$/, /config_dir$/, /config_path$/,
  // extra import, template, static or extension locations
  /(^|\.)extra_[a-z_]*$/, /_paths$/,
  // directories whose files the hub could read or plant (kernel connection files hold their keys)
  /(^|\.)(runtime|data|connection)_dir$/, /connection_file$/,
  // commands the server runs
  /kernel_cmd$/, /terminado_settings$/, /shell_command$/, /(^|\.)browser$/,
  // IPython's start-up code
  /exec_(files|lines)$/, /(code|file|module)_to_run$/,
];

export interface ServerArgsPolicy {
  /** When set, only options matching one of these patterns pass ("--port", "--*.default_url"). */
  allow?: readonly string[];
  /** Further options to refuse, same patterns. */
  deny?: readonly string[];
}

/** "--ServerApp.Root-Dir=/x" -> "serverapp.root_dir"; undefined for an argument that is no option. */
export function optionName(arg: string): string | undefined {
  if (!arg.startsWith("-") || arg === "-" || arg === "--") return undefined;
  const bare = arg.replace(/^-+/, "");
  const eq = bare.indexOf("=");
  return (eq === -1 ? bare : bare.slice(0, eq)).toLowerCase().replaceAll("-", "_");
}

/** The trait an option sets, whatever class it names ("serverapp.default_url" -> "default_url"). */
function traitOf(name: string): string {
  return name.slice(name.lastIndexOf(".") + 1);
}

function globMatches(name: string, pattern: string): boolean {
  const normalised = optionName(pattern.startsWith("-") ? pattern : `--${pattern}`) ?? "";
  const regex = new RegExp(`^${normalised.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return regex.test(name);
}

function refuse(arg: string, why: string): never {
  throw new SudoSpawnerError("BAD_REQUEST", `server argument ${JSON.stringify(logExcerpt(arg, 80))} refused: ${why}`);
}

/**
 * Throws BAD_REQUEST for the first argument the hub may not pass. `fixed` are the launch
 * profile's own arguments, whose options the hub may not set again (traitlets: the last wins).
 */
export function checkServerArgs(args: readonly string[], fixed: readonly string[], policy: ServerArgsPolicy = {}, profile?: string): void {
  const fixedTraits = new Set(fixed.map(optionName).filter((name): name is string => name !== undefined).map(traitOf));
  let previousOption: string | undefined;
  for (const arg of args) {
    const name = optionName(arg);
    if (name === undefined) {
      // A value given as the next word ("--port 8888") belongs to its option; anything else is a
      // positional argument, which an allow-list does not admit.
      if (policy.allow !== undefined && (previousOption === undefined || previousOption.includes("="))) {
        refuse(arg, "the site policy's serverArgs.allow admits options only");
      }
      previousOption = undefined;
      continue;
    }
    previousOption = arg;
    if (DENIED_OPTIONS.some((pattern) => pattern.test(name))) {
      refuse(arg, "it makes the server load code, config or commands from a place the hub chooses");
    }
    if (policy.deny?.some((pattern) => globMatches(name, pattern))) refuse(arg, "denied by the site policy's serverArgs.deny");
    if (policy.allow !== undefined && !policy.allow.some((pattern) => globMatches(name, pattern))) {
      refuse(arg, `not in the site policy's serverArgs.allow (${policy.allow.join(", ")})`);
    }
    if (fixedTraits.has(traitOf(name))) refuse(arg, `launch profile ${JSON.stringify(profile ?? "")} fixes ${traitOf(name)}`);
  }
}
