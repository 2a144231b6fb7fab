/**
 * The one error type of ts-sudospawner. Every failure that reaches a user, an admin or the hub
 * carries a stable `code` (for programs and docs) and a message that says what to do next.
 */
export const ERROR_CODES = [
  "USAGE", // bad arguments or options from the caller (command line, client options)
  "BAD_REQUEST", // stdin is not a valid request (JSON shape, types, bounds)
  "REQUEST_TOO_LARGE", // stdin exceeded the size bound
  "REQUEST_TIMEOUT", // stdin was not closed in time
  "FORBIDDEN_USER", // running as root or a system account
  "UNSAFE_PATH", // an executable or directory is owned/writable by someone untrusted
  "NOT_FOUND", // executable, home directory or config missing
  "SPAWN_FAILED", // fork/exec/chdir failed, or the server exited during the grace period
  "PROC_UNREADABLE", // /proc cannot be read, so a pid cannot be told to be ours
  "ALREADY_RUNNING", // a server is already running where a new one was asked for
  "BAD_STATE", // persisted spawner state (from the hub's database) is invalid
  "NATIVE", // the native addon or reaper is missing or broken
  "POLICY", // the root-owned policy file is unsafe or invalid
  "SUDO", // sudo refused, asked for a password, or could not run the mediator
  "SUDOERS", // visudo rejected a generated rule, or the sudo configuration fails `visudo -c` (admin `sudoers`)
  "FILE_WRITE", // an admin command could not write, rename or remove a file it installs or was told to write
  "MEDIATOR", // the mediator answered with an error or garbage
  "DISABLED", // the request needs a mode the site policy does not turn on (Slurm mode)
  "NOT_OURS", // a Slurm job that is not a server this mediator submitted for this user
  "SLURM", // sbatch, squeue or scancel refused or printed something unexpected (Slurm answered)
  "SLURM_UNAVAILABLE", // Slurm's controller did not answer (down, unreachable, timed out): an outage, not a refusal
  "HUB_API", // a hub's REST API could not be reached, refused the token, or answered unexpectedly (admin `ps`)
  "NO_USER_MANAGER", // the policy caps servers in cgroups, but this user's systemd manager is not running and could not be started
  "TIMEOUT", // an operation took too long
  "ABORTED", // the caller aborted
  "INTERNAL", // a bug: please report
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SudoSpawnerError extends Error {
  override readonly name = "SudoSpawnerError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** By shape, not instanceof: the admin commands live in a bundle of their own with its own class. */
export function isSudoSpawnerError(value: unknown): value is SudoSpawnerError {
  return (
    value instanceof Error &&
    value.name === "SudoSpawnerError" &&
    (ERROR_CODES as readonly unknown[]).includes((value as { code?: unknown }).code)
  );
}

/** Message of any thrown value, without a stack trace. */
export function errorMessage(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}

/** errno code (e.g. "ENOENT") of a Node system error, if it is one. */
export function errnoCode(value: unknown): string | undefined {
  if (typeof value === "object" && value !== null && "code" in value) {
    const code = (value as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}
