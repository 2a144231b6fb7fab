/**
 * The command `check` and `sudoers --mkhomedir` print for the PAM home lines, run by a real shell:
 * it appends exactly those two lines (the quoting of printf's format and of each line holds).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { pamHomeCommand, pamHomeLines } from "../../src/admin/pam-homes.js";

describe("the printed command for the PAM home lines", () => {
  it.each(["jupyterhub", "CORP\\j hub", "it's]hub"])("appends exactly the two lines when a shell runs it (hub %s)", (hub) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-pam-"));
    try {
      const file = path.join(dir, "sudo");
      fs.writeFileSync(file, "@include common-session-noninteractive\n");
      const command = (pamHomeCommand(hub) as string).replace("/etc/pam.d/sudo", file);
      expect(spawnSync("/bin/sh", ["-c", command]).status).toBe(0);
      expect(fs.readFileSync(file, "utf8")).toBe(`@include common-session-noninteractive\n${(pamHomeLines(hub) as string[]).join("\n")}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
