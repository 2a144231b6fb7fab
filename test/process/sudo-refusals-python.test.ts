/**
 * The hub's two languages recognise sudo's refusals alike: every example of the TypeScript table
 * (src/system/sudo-refusals.ts) is classified the same by the Python spawner's table
 * (src/jupyterhub/ts_sudospawner/mediator/refusals.py), loaded by file so that no JupyterHub is needed.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SUDO_REFUSALS, classifyRefusal } from "../../src/system/sudo-refusals.js";
import { skipWithout } from "../helpers/prerequisites.js";

const REFUSALS_PY = path.resolve(import.meta.dirname, "../../src/jupyterhub/ts_sudospawner/mediator/refusals.py");
const PYTHON = ["/usr/bin/python3", "python3"].find((candidate) => spawnSync(candidate, ["-c", "0"]).status === 0);

const SCRIPT = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("refusals", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"kinds": list(module.REFUSAL_KINDS), "classified": [module.classify_refusal(text) for text in json.load(sys.stdin)]}))
`;

const skip = skipWithout("the Python spawner's refusal table (test/process/sudo-refusals-python.test.ts)", PYTHON === undefined ? "python3 is not installed (apt-get install python3)" : undefined);

describe.skipIf(skip)("the Python spawner's refusal table", () => {
  it("has the same kinds and classifies every example, and some non-refusals, as the TypeScript table does", () => {
    const texts = [...SUDO_REFUSALS.flatMap((row) => row.examples), "[I 2026 ts-sudospawner] Spawning x", "", "SUDO: A PASSWORD IS REQUIRED"];
    const run = spawnSync(PYTHON as string, ["-c", SCRIPT, REFUSALS_PY], { input: JSON.stringify(texts), encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { kinds: string[]; classified: Array<string | null> };
    expect([...result.kinds].sort()).toEqual(SUDO_REFUSALS.map((row) => row.kind).sort());
    expect(result.classified).toEqual(texts.map((text) => classifyRefusal(text) ?? null));
  });
});
