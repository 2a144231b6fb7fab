/**
 * The SBOM in the packed tarball (dist/sbom.cdx.json) is valid CycloneDX 1.5, checked by the
 * CycloneDX project's own Python library against the strict JSON schema, in a throwaway venv
 * (pip from PyPI). Uses the root fixture's tarball; Node-independent, so the Node matrix leaves it out
 * (scripts/test/test-node-matrix.mjs).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { firstMissing, skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const venvMissing = spawnSync("python3", ["-c", "import venv, ensurepip"], { stdio: "ignore" }).status !== 0;
const skip = skipWithout(
  "SBOM schema validation (test/integration/install/sbom.test.ts)",
  firstMissing(fx.reason, venvMissing && "python3 -m venv is not available (apt-get install python3-venv)"),
);

const VALIDATE = `
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())
print("valid" if error is None else f"INVALID: {error}")
`;

describe.skipIf(skip)("the SBOM", () => {
  let work: string;
  let python: string;

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-sbom-"));
    execFileSync("python3", ["-m", "venv", path.join(work, "venv")]);
    python = path.join(work, "venv/bin/python");
    execFileSync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "cyclonedx-python-lib[json-validation]>=8,<12"], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
  }, 300_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("is valid CycloneDX 1.5 JSON (strict schema)", () => {
    const sbom = path.join(work, "sbom.cdx.json");
    fs.writeFileSync(sbom, execFileSync("tar", ["xzOf", fx.tarball, "package/dist/sbom.cdx.json"]));
    const result = spawnSync(python, ["-c", VALIDATE, sbom], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("valid");
  });
});
