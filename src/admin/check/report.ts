/**
 * The results of `ts-sudospawner check` as text (pure): a table for people, JSON for programs,
 * progress lines, and the exit status.
 */
import { terminalText } from "../../protocol/index.js";

export const CHECK_STATUSES = ["pass", "fail", "warn", "skip"] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export interface CheckRow {
  /** Stable identifier, e.g. "rule-refuses-root". */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was run or looked at, and what came of it. */
  detail: string;
  /** What the admin runs next; empty when nothing is to be done. */
  fix: string;
}

export interface CheckReport {
  hubUser: string;
  user: string;
  mediator: string;
  rows: CheckRow[];
}

/** 1 when any check failed, else 0 (warnings and skips do not fail the check). */
export function exitStatus(rows: readonly CheckRow[]): number {
  return rows.some((row) => row.status === "fail") ? 1 : 0;
}

export function progressLine(index: number, total: number, activity: string): string {
  return `[${index}/${total}] ${activity}...\n`;
}

export function summaryLine(rows: readonly CheckRow[]): string {
  const count = (status: CheckStatus) => rows.filter((row) => row.status === status).length;
  const verdict = exitStatus(rows) === 0 ? "OK" : "FAILED";
  return `${verdict}: ${count("pass")} pass, ${count("fail")} fail, ${count("warn")} warn, ${count("skip")} skip`;
}

/** Break `text` into lines of at most `width` characters, at spaces where possible. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/ +/)) {
      let rest = word;
      while (rest.length > width) {
        // A word longer than the column (a path): cut it rather than overflow.
        if (line !== "") {
          lines.push(line);
          line = "";
        }
        // Prefer to cut a path after a "/", where a reader expects a break.
        const slash = rest.lastIndexOf("/", width - 1);
        const cut = slash >= width / 2 ? slash + 1 : width;
        lines.push(rest.slice(0, cut));
        rest = rest.slice(cut);
      }
      if (line === "") line = rest;
      else if (line.length + 1 + rest.length <= width) line += ` ${rest}`;
      else {
        lines.push(line);
        line = rest;
      }
    }
    lines.push(line);
  }
  return lines;
}

const MIN_DETAIL_WIDTH = 30;

/** The table: number, title, status and the wrapped detail; then the fix of every row that has one. */
export function formatTable(report: CheckReport, width = 110): string {
  const numberWidth = String(report.rows.length).length;
  const titleWidth = Math.max(5, ...report.rows.map((row) => row.title.length));
  const statusWidth = 6;
  const indent = numberWidth + 2 + titleWidth + 2 + statusWidth + 2;
  const detailWidth = Math.max(MIN_DETAIL_WIDTH, width - indent);
  const out: string[] = [
    terminalText(`ts-sudospawner check: hub user ${report.hubUser}, user ${report.user}, mediator ${report.mediator}`),
    "",
    `${"#".padStart(numberWidth)}  ${"check".padEnd(titleWidth)}  ${"status".padEnd(statusWidth)}  detail`,
  ];
  report.rows.forEach((row, index) => {
    // A detail may quote what the user's server printed, or sudo said: root's terminal must not run it.
    const [first = "", ...more] = wrap(terminalText(row.detail), detailWidth);
    out.push(`${String(index + 1).padStart(numberWidth)}  ${row.title.padEnd(titleWidth)}  ${row.status.toUpperCase().padEnd(statusWidth)}  ${first}`.trimEnd());
    for (const line of more) out.push(`${" ".repeat(indent)}${line}`.trimEnd());
  });
  const fixes = report.rows.map((row, index) => ({ row, index })).filter(({ row }) => row.fix !== "" && (row.status === "fail" || row.status === "warn"));
  if (fixes.length > 0) {
    out.push("", "To fix:");
    for (const { row, index } of fixes) {
      const label = `${index + 1}. `;
      const [first = "", ...more] = wrap(terminalText(row.fix), Math.max(MIN_DETAIL_WIDTH, width - label.length));
      out.push(`${label}${first}`);
      for (const line of more) out.push(`${" ".repeat(label.length)}${line}`);
    }
  }
  out.push("", summaryLine(report.rows));
  return `${out.join("\n")}\n`;
}

export function formatJson(report: CheckReport): string {
  return `${JSON.stringify({ ok: exitStatus(report.rows) === 0, ...report }, null, 2)}\n`;
}
