/**
 * `ts-sudospawner linger-rule --group G [--install]`: print the polkit rule, or install it
 * root-owned 0644 (written beside, then renamed: polkitd never reads half a rule).
 */
import fs from "node:fs";
import path from "node:path";
import { SudoSpawnerError, errorMessage } from "../../errors.js";
import type { AdminIO } from "../io.js";
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
  const staging = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(staging, text, { mode: 0o644 });
    fs.chownSync(staging, 0, 0);
    fs.chmodSync(staging, 0o644);
    fs.renameSync(staging, file);
  } catch (error) {
    fs.rmSync(staging, { force: true });
    throw new SudoSpawnerError("NOT_FOUND", `could not install ${file}: ${errorMessage(error)}`);
  }
  io.err(`installed ${file}: members of ${options.group} may now enable their own linger (polkitd reads it at once)\n`);
  return 0;
}
