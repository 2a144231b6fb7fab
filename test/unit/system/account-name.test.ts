/**
 * Which account names the tools accept: one table (src/jupyterhub/tests/requests/account_names.json) for
 * the TypeScript rule and the Python spawner's (whose pytest suite reads the same file).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_ACCOUNT_NAME_LENGTH, accountNameProblem, isAcceptedAccountName } from "../../../src/system/account-name.js";

const TABLE = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../../../src/jupyterhub/tests/requests/account_names.json"), "utf8")) as {
  accepted: string[];
  refused: string[];
};

describe("account names", () => {
  it.each(TABLE.accepted)("accepts %j", (name) => {
    expect(accountNameProblem(name)).toBeUndefined();
    expect(isAcceptedAccountName(name)).toBe(true);
  });

  it.each(TABLE.refused)("refuses %j", (name) => {
    expect(accountNameProblem(name)).toMatch(/^it /);
  });

  it("says why", () => {
    expect(accountNameProblem("#0")).toBe('it begins with "#" (sudo reads #N as a numeric id)');
    expect(accountNameProblem("-u")).toBe('it begins with "-" (commands read it as an option)');
    expect(accountNameProblem("a\nb")).toBe("it contains a control character (a tab, a newline, ...)");
    expect(accountNameProblem("a:b")).toBe('it contains ":", the field separator of /etc/passwd and /etc/group');
    expect(accountNameProblem(" a")).toBe("it begins or ends with a space");
    expect(accountNameProblem("x".repeat(MAX_ACCOUNT_NAME_LENGTH + 1))).toBe(`it is longer than ${MAX_ACCOUNT_NAME_LENGTH} characters`);
  });

  it("has examples of every directory-service shape", () => {
    for (const name of ["Alice.Smith@corp.example.com", "TSSS\\carol", "TSSSBOB", "tsss domain users", "host01$"]) expect(TABLE.accepted).toContain(name);
  });
});
