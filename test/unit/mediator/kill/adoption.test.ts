/**
 * Live migration: which unmarked processes count as servers of the Python sudospawner, on
 * made-up process tables (the real thing, through real sudo and PyPI's sudospawner, is
 * test/integration/hub/migration.test.ts).
 */
import { describe, expect, it } from "vitest";
import { adoptionFor, adoptionReason, isPythonMediator, unownedReason, runningFiles, singleUserFiles, type AdoptPolicy, type ProcView } from "../../../../src/mediator/kill/adoption.js";
import { validatePolicy } from "../../../../src/mediator/policy.js";

const ME = 1001;
const OTHER = 1002;
const SINGLEUSER = "/opt/venv/bin/jupyterhub-singleuser";
const NOW = Date.parse("2026-06-01T00:00:00Z");

interface Proc {
  ppid: number;
  uid: number;
  cmdline: string[];
  exe: string;
  environ?: string[];
}

function view(table: Record<number, Proc>, links: Record<string, string> = {}): ProcView {
  const stat = (pid: number, p: Proc) => `${pid} (x) S ${p.ppid} ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123 0 0`;
  return {
    environ: (pid) => (table[pid]?.environ === undefined ? undefined : Buffer.from(`${table[pid].environ.join("\0")}\0`)),
    stat: (pid) => (table[pid] === undefined ? undefined : stat(pid, table[pid])),
    cmdline: (pid) => table[pid]?.cmdline,
    exe: (pid) => table[pid]?.exe,
    uid: (pid) => table[pid]?.uid,
    realpath: (p) => links[p] ?? (p.startsWith("/missing") ? undefined : p),
  };
}

const FORK: Proc = { ppid: 1, uid: ME, cmdline: ["/opt/venv/bin/python3", "/opt/venv/bin/sudospawner", "--logging=INFO"], exe: "/usr/bin/python3.11" };
const SERVER: Proc = { ppid: 500, uid: ME, cmdline: ["/opt/venv/bin/python3", SINGLEUSER, "--port=8888"], exe: "/usr/bin/python3.11", environ: ["JUPYTERHUB_API_TOKEN=abc", "PATH=/usr/bin"] };
const SLEEP: Proc = { ppid: 1, uid: ME, cmdline: ["sleep", "300"], exe: "/usr/bin/sleep", environ: ["PATH=/usr/bin"] };
const ADOPT: AdoptPolicy = { until: "2026-12-31T00:00:00Z", untilMs: Date.parse("2026-12-31T00:00:00Z"), executables: [] };
const input = (adopt?: AdoptPolicy, now = NOW) => ({ uid: ME, adopt, singleUserFiles: () => [SINGLEUSER], now });

describe("the Python mediator's fork", () => {
  it.each([
    [["/opt/venv/bin/python3", "/opt/venv/bin/sudospawner", "--logging=INFO"], "/usr/bin/python3.11", true],
    [["python3", "-u", "/usr/local/bin/sudospawner"], "/usr/bin/python3", true],
    [["/usr/bin/python3", "/usr/local/bin/sudospawner-old"], "/usr/bin/python3", false],
    [["/usr/bin/node", "/opt/x/sudospawner"], "/usr/bin/node", false],
    [["/opt/venv/bin/python3", "/opt/venv/bin/sudospawner"], undefined, false],
  ] as const)("%j (exe %s) is the mediator: %s", (cmdline, exe, expected) => {
    expect(isPythonMediator(cmdline, exe)).toBe(expected);
  });
});

