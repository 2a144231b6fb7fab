/**
 * The Slurm job script as /bin/sh reads it: every hostile value and argument arrives as the same
 * bytes, and nothing in them runs (src/mediator/slurm/job.ts builds it; no Slurm needed here).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jobScript } from "../../src/mediator/slurm/job.js";

const HOSTILE = ["plain", "it's", "a'b'c", "$(touch PWNED)", "`touch PWNED`", "x\ntouch PWNED\n", "'; touch PWNED; '", "\\'", "$HOME ${HOME}", "tab\there", "", "é😀\u2028"];

describe("the job script under /bin/sh", () => {
  it("passes every value and argument through unchanged and runs none of them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-slurm-script-"));
    try {
      const env = Object.fromEntries(HOSTILE.map((value, index) => [`TSSS_V${index}`, value]));
      const script = jobScript("/usr/bin/printf", ["%s\\0", ...HOSTILE], env);
      const file = path.join(dir, "job.sh");
      fs.writeFileSync(file, script.text);
      const args = spawnSync("/bin/sh", [file], { cwd: dir, env: {}, encoding: "utf8" });
      expect(args.status, args.stderr).toBe(0);
      expect(args.stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);

      const envScript = jobScript("/usr/bin/env", ["-0"], env);
      fs.writeFileSync(file, envScript.text);
      const printed = spawnSync("/bin/sh", [file], { cwd: dir, env: {}, encoding: "utf8" });
      const seen = Object.fromEntries(
        printed.stdout
          .split("\0")
          .filter((entry) => entry.startsWith("TSSS_V"))
          .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
      );
      expect(seen).toEqual(env);
      expect(fs.existsSync(path.join(dir, "PWNED"))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
