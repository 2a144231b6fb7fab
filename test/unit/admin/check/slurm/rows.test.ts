import { describe, expect, it } from "vitest";
import {
  authInfoSocket,
  describeOptions,
  isSlurmOff,
  judgeMunge,
  judgeSlurmMode,
  judgeSubmitTest,
  parseUnmunge,
  policySlurmConf,
  submitTestFix,
  unmungeUid,
  type SubmitTestProbe,
} from "../../../../../src/admin/check/slurm/rows.js";
import type { FailureContext } from "../../../../../src/admin/check/diagnose.js";
import type { CommandResult } from "../../../../../src/admin/host/commands.js";
import type { MediatorReply } from "../../../../../src/admin/check/mediator-ask.js";
import { POLICY_PATH } from "../../../../../src/mediator/policy.js";
import { slurmDisabled } from "../../../../../src/mediator/slurm/job.js";
import { slurmOptionsAnswer } from "../../../../../src/protocol/index.js";
import { SLURM_OPTIONS_ANSWER } from "../../../../helpers/slurm/slurm-answers.js";

const ctx: FailureContext = { hub: "rhea", user: "alice", mediator: "/opt/t/bin/ts-sudospawner", singleUser: "/opt/jupyterhub/bin/jupyterhub-singleuser" };
const ALICE = { name: "alice", uid: 1001 };
const OPTIONS = SLURM_OPTIONS_ANSWER;

const ok = (answer: Record<string, unknown>): MediatorReply => ({ answer, output: "", status: answer.ok === true ? 0 : 1 });
const refused = (error: string): MediatorReply => ok({ ok: false, error });
const result = (status: number | null, stdout: string, stderr = ""): CommandResult => ({ status, stdout, stderr });

/** Real output of `munge -n | unmunge` (munge 0.5.15, Debian 12). */
const UNMUNGE_OK = `STATUS:          Success (0)
ENCODE_HOST:     localhost (127.0.0.1)
ENCODE_TIME:     2026-11-30 15:23:36 +0000 (1796052216)
DECODE_TIME:     2026-11-30 15:23:36 +0000 (1796052216)
TTL:             300
CIPHER:          aes128 (4)
MAC:             sha256 (5)
ZIP:             none (0)
UID:             alice (1001)
GID:             alice (1001)
LENGTH:          0

`;
const CREDENTIAL = "MUNGE:AwQFAAD0p2pdummy:\n";
const SOCKET = { path: "/run/tsss/munge.socket", from: "AuthInfo in /etc/slurm/slurm.conf" };

