/**
 * A complete custom spawner built on the TypeScript client: a tiny "hub" that keeps one user's
 * single-user server running, survives its own restarts, and stops the server on shutdown.
 *
 * It shows everything a real hub integration needs:
 *   - start() with arguments and environment, cancellable with an AbortSignal (Ctrl-C while
 *     starting kills the in-flight sudo; a server that started anyway is stopped);
 *   - getState()/loadState() persisted to a file, so a restarted hub finds its server again;
 *   - poll() on an interval (no sudo: kill(pid, 0) where EPERM means alive);
 *   - stop() with JupyterHub's SIGINT -> SIGTERM -> SIGKILL escalation;
 *   - errors with a code (SUDO, MEDIATOR, TIMEOUT, ABORTED) and a message that says what to fix.
 *
 * Run it as the hub user (the one the sudoers rule names):
 *   npx esbuild examples/custom-spawner.ts --bundle --platform=node --format=esm --outfile=custom-spawner.mjs
 *   node custom-spawner.mjs --user alice --mediator /opt/ts-sudospawner/bin/ts-sudospawner --port 8890
 * Ctrl-C stops the server and exits; with --keep it exits and leaves the server running, and the
 * next run picks it up from the state file.
 *
 * In your own project, import from the package instead: `import { SudoSpawner } from "ts-sudospawner";`
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { SudoSpawner, isSudoSpawnerError, type HubLogger, type SudoSpawnerState } from "../src/index.js";

interface Settings {
  user: string;
  mediator: string;
  port: number;
  ip: string;
  stateFile: string;
  sudo: string;
  logLevel: string;
  pollMs: number;
  keep: boolean;
  maxRestarts: number;
}

function readSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      user: { type: "string" },
      mediator: { type: "string", default: "/opt/ts-sudospawner/bin/ts-sudospawner" },
      port: { type: "string", default: "8890" },
      ip: { type: "string", default: "127.0.0.1" },
      state: { type: "string" },
      sudo: { type: "string", default: "sudo" },
      "log-level": { type: "string", default: "INFO" },
      "poll-interval": { type: "string", default: "5" },
      "max-restarts": { type: "string", default: "3" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.user) {
    process.stdout.write(
      "usage: custom-spawner --user USER [--mediator PATH] [--port N] [--ip ADDR] [--state FILE] [--sudo sudo|doas|dzdo]\n" +
        "                      [--log-level LEVEL] [--poll-interval SECONDS] [--max-restarts N] [--keep]\n",
    );
    process.exit(values.help ? 0 : 2);
  }
  return {
    user: values.user,
    mediator: values.mediator as string,
    port: Number(values.port),
    ip: values.ip as string,
    stateFile: values.state ?? path.join(os.homedir(), `.custom-spawner-${values.user}.json`),
    sudo: values.sudo as string,
    logLevel: values["log-level"] as string,
    pollMs: Number(values["poll-interval"]) * 1000,
    keep: values.keep as boolean,
    maxRestarts: Number(values["max-restarts"]),
  };
}

/** Timestamped lines on stderr; the relayed mediator and server lines arrive here too. */
function consoleLogger(): HubLogger {
  const line = (level: string) => (message: string) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  return { debug: () => undefined, info: line("INFO "), warn: line("WARN "), error: line("ERROR") };
}

/** The state file holds exactly what getState() returns; written atomically so a crash cannot corrupt it. */
function saveState(file: string, state: SudoSpawnerState): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(temporary, file);
}

function loadSavedState(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const settings = readSettings(process.argv.slice(2));
  const log = consoleLogger();
  const spawner = new SudoSpawner({
    user: settings.user,
    mediatorPath: settings.mediator,
    sudo: settings.sudo,
    logLevel: settings.logLevel,
    timeoutMs: 30_000,
    logger: log,
  });

  // Shutdown: abort a start in flight, then stop the server (or keep it, for the next run).
  const shutdown = new AbortController();
  let stopping: Promise<number> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    stopping ??= (async () => {
      log.info(`${signal}: shutting down`);
      shutdown.abort(new Error(signal));
      if (settings.keep) {
        saveState(settings.stateFile, spawner.getState());
        log.info(`leaving the server of ${settings.user} running (state in ${settings.stateFile})`);
        return 0;
      }
      try {
        await spawner.stop();
        fs.rmSync(settings.stateFile, { force: true });
        log.info(`server of ${settings.user} stopped`);
        return 0;
      } catch (error) {
        log.error(`could not stop the server: ${String(error)}`);
        return 1;
      }
    })();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // A restarted hub: the saved pid tells whether our server is still there.
  try {
    spawner.loadState(loadSavedState(settings.stateFile) ?? {});
  } catch (error) {
    log.warn(`ignoring the state file ${settings.stateFile}: ${String(error)}`);
  }
  if ((await spawner.poll()) === null) {
    log.info(`found the server of ${settings.user} still running as pid ${spawner.pid}`);
  }

  let restarts = 0;
  while (!shutdown.signal.aborted) {
    if ((await spawner.poll()) !== null) {
      if (restarts > settings.maxRestarts) {
        log.error(`the server of ${settings.user} keeps exiting; giving up after ${settings.maxRestarts} restarts`);
        return 1;
      }
      if (restarts > 0) log.warn(`the server of ${settings.user} exited; restarting (${restarts}/${settings.maxRestarts})`);
      restarts++;
      try {
        const { pid } = await spawner.start({
          args: [`--port=${settings.port}`, `--ip=${settings.ip}`],
          env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: process.env.LANG ?? "C.UTF-8" },
          signal: shutdown.signal,
        });
        saveState(settings.stateFile, spawner.getState());
        log.info(`server of ${settings.user} running as pid ${pid} on http://${settings.ip}:${settings.port}/`);
      } catch (error) {
        if (isSudoSpawnerError(error) && error.code === "ABORTED") break;
        // SUDO and MEDIATOR errors are configuration problems: the message says what to fix.
        log.error(isSudoSpawnerError(error) ? `${error.code}: ${error.message}` : String(error));
        if (isSudoSpawnerError(error) && error.code === "SUDO") return 1;
      }
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        shutdown.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, settings.pollMs);
      shutdown.signal.addEventListener("abort", done, { once: true });
    });
  }
  return stopping ? await stopping : 0;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`custom-spawner: ${String(error)}\n`);
    process.exit(1);
  },
);
