import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TLS_DIR, isEarlierStart, removeAfterOptions, tlsDirectory, tlsServerId, writeTlsFiles } from "../../../../src/mediator/spawn/tls-files.js";

const FILES = { key: "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n", cert: "c", ca: "a" };
const PREFIX = "/user/alice/";

describe("where a start's TLS files go (pure)", () => {
  it("is a fresh directory per start, named by the server's id, never by hub text", () => {
    const id = tlsServerId(PREFIX);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(tlsServerId("/user/alice/other/")).not.toBe(id);
    expect(tlsDirectory("/home/alice", PREFIX, "0123abcd")).toBe(`/home/alice/${TLS_DIR}/${id}-0123abcd`);
  });

  it("knows the directories of earlier starts of the same server, and only those", () => {
    const id = tlsServerId(PREFIX);
    expect(isEarlierStart(`${id}-00ff`, id)).toBe(true);
    expect(isEarlierStart(id, id)).toBe(true); // the one-directory layout of earlier versions
    expect(isEarlierStart(`${tlsServerId("/user/bob/")}-00ff`, id)).toBe(false);
    expect(isEarlierStart(`${id}-`, id)).toBe(false);
    expect(isEarlierStart(`${id}-../x`, id)).toBe(false);
  });

  it("has the reaper remove the files, then their directory", () => {
    expect(removeAfterOptions({ dir: "/h/d", files: ["/h/d/a", "/h/d/b"] })).toEqual(["--remove-after", "/h/d/a", "--remove-after", "/h/d/b", "--remove-after", "/h/d"]);
  });
});

describe("writeTlsFiles (in a temporary home)", () => {
  let home = "";
  const account = () => ({ uid: process.getuid?.() ?? 0, home });
  beforeEach(() => {
    home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tsss-tls-")));
  });
  afterEach(() => {
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("writes 0600 files into a new 0700 directory and points the variables at them", () => {
    const written = writeTlsFiles(account(), PREFIX, FILES);
    expect(written.dir.startsWith(`${home}/${TLS_DIR}/${tlsServerId(PREFIX)}-`)).toBe(true);
    expect(written.files).toEqual(["server.key", "server.crt", "ca.crt"].map((name) => path.join(written.dir, name)));
    expect(written.env).toEqual({ JUPYTERHUB_SSL_KEYFILE: written.files[0], JUPYTERHUB_SSL_CERTFILE: written.files[1], JUPYTERHUB_SSL_CLIENT_CA: written.files[2] });
    expect(fs.statSync(written.dir).mode & 0o777).toBe(0o700);
    for (const file of written.files) expect([fs.lstatSync(file).isFile(), fs.lstatSync(file).mode & 0o777, fs.lstatSync(file).nlink]).toEqual([true, 0o600, 1]);
    expect(fs.readFileSync(written.files[0] as string, "utf8")).toBe(FILES.key);
  });

  it("never writes through what an earlier start left, a planted link included, and removes it; other servers' directories stay", () => {
    const first = writeTlsFiles(account(), PREFIX, FILES);
    const target = path.join(home, "target");
    fs.writeFileSync(target, "untouched\n");
    fs.rmSync(first.files[0] as string);
    fs.symlinkSync(target, first.files[0] as string);
    const oldLayout = path.join(home, TLS_DIR, tlsServerId(PREFIX));
    fs.mkdirSync(oldLayout);
    fs.symlinkSync(target, path.join(oldLayout, "server.key"));
    const other = writeTlsFiles(account(), "/user/bob/", FILES);
    const second = writeTlsFiles(account(), PREFIX, FILES);
    expect(second.removedEarlier.sort()).toEqual([first.dir, oldLayout].sort());
    expect(fs.existsSync(first.dir)).toBe(false);
    expect(fs.existsSync(oldLayout)).toBe(false);
    expect(fs.readFileSync(target, "utf8")).toBe("untouched\n");
    expect(fs.lstatSync(second.files[0] as string).isFile()).toBe(true);
    expect(fs.existsSync(other.dir)).toBe(true);
  });

  it("refuses a link where its directories should be, writing nothing there, and tightens a directory others could enter", () => {
    const elsewhere = path.join(home, "elsewhere");
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(home, ".ts-sudospawner"));
    expect(() => writeTlsFiles(account(), PREFIX, FILES)).toThrow(expect.objectContaining({ code: "UNSAFE_PATH", message: expect.stringContaining(`${home}/.ts-sudospawner is not a directory owned by uid`) }));
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    fs.rmSync(path.join(home, ".ts-sudospawner"));
    fs.mkdirSync(path.join(home, ".ts-sudospawner"), { mode: 0o777 });
    fs.chmodSync(path.join(home, ".ts-sudospawner"), 0o777);
    writeTlsFiles(account(), PREFIX, FILES);
    expect(fs.statSync(path.join(home, ".ts-sudospawner")).mode & 0o777).toBe(0o700);
  });
});