describe("the Slurm mode row (slurm-options)", () => {
  it("passes with the partitions and bounds when Slurm mode is on", () => {
    const verdict = judgeSlurmMode("alice", ok(OPTIONS), ctx);
    expect(verdict.row).toEqual({
      id: "slurm-mode",
      title: "Slurm mode",
      status: "pass",
      detail: "on, as alice: partitions debug (default), short; minutes 60 (max 480), memoryMB 2048 (max 8192), cpus 1 (max 4), gpus 0 (max 0)",
      fix: "",
    });
    expect(verdict.options?.partitions).toEqual(["debug", "short"]);
  });

  it("is one informational row, not a failure, when the policy has no slurm section (the mediator's own DISABLED message)", () => {
    const message = slurmDisabled().message;
    expect(slurmDisabled().code).toBe("DISABLED");
    expect(isSlurmOff(message)).toBe(true);
    const verdict = judgeSlurmMode("alice", refused(message), ctx);
    expect(verdict.options).toBeUndefined();
    expect(verdict.row.status).toBe("skip");
    expect(verdict.row.detail).toBe('off: the site policy /etc/ts-sudospawner/config.json has no "slurm" section (see docs/policy.md#slurm)');
    expect(verdict.row.fix).toContain("docs/policy.md#slurm");
  });

  it("fails with the mediator's refusal when it is anything else (an invalid policy)", () => {
    const error = `${POLICY_PATH}: "slurm.partitions" must name at least one partition (the first is the default)`;
    const verdict = judgeSlurmMode("alice", refused(error), ctx);
    expect(verdict.options).toBeUndefined();
    expect(verdict.row).toMatchObject({ status: "fail", detail: `the mediator refused slurm-options as alice: ${error}` });
    expect(isSlurmOff(error)).toBe(false);
  });

  it("fails with sudo's diagnosis when the mediator gave no answer", () => {
    const verdict = judgeSlurmMode("alice", { output: "sudo: a password is required", status: 1 }, ctx);
    expect(verdict.row.status).toBe("fail");
    expect(verdict.row.detail).toMatch(/^could not ask the mediator as alice \(slurm-options\): no JSON answer \(exit 1\): sudo: a password is required\. sudo did not let rhea run/);
    expect(verdict.row.fix).toMatch(/ts-sudospawner sudoers --hub-user rhea --group GROUP/);
  });

  it("fails on an ok answer it cannot read (another install's mediator)", () => {
    const verdict = judgeSlurmMode("alice", ok({ ...OPTIONS, cpus: { default: 5, max: 4 } }), ctx);
    expect(verdict.row.status).toBe("fail");
    expect(verdict.row.detail).toMatch(/^the mediator's slurm-options answer has no valid \{"default","max"\} in "cpus"/);
  });
});

describe("describeOptions", () => {
  it("describes an answer", () => {
    const options = slurmOptionsAnswer({ ...OPTIONS, partitions: ["gpu"], gpus: { default: 1, max: 2 } });
    expect(describeOptions(options)).toBe("partitions gpu (default); minutes 60 (max 480), memoryMB 2048 (max 8192), cpus 1 (max 4), gpus 1 (max 2)");
  });
});

describe("munge: unmunge's report, slurm.conf's AuthInfo, the policy's conf", () => {
  it("reads unmunge's fields and the uid", () => {
    const fields = parseUnmunge(UNMUNGE_OK);
    expect(fields.STATUS).toBe("Success (0)");
    expect(fields.UID).toBe("alice (1001)");
    expect(unmungeUid(fields)).toBe(1001);
    expect(unmungeUid(parseUnmunge("STATUS: Invalid credential (8)\n"))).toBeUndefined();
  });

  it.each([
    ["AuthType=auth/munge\nAuthInfo=socket=/run/tsss/munge.socket\n", "/run/tsss/munge.socket"],
    ["authinfo = cred_expire=120,socket=/var/run/munge/alt.socket\n", "/var/run/munge/alt.socket"],
    ['AuthInfo="socket=/srv/munge.sock"\n', "/srv/munge.sock"],
    ["#AuthInfo=socket=/commented/out\nAuthType=auth/munge\n", undefined],
    ["AuthInfo=cred_expire=120\n", undefined],
    ["", undefined],
  ])("finds the socket in %j", (conf, socket) => {
    expect(authInfoSocket(conf)).toBe(socket);
  });

  it("takes slurm.conf from the policy only when it is an absolute path", () => {
    expect(policySlurmConf(JSON.stringify({ slurm: { conf: "/etc/slurm/cluster.conf" } }))).toBe("/etc/slurm/cluster.conf");
    expect(policySlurmConf(JSON.stringify({ slurm: { partitions: ["debug"] } }))).toBeUndefined();
    expect(policySlurmConf(JSON.stringify({ slurm: { conf: "slurm.conf" } }))).toBeUndefined();
    expect(policySlurmConf("{not json")).toBeUndefined();
    expect(policySlurmConf("")).toBeUndefined();
  });
});

describe("the munge row", () => {
  it("passes when the user's credential decodes with the user's uid", () => {
    const row = judgeMunge(ALICE, { kind: "ran", socket: SOCKET, encode: result(0, CREDENTIAL), decode: result(0, UNMUNGE_OK) });
    expect(row).toEqual({
      id: "slurm-munge",
      title: "munge as alice",
      status: "pass",
      detail: "`runuser -u alice -- munge -n --socket /run/tsss/munge.socket | unmunge`: Success (0), UID alice (1001), through /run/tsss/munge.socket (AuthInfo in /etc/slurm/slurm.conf)",
      fix: "",
    });
  });

  it("names Debian's munge package when munge or unmunge is missing", () => {
    const row = judgeMunge(ALICE, { kind: "missing", missing: ["munge", "unmunge"] });
    expect(row.status).toBe("fail");
    expect(row.detail).toBe("munge and unmunge not found on PATH: Slurm's commands authenticate every user through munge");
    expect(row.fix).toMatch(/^as root: `apt-get install munge` \(Debian\/Ubuntu/);
  });

  it("is skipped without root", () => {
    expect(judgeMunge(ALICE, { kind: "not-root" })).toMatchObject({ status: "skip", fix: "run the check as root" });
  });

  it("says to start munged, on the socket slurm.conf names, when nothing listens (munge's real message)", () => {
    const stderr = 'munge: Error: Failed to access "/run/tsss/munge.socket": No such file or directory (Did you start munged?)\n';
    const row = judgeMunge(ALICE, { kind: "ran", socket: SOCKET, encode: result(6, "", stderr) });
    expect(row.status).toBe("fail");
    expect(row.detail).toBe(
      `\`runuser -u alice -- munge -n --socket /run/tsss/munge.socket | unmunge\`: munge failed as alice on /run/tsss/munge.socket (AuthInfo in /etc/slurm/slurm.conf): ${stderr.trim()}`,
    );
    expect(row.fix).toMatch(/^start munged on this host \(as root: `systemctl enable --now munge`\) listening on \/run\/tsss\/munge\.socket, the socket slurm\.conf's AuthInfo=socket= names/);
    expect(row.fix).toContain("/etc/munge/munge.key must be owned by munge with mode 0400");
  });

  it("says the user cannot reach the socket when its modes keep the user out", () => {
    const stderr = 'munge: Error: Failed to access "/run/tsss/munge.socket": Permission denied\n';
    const row = judgeMunge(ALICE, { kind: "ran", socket: { from: "/etc/slurm/slurm.conf names none in AuthInfo" }, encode: result(6, "", stderr) });
    expect(row.detail).toContain("munge failed as alice on munge's default socket (/etc/slurm/slurm.conf names none in AuthInfo)");
    expect(row.fix).toMatch(/^alice cannot reach munge's default socket: the socket must be writable by everyone/);
  });

  it("points at the key and the clocks when unmunge cannot decode", () => {
    const row = judgeMunge(ALICE, { kind: "ran", socket: SOCKET, encode: result(0, CREDENTIAL), decode: result(15, "STATUS:          Expired credential (15)\n", "unmunge: Error: Expired credential\n") });
    expect(row.status).toBe("fail");
    expect(row.detail).toMatch(/unmunge could not decode alice's credential: Expired credential \(15\)$/);
    expect(row.fix).toMatch(/same \/etc\/munge\/munge\.key .* synchronised clocks/);
  });

  it("fails when the credential carries another uid", () => {
    const row = judgeMunge(ALICE, { kind: "ran", socket: SOCKET, encode: result(0, CREDENTIAL), decode: result(0, UNMUNGE_OK.replace("alice (1001)", "root (0)")) });
    expect(row).toMatchObject({ status: "fail", detail: expect.stringMatching(/decodes as UID root \(0\), not alice \(uid 1001\)$/) as unknown });
  });
});

describe("the sbatch --test-only row", () => {
  const estimate = (partition: string) => `Job 12 to start at 2026-11-30T15:40:00 using 1 processors on nodes node07 in partition ${partition}`;
  const probe = (partition: string, ask: SubmitTestProbe["ask"], reply: MediatorReply): SubmitTestProbe => ({ partition, ask, reply });

  it("passes with sbatch's estimate for every partition", () => {
    const row = judgeSubmitTest("alice", [probe("debug", "defaults", ok({ ok: true, estimate: estimate("debug") })), probe("short", "defaults", ok({ ok: true, estimate: estimate("short") })), probe("short", "maxima", ok({ ok: true, estimate: estimate("short") }))], ctx);
    expect(row).toEqual({ id: "slurm-submit-test", title: "sbatch --test-only as alice", status: "pass", detail: `nothing queued; with the defaults: partition debug: ${estimate("debug")}; partition short: ${estimate("short")}`, fix: "" });
  });

  it("fails with the mediator's error and the next step for a partition Slurm does not have", () => {
    const error = "sbatch failed with status 1: sbatch: error: invalid partition specified: nosuch\nallocation failure: Invalid partition name specified";
    const row = judgeSubmitTest("alice", [probe("debug", "defaults", ok({ ok: true, estimate: estimate("debug") })), probe("nosuch", "defaults", refused(error))], ctx);
    expect(row.status).toBe("fail");
    expect(row.detail).toBe(`submit-test through the mediator (the policy's defaults) was refused: partition nosuch: ${error}`);
    expect(row.fix).toMatch(/^the policy's "slurm.partitions" names a partition Slurm does not have \(`sinfo -s` lists them\)/);
  });

  it("carries the mediator's UNSAFE_PATH refusal of the policy's sbatch", () => {
    const error = "refusing to run Slurm's sbatch /usr/local/bin/sbatch: /usr/local/bin: writable by group 50 (mode 2775). As root, make it and every directory above it owned by root and not group/world-writable (chown root:root, chmod go-w)";
    const row = judgeSubmitTest("alice", [probe("debug", "defaults", refused(error))], ctx);
    expect(row).toMatchObject({ status: "fail", detail: `submit-test through the mediator (the policy's defaults) was refused: partition debug: ${error}` });
    expect(row.fix).toMatch(/^as root: make the named path and every directory above it owned by root/);
  });

  it("warns when the partition refuses the policy's maxima", () => {
    const error = "sbatch failed with status 1: allocation failure: Requested node configuration is not available";
    const row = judgeSubmitTest("alice", [probe("debug", "defaults", ok({ ok: true, estimate: estimate("debug") })), probe("debug", "maxima", refused(error))], ctx);
    expect(row.status).toBe("warn");
    expect(row.detail).toBe(`with the defaults: partition debug: ${estimate("debug")}. Asking for every maximum of the policy was refused, so a user who picks them gets no server: partition debug: ${error}`);
    expect(row.fix).toMatch(/^the request exceeds what the partition's nodes have/);
  });

  it("fails with sudo's diagnosis when there is no answer", () => {
    const row = judgeSubmitTest("alice", [probe("debug", "defaults", { output: "sudo: a password is required", status: 1 })], ctx);
    expect(row.status).toBe("fail");
    expect(row.fix).toMatch(/ts-sudospawner sudoers --hub-user rhea/);
  });

  it.each([
    ["sbatch failed with status 1: sbatch: error: Batch job submission failed: Protocol authentication error", /^munge: see the munge row/],
    // munged stopped: sbatch's real words name a missing file, which is munge's socket.
    ['sbatch failed with status 1: sbatch: error: If munged is up, restart with --num-threads=10\nsbatch: error: Munge encode failed: Failed to access "/run/munge/munge.socket.2": No such file or directory (Did you start munged?)', /^munge: see the munge row/],
    ["sbatch failed with status 1: sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)", /^slurmctld is not reachable/],
    ["Slurm's sbatch /opt/slurm/bin/sbatch does not exist (or a link on the way to it is broken)", /^install Slurm's client commands/],
    // scontrol is audited with the other three (it releases the held job): its fix names its key too.
    ["Slurm's scontrol /opt/slurm/bin/scontrol does not exist (or a link on the way to it is broken)", /^install Slurm's client commands .*"slurm\.scontrol"/],
    ["refusing to run Slurm's scontrol /opt/slurm/bin/scontrol: /opt/slurm/bin: writable by group", /^as root: make the named path and every directory above it owned by root/],
    ["sbatch failed with status 1: sbatch: error: Batch job submission failed: User's group not permitted to use this partition", /^alice may not submit to this partition/],
    ["sbatch failed with status 1: something new", /^run `sbatch --test-only -p PARTITION --wrap true` as alice/],
  ])("gives a next step for %j", (error, fix) => {
    expect(submitTestFix("alice", error)).toMatch(fix);
  });
});
