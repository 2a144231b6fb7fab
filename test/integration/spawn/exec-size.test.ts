/**
 * What Linux's execve bounds (E2BIG) look like to a hub, through real sudo: one environment value
 * above MAX_ARG_STRLEN is refused before anything starts, naming the variable, its size and the
 * limit; arguments and environment too large together, under a small stack limit, are named with
 * their total and the limit, not blamed on the install.
 */
import { spawn } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../helpers/ports.js";
import { spawnRequest } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { collectMediator, killUserProcesses, liveProcesses, procState, runMediatorAs, userInfo, userProcesses, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("exec sizes (test/integration/spawn/exec-size.test.ts)", fx.reason);

describe.skipIf(skip)("environment and arguments beyond what execve takes", () => {
  const policy = new SitePolicyGuard();
  let alice: TestUser;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    // Values of any length pass only under names a site allows (the vocabulary types the rest).
    policy.write({ env: { allow: ["TSSS_*"] } });
  });

  afterAll(() => policy.restore());

  afterEach(() => killUserProcesses(alice.name));

  it("refuses one environment value above 131072 bytes before anything starts, naming the variable, its size and the limit", async () => {
    // Well within the request bound (1 MiB), above the kernel's bound on one string.
    const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequest(await freePort(), { TSSS_HUGE: "x".repeat(200_000) }), ["--logging=info"]);
    expect(result.status, result.stderr).toBe(1);
    expect(result.answer).toEqual({
      ok: false,
      error: `environment variable TSSS_HUGE is 200011 bytes as "TSSS_HUGE=..." with its NUL, above Linux's limit of 131072 bytes for one string (MAX_ARG_STRLEN), so no program can be started with it; send a shorter value`,
    });
    expect(result.stderr).not.toContain("reinstall");
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  it("names the total size and the limit when the whole is too large for the hub's stack limit (E2BIG), instead of a reinstall", async () => {
    // A 1 MiB stack limit (sudo passes the hub's on) leaves execve 256 KiB: three values of
    // 100000 bytes, each below the per-string limit, are too much together.
    const env = { TSSS_A: "a".repeat(100_000), TSSS_B: "b".repeat(100_000), TSSS_C: "c".repeat(100_000) };
    const child = spawn("sudo", ["-u", fx.hub, "prlimit", "--stack=1048576", "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
    const result = await collectMediator(child, spawnRequest(await freePort(), env));
    expect(result.status, result.stderr).toBe(1);
    const error = String(result.answer?.error);
    expect(error).toMatch(
      /^could not start the reaper: Argument list too long \(errno 7\); its \d+ arguments and \d+ environment variables take 3\d{5} bytes \(with a NUL and a pointer each\), and Linux allows 262144 \(a quarter of the stack limit, 1048576 bytes, at most 6291456, at least 131072\): send fewer or shorter environment variables and arguments, or raise the stack limit \(ulimit -s\) of the hub$/,
    );
    expect(error).not.toContain("reinstall");
    expect(liveProcesses(alice.name)).toEqual([]);
  });
});
