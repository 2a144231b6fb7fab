import { describe, expect, it } from "vitest";
import { ADDRESS, HTTP_URL, JSON_OBJECT, LOCALE, PORT, TIME_ZONE, URL_PATH } from "../../../../src/mediator/vocabulary/values.js";

describe("value types", () => {
  it.each([
    [PORT, ["1", "8888", "65535"], ["0", "65536", "08888", "+1", "1e3", " 1", ""]],
    [ADDRESS, ["", "127.0.0.1", "0.0.0.0", "::", "::1", "fe80::1", "2001:db8::8:800:200c:417a", "::ffff:192.0.2.1", "localhost", "node-1.cluster"], ["256.1.1.1", "1.2.3", "::1::", "fe80::1%eth0", "host name", "a;b", "-x"]],
    [URL_PATH, ["/", "/lab", "/user/J%C3%B6rg/", "/lab?reset"], ["", "lab", "//evil", "/\\evil", "http://x/", "/a b", "/a\nb"]],
    [HTTP_URL, ["http://127.0.0.1:8081/hub/api", "https://hub.example.org/", "http://:8888/user/a/", "http://[::1]:8081/"], ["ftp://x/", "http:/x", "javascript:alert(1)", "http://x/ y", "http://x:99999999/"]],
    [JSON_OBJECT, ['{"secure": true, "n": 1, "s": "x", "z": null}', "{}"], ["[]", '{"a": {}}', '{"a": [1]}', "nope"]],
    [LOCALE, ["", "C", "POSIX", "C.UTF-8", "en_US.UTF-8", "sr_RS@latin", "de_DE.ISO-8859-1"], ["/usr/lib/locale/x", "../x", "en US", "x".repeat(101)]],
    [TIME_ZONE, ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"], ["/etc/localtime", ":Europe/Berlin", "Europe/../../x", "Europe//Berlin", "a/b/c/d/e"]],
  ])("%o accepts its values and nothing else", (type, good, bad) => {
    for (const value of good) expect(type.accepts(value), `${type.name}: ${JSON.stringify(value)}`).toBe(true);
    for (const value of bad) expect(type.accepts(value), `${type.name}: ${JSON.stringify(value)}`).toBe(false);
  });
});
