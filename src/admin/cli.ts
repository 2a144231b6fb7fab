/**
 * The admin commands, `ts-sudospawner sudoers`, `linger-rule`, `user-cap`, `check` and `ps`: argument
 * parsing only; the work is in sudoers/, linger/, slice/, check/ and ps/. Bad arguments become USAGE errors (exit 2 in src/cli.ts).
 */
import path from "node:path";
import { Command, CommanderError } from "commander";
import { SudoSpawnerError } from "../errors.js";
import { runCheck } from "./check/run.js";
import { runPs, TOKEN_ENV } from "./ps/command.js";
import { exitStatus, formatJson, formatTable } from "./check/report.js";
import { stdio, type AdminIO } from "./io.js";
import { runLingerRule } from "./linger/command.js";
import { runUserCap } from "./slice/command.js";
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
  venv?: string;
}

interface CheckOptions {
  hubUser: string;
  user: string;
  mediator?: string;
  spawn?: boolean;
  json?: boolean;
  unit?: string;
  venv?: string;
}

interface PsOptions {
  hubUrl?: string;
  tokenFile?: string;
  stopOrphans?: boolean;
  json?: boolean;
  mediator?: string;
}

const PS_HELP = `
Lists every single-user server the mediator started on this host (it carries the mediator's mark):
user, server name, pid, start time, and its cgroup's memory.current and cpu.stat usage_usec where the
host has cgroup v2 ("-" on a cgroup v1 host). Local servers only: Slurm jobs are not listed
(squeue --comment shows them), nor servers of the Python sudospawner (no mark).

With --hub-url and a token (--token-file FILE, or ${TOKEN_ENV} in the environment; never on the
command line), each server is "known" when a server of that hub holds its pid in its state, else
"orphan". The token needs the scopes list:users, read:users, read:servers and admin:server_state.
--stop-orphans stops each orphan through the mediator's kill (SIGTERM, SIGKILL after 5 s; its reaper
ends the rest of its tree) and exits 1 if any stop failed.
`;

interface UserCapCliOptions {
  user?: string;
  allUsers?: boolean;
  memoryMax?: string;
  memoryHigh?: string;
  cpuQuota?: string;
  tasksMax?: string;
  install?: boolean;
  remove?: boolean;
}

const USER_CAP_HELP = `
The site policy's "cgroup" section caps each server on its own, in a scope of the user's systemd
manager; user-cap caps the sum of everything a user runs (all their servers, their kernels, their
ssh logins) in systemd's user-UID.slice, which holds all of it. Values are written as in the
policy: bytes as 512, "4G" (K, M, G, T, base 1024) or "infinity"; CPU as "400%" (four CPUs); tasks
as 2048 or "infinity".

Without --install it prints the drop-in (and its path on stderr). --install (root) writes it to
/etc/systemd/system/user-UID.slice.d/50-ts-sudospawner.conf (--all-users: user-.slice.d, which
systemd applies to every user's slice) and runs systemctl daemon-reload, which applies it to a
running slice at once. --remove (root) deletes it and reloads.
`;

function runasFrom(options: SudoersOptions): Runas {
  if ((options.group === undefined) === (options.users === undefined)) {
    throw new SudoSpawnerError("USAGE", "name who the hub may run servers as: either --group GROUP or --users a,b,c");
  }
  if (options.group !== undefined) return { kind: "group", group: validateAccountName(options.group, "group") };
  return { kind: "users", users: parseUserList(options.users as string) };
}

