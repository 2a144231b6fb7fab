import { describe, expect, it } from "vitest";
import { expandPathTemplate, perUserDirectory } from "../../../src/install/path-template.js";

describe("the policy's path templates", () => {
  it("expand {user} and {home}", () => {
    expect(expandPathTemplate("{home}/.log", "alice", "/home/alice/")).toBe("/home/alice/.log");
    expect(expandPathTemplate("/var/log/jh/{user}/{user}.log", "alice", "/home/alice")).toBe("/var/log/jh/alice/alice.log");
  });

  it("give each user a directory of their own only with {user} or {home} in the directory part", () => {
    expect(perUserDirectory("{home}/.jupyterhub-singleuser.log")).toBe(true);
    expect(perUserDirectory("/var/log/jupyterhub/{user}/server.log")).toBe(true);
    expect(perUserDirectory("/var/log/jupyterhub/{user}.log")).toBe(false);
    expect(perUserDirectory("/var/log/jupyterhub/server.log")).toBe(false);
  });
});
