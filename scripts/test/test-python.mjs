#!/usr/bin/env node
/**
 * The pytest suite of the JupyterHub spawner package (src/jupyterhub), run by `npm test` after
 * vitest. No dependencies.
 *
 * It creates a virtual environment (with /usr/bin/python3, else python3 on PATH), installs
 * JupyterHub 6.x and pytest into it with pip (never into the system Python), installs the package
 * from src/jupyterhub with --no-index (the offline install admins do), and runs
 * `python -m pytest src/jupyterhub/tests -q`, streaming its output. The exit status is pytest's.
 *
 * The venv lives in a directory under os.tmpdir() that is removed at the end. To share it within
 * one run (e.g. with the end-to-end matrix), set TSSS_PYTHON_RUN_DIR to a directory the caller
 * owns and removes: the venv is then created once as TSSS_PYTHON_RUN_DIR/venv-jupyterhub-6 and
 * reused by later calls.
 *
 * TSSS_PYTHON=/path/to/python3 chooses the interpreter for the venv.
 *
 * Without a working venv or pip this fails loudly: these tests are never skipped. A test pytest
 * itself skips (an interpreter too old for one check) is announced, and with CI set fails the run
 * (scripts/test/prerequisites.mjs).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MissingPrerequisite, prerequisiteMissing } from "./prerequisites.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PACKAGE_DIR = path.join(ROOT, "src", "jupyterhub");
const TESTS_DIR = path.join(PACKAGE_DIR, "tests");
// mypy: the package ships py.typed, and test_packaging.py holds it to mypy --strict.
const REQUIREMENTS = ["jupyterhub==6.*", "pytest", "mypy==2.*"];

function say(message) {
  process.stdout.write(`python tests: ${message}\n`);
}

function fail(message) {
  process.stderr.write(`python tests: FAILED: ${message}\n`);
  cleanUp();
  process.exit(1);
}

let ownedDir;

function cleanUp() {
  if (ownedDir) {
    fs.rmSync(ownedDir, { recursive: true, force: true });
    ownedDir = undefined;
  }
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    cleanUp();
    process.exit(128 + (os.constants.signals[signal] ?? 0));
  });
}

const childEnv = {
  ...process.env,
  PIP_DISABLE_PIP_VERSION_CHECK: "1",
  PIP_NO_INPUT: "1",
  PYTHONDONTWRITEBYTECODE: "1", // no __pycache__ in the source tree (it ships in the npm package)
  PYTHONUNBUFFERED: "1",
};
delete childEnv.PYTHONPATH;
delete childEnv.PYTHONHOME;
delete childEnv.VIRTUAL_ENV;

/** Run a command with output streamed; return its exit status (or fail if it cannot start). */
function run(file, args, { quiet = false } = {}) {
  const result = spawnSync(file, args, { stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit", env: childEnv, cwd: ROOT });
  if (result.error) return { status: -1, output: String(result.error.message) };
  const output = quiet ? `${result.stdout ?? ""}${result.stderr ?? ""}` : "";
  return { status: result.status ?? 128 + (os.constants.signals[result.signal] ?? 0), output };
}

function pythonCandidates() {
  if (process.env.TSSS_PYTHON) return [process.env.TSSS_PYTHON];
  const candidates = [];
  if (fs.existsSync("/usr/bin/python3")) candidates.push("/usr/bin/python3");
  candidates.push("python3");
  return candidates;
}

function createVenv(venv) {
  const problems = [];
  for (const python of pythonCandidates()) {
    say(`creating venv with ${python} in ${venv}...`);
    const created = run(python, ["-m", "venv", venv], { quiet: true });
    if (created.status === 0 && fs.existsSync(path.join(venv, "bin", "python"))) {
      const pip = run(path.join(venv, "bin", "python"), ["-m", "pip", "--version"], { quiet: true });
      if (pip.status === 0) return;
      problems.push(`${python}: the venv has no pip (${pip.output.trim()})`);
    } else {
      problems.push(`${python}: ${created.output.trim() || `exit status ${created.status}`}`);
    }
    fs.rmSync(venv, { recursive: true, force: true });
  }
  fail(
    `cannot create a Python virtual environment with pip:\n  ${problems.join("\n  ")}\n` +
      "Install Python 3 with venv and pip (Debian: apt-get install python3-venv python3-pip).",
  );
}

const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

let runDir = process.env.TSSS_PYTHON_RUN_DIR;
if (runDir) {
  fs.mkdirSync(runDir, { recursive: true });
} else {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-python-tests-"));
  ownedDir = runDir;
}
const venv = path.join(runDir, "venv-jupyterhub-6");
const python = path.join(venv, "bin", "python");
const ready = path.join(venv, ".tsss-ready");

// Reused only when it was made for these requirements.
if (fs.existsSync(ready) && fs.readFileSync(ready, "utf8") === `${REQUIREMENTS.join("\n")}\n`) {
  say(`reusing venv ${venv}`);
} else {
  fs.rmSync(venv, { recursive: true, force: true });
  createVenv(venv);
  say(`installing ${REQUIREMENTS.join(", ")} with pip...`);
  if (run(python, ["-m", "pip", "install", "--quiet", ...REQUIREMENTS]).status !== 0) {
    fail(`pip could not install ${REQUIREMENTS.join(", ")} into ${venv} (is PyPI reachable?)`);
  }
  fs.writeFileSync(ready, `${REQUIREMENTS.join("\n")}\n`);
}
const version = run(python, ["-c", "import jupyterhub, pytest; print(jupyterhub.__version__, pytest.__version__)"], { quiet: true });
if (version.status !== 0) fail(`the venv ${venv} cannot import jupyterhub and pytest: ${version.output.trim()}`);
const [jupyterhubVersion, pytestVersion] = version.output.trim().split(/\s+/);
say(`jupyterhub ${jupyterhubVersion}, pytest ${pytestVersion} (${seconds()})`);

say("installing ts-sudospawner from src/jupyterhub with --no-index...");
if (run(python, ["-m", "pip", "install", "--quiet", "--no-index", PACKAGE_DIR]).status !== 0) {
  fail(`pip install --no-index ${PACKAGE_DIR} failed`);
}

say(`running pytest ${path.relative(ROOT, TESTS_DIR)} (${seconds()})...`);
const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-pytest-report-"));
const report = path.join(reportDir, "junit.xml");
const tests = run(python, ["-m", "pytest", path.relative(ROOT, TESTS_DIR), "-q", "-rs", `--junit-xml=${report}`]);
say(`pytest exited with status ${tests.status} after ${seconds()}`);
let skipped = 0;
try {
  skipped = [...fs.readFileSync(report, "utf8").matchAll(/<testsuite\b[^>]*\bskipped="(\d+)"/g)].reduce((sum, m) => sum + Number(m[1]), 0);
} catch {
  // no report: pytest failed before writing one, and its status says so
}
fs.rmSync(reportDir, { recursive: true, force: true });
if (tests.status === 0 && skipped > 0) {
  try {
    prerequisiteMissing("some of the Python spawner's pytest suite", `pytest skipped ${skipped} test(s) (see its "SKIPPED" lines above)`);
  } catch (error) {
    if (!(error instanceof MissingPrerequisite)) throw error;
    fail(error.message);
  }
}
cleanUp();
process.exit(tests.status);
