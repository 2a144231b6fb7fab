import { describe, expect, it } from "vitest";
import { applyEnvPolicy, denialReason, toEnvList } from "../../../src/mediator/env-policy.js";

const alice = { name: "alice", home: "/home/alice", shell: "/bin/bash" };

describe("applyEnvPolicy", () => {
  it("passes the hub's variables through unchanged", () => {
    const { env, dropped } = applyEnvPolicy({ JUPYTERHUB_API_TOKEN: "secret", PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }, alice);
    expect(dropped).toEqual([]);
    expect(env).toEqual({
      JUPYTERHUB_API_TOKEN: "secret",
      PATH: "/usr/bin:/bin",
      LANG: "C.UTF-8",
      HOME: "/home/alice",
      USER: "alice",
      LOGNAME: "alice",
      SHELL: "/bin/bash",
    });
  });

  it("takes HOME, USER, LOGNAME and SHELL from the passwd entry, whatever the hub sent", () => {
    const { env, dropped } = applyEnvPolicy({ HOME: "/home/hub", USER: "root", LOGNAME: "root", SHELL: "/tmp/evil" }, alice);
    expect(env).toMatchObject({ HOME: "/home/alice", USER: "alice", LOGNAME: "alice", SHELL: "/bin/bash" });
    expect(dropped).toEqual([]);
  });

  it.each([
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT",
    "PYTHONWARNINGS", "NODE_OPTIONS", "BASH_ENV", "ENV", "PERL5LIB", "PERL5OPT", "RUBYOPT", "GCONV_PATH",
    "GLIBC_TUNABLES", "BASH_FUNC_ls%%", "DYLD_INSERT_LIBRARIES", "JAVA_TOOL_OPTIONS",
  ])("drops %s and says why", (name) => {
    const { env, dropped } = applyEnvPolicy({ [name]: "/tmp/payload", KEEP: "1" }, alice);
    expect(env[name]).toBeUndefined();
    expect(env.KEEP).toBe("1");
    expect(dropped).toEqual([{ name, reason: "it can inject code into the loader or an interpreter" }]);
  });

  it("drops a hub-sent copy of the mediator's own mark", () => {
    const { env, dropped } = applyEnvPolicy({ TS_SUDOSPAWNER_PID: "4242" }, alice);
    expect(env.TS_SUDOSPAWNER_PID).toBeUndefined();
    expect(dropped).toEqual([{ name: "TS_SUDOSPAWNER_PID", reason: "it is reserved for the mediator's own mark" }]);
  });

  it("does not drop look-alikes", () => {
    expect(denialReason("MY_LD_PRELOAD")).toBeUndefined();
    expect(denialReason("ENVIRONMENT")).toBeUndefined();
    expect(denialReason("PYTHONUNBUFFERED")).toBeUndefined();
    expect(denialReason("JUPYTERHUB_SERVICE_PREFIX")).toBeUndefined();
  });

  it("applies a site policy: extra names, patterns and an allow-list", () => {
    const policy = { deniedNames: ["SECRET"], deniedPatterns: ["AWS_*"], allowPatterns: ["JUPYTERHUB_*", "PATH", "AWS_*"] };
    const { env, dropped } = applyEnvPolicy({ SECRET: "1", AWS_KEY: "2", JUPYTERHUB_USER: "alice", PATH: "/bin", LANG: "C" }, alice, policy);
    expect(Object.keys(env).sort()).toEqual(["HOME", "JUPYTERHUB_USER", "LOGNAME", "PATH", "SHELL", "USER"]);
    expect(dropped).toEqual([
      { name: "SECRET", reason: "denied by the site policy" },
      { name: "AWS_KEY", reason: "denied by the site policy" },
      { name: "LANG", reason: "not in the site policy's allow-list" },
    ]);
  });
});

describe("toEnvList", () => {
  it("renders sorted NAME=value strings, keeping '=' in values", () => {
    expect(toEnvList({ B: "x=y", A: "" })).toEqual(["A=", "B=x=y"]);
  });
});
