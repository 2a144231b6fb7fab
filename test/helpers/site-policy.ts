/**
 * Writing the root-owned site policy (/etc/ts-sudospawner/config.json) for a test, and putting
 * back exactly what was there before: an admin's existing file, or no file and no directory (the
 * fuzz suite insists on the latter). A directory a test creates carries POLICY_MARKER, so that the
 * next run removes it when this one was interrupted (test/helpers/leftovers.ts).
 */
import fs from "node:fs";

export const POLICY_DIR = "/etc/ts-sudospawner";
export const POLICY_FILE = `${POLICY_DIR}/config.json`;
/** In a policy directory a test created; never in an admin's. */
export const POLICY_MARKER = `${POLICY_DIR}/.tsss-test-owned`;

/**
 * Install `policy` (an object, or text as it is) root-owned: directory 0755, file 0644, readable by
 * every user it applies to. The file arrives by rename, so a hub that is running never reads half
 * of it; a directory made here gets the marker.
 */
export function installPolicy(policy: unknown): void {
  if (!fs.existsSync(POLICY_DIR)) {
    fs.mkdirSync(POLICY_DIR, { recursive: true, mode: 0o755 });
    fs.writeFileSync(POLICY_MARKER, "");
  }
  fs.chownSync(POLICY_DIR, 0, 0);
  fs.chmodSync(POLICY_DIR, 0o755);
  const staging = `${POLICY_FILE}.tsss-test.tmp`;
  fs.writeFileSync(staging, typeof policy === "string" ? policy : `${JSON.stringify(policy, null, 2)}\n`, { mode: 0o644 });
  fs.chownSync(staging, 0, 0);
  fs.chmodSync(staging, 0o644);
  fs.renameSync(staging, POLICY_FILE);
}

export class SitePolicyGuard {
  private saved: { dirExisted: boolean; file: Buffer | undefined; mode: number } | undefined;

  /** Remember what is there now (once; later calls keep the first snapshot). */
  backup(): void {
    if (this.saved) return;
    const dirExisted = fs.existsSync(POLICY_DIR);
    let file: Buffer | undefined;
    let mode = 0o644;
    try {
      file = fs.readFileSync(POLICY_FILE);
      mode = fs.statSync(POLICY_FILE).mode & 0o7777;
    } catch {
      file = undefined;
    }
    this.saved = { dirExisted, file, mode };
  }

  /** Install `policy` (installPolicy), after remembering what was there. */
  write(policy: unknown): void {
    this.backup();
    installPolicy(policy);
  }

  /** Put back what backup() saw. */
  restore(): void {
    const saved = this.saved;
    if (!saved) return;
    if (saved.file !== undefined) {
      fs.writeFileSync(POLICY_FILE, saved.file, { mode: saved.mode });
      fs.chownSync(POLICY_FILE, 0, 0);
      fs.chmodSync(POLICY_FILE, saved.mode);
    } else if (!saved.dirExisted) {
      fs.rmSync(POLICY_DIR, { recursive: true, force: true });
    } else {
      fs.rmSync(POLICY_FILE, { force: true });
    }
  }
}
