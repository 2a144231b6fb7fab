import { describe, expect, it } from "vitest";
import type { FsView, NodeInfo } from "../../../../src/install/path-trust.js";
import { checkedRootDir, expandRootDir, settleRootDirs } from "../../../../src/mediator/vocabulary/root-dir.js";

const alice = { name: "alice", home: "/home/alice", uid: 1000 };
const HUB = 999;

/** A file system of directories (and links), each with its owner and mode. */
function view(nodes: Record<string, Partial<NodeInfo> & { link?: string }>): FsView {
  return {
    lstat(p) {
      const node = nodes[p];
      if (!node) return undefined;
      return { uid: node.uid ?? 0, gid: node.gid ?? 0, mode: node.mode ?? 0o40755, kind: node.link ? "symlink" : (node.kind ?? "directory") };
    },
    readlink(p) {
      return nodes[p]?.link ?? "";
    },
  };
}

const base = { "/": {}, "/home": {}, "/home/alice": { uid: 1000 }, "/tmp": { mode: 0o41777 } };
const describeUid = (uid: number) => (uid === HUB ? `uid ${uid} (the hub user)` : `uid ${uid}`);

describe("expandRootDir", () => {
  it("expands ~, {username} and a relative path as the user", () => {
    expect(expandRootDir("~", alice)).toBe("/home/alice");
    expect(expandRootDir("~/work", alice)).toBe("/home/alice/work");
    expect(expandRootDir("/srv/{username}/nb", alice)).toBe("/srv/alice/nb");
    expect(expandRootDir("work", alice)).toBe("/home/alice/work");
    expect(expandRootDir("/", alice)).toBe("/");
  });
});

describe("checkedRootDir", () => {
  it("passes the user's own directory and root's, and returns the real path", () => {
    const fs = view({ ...base, "/home/alice/work": { uid: 1000 }, "/home/alice/nb": { uid: 1000, link: "/home/alice/work" }, "/srv": {} });
    expect(checkedRootDir("~/nb", "JUPYTERHUB_ROOT_DIR", alice, fs, describeUid)).toBe("/home/alice/work");
    expect(checkedRootDir("/srv", "--notebook-dir", alice, fs, describeUid)).toBe("/srv");
    expect(checkedRootDir("/", "--notebook-dir", alice, fs, describeUid)).toBe("/");
  });

  it.each([
    ["a directory of the hub's", { "/tmp/hub": { uid: HUB } }, "/tmp/hub", "/tmp/hub: owned by uid 999 (the hub user), who must not control what runs"],
    ["a sticky world-writable directory", {}, "/tmp", "/tmp: writable by everyone (mode 1777): others could plant modules its kernels import"],
    ["a group-writable directory of the user's", { "/home/alice/shared": { uid: 1000, gid: 50, mode: 0o40775 } }, "~/shared", "/home/alice/shared: writable by group 50 (mode 775)"],
    ["a directory below a hub-owned one", { "/tmp/hub": { uid: HUB }, "/tmp/hub/x": { uid: 1000 } }, "/tmp/hub/x", "/tmp/hub: owned by uid 999 (the hub user)"],
    ["a file", { "/home/alice/f": { uid: 1000, kind: "file" as const, mode: 0o100644 } }, "~/f", "/home/alice/f: not a directory"],
  ])("refuses %s", (_what, extra, value, problem) => {
    expect(() => checkedRootDir(value, "JUPYTERHUB_ROOT_DIR", alice, view({ ...base, ...extra }), describeUid)).toThrow(problem);
  });

  it("names a directory that does not exist, and where it came from", () => {
    expect(() => checkedRootDir("~/nope", "--notebook-dir", alice, view(base), describeUid)).toThrow(
      "the server's root directory /home/alice/nope (from --notebook-dir) does not exist; create it, or fix c.Spawner.notebook_dir",
    );
  });
});

describe("settleRootDirs", () => {
  it("puts the checked real path in place of every argument and of JUPYTERHUB_ROOT_DIR", () => {
    const fs = view({ ...base, "/home/alice/work": { uid: 1000 } });
    const args = ["--port=1", "--notebook-dir=~/work"];
    const env: Record<string, string> = { JUPYTERHUB_ROOT_DIR: "work" };
    settleRootDirs({ args, options: [{ index: 1, spelling: "--notebook-dir" }], env }, alice, fs, describeUid);
    expect(args).toEqual(["--port=1", "--notebook-dir=/home/alice/work"]);
    expect(env.JUPYTERHUB_ROOT_DIR).toBe("/home/alice/work");
  });
});
