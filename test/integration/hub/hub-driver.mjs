#!/usr/bin/env node
/**
 * A stand-in hub for the client's integration tests: runs as the hub user (via `sudo -u HUB node
 * hub-driver.mjs PACKAGE_DIR`), imports the INSTALLED package's client, and executes commands
 * the test sends as JSON lines on stdin. Replies and relayed log lines go to stdout as JSON lines.
 *
 *   -> {"id":1,"cmd":"new","name":"a","options":{...SudoSpawnerOptions}}
 *   -> {"id":2,"cmd":"start","name":"a","args":[...],"env":{...},"abortAfterMs":500}
 *   -> {"id":3,"cmd":"poll"|"getState"|"stop"|"signal"|"loadState","name":"a",...}
 *   <- {"reply":2,"ok":true,"value":{"pid":123}}   or   {"reply":2,"ok":false,"code":"SUDO","message":"..."}
 *   <- {"log":"warn","name":"a","message":"[tsss-alice] ..."}
 */
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const packageDir = process.argv[2];
const { SudoSpawner, isSudoSpawnerError } = await import(pathToFileURL(path.join(packageDir, "dist/index.js")).href);

const spawners = new Map();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function loggerFor(name) {
  const at = (level) => (message) => send({ log: level, name, message });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

async function execute(command) {
  const spawner = spawners.get(command.name);
  switch (command.cmd) {
    case "new":
      spawners.set(command.name, new SudoSpawner({ ...command.options, logger: loggerFor(command.name) }));
      return { uid: process.getuid(), user: (await import("node:os")).userInfo().username };
    case "start": {
      let signal;
      if (command.abortAfterMs !== undefined) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("hub start timeout")), command.abortAfterMs);
        signal = controller.signal;
      }
      return spawner.start({ args: command.args, env: command.env, signal });
    }
    case "poll":
      return spawner.poll();
    case "signal":
      return spawner.signal(command.signal);
    case "stop":
      return spawner.stop(command.options);
    case "getState":
      return spawner.getState();
    case "loadState":
      spawner.loadState(command.state);
      return null;
    case "exit":
      setImmediate(() => process.exit(0));
      return null;
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line);
  execute(command).then(
    (value) => send({ reply: command.id, ok: true, value: value ?? null }),
    (error) =>
      send({
        reply: command.id,
        ok: false,
        code: isSudoSpawnerError(error) ? error.code : "NOT_SUDOSPAWNER_ERROR",
        message: String(error?.message ?? error),
      }),
  );
});
// The test closing stdin means: the hub is gone. Exit even though server pipes are still open.
lines.on("close", () => setTimeout(() => process.exit(0), 100));
