/**
 * Browser navigations for JupyterHub's HTML pages (the login form, /hub/spawn), on the host and
 * inside the VM tier's guest alike. Not fetch(): undici always sends `Sec-Fetch-Mode: cors`, and
 * JupyterHub >= 4.1 then never sets the _xsrf cookie on the login page. The form's token is then
 * compared with a token signed anew at the POST, which matches only when the POST comes within the
 * same second as the GET: an intermittent 403 for the right password.
 */
import http from "node:http";

export interface PageResponse {
  status: number;
  location: string | undefined;
  setCookie: string[];
  body: string;
}

/**
 * A GET, or a form POST when `form` is given, with the headers a browser sends on a navigation. A
 * connection of its own each time (agent: false): a kept-alive socket the peer already closed is
 * never reused.
 */
export function navigate(url: string, options: { cookie?: string; form?: string } = {}): Promise<PageResponse> {
  const headers: Record<string, string> = { "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin", "user-agent": "tsss-tests" };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.form !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers["content-length"] = String(Buffer.byteLength(options.form));
  }
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.form === undefined ? "GET" : "POST", headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          location: response.headers.location,
          setCookie: response.headers["set-cookie"] ?? [],
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(options.form);
  });
}

/** The cookies a browser keeps between navigations (name=value only; paths and expiry ignored). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Remember the response's Set-Cookie lines; returns the response. */
  keep(response: PageResponse): PageResponse {
    for (const line of response.setCookie) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/** The login form's POST body: the page's _xsrf field (HTML-unescaped) with the credentials. */
export function loginFormFields(loginPage: string, username: string, password: string): string {
  const form = new URLSearchParams({ username, password });
  const xsrf = /name="_xsrf"\s+value="([^"]*)"/.exec(loginPage)?.[1];
  if (xsrf !== undefined) form.set("_xsrf", xsrf.replace(/&#124;/g, "|").replace(/&amp;/g, "&"));
  return form.toString();
}
