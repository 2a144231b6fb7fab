/**
 * Entry point of the `ts-sudospawner` command (bundled to dist/cli.cjs).
 * Mediator mode unless the first argument names an admin command. Admin commands are refused
 * when this process was started through sudo by a non-root user as a non-root user: that is the
 * hub's rule, and the hub's argv may only choose the log level. Root acting as the hub
 * (`sudo -u HUB ts-sudospawner check`) is an admin, not the hub's rule: sudo sets SUDO_UID itself
 * from the caller's real uid, so the hub cannot claim to be root.
 *
 * This file decides the mode and holds little else: every start of Node compiles it whole, and
 * --help or --version (an admin checking the sudo rule) needs none of the mediator's code.
 */
import { join } from "node:path";
import { SudoSpawnerError, errorMessage, isSudoSpawnerError } from "./errors.js";
import { parseMediatorArgs } from "./mediator/args.js";
import { modeText } from "./mediator/help.js";
import { writeAllSync } from "./system/write-all.js";

export const ADMIN_COMMANDS = ["sudoers", "check", "ps", "linger-rule", "user-cap"] as const;

function selfPath(): string {
  // The bundle is CommonJS, where __filename is this file, resolved through any symlink.
  return typeof __filename === "string" ? __filename : (process.argv[1] ?? "");
}

/**
 * The admin commands and commander are bundled on their own (dist/admin.cjs, next to this file),
 * so the mediator, started for every hub action, never reads or compiles them.
 */
function loadAdmin(): typeof import("./admin/cli.js") {
  return require(join(__dirname, "admin.cjs")) as typeof import("./admin/cli.js");
}

/** The mediator is bundled on its own as well (dist/mediator.cjs), loaded for a request only. */
function loadMediator(): typeof import("./mediator/main.js") {
  return require(join(__dirname, "mediator.cjs")) as typeof import("./mediator/main.js");
}

/** --help or --version: its text, written without loading the mediator; undefined otherwise. */
function helpOrVersion(argv: readonly string[]): string | undefined {
  try {
    return modeText(parseMediatorArgs(argv).mode);
  } catch {
    return undefined; // bad arguments: the mediator answers them (in JSON, for the hub)
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const command = argv[0];
  if (command !== undefined && (ADMIN_COMMANDS as readonly string[]).includes(command)) {
    const caller = process.env.SUDO_UID;
    if (caller !== undefined && caller !== "0" && process.getuid?.() !== 0) {
      const refusal = new SudoSpawnerError(
        "USAGE",
        `admin command ${JSON.stringify(command)} refused: it was started through sudo by uid ${caller} as a non-root user, which is how the hub's rule runs the mediator. Run it as root, as root through \`sudo -u HUB\`, or as the hub user directly`,
      );
      // The hub's rule: the caller reads one JSON answer on stdout, as for any refusal of the mediator's.
      writeAllSync(1, `${JSON.stringify({ ok: false, error: refusal.message })}\n`);
      throw refusal;
    }
    return loadAdmin().runAdminCli(argv, { selfPath: selfPath(), invokedPath: process.argv[1] });
  }
  const text = helpOrVersion(argv);
  if (text !== undefined) {
    writeAllSync(1, text);
    return 0;
  }
  return loadMediator().runMediator(argv, { selfPath: selfPath(), invokedPath: process.argv[1] });
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`ts-sudospawner: ${errorMessage(error)}\n`);
    process.exit(isSudoSpawnerError(error) && error.code === "USAGE" ? 2 : 1);
  },
);
