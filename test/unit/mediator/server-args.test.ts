import { describe, expect, it } from "vitest";
import { checkServerArgs, optionName } from "../../../src/mediator/server-args.js";

const JUPYTERHUB_ARGS = ["--ip=127.0.0.1", "--port=51234", "--SingleUserNotebookApp.default_url=/lab", "--debug", "--ServerApp.root_dir=/home/alice"];

describe("optionName", () => {
  it("normalises an option to lower case with underscores, without dashes and value", () => {
    expect(optionName("--ServerApp.Root-Dir=/x")).toBe("serverapp.root_dir");
    expect(optionName("-config")).toBe("config");
    expect(optionName("/home/alice/notebook.ipynb")).toBeUndefined();
    expect(optionName("--")).toBeUndefined();
  });
});

describe("checkServerArgs", () => {
  it("passes what JupyterHub sends", () => {
    expect(() => checkServerArgs(JUPYTERHUB_ARGS, [])).not.toThrow();
  });

  it.each([
    "--config=/home/hub/x.py",
    "--config",
    "--ServerApp.config_file=/home/hub/x.py",
    "--JupyterApp.config_file_name=x",
    "--ServerApp.extra_static_paths=['/home/hub']",
    "--ServerApp.extra_template_paths=['/home/hub']",
    "--ServerApp.jpserver_extensions_paths=x",
    "--ServerApp.runtime_dir=/home/hub/rt",
    "--JupyterApp.data_dir=/home/hub",
    "--KernelManager.connection_file=/home/hub/k.json",
    "--KernelManager.kernel_cmd=['/home/hub/x']",
    "--ServerApp.terminado_settings={'shell_command':['/home/hub/x']}",
    "--ServerApp.browser=/home/hub/x %s",
    "--InteractiveShellApp.exec_files=['/home/hub/x.py']",
    "--InteractiveShellApp.code_to_run=import os",
    "--CONFIG-FILE=/x",
  ])("refuses %s", (arg) => {
    expect(() => checkServerArgs(["--port=1", arg], [])).toThrow(/^server argument .* refused: it makes the server load code, config or commands from a place the hub chooses$/);
  });

  it("refuses, whatever the class, an option a launch profile fixes", () => {
    const fixed = ["--ServerApp.default_url=/voila"];
    expect(() => checkServerArgs(["--SingleUserNotebookApp.default_url=/tree"], fixed, {}, "voila")).toThrow(
      'server argument "--SingleUserNotebookApp.default_url=/tree" refused: launch profile "voila" fixes default_url',
    );
    expect(() => checkServerArgs(["--port=1"], fixed, {}, "voila")).not.toThrow();
  });

  it("with the policy's allow-list, passes only the options it names; deny adds refusals", () => {
    const policy = { allow: ["--ip", "--port", "--*.default_url"], deny: ["--debug"] };
    expect(() => checkServerArgs(["--ip=127.0.0.1", "--port", "8888", "--SingleUserNotebookApp.default_url=/lab"], [], policy)).not.toThrow();
    expect(() => checkServerArgs(["--ServerApp.root_dir=/x"], [], policy)).toThrow(/not in the site policy's serverArgs.allow/);
    expect(() => checkServerArgs(["--port=1", "notebook.ipynb"], [], policy)).toThrow(/admits options only/);
    expect(() => checkServerArgs(["--debug"], [], { deny: ["--debug"] })).toThrow(/denied by the site policy's serverArgs.deny/);
  });

  it("escapes what it quotes", () => {
    expect(() => checkServerArgs(["--config=\u001b[2J"], [])).toThrow('server argument "--config=\\\\e[2J" refused');
  });
});
