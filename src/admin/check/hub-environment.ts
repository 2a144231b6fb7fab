/**
 * The environment a hub sends with a spawn or submit, for the checks that make one (`--spawn`,
 * the Slurm test submission). Placeholders: there is no hub to talk to, but the names and shapes
 * are JupyterHub's, so the mediator's environment policy treats them as it treats a real hub's.
 */
import crypto from "node:crypto";

export function hubEnvironment(user: string, port: number): Record<string, string> {
  const token = crypto.randomBytes(16).toString("hex");
  const prefix = `/user/${encodeURIComponent(user)}/`;
  return {
    JUPYTERHUB_API_TOKEN: token,
    JPY_API_TOKEN: token,
    JUPYTERHUB_CLIENT_ID: `jupyterhub-user-${user}`,
    JUPYTERHUB_API_URL: "http://127.0.0.1:9/hub/api",
    JUPYTERHUB_ACTIVITY_URL: `http://127.0.0.1:9/hub/api/users/${encodeURIComponent(user)}/activity`,
    JUPYTERHUB_BASE_URL: "/",
    JUPYTERHUB_SERVICE_PREFIX: prefix,
    JUPYTERHUB_SERVICE_URL: `http://127.0.0.1:${port}${prefix}`,
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`,
    JUPYTERHUB_USER: user,
    JUPYTERHUB_SERVER_NAME: "",
    JUPYTERHUB_HOST: "",
    PATH: "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
  };
}
