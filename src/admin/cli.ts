/** Admin commands (placeholder until the admin tools land). */
import { SudoSpawnerError } from "../errors.js";

export interface AdminContext {
  selfPath: string;
  invokedPath: string | undefined;
}

export async function runAdminCli(argv: readonly string[], _ctx: AdminContext): Promise<number> {
  throw new SudoSpawnerError("USAGE", `admin command ${JSON.stringify(argv[0])} is not available yet`);
}
