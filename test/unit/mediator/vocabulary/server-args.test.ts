import { describe, expect, it } from "vitest";
import { checkServerArgs as checkWith, settingOf, settingsFixedBy as fixedWith, type ServerArgsPolicy } from "../../../../src/mediator/vocabulary/server-args.js";
import { TRAITLETS } from "../../../../src/mediator/vocabulary/traitlets-table.js";

const checkServerArgs = (args: readonly string[], fixed: ReadonlySet<string>, policy: ServerArgsPolicy = {}, profile?: string) => checkWith(args, fixed, TRAITLETS, policy, profile);
const settingsFixedBy = (args: readonly string[]) => fixedWith(args, TRAITLETS);

const none = new Set<string>();
/** What a pre-2.0 JupyterHub, and the TypeScript client, send. */
const CLASSIC_ARGS = ["--ip=127.0.0.1", "--port=51234", "--SingleUserNotebookApp.default_url=/lab", "--debug", "--notebook-dir=~/work", "--disable-user-config"];

function refusal(args: readonly string[], fixed: ReadonlySet<string> = none, policy = {}): string {
  try {
    checkServerArgs(args, fixed, policy, "lab");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`not refused: ${args.join(" ")}`);
}

describe("checkServerArgs: the vocabulary", () => {
  it("passes what a hub sends, and says which setting each argument sets", () => {
    expect(checkServerArgs(CLASSIC_ARGS, none).map(({ setting }) => setting)).toEqual(["ip", "port", "default_url", "log_level", "root_dir", "disable_user_config"]);
    expect(checkServerArgs(["--ServerApp.root_dir=/srv/x", "--NotebookApp.notebook_dir=/", "--base-url=/user/a/", "--hub-api-url=http://127.0.0.1:8081/hub/api"], none).map(({ setting }) => setting)).toEqual(["root_dir", "root_dir", "base_url", "hub_api_url"]);
  });

  it.each([
    // code, config and commands: what the old deny-list knew ...
    "--config=/home/hub/x.py",
    "--ServerApp.config_file=/home/hub/x.py",
    "--KernelManager.kernel_cmd=['/home/hub/x']",
    "--ServerApp.browser=/home/hub/x %s",
    // ... and what it did not: any traitlets option outside the vocabulary
    "--ServerApp.jpserver_extensions={'hubmod':True}",
    "--ServerApp.kernel_manager_class=hubmod.KM",
    "--ServerApp.logging_config={'handlers':{}}",
    "--ServerApp.tornado_settings={'x':1}",
    "--Application.logging_config={}",
    "--ServerApp.preferred_dir=/home/hub",
    "--ContentsManager.pre_save_hook=hubmod.hook",
    "--ServerApp.port_retries=0",
  ])("refuses %s, naming the policy key that would admit it", (arg) => {
    const spelling = arg.slice(0, arg.indexOf("="));
    expect(refusal(["--port=1", arg])).toBe(
      `server argument ${JSON.stringify(arg.length > 80 ? `${arg.slice(0, 79)}…` : arg)} refused: not in the vocabulary of what a hub sends; an admin may allow it with "serverArgs.allow": ["${spelling}"] in /etc/ts-sudospawner/config.json`,
    );
  });

  it.each([
    ["notebook.ipynb", /takes no positional arguments/],
    ["-c", /takes no positional arguments/],
    ["--", /takes no positional arguments/],
    ["--port", /needs its value in the same word: --port=VALUE/],
    ["--debug=please", /--debug is a flag and takes no value/],
    ["--port=0", /a port/],
    ["--port=65536", /a port/],
    ["--port=80 ", /a port/],
    ["--ip=127.0.0.1;touch /tmp/x", /an IP address or host name/],
    ["--SingleUserNotebookApp.default_url=//evil.example/", /a URL path/],
    ["--SingleUserNotebookApp.default_url=javascript:alert(1)", /a URL path/],
    ["--hub-api-url=file:///etc/passwd", /an http\(s\) URL/],
    ["--SingleUserNotebookApp.disable_user_config=maybe", /one of "true", "false", "1", "0"/],
  ])("refuses %j: %s", (arg, why) => {
    expect(refusal([arg])).toMatch(why);
  });

  it("never takes the word after a flag as its value: it is a positional argument, refused", () => {
    expect(refusal(["--debug", "notebook.ipynb"])).toMatch(/^server argument "notebook.ipynb" refused: the single-user server takes no positional arguments/);
    expect(refusal(["--no-browser", "x"], none, { allow: ["--no-browser"] })).toMatch(/^server argument "x" refused/);
  });

  it("escapes what it quotes", () => {
    expect(refusal(["--config=\u001b[2J"])).toMatch(/^server argument "--config=\\\\e\[2J" refused/);
  });
});

