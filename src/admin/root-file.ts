/**
 * A root-owned 0644 file put in place whole (written beside, then renamed), so that its reader
 * (polkitd, systemd) never sees half of it: the linger rule and the slice drop-in.
 */
import fs from "node:fs";
import path from "node:path";
import { SudoSpawnerError, errorMessage } from "../errors.js";

export function installRootFile(file: string, text: string): void {
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
}
