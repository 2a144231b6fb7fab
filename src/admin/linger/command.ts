/**
 * `ts-sudospawner linger-rule --group G [--install]`: print the polkit rule, or install it
 * root-owned 0644 (written beside, then renamed: polkitd never reads half a rule).
 */
import { SudoSpawnerError } from "../../errors.js";
import type { AdminIO } from "../io.js";
import { installRootFile } from "../root-file.js";
import { LINGER_RULE_PATH, lingerRuleText } from "./rule.js";

export interface LingerRuleOptions {
  group: string;
  install: boolean;
  /** Only tests name another file. */
  file?: string;
}

export function runLingerRule(options: LingerRuleOptions, io: AdminIO): number {
  const text = lingerRuleText(options.group);
  if (!options.install) {
    io.out(text);
    return 0;
  }
  if (process.geteuid?.() !== 0) throw new SudoSpawnerError("USAGE", "--install writes to /etc/polkit-1/rules.d: run it as root");
  const file = options.file ?? LINGER_RULE_PATH;
  installRootFile(file, text, io);
  io.err(`installed ${file}: members of ${options.group} may now enable their own linger (polkitd reads it at once)\n`);
  return 0;
}
