/**
 * `ts-sudospawner ps`: every server the mediator started on this host (root only: other users'
 * environments are root's to read), optionally judged against a hub's REST API and, with
 * --stop-orphans, the ones no hub knows stopped. Exit status: 0, or 1 when a stop failed.
 */
import fs from "node:fs";
import { SudoSpawnerError, errorMessage } from "../../errors.js";
import type { AdminIO } from "../io.js";
import { fetchHubView, hubApiBase, hubVerdict } from "./hub.js";
import { formatPsJson, formatPsTable, serverLabel, type PsRow } from "./report.js";
import { findMarkedServers } from "./servers.js";
import { stopServer, type StopDeps } from "./stop.js";

export const TOKEN_ENV = "JUPYTERHUB_API_TOKEN";

export interface PsRequest {
  hubUrl?: string;
  tokenFile?: string;
  stopOrphans: boolean;
  json: boolean;
  /** The mediator the kill requests go through (default: the path this command was started by). */
  mediator: string | undefined;
  /** Tests shorten the waits. */
  stop?: Partial<Pick<StopDeps, "termMs" | "killMs">>;
}

/** The token: from the file when one is named, else from the environment; never from argv. */
export function readToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  let token: string | undefined;
  if (tokenFile !== undefined) {
    try {
      token = fs.readFileSync(tokenFile, "utf8").trim();
    } catch (error) {
      throw new SudoSpawnerError("USAGE", `cannot read the token file ${tokenFile}: ${errorMessage(error)}`);
    }
  } else {
    token = env[TOKEN_ENV]?.trim();
  }
  if (token === undefined || token === "") {
    throw new SudoSpawnerError("USAGE", `--hub-url needs a token: --token-file FILE (one line), or ${TOKEN_ENV} in the environment`);
  }
  if (/\s/.test(token)) throw new SudoSpawnerError("USAGE", "the token has white space inside it: give the token alone");
  return token;
}

export async function runPs(request: PsRequest, io: AdminIO): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new SudoSpawnerError("USAGE", "ps must run as root: only root can read other users' process environments, where the mediator's mark is");
  }
  if (request.stopOrphans && request.hubUrl === undefined) {
    throw new SudoSpawnerError("USAGE", "--stop-orphans needs --hub-url: an orphan is a server no hub knows, so the hub must be asked");
  }
  // Ask the hub first: a bad URL or token stops here, before anything is listed as orphaned.
  const hub = request.hubUrl === undefined ? undefined : { base: hubApiBase(request.hubUrl), token: readToken(request.tokenFile) };
  const view = hub === undefined ? undefined : await fetchHubView(hub.base, hub.token);
  const rows: PsRow[] = findMarkedServers().map((server) => (view === undefined ? { server } : { server, hub: hubVerdict(server, view) }));
  let failed = 0;
  if (request.stopOrphans && hub !== undefined) {
    if (request.mediator === undefined) throw new SudoSpawnerError("USAGE", "no mediator path: pass --mediator /PREFIX/bin/ts-sudospawner");
    // Asked again after the scan: a start that ended between the first answer and the scan now
    // holds its pid. A server is stopped only when both answers call it an orphan.
    const again = rows.some((row) => row.hub === "orphan") ? await fetchHubView(hub.base, hub.token) : undefined;
    for (const row of rows) {
      if (row.hub === "orphan" && again !== undefined) row.hub = hubVerdict(row.server, again);
      if (row.hub !== "orphan") continue;
      if (!request.json) io.err(`stopping pid ${row.server.pid} (${row.server.user}, server ${serverLabel(row.server.server)}), which no hub knows\n`);
      row.stop = await stopServer(row.server, { mediator: request.mediator, ...request.stop });
      if (!row.stop.stopped) failed++;
    }
  }
  io.out(request.json ? formatPsJson(rows) : formatPsTable(rows, { hub: view !== undefined }));
  return failed > 0 ? 1 : 0;
}