/** `--venv DIR`: an absolute path, normalised (trailing slashes dropped). */
function venvDir(dir: string): string {
  if (!dir.startsWith("/") || dir.includes("\n")) throw new SudoSpawnerError("USAGE", `--venv needs the venv's absolute path, e.g. /opt/jupyterhub (got ${JSON.stringify(dir)})`);
  return path.posix.normalize(dir).replace(/(.)\/+$/, "$1");
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
    .option("--venv <dir>", "the venv JupyterHub runs from: the printed `ln -s` names its bin/jupyterhub-singleuser (default /opt/jupyterhub)")
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
            ...(options.venv === undefined ? {} : { venv: venvDir(options.venv) }),
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
    .command("user-cap")
    .description("print (or install, or remove) a systemd drop-in that caps the sum of all a user runs (their user-UID.slice), beside the policy's per-server caps")
    .option("--user <name>", "the user whose slice to cap")
    .option("--all-users", "cap every user's slice, each on its own (user-.slice.d)")
    .option("--memory-max <bytes>", 'MemoryMax: beyond it the kernel kills a process of the user (e.g. 8G)')
    .option("--memory-high <bytes>", "MemoryHigh: beyond it the user's processes are slowed and their memory reclaimed")
    .option("--cpu-quota <percent>", 'CPUQuota: CPU time of all the user\'s processes together (e.g. 400% for four CPUs)')
    .option("--tasks-max <count>", "TasksMax: processes and threads of the user together (e.g. 2048)")
    .option("--install", "write it root-owned 0644 and run systemctl daemon-reload (root)")
    .option("--remove", "delete the drop-in and run systemctl daemon-reload (root)")
    .addHelpText("after", USER_CAP_HELP)
    .action((options: UserCapCliOptions) => {
      setStatus(
        runUserCap(
          {
            ...(options.user === undefined ? {} : { user: options.user }),
            allUsers: options.allUsers === true,
            caps: {
              ...(options.memoryMax === undefined ? {} : { MemoryMax: options.memoryMax }),
              ...(options.memoryHigh === undefined ? {} : { MemoryHigh: options.memoryHigh }),
              ...(options.cpuQuota === undefined ? {} : { CPUQuota: options.cpuQuota }),
              ...(options.tasksMax === undefined ? {} : { TasksMax: options.tasksMax }),
            },
            install: options.install === true,
            remove: options.remove === true,
          },
          io,
        ),
      );
    });
  program
    .command("check")
    .description("check the sudo rule, the install and what an old sudospawner setup left behind, through real sudo, as root or as the hub user")
    .requiredOption("--hub-user <name>", "the user JupyterHub runs as")
    .requiredOption("--user <name>", "a user who should get servers")
    .option("--mediator <path>", "the mediator path the hub runs (default: the path this command was started by)")
    .option("--unit <file>", "the hub's systemd unit file (default: the unit in systemd's directories whose User= is the hub)")
    .option("--spawn", "also start and stop a real single-user server as the user")
    .option("--venv <dir>", "the venv JupyterHub runs from: the fixes name its bin/jupyterhub-singleuser (default /opt/jupyterhub)")
    .option("--json", "print the results as JSON")
    .action(async (options: CheckOptions) => {
      const report = await runCheck(
        {
          hubUser: options.hubUser,
          user: options.user,
          mediator: options.mediator ?? ctx.invokedPath,
          spawn: options.spawn === true,
          ...(options.unit === undefined ? {} : { unit: options.unit }),
          ...(options.venv === undefined ? {} : { venv: venvDir(options.venv) }),
        },
        io,
      );
      io.out(options.json === true ? formatJson(report) : formatTable(report));
      setStatus(exitStatus(report.rows));
    });
  program
    .command("ps")
    .description("list the servers the mediator started on this host (root); with --hub-url, which ones no hub knows")
    .option("--hub-url <url>", "the hub's address (e.g. http://127.0.0.1:8000; /hub/api is added)")
    .option("--token-file <file>", `a file holding the hub API token (default: ${TOKEN_ENV} from the environment)`)
    .option("--stop-orphans", "stop every server no hub knows (needs --hub-url)")
    .option("--mediator <path>", "the mediator the stops go through (default: the path this command was started by)")
    .option("--json", "print the servers as JSON")
    .addHelpText("after", PS_HELP)
    .action(async (options: PsOptions) => {
      setStatus(
        await runPs(
          {
            stopOrphans: options.stopOrphans === true,
            json: options.json === true,
            mediator: options.mediator ?? ctx.invokedPath,
            ...(options.hubUrl === undefined ? {} : { hubUrl: options.hubUrl }),
            ...(options.tokenFile === undefined ? {} : { tokenFile: options.tokenFile }),
          },
          io,
        ),
      );
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