describe("adoptionReason", () => {
  it("adopts the child of a lingering Python sudospawner fork, with no policy", () => {
    const procs = view({ 500: FORK, 600: SERVER });
    expect(adoptionReason(600, input(), procs)).toEqual({ rule: "lineage", parent: 500, mediator: "/opt/venv/bin/python3 /opt/venv/bin/sudospawner --logging=INFO" });
  });

  it("does not adopt the user's own sleep, a fork of another user, or a process of another user", () => {
    expect(adoptionReason(700, input(ADOPT), view({ 700: SLEEP }))).toBeUndefined();
    expect(adoptionReason(600, input(), view({ 500: { ...FORK, uid: OTHER }, 600: SERVER }))).toBeUndefined();
    expect(adoptionReason(600, input(), view({ 500: FORK, 600: { ...SERVER, uid: OTHER } }))).toBeUndefined();
    // A process of the user's own shell is not adopted, even running the server executable.
    expect(adoptionReason(600, input(ADOPT), view({ 500: { ...SLEEP, cmdline: ["bash"], exe: "/usr/bin/bash" }, 600: SERVER }))).toBeUndefined();
  });

  it("adopts an orphaned server only while the policy allows it", () => {
    const orphan = view({ 600: { ...SERVER, ppid: 1 } });
    expect(adoptionReason(600, input(), orphan)).toBeUndefined();
    expect(adoptionReason(600, input(ADOPT), orphan)).toEqual({ rule: "policy", until: ADOPT.until, executable: SINGLEUSER });
    expect(adoptionReason(600, input(ADOPT, ADOPT.untilMs), orphan)).toBeUndefined();
  });

  it("names an orphaned Python-started server as such when it is not adopted, and anything else 'other'", () => {
    const orphan = view({ 600: { ...SERVER, ppid: 1 } });
    expect(unownedReason(600, input(), orphan)).toBe("orphaned-python-server");
    expect(unownedReason(600, input(ADOPT, ADOPT.untilMs), orphan)).toBe("orphaned-python-server");
    expect(unownedReason(600, input(), view({ 600: { ...SERVER, ppid: 1, environ: ["PATH=/usr/bin"] } }))).toBe("other");
    expect(unownedReason(600, input(), view({ 600: { ...SERVER, ppid: 1, environ: ["JUPYTERHUB_API_TOKEN=abc", "TS_SUDOSPAWNER_PID=42"] } }))).toBe("other");
    expect(unownedReason(700, input(), view({ 700: SLEEP }))).toBe("other");
    expect(unownedReason(600, input(), view({ 600: { ...SERVER, ppid: 1, uid: OTHER } }))).toBe("other");
  });

  it("adopts an orphan under a subreaper of another user (the hub's systemd --user), not under one of the user's own", () => {
    expect(adoptionReason(600, input(ADOPT), view({ 90: { ...SLEEP, uid: OTHER }, 600: { ...SERVER, ppid: 90 } }))?.rule).toBe("policy");
    expect(adoptionReason(600, input(ADOPT), view({ 90: SLEEP, 600: { ...SERVER, ppid: 90 } }))).toBeUndefined();
  });

  it("requires an API token and no mark, and a known executable", () => {
    const orphan = (patch: Partial<Proc>) => view({ 600: { ...SERVER, ppid: 1, ...patch } });
    expect(adoptionReason(600, input(ADOPT), orphan({ environ: ["PATH=/usr/bin"] }))).toBeUndefined();
    expect(adoptionReason(600, input(ADOPT), orphan({ environ: ["JUPYTERHUB_API_TOKEN="] }))).toBeUndefined();
    expect(adoptionReason(600, input(ADOPT), orphan({ environ: ["JUPYTERHUB_API_TOKEN=abc", "TS_SUDOSPAWNER_PID=42"] }))).toBeUndefined();
    expect(adoptionReason(600, input(ADOPT), orphan({ environ: ["JPY_API_TOKEN=abc"] }))?.rule).toBe("policy");
    expect(adoptionReason(600, input(ADOPT), orphan({ environ: undefined }))).toBeUndefined();
    expect(adoptionReason(600, input(ADOPT), orphan({ cmdline: ["/opt/venv/bin/python3", "/home/alice/fake-singleuser"] }))).toBeUndefined();
    // The policy's extra executables, compared by real path (e.g. the old install's link).
    const extra = { ...ADOPT, executables: ["/usr/local/bin/jupyterhub-singleuser"] };
    const linked = view({ 600: { ...SERVER, ppid: 1, cmdline: ["/usr/bin/python3", "/usr/local/bin/jupyterhub-singleuser"] } }, { "/usr/local/bin/jupyterhub-singleuser": "/srv/jh/bin/jupyterhub-singleuser" });
    expect(adoptionReason(600, { ...input(extra), singleUserFiles: () => [] }, linked)).toEqual({ rule: "policy", until: ADOPT.until, executable: "/srv/jh/bin/jupyterhub-singleuser" });
  });

  it("recognises a compiled server by /proc/PID/exe, and a script after one shebang option", () => {
    expect(runningFiles(["/opt/x/server", "--port=1"], "/opt/x/server", { realpath: (p) => p })).toEqual(["/opt/x/server"]);
    expect(runningFiles(["/usr/bin/python3", "-u", SINGLEUSER], "/usr/bin/python3.11", { realpath: (p) => p })).toEqual(["/usr/bin/python3.11", SINGLEUSER]);
  });
});

describe("singleUserFiles and adoptionFor", () => {
  it("lists the executables next to the mediator and the policy's, by real path", () => {
    const policy = validatePolicy({ singleuser: "/opt/a/jupyterhub-singleuser", profiles: { lab: { executable: "/opt/b/server" } } });
    expect(singleUserFiles(() => "/opt/tsss/bin", policy, { realpath: (p) => (p.includes("sudospawner-singleuser") ? undefined : p) })).toEqual([
      "/opt/tsss/bin/jupyterhub-singleuser",
      "/opt/a/jupyterhub-singleuser",
      "/opt/b/server",
    ]);
    expect(singleUserFiles(() => { throw new Error("no"); }, policy, { realpath: (p) => p })).toEqual(["/opt/a/jupyterhub-singleuser", "/opt/b/server"]);
  });

  it("logs why it adopts", () => {
    const lines: string[] = [];
    const adopt = adoptionFor({ binDir: () => "/opt/venv/bin", policy: validatePolicy({}), logger: { info: (line) => lines.push(line) } }, view({ 500: { ...FORK, uid: process.getuid?.() ?? ME }, 600: { ...SERVER, uid: process.getuid?.() ?? ME } }));
    expect(adopt(600)).toBe(true);
    expect(lines).toEqual(["pid 600 is a server the Python sudospawner started (its parent 500 is the mediator's waiting fork: /opt/venv/bin/python3 /opt/venv/bin/sudospawner --logging=INFO); treating it as ours"]);
  });
});

describe("the policy's adopt", () => {
  it("takes a zoned date-time and optional executables", () => {
    expect(validatePolicy({ adopt: { until: "2026-12-31T00:00:00Z" } }).adopt).toEqual({ until: "2026-12-31T00:00:00Z", untilMs: Date.parse("2026-12-31T00:00:00Z"), executables: [] });
    expect(validatePolicy({ adopt: { until: "2026-12-31T01:00:00+01:00", executables: ["/usr/local/bin/jupyterhub-singleuser"] } }).adopt?.executables).toEqual(["/usr/local/bin/jupyterhub-singleuser"]);
  });

  it.each([{ until: "2026-12-31" }, { until: "tomorrow" }, { until: 1767139200 }, {}, { until: "2026-12-31T00:00:00Z", executables: ["relative"] }, { until: "2026-12-31T00:00:00Z", extra: 1 }])(
    "refuses %j",
    (adopt) => {
      expect(() => validatePolicy({ adopt })).toThrow(/\/etc\/ts-sudospawner\/config\.json: "adopt/);
    },
  );
});
