/** `ts-sudospawner check --json` as root with a clean environment, its report read by row id. */
import { spawnSync } from "node:child_process";
import type { CheckReport, CheckRow } from "../../src/admin/check/report.js";

export const CLEAN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", LC_ALL: "C" };

export interface CheckRun {
  status: number | null;
  stderr: string;
  rows: Record<string, CheckRow>;
  ids: string[];
}

/** Runs `MEDIATOR check --hub-user HUB --user USER --json`; throws with its output when it printed no JSON. */
export function runCheckJson(mediator: string, hub: string, user: string): CheckRun {
  const run = spawnSync(mediator, ["check", "--hub-user", hub, "--user", user, "--json"], { encoding: "utf8", env: CLEAN_ENV, cwd: "/", timeout: 120_000 });
  let report: CheckReport;
  try {
    report = JSON.parse(run.stdout) as CheckReport;
  } catch {
    throw new Error(`check printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  return { status: run.status, stderr: run.stderr, rows: Object.fromEntries(report.rows.map((row) => [row.id, row])), ids: report.rows.map((row) => row.id) };
}
