/**
 * The JupyterHub shim (examples/jupyterhub/ts_sudospawner_shim.py) without root: its argv, its
 * error explanations, its liveness check, and a full mediator call against a fake sudo and
 * mediator whose "server" keeps stderr open (the call must still return at once, and keep
 * relaying). Needs a Python with JupyterHub (Debian: /usr/bin/python3 + apt jupyterhub).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announceSkip } from "../helpers/system.js";

const PYTHON = "/usr/bin/python3";
const SHIM_DIR = path.resolve(import.meta.dirname, "../../examples/jupyterhub");

function pythonReason(): string | undefined {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  if (spawnSync(PYTHON, ["-c", "import jupyterhub.spawner"]).status !== 0) return "JupyterHub is not importable by /usr/bin/python3 (apt-get install jupyterhub)";
  return undefined;
}

const reason = pythonReason();
if (reason) announceSkip("JupyterHub shim unit tests (test/unit/hub-shim.test.ts)", reason);

/** Run Python code with the shim importable; its last stdout line parsed as JSON. */
function python<T>(code: string, env: NodeJS.ProcessEnv = {}): T {
  const prelude = `import asyncio, json, logging, os, sys, time
from types import SimpleNamespace
sys.path.insert(0, ${JSON.stringify(SHIM_DIR)})
import ts_sudospawner_shim as shim
class ListLog:
    def __init__(self): self.lines = []
    def _at(level):
        def log(self, fmt, *args): self.lines.append(level + ":" + (fmt % args if args else fmt))
        return log
    debug = _at("debug"); info = _at("info"); warning = _at("warning"); error = _at("error")
def spawner(name="alice", **kw):
    sp = shim.TsSudoSpawner(user=SimpleNamespace(name=name), **kw)
    sp.log = ListLog()
    return sp
`;
  const run = spawnSync(PYTHON, ["-c", `${prelude}\n${code}`], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 30_000 });
  if (run.status !== 0) throw new Error(`python failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").pop() as string) as T;
}

describe.skipIf(reason !== undefined)("JupyterHub shim", () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-shim-unit-"));
    // sudo's shape without sudo: drop "-u USER" and options, run the rest.
    fs.writeFileSync(path.join(dir, "fake-sudo"), `#!/bin/sh\n[ "$1" = "-u" ] && shift 2\nwhile [ "\${1#-}" != "$1" ]; do shift; done\nexec "$@"\n`, { mode: 0o755 });
    // A mediator whose "server" writes to the shared stderr after the answer, for 1.5 s.
    fs.writeFileSync(
      path.join(dir, "fake-mediator"),
      `#!/bin/sh
read request
case "$FAKE_MODE" in
  password) echo "sudo: a password is required" >&2; exit 1 ;;
  refuse) echo '{"ok":false,"error":"home directory /home/alice of alice does not exist"}'; exit 1 ;;
esac
echo "[I 2026-11-25 07:30:00.000 ts-sudospawner] Spawning fake" >&2
( sleep 0.5; echo "[W 2026-11-25 07:30:01.000 FakeServer] after the answer" >&2; sleep 1 ) </dev/null >/dev/null &
echo "{\\"ok\\":true,\\"pid\\":$!}"
`,
      { mode: 0o755 },
    );
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("builds the Python SudoSpawner's command line, for sudo and doas", () => {
    const argv = python<string[][]>(`print(json.dumps([
      spawner("j.doe", mediator_path="/opt/x/bin/ts-sudospawner")._mediator_argv(),
      spawner("alice", mediator_path="/opt/x/bin/ts-sudospawner", sudo_command=["doas"], mediator_log_level="debug")._mediator_argv(),
    ]))`);
    expect(argv).toEqual([
      ["sudo", "-u", "j.doe", "-nH", "/opt/x/bin/ts-sudospawner", "--logging=INFO"],
      ["doas", "-u", "alice", "-n", "/opt/x/bin/ts-sudospawner", "--logging=DEBUG"],
    ]);
  });

  it("refuses user names sudo would misread", () => {
    const result = python<string[]>(`out = []
for name in ["#0", "-u", "%wheel", "a b"]:
    try:
        spawner(name)._mediator_argv()
        out.append("accepted " + name)
    except shim.MediatorError as e:
        out.append(str(e))
print(json.dumps(out))`);
    expect(result).toHaveLength(4);
    for (const message of result) expect(message).toMatch(/cannot be passed to sudo: map hub names to system users/);
  });

  it("finds the one JSON answer, and tells live from gone processes (EPERM = alive)", () => {
    const result = python<unknown[]>(`import subprocess
p = subprocess.Popen(["true"]); p.wait()
print(json.dumps([
  shim._extract_answer('{"ok":true,"pid":5}\\n'),
  shim._extract_answer('banner\\n{"ok":true,"alive":false}\\n'),
  shim._extract_answer('not json'),
  shim.process_alive(os.getpid()),
  shim.process_alive(1),
  shim.process_alive(p.pid),
]))`);
    expect(result).toEqual([{ ok: true, pid: 5 }, { ok: true, alive: false }, null, true, true, false]);
  });

  it("explains failures with the cause and the fix", () => {
    const messages = python<Record<string, string>>(`sp = spawner("alice", mediator_path=sys.executable)
missing = spawner("alice", mediator_path="/nonexistent/ts-sudospawner")
bare = spawner("alice", mediator_path="ts-sudospawner-not-installed")
hub = shim._hub_user()
print(json.dumps({
  "hub": hub,
  "password": str(sp._explain(1, "", "sudo: a password is required\\n")),
  "refused": str(sp._explain(1, '{"ok":false,"error":"boom"}', "")),
  "garbage": str(sp._explain(0, "hello", "")),
  "missing": str(missing._explain(1, "", "sudo: a password is required\\n")),
  "bare": str(bare._explain(1, "", "sudo: a password is required\\n")),
  "silent": str(sp._explain(3, "", "Segmentation fault\\n")),
}))`);
    const hub = messages.hub as string;
    expect(messages.password).toMatch(
      new RegExp(`^sudo asked for a password: the sudoers rule for hub user ${hub} does not cover user alice; run \`ts-sudospawner sudoers --hub-user ${hub} --users alice --install\``),
    );
    expect(messages.refused).toBe("the mediator refused (as alice): boom");
    expect(messages.garbage).toMatch(/^the mediator's output is not JSON: 'hello'; is .* really ts-sudospawner\?/);
    expect(messages.missing).toMatch(/^sudo could not find the mediator \/nonexistent\/ts-sudospawner: it does not exist/);
    expect(messages.bare).toMatch(/on its secure_path: set c\.TsSudoSpawner\.mediator_path to the absolute path/);
    expect(messages.silent).toMatch(/exited with status 3 without an answer \[Segmentation fault\]/);
  });

  it("returns the answer at once although the server keeps stderr open, and keeps relaying", () => {
    const result = python<{ answer: Record<string, unknown>; seconds: number; before: string[]; after: string[] }>(
      `async def main():
    sp = spawner("alice", mediator_path=${JSON.stringify(path.join(dir, "fake-mediator"))}, sudo_command=[${JSON.stringify(path.join(dir, "fake-sudo"))}])
    t = time.monotonic()
    answer = await sp._call_mediator({"action": "spawn", "args": [], "env": {}})
    seconds = time.monotonic() - t
    before = list(sp.log.lines)
    await asyncio.sleep(1.0)
    print(json.dumps({"answer": answer, "seconds": seconds, "before": before, "after": sp.log.lines}))
asyncio.run(main())`,
    );
    expect(result.answer.ok).toBe(true);
    expect(result.seconds).toBeLessThan(1.0);
    expect(result.before).toContain("info:[alice] [I 2026-11-25 07:30:00.000 ts-sudospawner] Spawning fake");
    expect(result.before.join("\n")).not.toContain("after the answer");
    expect(result.after).toContain("warning:[alice] [W 2026-11-25 07:30:01.000 FakeServer] after the answer");
  });

  it("raises the explained error for a refusal and a password prompt", () => {
    const errors = python<string[]>(
      `async def call(mode):
    os.environ["FAKE_MODE"] = mode
    sp = spawner("alice", mediator_path=${JSON.stringify(path.join(dir, "fake-mediator"))}, sudo_command=[${JSON.stringify(path.join(dir, "fake-sudo"))}])
    try:
        await sp._call_mediator({"action": "spawn", "args": [], "env": {}})
        return "no error"
    except shim.MediatorError as e:
        return str(e)
async def main():
    print(json.dumps([await call("refuse"), await call("password")]))
asyncio.run(main())`,
    );
    expect(errors[0]).toBe("the mediator refused (as alice): home directory /home/alice of alice does not exist");
    expect(errors[1]).toMatch(/^fake-sudo asked for a password: the sudoers rule for hub user \S+ does not cover user alice/);
  });

  it("times out a hung call with a clear error", () => {
    const message = python<string>(
      `async def main():
    sp = spawner("alice", mediator_path="/bin/sleep", sudo_command=[${JSON.stringify(path.join(dir, "fake-sudo"))}], mediator_timeout=0.5, kill_grace=1)
    sp._mediator_argv = lambda: [${JSON.stringify(path.join(dir, "fake-sudo"))}, "-u", "alice", "/bin/sleep", "30"]
    try:
        await sp._call_mediator({"action": "kill", "pid": 2, "signal": 0})
        print(json.dumps("no error"))
    except shim.MediatorError as e:
        await asyncio.sleep(0.3)
        print(json.dumps(str(e)))
asyncio.run(main())`,
    );
    expect(message).toMatch(/^the mediator for alice did not answer within 0\.5 s; raise c\.TsSudoSpawner\.mediator_timeout/);
  });
});
