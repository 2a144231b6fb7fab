/**
 * The shipped hub unit (examples/jupyterhub/jupyterhub.service) passes `systemd-analyze verify`
 * without a warning, and says what the admin guide and `check` require: KillMode=process, the hub
 * user and group, a working directory, no NoNewPrivileges (explicit or implied). systemd need not
 * be running for verify; the `systemd` package must be installed (.ci/run installs it).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { judgeUnit, serviceSettings } from "../../src/admin/host/unit-file.js";
import { skipWithout } from "../helpers/prerequisites.js";

const UNIT = path.resolve(import.meta.dirname, "../../examples/jupyterhub/jupyterhub.service");
const ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((file) => fs.existsSync(file));
const skipVerify = skipWithout(
  "systemd-analyze verify of the hub unit (test/process/systemd-unit.test.ts)",
  ANALYZE === undefined ? "systemd-analyze is not installed (apt-get install systemd)" : undefined,
);

function verify(text: string, dir: string): { status: number | null; output: string } {
  const file = path.join(dir, "jupyterhub.service");
  fs.writeFileSync(file, text);
  const result = spawnSync(ANALYZE as string, ["verify", file], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", LANG: "C" } });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe("examples/jupyterhub/jupyterhub.service", () => {
  const text = fs.readFileSync(UNIT, "utf8");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-unit-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("has what the admin guide explains, and nothing that stops sudo", () => {
    const verdict = judgeUnit(serviceSettings([{ file: UNIT, text }]));
    expect(verdict.killMode.value).toBe("process");
    expect(verdict.user?.value).toBe("jupyterhub");
    expect(serviceSettings([{ file: UNIT, text }]).get("Group")?.[0]?.value).toBe("jupyterhub");
    expect(verdict.workingDirectory?.value).toBe("/var/lib/jupyterhub");
    expect(verdict.noNewPrivileges).toEqual([]);
    expect(text).not.toMatch(/^\s*NoNewPrivileges\s*=/m);
  });

  it.skipIf(skipVerify)("passes systemd-analyze verify without a warning", () => {
    // verify checks that ExecStart= exists: the shipped path is the venv of the admin guide's section 1.
    const exec = /^ExecStart=(\S+)/m.exec(text)?.[1] as string;
    const checked = fs.existsSync(exec) ? text : text.replace(`ExecStart=${exec}`, "ExecStart=/bin/true");
    const result = verify(checked, dir);
    expect(result.output).toBe("");
    expect(result.status).toBe(0);
  });

  it.skipIf(skipVerify)("is really checked: verify reports a bad setting in the same file", () => {
    const result = verify(text.replace("KillMode=process", "KillMode=proces").replace(/^ExecStart=\S+/m, "ExecStart=/bin/true"), dir);
    expect(result.output).toMatch(/Failed to parse kill mode specification, ignoring: proces/);
  });
});
