import { describe, expect, it } from "vitest";
import { applyEnvPolicy } from "../../../../src/mediator/env-policy.js";
import { ENV_VOCABULARY, judgeVariable } from "../../../../src/mediator/vocabulary/environment.js";

const alice = { name: "alice", home: "/home/alice", shell: "/bin/bash" };
const none = new Set<string>();

/** What JupyterHub 6.1's Spawner.get_env() sends for a default user server (LocalProcessSpawner adds USER, HOME, SHELL). */
const JUPYTERHUB_6 = {
  JUPYTERHUB_SINGLEUSER_APP: "jupyter_server.serverapp.ServerApp",
  JUPYTERHUB_API_TOKEN: "0b1f2c3d4e5f60718293a4b5c6d7e8f9",
  JPY_API_TOKEN: "0b1f2c3d4e5f60718293a4b5c6d7e8f9",
  JUPYTERHUB_CLIENT_ID: "jupyterhub-user-J%C3%B6rg.M%C3%BCller",
  JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED: "0",
  JUPYTERHUB_HOST: "",
  JUPYTERHUB_OAUTH_CALLBACK_URL: "/user/J%C3%B6rg.M%C3%BCller/oauth_callback",
  JUPYTERHUB_OAUTH_SCOPES: '["access:servers!server=Jörg.Müller/", "access:servers!user=Jörg.Müller"]',
  JUPYTERHUB_OAUTH_ACCESS_SCOPES: '["access:servers!server=Jörg.Müller/", "access:servers!user=Jörg.Müller"]',
  JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: "[]",
  JUPYTERHUB_USER: "Jörg.Müller",
  JUPYTERHUB_SERVER_NAME: "",
  JUPYTERHUB_API_URL: "http://127.0.0.1:8081/hub/api",
  JUPYTERHUB_ACTIVITY_URL: "http://127.0.0.1:8081/hub/api/users/J%C3%B6rg.M%C3%BCller/activity",
  JUPYTERHUB_BASE_URL: "/",
  JUPYTERHUB_SERVICE_PREFIX: "/user/J%C3%B6rg.M%C3%BCller/",
  JUPYTERHUB_SERVICE_URL: "http://127.0.0.1:41234/user/J%C3%B6rg.M%C3%BCller/",
  JUPYTERHUB_PUBLIC_URL: "",
  JUPYTERHUB_PUBLIC_HUB_URL: "",
  JUPYTERHUB_ROOT_DIR: "~/work",
  JUPYTERHUB_DEFAULT_URL: "/lab",
  JUPYTERHUB_DEBUG: "1",
  JUPYTERHUB_DISABLE_USER_CONFIG: "1",
  MEM_LIMIT: "1073741824",
  CPU_LIMIT: "1.5",
  USER: "Jörg.Müller",
  HOME: "/home/jorg",
  SHELL: "/bin/bash",
};

/** JupyterHub 3.0 (Debian) also keeps the hub's PATH, locale and conda variables (Spawner.env_keep), and binds "" as http://:PORT/. */
const JUPYTERHUB_3 = {
  ...JUPYTERHUB_6,
  JUPYTERHUB_SERVICE_URL: "http://:41234/user/alice/",
  JUPYTERHUB_COOKIE_OPTIONS: '{"secure": true, "expires_days": 7}',
  PATH: "/usr/bin:/bin",
  LANG: "C.UTF-8",
  LC_ALL: "de_DE.UTF-8",
};

