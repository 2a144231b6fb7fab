import { describe, expect, it } from "vitest";
import { hubApiBase, hubVerdict, hubView, usersPage } from "../../../../src/admin/ps/hub.js";

/** A user as JupyterHub 6 answers GET /users with list:users, read:users, read:servers, admin:server_state. */
const alice = {
  kind: "user",
  name: "alice",
  servers: {
    "": { name: "", ready: true, state: { pid: 4242, start_time: 987654 } },
    gpu: { name: "gpu", ready: true, state: { pid: 5151 } },
    stopped: { name: "stopped", ready: false, pending: null, state: {} },
    // Being started: the hub's state has no pid yet (the mediator's answer is not in).
    lab: { name: "lab", ready: false, pending: "spawn", state: {} },
  },
};

describe("hubApiBase", () => {
  it("adds /hub/api to the hub's address, keeping a base_url prefix", () => {
    expect(hubApiBase("http://127.0.0.1:8000")).toBe("http://127.0.0.1:8000/hub/api");
    expect(hubApiBase("https://hub.example/jupyter/")).toBe("https://hub.example/jupyter/hub/api");
    expect(hubApiBase("http://127.0.0.1:8000/hub/api/")).toBe("http://127.0.0.1:8000/hub/api");
  });

  it("refuses other schemes, credentials and queries", () => {
    expect(() => hubApiBase("file:///etc/passwd")).toThrow(/http/);
    expect(() => hubApiBase("http://admin:secret@hub/")).toThrow(/credentials/);
    expect(() => hubApiBase("not a url")).toThrow(/not a URL/);
  });
});

describe("usersPage", () => {
  it("reads the pagination envelope and its next offset", () => {
    expect(usersPage({ items: [alice], _pagination: { offset: 0, limit: 1, total: 2, next: { offset: 1, limit: 1, url: "x" } } })).toEqual({ users: [alice], next: 1 });
    expect(usersPage({ items: [alice], _pagination: { offset: 1, limit: 1, total: 2, next: null } })).toEqual({ users: [alice], next: undefined });
  });

  it("takes a plain list as the whole answer, and refuses anything else", () => {
    expect(usersPage([alice])).toEqual({ users: [alice], next: undefined });
    expect(() => usersPage({ message: "x" })).toThrow(/neither a list/);
  });
});

describe("hubView", () => {
  it("takes each server's pid and start time from its state; a server without a pid is none; a pending spawn is starting", () => {
    expect(hubView([alice])).toEqual({
      known: [
        { user: "alice", server: "", pid: 4242, startTicks: 987654 },
        { user: "alice", server: "gpu", pid: 5151, startTicks: undefined },
      ],
      pending: [{ user: "alice", server: "lab" }],
    });
  });

  it("refuses an answer without state or servers, naming the scope the token lacks", () => {
    expect(() => hubView([{ name: "alice", servers: { "": { name: "", ready: true } } }])).toThrow(/admin:server_state/);
    expect(() => hubView([{ name: "alice" }])).toThrow(/read:servers/);
  });
});

describe("hubVerdict", () => {
  const view = hubView([alice]);
  const marked = (pid: number, startTicks: number, user = "alice", server: string | undefined = "") => ({ pid, startTicks, user, server });

  it("knows a pid the hub holds, with its start time when the state has one", () => {
    expect(hubVerdict(marked(4242, 987654), view)).toBe("known");
    expect(hubVerdict(marked(5151, 1, "alice", "gpu"), view)).toBe("known");
  });

  it("calls a pid no hub holds, or a reused pid (another start time), an orphan", () => {
    expect(hubVerdict(marked(7777, 1), view)).toBe("orphan");
    expect(hubVerdict(marked(4242, 1), view)).toBe("orphan");
  });

  it("calls a server the hub is starting for that account and name starting, never an orphan; another user's or name's stays an orphan", () => {
    expect(hubVerdict(marked(7777, 1, "alice", "lab"), view)).toBe("starting");
    expect(hubVerdict({ ...marked(7777, 1), server: undefined }, view)).toBe("starting"); // marked without a name (the Python SudoSpawner)
    expect(hubVerdict(marked(7777, 1, "bob", "lab"), view)).toBe("orphan");
    expect(hubVerdict(marked(7777, 1, "alice", "gpu2"), view)).toBe("orphan");
  });
});
