import { describe, expect, it } from "vitest";
import { followInterpreter, parseShebang, pyvenvHome, type ChainView, type NodeInfo } from "../../../../src/admin/host/interpreter-chain.js";

const alice = { uid: 1001, gids: [1001] };
type Entry = NodeInfo & { target?: string; text?: string };
const dir = (mode = 0o755): Entry => ({ kind: "dir", uid: 0, gid: 0, mode });
const file = (text = "", mode = 0o755): Entry => ({ kind: "file", uid: 0, gid: 0, mode, text });
const link = (target: string): Entry => ({ kind: "link", uid: 0, gid: 0, mode: 0o777, target });

function view(entries: Record<string, Entry>): ChainView {
  return {
    lstat: (p) => entries[p],
    readlink: (p) => entries[p]?.target,
    head: (p) => entries[p]?.text,
    readText: (p) => entries[p]?.text,
  };
}

const base = { "/": dir(), "/opt": dir(), "/opt/jupyterhub": dir(), "/opt/jupyterhub/bin": dir(), "/usr": dir(), "/usr/bin": dir(), "/root": dir(0o700) };
const SCRIPT = "/opt/jupyterhub/bin/jupyterhub-singleuser";

describe("followInterpreter", () => {
  it("names the directory that stops the user when the venv's python links into /root", () => {
    const fs = view({
      ...base,
      [SCRIPT]: file("#!/opt/jupyterhub/bin/python3\nimport sys\n"),
      "/opt/jupyterhub/bin/python3": link("python"),
      "/opt/jupyterhub/bin/python": link("/root/.pyenv/versions/3.12.1/bin/python3.12"),
      "/opt/jupyterhub/pyvenv.cfg": file("home = /root/.pyenv/versions/3.12.1/bin\n"),
    });
    const chain = followInterpreter(SCRIPT, alice, "alice", fs, ["/usr/bin"]);
    expect(chain.problem?.culprit).toBe("/root");
    expect(chain.problem?.problem).toBe(
      "the venv's python3 resolves to /root/.pyenv/versions/3.12.1/bin/python3.12: alice cannot enter /root (owner uid 0, group 0, mode 0700), so alice cannot run it",
    );
    expect(chain.problem?.fix).toContain("`/usr/bin/python3 -m venv --clear /opt/jupyterhub`");
    expect(chain.steps).toEqual([
      `${SCRIPT}: #!/opt/jupyterhub/bin/python3`,
      "/opt/jupyterhub/bin/python3 -> python",
      "/opt/jupyterhub/bin/python -> /root/.pyenv/versions/3.12.1/bin/python3.12",
    ]);
  });

  it("names pyvenv.cfg's home when a copied python cannot reach its standard library", () => {
    const fs = view({
      ...base,
      [SCRIPT]: file("#!/opt/jupyterhub/bin/python3\n"),
      "/opt/jupyterhub/bin/python3": file(),
      "/opt/jupyterhub/pyvenv.cfg": file("home = /root/py/bin\ninclude-system-site-packages = false\n"),
    });
    const chain = followInterpreter(SCRIPT, alice, "alice", fs, ["/usr/bin"]);
    expect(chain.problem?.culprit).toBe("/root");
    expect(chain.problem?.problem).toMatch(/^the venv \/opt\/jupyterhub was made from the Python in \/root\/py\/bin \(pyvenv.cfg's home\): alice cannot enter \/root/);
  });

  it("passes a venv made from the system's Python, listing each link", () => {
    const fs = view({
      ...base,
      [SCRIPT]: file("#!/opt/jupyterhub/bin/python3\n"),
      "/opt/jupyterhub/bin/python3": link("/usr/bin/python3"),
      "/usr/bin/python3": link("python3.11"),
      "/usr/bin/python3.11": file(),
      "/opt/jupyterhub/pyvenv.cfg": file("home = /usr/bin\n"),
    });
    const chain = followInterpreter(SCRIPT, alice, "alice", fs, ["/usr/bin"]);
    expect(chain.problem).toBeUndefined();
    expect(chain.steps).toContain("/usr/bin/python3 -> python3.11");
    expect(chain.steps).toContain("/opt/jupyterhub/pyvenv.cfg: home = /usr/bin");
  });

  it("finds an env shebang's program on the server's PATH and judges it", () => {
    const fs = view({ ...base, [SCRIPT]: file("#!/usr/bin/env node\n"), "/usr/bin/env": file(), "/usr/bin/node": file("", 0o750) });
    const chain = followInterpreter(SCRIPT, alice, "alice", fs, ["/opt/jupyterhub/bin", "/usr/bin"]);
    expect(chain.problem?.problem).toMatch(/^the interpreter \/usr\/bin\/node resolves to \/usr\/bin\/node: \/usr\/bin\/node is not executable by alice/);
  });

  it("leaves a binary alone", () => {
    expect(followInterpreter(SCRIPT, alice, "alice", view({ ...base, [SCRIPT]: file("\u007fELF") }), [])).toEqual({ steps: [] });
  });
});

describe("parseShebang and pyvenvHome", () => {
  it("reads pip's trampoline for long paths", () => {
    expect(parseShebang("#!/bin/sh\n'''exec' \"/very/long/venv/bin/python3\" \"$0\" \"$@\"\n' '''\n")).toEqual({ interpreter: "/very/long/venv/bin/python3" });
    expect(parseShebang("#!/usr/bin/env -S node --x\n")).toEqual({ interpreter: "/usr/bin/env", argument: "-S node --x" });
    expect(parseShebang("no")).toBeUndefined();
    expect(pyvenvHome("include-system-site-packages = false\nhome = /usr/bin\n")).toBe("/usr/bin");
  });
});
