/**
 * The Slurm watchdog's fixed /bin/sh text (src/mediator/slurm/watchdog-script.ts) with stand-ins
 * for sbatch, scontrol and scancel that log their arguments: commit releases the held job; an end
 * of stdin without it (the mediator died) cancels it, also when the mediator was gone before sbatch
 * returned and no one reads the report; values pass as words, never as commands.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseReport, watchdogArgs } from "../../src/mediator/slurm/watchdog-script.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-watchdog-"));
const log = path.join(dir, "calls.log");
function tool(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}
const sbatch = tool("sbatch", `cat > ${dir}/script.txt; [ -n "$SBATCH_DELAY" ] && sleep "$SBATCH_DELAY"; echo "sbatch $*" >> ${log}; echo "4242;tsss"`);
const tools = { sbatch, scontrol: tool("scontrol", `echo "scontrol $*" >> ${log}`), scancel: tool("scancel", `echo "scancel $*" >> ${log}`) };

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function calls(expected: number): Promise<string[]> {
  const deadline = Date.now() + 10_000; // a hang guard only
  for (;;) {
    const lines = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    if (lines.length >= expected || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function start(env: Record<string, string> = {}, args: string[] = ["--parsable", "--hold"]) {
  fs.rmSync(log, { force: true });
  const child = spawn("/bin/sh", watchdogArgs(tools, args), { env: { PATH: "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "pipe", "pipe"], detached: true });
  (child.stdio[3] as NodeJS.WritableStream).end("#!/bin/sh\nexec true\n");
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const report = new Promise<string>((resolve) => child.stdout.on("close", () => resolve(out)));
  return { child, report };
}

describe("the Slurm watchdog", () => {
  it("reports sbatch's status and id, then releases the job on commit", async () => {
    const { child, report } = start();
    expect(parseReport(await report)).toEqual({ status: 0, stdout: "4242;tsss" });
    child.stdin.end("commit\n");
    expect(await calls(2)).toEqual(["sbatch --parsable --hold", "scontrol release 4242"]);
    expect(fs.readFileSync(path.join(dir, "script.txt"), "utf8")).toBe("#!/bin/sh\nexec true\n");
  });

  it("cancels the job when stdin ends without the commit", async () => {
    const { child, report } = start();
    await report;
    child.stdin.end();
    expect(await calls(2)).toEqual(["sbatch --parsable --hold", "scancel 4242"]);
  });

  it("cancels the job when the mediator was gone before sbatch returned, nobody reading the report", async () => {
    const { child } = start({ SBATCH_DELAY: "0.3" });
    child.stdout.destroy(); // the report's reader is gone: writing it must not end the watchdog
    child.stderr.destroy();
    child.stdin.end();
    expect(await calls(2)).toEqual(["sbatch --parsable --hold", "scancel 4242"]);
  });

  it("passes every argument as one word to sbatch, running none of them", async () => {
    const marker = path.join(dir, "ran");
    const { child, report } = start({}, ["--comment=$(touch " + marker + ")", "`touch " + marker + "`"]);
    await report;
    child.stdin.end();
    expect((await calls(2))[0]).toBe(`sbatch --comment=$(touch ${marker}) \`touch ${marker}\``);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe("parseReport", () => {
  it("reads the status and sbatch's output; a cut report is undefined", () => {
    expect(parseReport("1\n\n")).toEqual({ status: 1, stdout: "" });
    expect(parseReport("0\n17\n")).toEqual({ status: 0, stdout: "17" });
    expect(parseReport("0\n17")).toBeUndefined();
    expect(parseReport("")).toBeUndefined();
  });
});