describe("checkServerArgs: a launch profile's settings", () => {
  it("refuses any alias, flag or class spelling that sets a setting the profile fixes", () => {
    const fixed = settingsFixedBy(["--ServerApp.default_url=/voila", "--log-level=WARN", "--ServerApp.root_dir=/srv/voila"]);
    expect([...fixed].sort()).toEqual(["default_url", "log_level", "root_dir"]);
    expect(refusal(["--SingleUserNotebookApp.default_url=/tree"], fixed)).toBe(
      'server argument "--SingleUserNotebookApp.default_url=/tree" refused: launch profile "lab" fixes default_url',
    );
    expect(refusal(["--debug"], fixed)).toMatch(/launch profile "lab" fixes log_level$/);
    expect(refusal(["--notebook-dir=/tmp"], fixed)).toMatch(/fixes root_dir$/);
    expect(refusal(["--NotebookApp.notebook_dir=/tmp"], fixed)).toMatch(/fixes root_dir$/);
    expect(refusal(["--ServerApp.log_level=10"], fixed, { allow: ["--ServerApp.log_level"] })).toMatch(/fixes log_level$/);
    expect(() => checkServerArgs(["--port=1"], fixed)).not.toThrow();
  });

  it("knows traitlets' flags: a profile's --debug fixes the log level", () => {
    expect(settingsFixedBy(["--debug", "--no-browser"])).toEqual(new Set(["log_level", "open_browser"]));
    expect(settingOf("ServerApp.notebook_dir")).toBe("root_dir");
  });
});

describe("checkServerArgs: serverArgs.allow, judged by traitlets' types", () => {
  it("adds scalar options, each with the value type traitlets gives it", () => {
    const policy = { allow: ["--MappingKernelManager.cull_idle_timeout", "--*.terminals_enabled", "--ServerApp.log_level", "--no-browser", "--LabApp.collaborative"] };
    expect(() =>
      checkServerArgs(["--MappingKernelManager.cull_idle_timeout=3600", "--ServerApp.terminals_enabled=False", "--ServerApp.log_level=DEBUG", "--no-browser", "--LabApp.collaborative=true"], none, policy),
    ).not.toThrow();
    expect(refusal(["--MappingKernelManager.cull_idle_timeout=soon"], none, policy)).toMatch(/the value must be an integer$/);
    expect(refusal(["--ServerApp.terminals_enabled=perhaps"], none, policy)).toMatch(/the value must be one of "true", "false", "1", "0"$/);
    expect(refusal(["--ServerApp.log_level=LOUD"], none, policy)).toMatch(/the value must be one of .*"DEBUG"/);
    // Only traitlets' flags stand alone: an option takes its value after "=", never from the next word.
    expect(refusal(["--MappingKernelManager.cull_idle_timeout"], none, policy)).toMatch(/needs its value in the same word: --MappingKernelManager.cull_idle_timeout=VALUE$/);
    expect(refusal(["--ServerApp.terminals_enabled"], none, policy)).toMatch(/needs its value in the same word/);
    expect(refusal(["--no-browser=yes"], none, policy)).toMatch(/--no-browser is a flag and takes no value$/);
  });

  it.each([
    ["--ServerApp.kernel_manager_class=hub.KM", "a class"],
    ["--ServerApp.logging_config={}", "a config dict"],
    ["--ServerApp.tornado_settings={}", "a config dict"],
    ["--ServerApp.jpserver_extensions={}", "a config dict"],
    ["--ServerApp.extra_services=['hub.module']", "a list (commands, paths or config)"],
    ["--ServerApp.extra_static_paths=['/home/hub']", "a list (commands, paths or config)"],
    ["--JupyterApp.config_file=/home/hub/c.py", "a file, directory, command, URL or secret"],
    ["--JupyterApp.config_file_name=c.py", "a file, directory, command, URL or secret"],
    ["--ServerApp.browser=x", "a file, directory, command, URL or secret"],
    ["--ServerApp.certfile=/home/hub/c.pem", "a file, directory, command, URL or secret"],
    ["--GatewayClient.url=http://hub.example/", "a file, directory, command, URL or secret"],
    ["--ContentsManager.pre_save_hook=hub.hook", "an untyped value (traitlets Any)"],
    ["--FileContentsManager.post_save_hook=hub.hook", "an untyped value (traitlets Any)"],
  ])("never admits %s, even when the site allows every option: its value is %s", (arg, kind) => {
    expect(refusal([arg], none, { allow: ["--*"] })).toMatch(new RegExp(`is never passable from the hub, not even through serverArgs\\.allow: its value is ${kind.replace(/[()]/g, "\\$&")}$`));
  });

  it("refuses an allowed option the single-user server's traitlets do not know", () => {
    expect(refusal(["--SiteApp.anything=1"], none, { allow: ["--SiteApp.anything"] })).toMatch(/--SiteApp\.anything is never passable .*: the single-user server's traitlets do not know it$/);
  });

  it("deny removes options, from the vocabulary too", () => {
    expect(refusal(["--debug"], none, { deny: ["--debug"] })).toMatch(/denied by the site policy's serverArgs.deny$/);
  });
});
