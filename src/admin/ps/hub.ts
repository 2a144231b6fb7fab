/**
 * What a hub knows: its REST API's users and their servers (GET /hub/api/users, JupyterHub 3.0 to
 * 6.x), each server's spawner state holding the pid (TsSudoSpawner's get_state: "pid" and
 * "start_time"; the Python SudoSpawner's: "pid"). The answer's shape is judged here (pure); the
 * request is the one effect.
 *
 * The token needs the scopes list:users (the list), read:users and read:servers (each user's
 * servers), and admin:server_state (the "state" of each server; without it the hub leaves
 * "state" out, and every server would look unknown, so that is refused, not guessed).
 */
import { SudoSpawnerError, errorMessage } from "../../errors.js";
import type { MarkedServer } from "./servers.js";

/** A server the hub holds a pid for. */
export interface KnownServer {
  user: string;
  server: string;
  pid: number;
  /** Set by TsSudoSpawner; absent in an older or the Python SudoSpawner's state. */
  startTicks: number | undefined;
}

/**
 * A server the hub is starting: JupyterHub lists it with `pending: "spawn"` before its spawner's
 * state holds a pid (the mediator has started and marked the server, but its answer is not in yet:
 * for a whole grace period, or the Python SudoSpawner's second). The hub's user name is the account
 * the spawner runs it as (sudo -u USER).
 */
export interface PendingSpawn {
  user: string;
  server: string;
}

/** What the hub's GET /users says: the servers it holds a pid for, and the ones it is starting. */
export interface HubView {
  known: KnownServer[];
  pending: PendingSpawn[];
}

/** "starting": no pid in the hub yet, but the hub is starting a server of that user and name; never stopped. */
export type HubVerdict = "known" | "starting" | "orphan";

const PAGE_LIMIT = 200;
/** Pages at most: 10^6 users is beyond any hub; a hub that keeps answering "next" is wrong. */
const MAX_PAGES = 5_000;

/** The API base from --hub-url: "http(s)://HOST[:PORT][/PREFIX]" with or without "/hub/api" (pure). */
export function hubApiBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SudoSpawnerError("USAGE", `--hub-url ${JSON.stringify(url)} is not a URL: give the hub's address, e.g. http://127.0.0.1:8000`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new SudoSpawnerError("USAGE", `--hub-url must be http:// or https://, not ${parsed.protocol}`);
  }
  if (parsed.username !== "" || parsed.password !== "" || parsed.search !== "" || parsed.hash !== "") {
    throw new SudoSpawnerError("USAGE", "--hub-url takes no credentials, query or fragment: the token comes from --token-file or JUPYTERHUB_API_TOKEN");
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  return `${parsed.origin}${path.endsWith("/hub/api") ? path : `${path}/hub/api`}`;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const isPid = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value > 1;

function badAnswer(detail: string): SudoSpawnerError {
  return new SudoSpawnerError("HUB_API", `the hub's GET /users answer is not what JupyterHub 3.0 to 6.x sends: ${detail}`);
}

/** One page of GET /users: the users and the offset of the next page, if any (pure). */
export function usersPage(answer: unknown): { users: unknown[]; next: number | undefined } {
  if (Array.isArray(answer)) return { users: answer, next: undefined }; // no pagination (a hub before 2.0's envelope)
  if (!isRecord(answer) || !Array.isArray(answer.items)) throw badAnswer("neither a list nor {items, _pagination}");
  const pagination = answer._pagination;
  const next = isRecord(pagination) && isRecord(pagination.next) ? pagination.next.offset : undefined;
  if (next !== undefined && !(typeof next === "number" && Number.isInteger(next) && next >= 0)) throw badAnswer("_pagination.next.offset is not an offset");
  return { users: answer.items, next };
}

/** The servers with a pid in their state, and those pending a spawn, from the users of GET /users (pure). */
export function hubView(users: readonly unknown[]): HubView {
  const known: KnownServer[] = [];
  const pending: PendingSpawn[] = [];
  for (const user of users) {
    if (!isRecord(user) || typeof user.name !== "string") throw badAnswer("a user without a name");
    if (user.servers === undefined) throw badAnswer(`user ${JSON.stringify(user.name)} has no "servers": the token lacks the read:servers scope`);
    if (!isRecord(user.servers)) throw badAnswer(`the servers of ${JSON.stringify(user.name)} are not an object`);
    for (const [name, server] of Object.entries(user.servers)) {
      if (!isRecord(server)) throw badAnswer(`server ${JSON.stringify(name)} of ${JSON.stringify(user.name)} is not an object`);
      if (server.state === undefined) {
        throw badAnswer(`server ${JSON.stringify(name)} of ${JSON.stringify(user.name)} has no "state": the token lacks the admin:server_state scope`);
      }
      if (server.pending === "spawn") pending.push({ user: user.name, server: name });
      const state = server.state;
      if (!isRecord(state) || !isPid(state.pid)) continue; // no pid: a Slurm job, or a server not started (yet)
      const start = state.start_time;
      known.push({ user: user.name, server: name, pid: state.pid, startTicks: typeof start === "number" && Number.isInteger(start) ? start : undefined });
    }
  }
  return { known, pending };
}

/**
 * Known when some server of the hub holds this pid (and, where the state keeps one, this start
 * time: a pid reused since is another process); a pid with its start time names one process of
 * this host. Else starting when the hub is starting a server for this account under the name the
 * mark carries (any name, for a server marked without one: the Python SudoSpawner's). Else an
 * orphan (pure).
 */
export function hubVerdict(server: Pick<MarkedServer, "pid" | "startTicks" | "user" | "server">, view: HubView): HubVerdict {
  if (view.known.some((entry) => entry.pid === server.pid && (entry.startTicks === undefined || entry.startTicks === server.startTicks))) return "known";
  const starting = view.pending.some((entry) => entry.user === server.user && (server.server === undefined || entry.server === server.server));
  return starting ? "starting" : "orphan";
}

async function getJson(url: string, token: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `token ${token}`, Accept: "application/jupyterhub-pagination+json" },
      signal: AbortSignal.timeout(30_000),
      redirect: "error",
    });
  } catch (error) {
    throw new SudoSpawnerError("HUB_API", `cannot reach the hub at ${url}: ${errorMessage(error)}; check --hub-url (the hub's address, as its bind_url)`);
  }
  if (response.status === 401 || response.status === 403) {
    throw new SudoSpawnerError(
      "HUB_API",
      `the hub refused the token (HTTP ${response.status}) for ${url}: it needs the scopes list:users, read:users, read:servers and admin:server_state (an admin service, or a role with those scopes)`,
    );
  }
  if (!response.ok) throw new SudoSpawnerError("HUB_API", `the hub answered HTTP ${response.status} for ${url}`);
  try {
    return await response.json();
  } catch (error) {
    throw new SudoSpawnerError("HUB_API", `the hub's answer for ${url} is not JSON: ${errorMessage(error)}`);
  }
}

/** What the hub at `apiBase` knows and is starting, through all pages of GET /users. */
export async function fetchHubView(apiBase: string, token: string): Promise<HubView> {
  const users: unknown[] = [];
  let offset: number | undefined = 0;
  for (let page = 0; offset !== undefined; page++) {
    if (page >= MAX_PAGES) throw badAnswer(`more than ${MAX_PAGES} pages`);
    const answer = usersPage(await getJson(`${apiBase}/users?include_stopped_servers=1&limit=${PAGE_LIMIT}&offset=${offset}`, token));
    users.push(...answer.users);
    offset = answer.next !== undefined && answer.next > offset ? answer.next : undefined;
  }
  return hubView(users);
}