describe("the environment vocabulary", () => {
  it.each([["6.x", JUPYTERHUB_6], ["3.0", JUPYTERHUB_3]])("passes what JupyterHub %s sends, with nothing dropped", (_version, sent) => {
    const { env, dropped } = applyEnvPolicy(sent, alice);
    expect(dropped).toEqual([]);
    for (const [name, value] of Object.entries(sent)) {
      if (!["USER", "HOME", "SHELL", "PATH"].includes(name)) expect(env[name]).toBe(value);
    }
  });

  it.each([
    ["JUPYTERHUB_SINGLEUSER_APP", "hubowned.module.App", /one of "", "extension"/],
    ["JUPYTERHUB_SINGLEUSER_APP", "notebook.notebookapp.NotebookApp2", /one of/],
    ["JUPYTERHUB_SERVICE_URL", "file:///home/hub/x", /an http\(s\) URL/],
    ["JUPYTERHUB_API_URL", "http://hub/api\nX-Injected: 1", /an http\(s\) URL/],
    ["JUPYTERHUB_SERVICE_PREFIX", "//evil.example/", /a URL path/],
    ["JUPYTERHUB_DEFAULT_URL", "https://evil.example/", /a URL path/],
    ["JUPYTERHUB_BASE_URL", "relative/", /a URL path/],
    ["JUPYTERHUB_API_TOKEN", "has space", /a token/],
    ["JUPYTERHUB_API_TOKEN", "x".repeat(1025), /a token/],
    ["JUPYTERHUB_USER", "alice\u001b[2J", /one line of text/],
    ["JUPYTERHUB_DEBUG", "maybe", /a boolean/],
    ["JUPYTERHUB_COOKIE_OPTIONS", '{"a": {"nested": 1}}', /a JSON object/],
    ["JUPYTERHUB_OAUTH_SCOPES", '"not a list"', /a JSON list/],
    ["MEM_LIMIT", "1G", /a non-negative integer/],
    ["CPU_LIMIT", "one", /a number/],
    ["TZ", "/home/hub/zoneinfo", /a time zone name/],
    ["TZ", ":../../home/hub/tz", /a time zone name/],
    ["TZ", "Europe/../../../home/hub/tz", /a time zone name/],
    ["LANG", "/home/hub/locale", /a locale name/],
    ["LC_CTYPE", "../../home/hub/x", /a locale name/],
    ["LANGUAGE", "de:/home/hub/x", /locale names separated/],
    ["JUPYTERHUB_ROOT_DIR", "", /a directory path/],
  ])("refuses %s=%j, naming the type its value must have", (name, value, why) => {
    const verdict = judgeVariable(name, value, {}, none);
    expect(verdict.verdict).toBe("refuse");
    expect(verdict.verdict === "refuse" && verdict.reason).toMatch(why);
    expect(() => applyEnvPolicy({ [name]: value }, alice)).toThrow(new RegExp(`^environment variable ${name} refused: its value must be `));
  });

  it.each([["TZ", "Europe/Berlin"], ["TZ", "UTC"], ["TZ", "Etc/GMT+5"], ["LANG", "en_US.UTF-8"], ["LC_ALL", "C"], ["LC_MESSAGES", "sr_RS@latin"], ["LANGUAGE", "de_DE:en"], ["JUPYTERHUB_SERVICE_URL", "https://[::1]:8443/user/a/"]])(
    "passes %s=%j",
    (name, value) => {
      expect(judgeVariable(name, value, {}, none)).toEqual({ verdict: "pass" });
    },
  );

  it("lets the mediator alone set JUPYTERHUB_SSL_*: dropped without a tls request, replaced silently with one", () => {
    const sent = { JUPYTERHUB_SSL_KEYFILE: "/home/hub/key.pem", JUPYTERHUB_SSL_CERTFILE: "/home/hub/c.pem", JUPYTERHUB_SSL_CLIENT_CA: "/home/hub/ca.pem" };
    const without = applyEnvPolicy(sent, alice, { allowPatterns: ["JUPYTERHUB_SSL_*"] });
    expect(without.dropped.map(({ name }) => name)).toEqual(Object.keys(sent));
    expect(without.dropped[0]?.reason).toBe('set by the mediator alone, from a spawn request\'s "tls" files');
    const withTls = applyEnvPolicy(sent, alice, {}, { tls: true });
    expect(withTls.dropped).toEqual([]);
    expect(withTls.env.JUPYTERHUB_SSL_KEYFILE).toBeUndefined();
  });

  it("drops a variable that sets what the launch profile fixes, and says so", () => {
    const { env, dropped } = applyEnvPolicy({ JUPYTERHUB_DEFAULT_URL: "/tree", JUPYTERHUB_DEBUG: "1", JUPYTERHUB_USER: "alice" }, alice, {}, { fixed: new Set(["default_url", "log_level"]) });
    expect(env.JUPYTERHUB_USER).toBe("alice");
    expect(dropped).toEqual([
      { name: "JUPYTERHUB_DEFAULT_URL", reason: "the launch profile fixes default_url" },
      { name: "JUPYTERHUB_DEBUG", reason: "the launch profile fixes log_level" },
    ]);
  });

  it("keeps the types of vocabulary names that a site pattern also admits", () => {
    expect(judgeVariable("JUPYTERHUB_SINGLEUSER_APP", "hub.App", { allowPatterns: ["JUPYTERHUB_*"] }, none).verdict).toBe("refuse");
    expect(judgeVariable("JUPYTERHUB_NEW_THING", "anything", { allowPatterns: ["JUPYTERHUB_*"] }, none)).toEqual({ verdict: "pass" });
    expect(judgeVariable("JUPYTERHUB_NEW_THING", "anything", {}, none).verdict).toBe("drop");
  });

  it("holds no family: every name is written out", () => {
    expect(Object.keys(ENV_VOCABULARY).every((name) => /^[A-Z_]+$/.test(name))).toBe(true);
    expect(Object.keys(ENV_VOCABULARY)).not.toContain("JUPYTERHUB_SSL_KEYFILE");
  });
});
