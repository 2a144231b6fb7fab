/**
 * Which single-user server arguments the hub may pass: a closed vocabulary, default deny (pure).
 *
 * JupyterHub 2.0 and later send no arguments of their own (Spawner.get_args() returns the admin's
 * Spawner.args; ip, port, URLs and directories travel in the environment). Older hubs and the
 * TypeScript client send the options below, which are all the hub gets without a site policy.
 * `serverArgs.allow` in the root policy adds options, each judged by its traitlets type
 * (traitlets-table.ts): one whose value is code, a class or callable name, a config file or a
 * config dict is never passable. Every argument is `--name=value` or a flag the vocabulary knows
 * as one; there are no positional arguments and no value in the next word.
 */
import { SudoSpawnerError } from "../../errors.js";
import { POLICY_PATH } from "../../install/layout.js";
import { logExcerpt } from "../../protocol/index.js";
import type { TraitTable } from "./traitlets-table.js";
import { ADDRESS, BOOLEAN_WORD, DIRECTORY, HTTP_URL, HTTP_URL_OR_EMPTY, PORT, URL_PATH, type ValueType } from "./values.js";

export interface ServerArgsPolicy {
  /** Options the hub may pass besides the vocabulary ("--MappingKernelManager.cull_idle_timeout", "--*.default_url"). */
  allow?: readonly string[];
  /** Options the hub may not pass, not even from the vocabulary; same patterns. */
  deny?: readonly string[];
}

/** "--ServerApp.Root-Dir" and "ServerApp.root_dir" both become "serverapp.root_dir". */
export function normaliseOptionName(name: string): string {
  return name.replace(/^-+/, "").toLowerCase().replaceAll("-", "_");
}

/** An option of the vocabulary: the trait it sets, and its value's type (none: a flag). */
interface VocabularyOption {
  traits: readonly string[];
  type?: ValueType;
}

/** The classes JupyterHub's single-user server answers to on the command line (3.0 to 6.x). */
const APP_CLASSES = ["ServerApp", "NotebookApp", "SingleUserNotebookApp"];

function spellings(trait: string, type: ValueType, aliases: readonly string[], classTraits: readonly string[], classes = APP_CLASSES): [string, VocabularyOption][] {
  const names = [...aliases, ...classes.flatMap((app) => classTraits.map((name) => `${app}.${name}`))];
  return names.map((name) => [normaliseOptionName(name), { traits: [trait], type }]);
}

const SINGLEUSER = ["SingleUserNotebookApp"];

/** Keyed by normalised name (normaliseOptionName). */
export const SERVER_ARG_VOCABULARY: ReadonlyMap<string, VocabularyOption> = new Map([
  ...spellings("ip", ADDRESS, ["ip"], ["ip"]),
  ...spellings("port", PORT, ["port"], ["port"]),
  ...spellings("root_dir", DIRECTORY, ["notebook-dir"], ["root_dir", "notebook_dir"]),
  ...spellings("default_url", URL_PATH, [], ["default_url"]),
  ...spellings("base_url", URL_PATH, ["base-url"], ["base_url"]),
  ...spellings("hub_api_url", HTTP_URL, ["hub-api-url"], ["hub_api_url"], SINGLEUSER),
  ...spellings("hub_host", HTTP_URL_OR_EMPTY, ["hub-host"], ["hub_host"], SINGLEUSER),
  ...spellings("hub_prefix", URL_PATH, ["hub-prefix"], ["hub_prefix"], SINGLEUSER),
  ...spellings("disable_user_config", BOOLEAN_WORD, [], ["disable_user_config"], SINGLEUSER),
  ["debug", { traits: ["log_level"] }],
  ["disable_user_config", { traits: ["disable_user_config"] }],
]);

/** One checked argument: which trait it sets, and its value (absent for a flag). */
export interface ServerOption {
  index: number;
  /** As the hub wrote it, before "=". */
  spelling: string;
  /** The trait it sets, by its setting name (settingOf): "root_dir", "port", ... */
  setting: string;
  value?: string;
}

/** Traits that are one setting under two names (ServerApp.notebook_dir is root_dir's old name). */
const SAME_TRAIT: Readonly<Record<string, string>> = { notebook_dir: "root_dir" };

