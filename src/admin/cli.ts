/**
 * The admin commands, `ts-sudospawner sudoers` and `ts-sudospawner check`: argument parsing only;
 * the work is in sudoers.ts and check.ts. Bad arguments become USAGE errors (exit 2 in src/cli.ts).
 */
import { Command, CommanderError } from "commander";
import { SudoSpawnerError } from "../errors.js";
import { runCheck } from "./check/run.js";
import { exitStatus, formatJson, formatTable } from "./check/report.js";
import { stdio, type AdminIO } from "./io.js";
import { runLingerRule } from "./linger/command.js";
import { runSudoers } from "./sudoers/command.js";
import { parseUserList, validateAccountName, type Runas } from "./sudoers/rule.js";

export interface AdminContext {
  selfPath: string;
  invokedPath: string | undefined;
}

interface SudoersOptions {
  hubUser: string;
  group?: string;
  users?: string;
  mediator?: string;
  mkhomedir?: boolean;
  output?: string;
  install?: boolean;
  file?: string;
}

interface CheckOptions {
  hubUser: string;
  user: string;
  mediator?: string;
  spawn?: boolean;
  json?: boolean;
  unit?: string;
}

function runasFrom(options: SudoersOptions): Runas {
  if ((options.group === undefined) === (options.users === undefined)) {
    throw new SudoSpawnerError("USAGE", "name who the hub may run servers as: either --group GROUP or --users a,b,c");
  }
  if (options.group !== undefined) return { kind: "group", group: validateAccountName(options.group, "group") };
  return { kind: "users", users: parseUserList(options.users as string) };
}

function buildProgram(ctx: AdminContext, io: AdminIO, setStatus: (status: number) => void): Command {
  const program = new Command("ts-sudospawner")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      // Errors are thrown as USAGE and printed once by src/cli.ts.
      outputError: () => undefined,
    });
  program
    .command("sudoers")
    .description("print (or write, or install) the sudoers rule that lets the hub run the mediator as its users, never as root")
    .requiredOption("--hub-user <name>", "the user JupyterHub runs as")
    .option("--group <name>", "the group whose members may get servers")
    .option("--users <list>", "comma-separated users who may get servers (instead of --group)")
    .option("--mediator <path>", "the mediator path the hub runs (default: the path this command was started by)")
    .option("--mkhomedir", "removed: homes are created by pam_mkhomedir in /etc/pam.d/sudo (see the admin guide)")
    .option("--output <file>", "write the validated rule to FILE (mode 0440) instead of printing it")
    .option("--install", "install it as /etc/sudoers.d/ts-sudospawner (root; atomic, validated with visudo; never cuts off users an existing rule serves)")
    .option("--file <name>", "with --install: the file name in /etc/sudoers.d (default ts-sudospawner; letters, digits, _ and -)")
    .action((options: SudoersOptions) => {
      setStatus(
        runSudoers(
          {
            hubUser: options.hubUser,
            runas: runasFrom(options),
            mediator: options.mediator ?? ctx.invokedPath,
            mkhomedir: options.mkhomedir === true,
            install: options.install === true,
            ...(options.output === undefined ? {} : { output: options.output }),
            ...(options.file === undefined ? {} : { file: options.file }),
          },
          io,
        ),
      );
    });
  program
    .command("linger-rule")
    .description("print (or install) the polkit rule that lets members of GROUP enable their own linger, so a never-logged-in user's systemd manager can be started for a capped server (policy \"cgroup\")")
    .requiredOption("--group <name>", "the group whose members may get servers (as in the sudoers rule)")
    .option("--install", `install it as /etc/polkit-1/rules.d/60-ts-sudospawner-linger.rules (root, 0644)`)
    .action((options: { group: string; install?: boolean }) => {
      setStatus(runLingerRule({ group: validateAccountName(options.group, "group"), install: options.install === true }, io));
    });
  program
    .command("check")
    .description("check the sudo rule, the install and what an old sudospawner setup left behind, through real sudo, as root or as the hub user")
    .requiredOption("--hub-user <name>", "the user JupyterHub runs as")
    .requiredOption("--user <name>", "a user who should get servers")
    .option("--mediator <path>", "the mediator path the hub runs (default: the path this command was started by)")
    .option("--unit <file>", "the hub's systemd unit file (default: the unit in systemd's directories whose User= is the hub)")
    .option("--spawn", "also start and stop a real single-user server as the user")
    .option("--json", "print the results as JSON")
    .action(async (options: CheckOptions) => {
      const report = await runCheck(
        {
          hubUser: options.hubUser,
          user: options.user,
          mediator: options.mediator ?? ctx.invokedPath,
          spawn: options.spawn === true,
          ...(options.unit === undefined ? {} : { unit: options.unit }),
        },
        io,
      );
      io.out(options.json === true ? formatJson(report) : formatTable(report));
      setStatus(exitStatus(report.rows));
    });
  return program;
}

export async function runAdminCli(argv: readonly string[], ctx: AdminContext, io: AdminIO = stdio): Promise<number> {
  let status = 0;
  const program = buildProgram(ctx, io, (value) => {
    status = value;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help (and help after an error) exit 0; anything else is a usage error.
      if (error.exitCode === 0) return 0;
      const command = argv[0] ?? "";
      throw new SudoSpawnerError("USAGE", `${error.message.replace(/^error: /, "")} (see \`ts-sudospawner ${command} --help\`)`);
    }
    throw error;
  }
  return status;
}
