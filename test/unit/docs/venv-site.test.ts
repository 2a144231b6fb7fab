/**
 * The install as the docs show it, for a site whose JupyterHub lives in a venv: every command an
 * admin copies names the venv by its full path, so nothing depends on root's PATH (where Debian's
 * JupyterHub 3.0 in /usr/bin comes first). Reads the shown commands: indented code lines of the
 * docs and the `#   ` setup comments of the examples.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const VENV = "/opt/jupyterhub";
const SHOWN = ["README.md", "docs/hub.md", "docs/admin-guide.md", "examples/jupyterhub/jupyterhub_config.py", "examples/slurm/jupyterhub_config.py", "examples/jupyterhub/jupyterhub.service"];

/** The command lines a file shows (code blocks indented by 4, ``` fences, `#   ` comments), with file and line. */
function shownCommands(file: string): { where: string; text: string }[] {
  const lines = fs.readFileSync(path.join(ROOT, file), "utf8").split("\n");
  const out: { where: string; text: string }[] = [];
  let fenced = false;
  lines.forEach((line, i) => {
    if (line.startsWith("```")) fenced = !fenced;
    const code = fenced || /^ {4}\S/.test(line) || /^#\s{3}\S/.test(line) || /^ExecStart=/.test(line);
    if (code) out.push({ where: `${file}:${i + 1}`, text: line.replace(/^#\s+/, "").trim() });
  });
  return out;
}

const commands = SHOWN.flatMap(shownCommands);

describe("the docs' commands for a venv JupyterHub", () => {
  it("link the venv's jupyterhub-singleuser by its full path, never through command -v", () => {
    const links = commands.filter((c) => /\bln -s\b.*jupyterhub-singleuser/.test(c.text));
    expect(links.length).toBeGreaterThanOrEqual(4);
    for (const link of links) expect(link.text, link.where).toMatch(new RegExp(`^ln -s ${VENV}/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser`));
    const all = SHOWN.map((file) => fs.readFileSync(path.join(ROOT, file), "utf8")).join("\n");
    expect(all).not.toMatch(/command -v jupyterhub-singleuser/);
  });

  it("install with the venv's pip, into a venv made from the system's Python", () => {
    const pips = commands.filter((c) => /\bpip3? install\b/.test(c.text));
    expect(pips.length).toBeGreaterThanOrEqual(4);
    for (const pip of pips) expect(pip.text, pip.where).toMatch(new RegExp(`^${VENV}/bin/pip install `));
    const made = commands.filter((c) => c.text.includes(`-m venv ${VENV}`));
    expect(made.length).toBeGreaterThanOrEqual(2);
    for (const venv of made) expect(venv.text, venv.where).toMatch(new RegExp(`^/usr/bin/python3 -m venv ${VENV}\\b`));
  });

  it("start the hub by the venv's full path, in the start line and in the shipped unit's ExecStart", () => {
    const starts = commands.filter((c) => /\bjupyterhub -f\b/.test(c.text));
    expect(starts.length).toBeGreaterThanOrEqual(3);
    for (const start of starts) expect(start.text, start.where).toMatch(new RegExp(`(^|[ '=])${VENV}/bin/jupyterhub -f `));
    const unit = fs.readFileSync(path.join(ROOT, "examples/jupyterhub/jupyterhub.service"), "utf8");
    expect(/^ExecStart=(\S+)/m.exec(unit)?.[1]).toBe(`${VENV}/bin/jupyterhub`);
  });

  it("make the tarball in a checkout with npm ci first", () => {
    const packs = commands.filter((c) => /\bnpm pack\b/.test(c.text) && !c.text.includes("node-linux"));
    expect(packs.length).toBeGreaterThanOrEqual(1);
    for (const pack of packs) expect(pack.text, pack.where).toMatch(/^npm ci && npm pack\b/);
  });
});