/** The setting a trait stands for, whatever class it is named under ("ServerApp.log_level" -> "log_level"). */
export function settingOf(trait: string): string {
  const name = normaliseOptionName(trait);
  const last = name.slice(name.lastIndexOf(".") + 1);
  return SAME_TRAIT[last] ?? last;
}

function splitOption(arg: string): { spelling: string; name: string; value: string | undefined } {
  const eq = arg.indexOf("=");
  const spelling = eq === -1 ? arg : arg.slice(0, eq);
  return { spelling, name: normaliseOptionName(spelling), value: eq === -1 ? undefined : arg.slice(eq + 1) };
}

/**
 * The settings a launch profile's own arguments fix (root's arguments, so any option may be
 * there): through the vocabulary, traitlets' aliases and flags, else the trait named.
 */
export function settingsFixedBy(profileArgs: readonly string[], traits: TraitTable): Set<string> {
  const fixed = new Set<string>();
  for (const arg of profileArgs) {
    if (!arg.startsWith("-")) continue;
    const { name } = splitOption(arg);
    const known = SERVER_ARG_VOCABULARY.get(name);
    const set = known ? known.traits : (traits.flagTraits(name) ?? traits.traitOption(name).traits);
    for (const trait of set) fixed.add(settingOf(trait));
  }
  return fixed;
}

function globMatches(name: string, pattern: string): boolean {
  const normalised = normaliseOptionName(pattern);
  const regex = new RegExp(`^${normalised.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return regex.test(name);
}

function refuse(arg: string, why: string): never {
  throw new SudoSpawnerError("BAD_REQUEST", `server argument ${JSON.stringify(logExcerpt(arg, 80))} refused: ${why}`);
}

/** What an option the site allows sets, by the traitlets table; refuses what may never be passed. */
function allowedOption(arg: string, spelling: string, name: string, traits: TraitTable): VocabularyOption {
  // Only a name traitlets knows as a flag is one; any other option takes its value after "=".
  const flag = traits.flagVerdict(name);
  const verdict = flag ?? traits.traitOption(name);
  if (!verdict.settable) {
    refuse(arg, `${spelling} is never passable from the hub, not even through serverArgs.allow: ${verdict.reason}`);
  }
  return flag ? { traits: verdict.traits } : { traits: verdict.traits, type: verdict.type };
}

/**
 * Checks every argument; throws BAD_REQUEST naming the first one outside the vocabulary and the
 * policy key that would admit it. `fixed` are the launch profile's settings (settingsFixedBy),
 * which no alias or flag of the hub's may set again (traitlets: the last one wins).
 */
export function checkServerArgs(
  args: readonly string[],
  fixed: ReadonlySet<string>,
  traits: TraitTable,
  policy: ServerArgsPolicy = {},
  profile?: string,
): ServerOption[] {
  return args.map((arg, index) => {
    if (!arg.startsWith("--") || arg === "--") {
      refuse(arg, "the single-user server takes no positional arguments from the hub (it would open or run them); options are --name=value");
    }
    const { spelling, name, value } = splitOption(arg);
    const allowedBySite = policy.allow?.some((pattern) => globMatches(name, pattern)) ?? false;
    const known = SERVER_ARG_VOCABULARY.get(name) ?? (allowedBySite ? allowedOption(arg, spelling, name, traits) : undefined);
    if (known === undefined) {
      refuse(arg, `not in the vocabulary of what a hub sends; an admin may allow it with "serverArgs.allow": ["${spelling}"] in ${POLICY_PATH}`);
    }
    if (policy.deny?.some((pattern) => globMatches(name, pattern))) refuse(arg, "denied by the site policy's serverArgs.deny");
    if (known.type === undefined && value !== undefined) refuse(arg, `${spelling} is a flag and takes no value`);
    if (known.type !== undefined && value === undefined) refuse(arg, `${spelling} needs its value in the same word: ${spelling}=VALUE`);
    if (known.type !== undefined && value !== undefined && !known.type.accepts(value)) refuse(arg, `the value must be ${known.type.name}`);
    const clash = known.traits.map(settingOf).find((setting) => fixed.has(setting));
    if (clash !== undefined) refuse(arg, `launch profile ${JSON.stringify(profile ?? "")} fixes ${clash}`);
    const setting = settingOf(known.traits[0] ?? name);
    return value === undefined ? { index, spelling, setting } : { index, spelling, setting, value };
  });
}
