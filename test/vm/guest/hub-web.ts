/**
 * The guest's web side of JupyterHub (the VM's JupyterHub and directory-service parts): the admin
 * service's REST calls, a browser's navigations with its cookies, and a token's GET on a server.
 */
import fs from "node:fs";
import { CookieJar, loginFormFields, navigate, type PageResponse } from "../../helpers/hub/navigate.js";
import { JHUB, type JupyterHubSecrets } from "./names.js";
import { fetchRetryingStale, waitFor } from "./observe.js";

/** The site's admin service token and its local users' passwords (root-only, laid by the host). */
export const jupyterHubSecrets = JSON.parse(fs.readFileSync(JHUB.secrets, "utf8")) as JupyterHubSecrets;
const admin = { Authorization: `token ${jupyterHubSecrets.adminToken}` };

/** A browser's path through the hub's pages: navigations with its cookies (test/helpers/hub/navigate.ts). */
export class Browser {
  private readonly jar = new CookieJar();

  async open(pathname: string): Promise<PageResponse> {
    return this.jar.keep(await navigate(`${JHUB.base}${pathname}`, { cookie: this.jar.header() }));
  }

  /** The login form as a browser submits it: GET for the form's _xsrf (and its cookie), POST with it. */
  async logIn(user: string, password: string): Promise<{ formStatus: number; status: number; location: string | null }> {
    const form = await this.open("/hub/login");
    if (!form.body.includes('name="_xsrf"')) throw new Error(`the login page has no _xsrf field (HTTP ${form.status})`);
    const response = this.jar.keep(await navigate(`${JHUB.base}/hub/login`, { cookie: this.jar.header(), form: loginFormFields(form.body, user, password) }));
    return { formStatus: form.status, status: response.status, location: response.location ?? null };
  }
}

export async function hubApi(pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetchRetryingStale(`${JHUB.base}/hub/api${pathname}`, { ...init, headers: { ...admin, ...(init.headers as Record<string, string>) } });
}

export interface ServerModel {
  ready: boolean;
  pending: string | null;
  state?: { pid?: number };
}

export async function serverOf(user: string): Promise<ServerModel | undefined> {
  const response = await hubApi(`/users/${user}`);
  if (!response.ok) throw new Error(`GET /hub/api/users/${user}: HTTP ${response.status}`);
  return ((await response.json()) as { servers?: Record<string, ServerModel> }).servers?.[""];
}

export async function hubAnswers(): Promise<true | undefined> {
  try {
    return (await fetchRetryingStale(`${JHUB.base}/hub/api/`)).ok ? true : undefined;
  } catch {
    return undefined;
  }
}

/** GET a path of the user's server through the proxy with a token; the HTTP status. */
export async function serverGet(user: string, token: string, pathname: string): Promise<number> {
  const response = await fetchRetryingStale(`${JHUB.base}/user/${user}${pathname}`, { headers: { Authorization: `token ${token}` }, redirect: "manual" });
  await response.arrayBuffer();
  return response.status;
}

/** A token of `user`'s own, made through the admin service (an hour). */
export async function userToken(user: string): Promise<string> {
  const response = await hubApi(`/users/${user}/tokens`, { method: "POST", body: JSON.stringify({ note: "tsss-vm", expires_in: 3600 }) });
  if (!response.ok) throw new Error(`POST /hub/api/users/${user}/tokens: HTTP ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/** A kernel started on `user`'s server with their token: the HTTP status and its channels' URL. */
export async function startKernel(user: string, token: string): Promise<{ status: number; channels: string }> {
  const response = await fetchRetryingStale(`${JHUB.base}/user/${user}/api/kernels`, { method: "POST", headers: { Authorization: `token ${token}` }, body: "{}" });
  const kernel = ((await response.json()) as { id: string }).id;
  return { status: response.status, channels: `${JHUB.base.replace("http", "ws")}/user/${user}/api/kernels/${kernel}/channels` };
}

/** `user`'s default server once the hub says it is ready. */
export function serverReady(user: string, ms: number): Promise<ServerModel> {
  return waitFor(`${user}'s server to be ready`, async () => {
    const server = await serverOf(user);
    return server?.ready ? server : undefined;
  }, ms);
}

/** Until the hub no longer has a default server for `user` (after a DELETE of it). */
export async function serverGone(user: string, ms: number): Promise<void> {
  await waitFor(`${user}'s server to stop`, async () => ((await serverOf(user)) === undefined ? true : undefined), ms);
}
