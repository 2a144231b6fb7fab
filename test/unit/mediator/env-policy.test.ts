import { describe, expect, it } from "vitest";
import { applyEnvPolicy, dropWarnings, serverPath, toEnvList } from "../../../src/mediator/env-policy.js";

const alice = { name: "alice", home: "/home/alice", shell: "/bin/bash" };

describe("applyEnvPolicy", () => {
  it("passes JupyterHub's own variables and the locale through unchanged, and nothing else by default", () => {
    const { env, dropped } = applyEnvPolicy(
      { JUPYTERHUB_API_TOKEN: "secret", JPY_API_TOKEN: "secret", MEM_LIMIT: "1073741824", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", PATH: "/home/hub/bin", CUSTOM: "x" },
      alice,
    );
    expect(env).toEqual({
      JUPYTERHUB_API_TOKEN: "secret",
      JPY_API_TOKEN: "secret",
      MEM_LIMIT: "1073741824",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      HOME: "/home/alice",
      USER: "alice",
      LOGNAME: "alice",
      SHELL: "/bin/bash",
    });
    // PATH is replaced by the policy's (serverPath), as the identity variables are: no warning.
    expect(dropped).toEqual([{ name: "CUSTOM", reason: 'not in the vocabulary of what JupyterHub sends; to pass it, add "CUSTOM" to "env.allow" in /etc/ts-sudospawner/config.json' }]);
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
    // issue 11: each of these ran code as the user, or leaked to the hub
    "PYTHONPYCACHEPREFIX", "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES", "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH",
    "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
    // they point the server at the hub's files or programs
    "TMPDIR", "EDITOR", "VISUAL", "PAGER", "SSLKEYLOGFILE", "XDG_CONFIG_HOME", "GIT_SSH_COMMAND",
    // they choose the bus systemd-run (a cgroup placement) and other D-Bus clients talk to
    "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "SYSTEMD_LOG_LEVEL", "XDG_RUNTIME_DIR",
  ])("drops %s even where a site pattern would admit it, and says why", (name) => {
    const { env, dropped } = applyEnvPolicy({ [name]: "/tmp/payload", KEEP: "1" }, alice, { allowPatterns: [`${name.slice(0, 2)}*`, "KEEP"] });
    expect(env[name]).toBeUndefined();
    expect(env.KEEP).toBe("1");
    expect(dropped).toEqual([{ name, reason: "it makes a loader or interpreter run code, or points the server at files or programs; no policy admits it" }]);
  });

  it("drops them by default, as every name outside the vocabulary", () => {
    const { env, dropped } = applyEnvPolicy({ LD_PRELOAD: "/home/hub/x.so", PYTHONUNBUFFERED: "1", MY_LD_PRELOAD: "x" }, alice);
    expect(Object.keys(env).sort()).toEqual(["HOME", "LOGNAME", "SHELL", "USER"]);
    expect(dropped.map(({ name }) => name)).toEqual(["LD_PRELOAD", "PYTHONUNBUFFERED", "MY_LD_PRELOAD"]);
  });

  it("leaves out the hub's PATH without a warning, even where a site pattern would admit it (the policy's PATH replaces it)", () => {
    const { env, dropped } = applyEnvPolicy({ PATH: "/home/hub/bin" }, alice, { allowPatterns: ["PA*"] });
    expect(env.PATH).toBeUndefined();
    expect(dropped).toEqual([]);
  });

  it("drops a hub-sent copy of the mediator's own mark", () => {
    const { env, dropped } = applyEnvPolicy({ TS_SUDOSPAWNER_PID: "4242" }, alice);
    expect(env.TS_SUDOSPAWNER_PID).toBeUndefined();
    expect(dropped).toEqual([{ name: "TS_SUDOSPAWNER_PID", reason: "it is reserved for the mediator's own mark" }]);
  });

  it("admits look-alikes of the never-names only by a site's own pattern", () => {
    const { env } = applyEnvPolicy({ MY_LD_PRELOAD: "x", ENVIRONMENT: "y", PYTHONUNBUFFERED: "1" }, alice, { allowPatterns: ["MY_*", "ENVIRONMENT", "PYTHONUNBUFFERED"] });
    expect(env).toMatchObject({ MY_LD_PRELOAD: "x", ENVIRONMENT: "y", PYTHONUNBUFFERED: "1" });
  });

  it("applies a site policy: extra names and patterns to deny, extra names to allow", () => {
    const policy = { deniedNames: ["SECRET"], deniedPatterns: ["AWS_*"], allowPatterns: ["SECRET", "AWS_*", "CONDA_DEFAULT_ENV"] };
    const { env, dropped } = applyEnvPolicy({ SECRET: "1", AWS_KEY: "2", JUPYTERHUB_USER: "alice", CONDA_DEFAULT_ENV: "ml", OTHER: "3" }, alice, policy);
    expect(Object.keys(env).sort()).toEqual(["CONDA_DEFAULT_ENV", "HOME", "JUPYTERHUB_USER", "LOGNAME", "SHELL", "USER"]);
    expect(dropped).toEqual([
      { name: "SECRET", reason: "denied by the site policy" },
      { name: "AWS_KEY", reason: "denied by the site policy" },
      { name: "OTHER", reason: 'not in the vocabulary of what JupyterHub sends; to pass it, add "OTHER" to "env.allow" in /etc/ts-sudospawner/config.json' },
    ]);
  });
});

describe("serverPath", () => {
  it("puts the executable's directory first, then the policy's path or root's default, without repeats", () => {
    expect(serverPath("/opt/venvs/jh/bin/jupyterhub-singleuser", undefined)).toBe("/opt/venvs/jh/bin:/usr/local/bin:/usr/bin:/bin");
    expect(serverPath("/usr/bin/jupyterhub-singleuser", undefined)).toBe("/usr/bin:/usr/local/bin:/bin");
    expect(serverPath("/opt/conda/bin/jupyterhub-singleuser", "/opt/conda/bin:/usr/bin")).toBe("/opt/conda/bin:/usr/bin");
  });
});

describe("toEnvList", () => {
  it("renders sorted NAME=value strings, keeping '=' in values", () => {
    expect(toEnvList({ B: "x=y", A: "" })).toEqual(["A=", "B=x=y"]);
  });
});

describe("dropWarnings", () => {
  it("escapes names, and sums up beyond the limit instead of flooding the hub's log", () => {
    const dropped = Array.from({ length: 25 }, (_, i) => ({ name: `X${i}\r\u001b`, reason: "denied by the site policy" }));
    const lines = dropWarnings(dropped, 20);
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe("dropped environment variable X0\\r\\e: denied by the site policy");
    expect(lines[20]).toBe("dropped 5 more environment variables (not listed)");
  });
});
