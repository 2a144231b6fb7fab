/**
 * The value types of what the hub may pass (pure): each names itself for messages and says
 * whether a string is one of its values. Shared by the server arguments and the environment.
 */

export interface ValueType {
  /** For messages: "a port (1-65535)". */
  readonly name: string;
  accepts(value: string): boolean;
}

function type(name: string, accepts: (value: string) => boolean): ValueType {
  return { name, accepts };
}

function matching(name: string, pattern: RegExp, maxLength = 4096): ValueType {
  return type(name, (value) => value.length <= maxLength && pattern.test(value));
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Characters of a URL path, query and fragment (RFC 3986), percent escapes included. */
const URL_CHARS = "A-Za-z0-9\\-._~!$&'()*+,;=:@%/?#";
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function isIpv6(value: string): boolean {
  // Hex groups and colons, at most one "::", optionally an IPv4 tail; a zone is not an address to bind.
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(value) || (value.match(/::/g) ?? []).length > 1) return false;
  const tail = value.includes(".") ? value.slice(value.lastIndexOf(":") + 1) : undefined;
  if (tail !== undefined && !IPV4.test(tail)) return false;
  const groups = (tail === undefined ? value : value.slice(0, value.lastIndexOf(":"))).split(":");
  const max = tail === undefined ? 8 : 6;
  return groups.length <= max && groups.every((group) => /^[0-9A-Fa-f]{0,4}$/.test(group)) && (value.includes("::") || groups.length === max);
}

export const PORT = type("a port (an integer from 1 to 65535)", (value) => /^[1-9]\d{0,4}$/.test(value) && Number(value) <= 65535);

/** Where the server listens: an IP address or a host name, or empty (all interfaces). */
export const ADDRESS = type(
  "an IP address or host name",
  // A name of digits and dots only is a malformed address, not a host name (no top-level domain is numeric).
  (value) => value === "" || IPV4.test(value) || isIpv6(value) || (HOSTNAME.test(value) && !/^[\d.]+$/.test(value)),
);

/** A path on the server's own origin: no scheme, no host, and no "//" that a browser reads as one. */
export const URL_PATH = matching('a URL path ("/..."; no scheme or host)', new RegExp(`^/(?![/\\\\])[${URL_CHARS}]*$`), 2048);

/** http(s) with an optional host (JupyterHub 3 writes "http://:PORT/" when it binds every address). */
export const HTTP_URL = matching(
  "an http(s) URL",
  new RegExp(`^https?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*)(:\\d{1,5})?(/[${URL_CHARS}]*)?$`),
  2048,
);

export const HTTP_URL_OR_EMPTY = type("an http(s) URL, or empty", (value) => value === "" || HTTP_URL.accepts(value));

export const URL_PATH_OR_HTTP_URL = type("a URL path or an http(s) URL", (value) => URL_PATH.accepts(value) || HTTP_URL.accepts(value));

/** An API token: printable ASCII without spaces. */
export const TOKEN = matching("a token (1 to 1024 printable ASCII characters, no spaces)", /^[\x21-\x7e]{1,1024}$/);

/** A name the hub shows or compares (a user, a server, an OAuth client): one line of text. */
export const TEXT = type("one line of text (at most 1024 characters, no control characters)", (value) => value.length <= 1024 && !CONTROL.test(value));

/** What JupyterHub's singleuser reads as a boolean (_bool_env, or a traitlets Bool on the command line). */
export const BOOLEAN = matching("a boolean (0, 1, true, false, yes, no, or empty)", /^(0|1|true|false|yes|no|)$/i, 5);

export const UNSIGNED_INTEGER = matching("a non-negative integer", /^\d{1,19}$/);

export const INTEGER = matching("an integer", /^-?\d{1,19}$/);

export const NUMBER = matching("a number", /^-?\d{1,19}(\.\d{1,19})?([eE][+-]?\d{1,3})?$/);

function parsesAs(value: string, shape: (parsed: unknown) => boolean): boolean {
  try {
    return shape(JSON.parse(value));
  } catch {
    return false;
  }
}

/** JupyterHub's cookie options: a JSON object of plain values. */
export const JSON_OBJECT = type("a JSON object of strings, numbers and booleans", (value) =>
  value.length <= 4096 &&
  parsesAs(value, (parsed) =>
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) &&
    Object.values(parsed).every((item) => item === null || ["string", "number", "boolean"].includes(typeof item)),
  ),
);

/** OAuth scopes: a JSON list of one-line strings. */
export const JSON_TEXT_LIST = type("a JSON list of one-line strings", (value) =>
  value.length <= 65536 && parsesAs(value, (parsed) => Array.isArray(parsed) && parsed.every((item) => typeof item === "string" && TEXT.accepts(item))),
);

/**
 * A locale name as glibc takes it. A name with "/" is read as a file path by glibc, so it is
 * never one: language[_territory][.codeset][@modifier], C or POSIX.
 */
export const LOCALE = matching(
  'a locale name (e.g. "en_US.UTF-8", "C.UTF-8"; no "/")',
  /^((C|POSIX|[A-Za-z]{2,8}(_[A-Za-z0-9]{2,8})?)(\.[A-Za-z0-9_-]{1,32})?(@[A-Za-z0-9_-]{1,32})?)?$/,
  100,
);

/** LANGUAGE: locale names separated by ":". */
export const LOCALE_LIST = type('locale names separated by ":"', (value) => value.length <= 1024 && value.split(":").every((part) => LOCALE.accepts(part)));

/**
 * A time zone by name, looked up under the system's zoneinfo: letters, digits, "_", "+", "-" in at
 * most four "/"-separated parts. No leading "/" or ":", no ".": never a file of the hub's choosing.
 */
export const TIME_ZONE = matching('a time zone name (e.g. "Europe/Berlin", "UTC")', /^[A-Za-z0-9_+-]{1,64}(\/[A-Za-z0-9_+-]{1,64}){0,3}$/, 200);

/** What JupyterHub's singleuser accepts in JUPYTERHUB_SINGLEUSER_APP (3.0 to 6.x): never an import path of the hub's choosing. */
export const SINGLEUSER_APPS: readonly string[] = [
  "",
  "extension",
  "jupyter-server",
  "jupyter_server",
  "jupyter_server.serverapp.ServerApp",
  "jupyverse",
  "notebook",
  "notebook.notebookapp.NotebookApp",
];

export function oneOf(values: readonly string[], caseless = false): ValueType {
  const shown = values.map((value) => JSON.stringify(value)).join(", ");
  const known = new Set(caseless ? values.map((value) => value.toLowerCase()) : values);
  return type(`one of ${shown}`, (value) => known.has(caseless ? value.toLowerCase() : value));
}

export const SINGLEUSER_APP = oneOf(SINGLEUSER_APPS);

/** A directory the server works in; where it leads is checked as the user (root-dir.ts). */
export const DIRECTORY = type("a directory path", (value) => value.length > 0 && value.length <= 4096 && !CONTROL.test(value));

/** A value an admin allowed by name (env.allow): anything but a NUL, which the request already refuses. */
export const ANY_TEXT = type("any text", () => true);

/** A traitlets Bool on the command line ("--SingleUserNotebookApp.disable_user_config=True"). */
export const BOOLEAN_WORD = oneOf(["true", "false", "1", "0"], true);
