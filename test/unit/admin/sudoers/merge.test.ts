import { describe, expect, it } from "vitest";
import { aliasDefinedElsewhere, existingRule, mergeRefusal, validInstallName } from "../../../../src/admin/sudoers/merge.js";
import { generateSnippet } from "../../../../src/admin/sudoers/rule.js";

const snippet = (runas: Parameters<typeof generateSnippet>[0]["runas"]) => generateSnippet({ hubUser: "rhea", runas, mediatorPath: "/opt/t/bin/ts-sudospawner", generator: "test" });

describe("merging with an installed rule", () => {
  it("reads the Runas list of the hub's rule back from the generated text", () => {
    expect(existingRule(snippet({ kind: "group", group: "jupyter" }), "rhea")).toEqual({ group: "jupyter", users: [] });
    expect(existingRule(snippet({ kind: "users", users: ["alice", "Bob Smith"] }), "rhea")).toEqual({ users: ["alice", "Bob Smith"] });
    expect(existingRule(snippet({ kind: "users", users: ["alice"] }), "other")).toBeUndefined();
  });

  it("never replaces a group rule with a user rule: says to add the user to the group", () => {
    const refusal = mergeRefusal({ hubUser: "rhea", runas: { kind: "users", users: ["carol"] }, file: "ts-sudospawner", existing: { group: "jupyter", users: [] } });
    expect(refusal).toContain("cut off every other member");
    expect(refusal).toContain("`usermod -aG jupyter carol`");
  });

  it("keeps the users already served, printing the merged command with the file", () => {
    const refusal = mergeRefusal({ hubUser: "rhea", runas: { kind: "users", users: ["carol"] }, file: "50-jupyter", existing: { users: ["alice", "bob"] } });
    expect(refusal).toContain("`ts-sudospawner sudoers --hub-user rhea --users alice,bob,carol --file 50-jupyter --install`");
    expect(mergeRefusal({ hubUser: "rhea", runas: { kind: "users", users: ["alice", "bob", "carol"] }, file: "x", existing: { users: ["alice", "bob"] } })).toBeUndefined();
  });

  it("lets a group replace users only when they are its members", () => {
    expect(mergeRefusal({ hubUser: "rhea", runas: { kind: "group", group: "jupyter" }, file: "x", existing: { users: ["alice"] }, groupMembers: ["alice"] })).toBeUndefined();
    expect(mergeRefusal({ hubUser: "rhea", runas: { kind: "group", group: "jupyter" }, file: "x", existing: { users: ["alice"] }, groupMembers: [] })).toContain("`usermod -aG jupyter alice`");
    expect(mergeRefusal({ hubUser: "rhea", runas: { kind: "group", group: "jupyter" }, file: "x", existing: { group: "jupyter", users: [] } })).toBeUndefined();
    expect(mergeRefusal({ hubUser: "rhea", runas: { kind: "group", group: "lab" }, file: "x", existing: { group: "jupyter", users: [] } })).toContain("would cut off its members");
  });

  it("finds the alias defined in a file of another name", () => {
    const files = [{ name: "50-site", text: snippet({ kind: "group", group: "g" }) }, { name: "README.txt", text: snippet({ kind: "group", group: "g" }) }];
    expect(aliasDefinedElsewhere(files, "ts-sudospawner", "rhea")).toEqual(["50-site"]);
    expect(aliasDefinedElsewhere(files, "50-site", "rhea")).toEqual([]);
  });

  it("accepts only names sudo's includedir reads", () => {
    expect(["ts-sudospawner", "50_jupyter"].map(validInstallName)).toEqual([true, true]);
    expect(["a.b", "a~", "a/b", "", "../x", "a b"].map(validInstallName)).toEqual([false, false, false, false, false, false]);
  });
});
