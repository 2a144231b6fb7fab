/**
 * What the single-user server's traitlets say about an option an admin allows with
 * `serverArgs.allow` (pure). The table (traitlets-table.json) is generated from the real classes of
 * jupyter_server, JupyterLab and JupyterHub's singleuser by scripts/traitlets-table.py, which
 * classifies each trait by its traitlets type; an option the table does not know is refused.
 * Imported on use (a spawn or submit): the table is 30 KB that a kill or --help need not parse.
 */
import table from "./traitlets-table.json" with { type: "json" };
import { normaliseOptionName } from "./server-args.js";
import { BOOLEAN_WORD, INTEGER, NUMBER, TEXT, oneOf, type ValueType } from "./values.js";

/** What server-args.ts asks of the table; passed in, so that only a spawn loads it. */
export interface TraitTable {
  traitOption(normalisedName: string): TraitVerdict;
  flagTraits(normalisedName: string): string[] | undefined;
  flagVerdict(normalisedName: string): TraitVerdict | undefined;
}

/** A trait the hub may be allowed to set, or why it never may. */
export type TraitVerdict = { settable: true; traits: string[]; type: ValueType } | { settable: false; traits: string[]; reason: string };

interface Table {
  traits: Record<string, string>;
  aliases: Record<string, string>;
  flags: Record<string, string[]>;
}

let index: { traits: Map<string, [string, string]>; aliases: Map<string, string>; flags: Map<string, string[]> } | undefined;

function lookup(): NonNullable<typeof index> {
  if (index === undefined) {
    const { traits, aliases, flags } = table as Table;
    index = {
      traits: new Map(Object.entries(traits).map(([name, kind]) => [normaliseOptionName(name), [name, kind]])),
      aliases: new Map(Object.entries(aliases).map(([name, trait]) => [normaliseOptionName(name), trait])),
      flags: new Map(Object.entries(flags).map(([name, traits]) => [normaliseOptionName(name), traits])),
    };
  }
  return index;
}

function typeOf(kind: string): ValueType | string {
  if (kind === "bool") return BOOLEAN_WORD;
  if (kind === "int") return INTEGER;
  if (kind === "float") return NUMBER;
  if (kind === "text") return TEXT;
  if (kind.startsWith("enum:")) return oneOf(kind.slice("enum:".length).split("|"), true);
  return kind.startsWith("never:") ? kind.slice("never:".length) : `of a kind this table does not know (${kind})`;
}

function verdict(trait: string, kind: string | undefined): TraitVerdict {
  const traits = [trait];
  if (kind === undefined) return { settable: false, traits, reason: "the single-user server's traitlets do not know it" };
  const type = typeOf(kind);
  return typeof type === "string" ? { settable: false, traits, reason: `its value is ${type}` } : { settable: true, traits, type };
}

/** The trait a value option ("--Class.trait" or an alias such as "--port") sets. */
export function traitOption(normalisedName: string): TraitVerdict {
  const { traits, aliases } = lookup();
  const aliased = aliases.get(normalisedName);
  const key = aliased === undefined ? normalisedName : normaliseOptionName(aliased);
  const entry = traits.get(key);
  return verdict(entry?.[0] ?? aliased ?? normalisedName, entry?.[1]);
}

/** The traits a flag ("--no-browser") sets, when traitlets knows it as a flag. */
export function flagTraits(normalisedName: string): string[] | undefined {
  return lookup().flags.get(normalisedName);
}

/** Whether a flag sets only plain values (booleans, numbers, enums). */
export function flagVerdict(normalisedName: string): TraitVerdict | undefined {
  const traits = flagTraits(normalisedName);
  if (traits === undefined) return undefined;
  for (const trait of traits) {
    const each = verdict(trait, lookup().traits.get(normaliseOptionName(trait))?.[1]);
    if (!each.settable) return each;
  }
  return { settable: true, traits, type: BOOLEAN_WORD };
}

export const TRAITLETS: TraitTable = { traitOption, flagTraits, flagVerdict };
