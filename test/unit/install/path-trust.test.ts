import { describe, expect, it } from "vitest";
import { auditPath, formatProblems, type FsView, type NodeInfo } from "../../../src/install/path-trust.js";

type Entry = NodeInfo & { target?: string };

/** A fake file system: path -> node; symlinks carry a target. */
function fakeFs(entries: Record<string, Partial<Entry> & { kind: Entry["kind"] }>): FsView {
  const full = (e: Partial<Entry> & { kind: Entry["kind"] }): Entry => ({ uid: 0, gid: 0, mode: e.kind === "directory" ? 0o755 : 0o755, ...e });
  return {
    lstat: (p) => (entries[p] ? full(entries[p]) : undefined),
    readlink: (p) => entries[p]?.target ?? "",
  };
}

const trusted = { trustedUids: new Set([0, 1001]) };
const base = {
  "/": { kind: "directory" as const },
  "/opt": { kind: "directory" as const },
  "/opt/tsss": { kind: "directory" as const },
  "/opt/tsss/bin": { kind: "directory" as const },
};

describe("auditPath", () => {
  it("trusts a root-owned chain", () => {
    const view = fakeFs({ ...base, "/opt/tsss/bin/jupyterhub-singleuser": { kind: "file" } });
    expect(auditPath("/opt/tsss/bin/jupyterhub-singleuser", view, trusted)).toEqual({
      exists: true,
      realPath: "/opt/tsss/bin/jupyterhub-singleuser",
      problems: [],
    });
  });

  it("trusts files owned by the target user", () => {
    const view = fakeFs({ ...base, "/opt/tsss/bin/x": { kind: "file", uid: 1001 } });
    expect(auditPath("/opt/tsss/bin/x", view, trusted).problems).toEqual([]);
  });

  it("flags a file owned by the hub user, naming it", () => {
    const view = fakeFs({ ...base, "/opt/tsss/bin/x": { kind: "file", uid: 999 } });
    const audit = auditPath("/opt/tsss/bin/x", view, { ...trusted, describeUid: (uid) => `uid ${uid} (hub)` });
    expect(audit.problems).toEqual([{ path: "/opt/tsss/bin/x", problem: "owned by uid 999 (hub), who must not control what runs" }]);
  });

  it("flags a group-writable directory above the file", () => {
    const view = fakeFs({ ...base, "/opt/tsss": { kind: "directory", mode: 0o775, gid: 50 }, "/opt/tsss/bin/x": { kind: "file" } });
    expect(formatProblems(auditPath("/opt/tsss/bin/x", view, trusted).problems)).toBe("/opt/tsss: writable by group 50 (mode 775)");
  });

  it("flags a world-writable file", () => {
    const view = fakeFs({ ...base, "/opt/tsss/bin/x": { kind: "file", mode: 0o777 } });
    expect(auditPath("/opt/tsss/bin/x", view, trusted).problems[0]?.problem).toBe("writable by everyone (mode 777)");
  });

  it("accepts a sticky world-writable directory but still judges what is inside it", () => {
    const view = fakeFs({
      "/": { kind: "directory" },
      "/tmp": { kind: "directory", mode: 0o1777 },
      "/tmp/ok": { kind: "file" },
      "/tmp/evil": { kind: "file", uid: 999 },
    });
    expect(auditPath("/tmp/ok", view, trusted).problems).toEqual([]);
    expect(auditPath("/tmp/evil", view, trusted).problems).toHaveLength(1);
  });

  it("flags a symlink owned by someone untrusted, even in a sticky directory and pointing at a trusted file", () => {
    const view = fakeFs({
      ...base,
      "/tmp": { kind: "directory", mode: 0o1777 },
      "/tmp/server": { kind: "symlink", uid: 999, target: "/opt/tsss/bin/real" },
      "/opt/tsss/bin/real": { kind: "file" },
    });
    const audit = auditPath("/tmp/server", view, { ...trusted, describeUid: (uid) => `uid ${uid} (hub)` });
    expect(audit.realPath).toBe("/opt/tsss/bin/real");
    expect(audit.problems).toEqual([{ path: "/tmp/server", problem: "a symbolic link owned by uid 999 (hub), who must not choose where it leads" }]);
    const rootLink = fakeFs({ ...base, "/tmp": { kind: "directory", mode: 0o1777 }, "/tmp/server": { kind: "symlink", target: "/opt/tsss/bin/real" }, "/opt/tsss/bin/real": { kind: "file" } });
    expect(auditPath("/tmp/server", rootLink, trusted).problems).toEqual([]);
  });

  it("follows symlinks and judges where they lead", () => {
    const view = fakeFs({
      ...base,
      "/opt/tsss/bin/jupyterhub-singleuser": { kind: "symlink", target: "../../../../home/hub/evil" },
      "/home": { kind: "directory" },
      "/home/hub": { kind: "directory", uid: 999 },
      "/home/hub/evil": { kind: "file", uid: 999 },
    });
    const audit = auditPath("/opt/tsss/bin/jupyterhub-singleuser", view, trusted);
    expect(audit.realPath).toBe("/home/hub/evil");
    expect(audit.problems.map((p) => p.path)).toEqual(["/home/hub", "/home/hub/evil"]);
  });

  it("follows absolute links in directories", () => {
    const view = fakeFs({
      "/": { kind: "directory" },
      "/bin": { kind: "symlink", target: "/usr/bin" },
      "/usr": { kind: "directory" },
      "/usr/bin": { kind: "directory" },
      "/usr/bin/node": { kind: "file" },
    });
    expect(auditPath("/bin/node", view, trusted)).toEqual({ exists: true, realPath: "/usr/bin/node", problems: [] });
  });

  it("reports a missing file and link loops", () => {
    expect(auditPath("/opt/none", fakeFs(base), trusted).exists).toBe(false);
    const loop = fakeFs({ "/": { kind: "directory" }, "/a": { kind: "symlink", target: "/b" }, "/b": { kind: "symlink", target: "/a" } });
    const audit = auditPath("/a", loop, trusted);
    expect(audit.exists).toBe(false);
    expect(audit.problems[0]?.problem).toBe("too many levels of symbolic links");
  });

  it("rejects relative paths and files used as directories", () => {
    expect(auditPath("bin/x", fakeFs(base), trusted).problems[0]?.problem).toBe("not an absolute path");
    const view = fakeFs({ ...base, "/opt/tsss/bin/x": { kind: "file" } });
    expect(auditPath("/opt/tsss/bin/x/y", view, trusted).problems[0]?.problem).toBe("not a directory");
  });
});
