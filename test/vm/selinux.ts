/**
 * SELinux denials (pure): the guest's raw audit lines parsed, and the admin guide's table of the
 * denials it explains. The VM tier boots with SELinux permissive and fails on any denial that table lacks.
 */

/** The heading in docs/admin-guide.md (section 8) of the table of denials it explains. */
export const GUIDE_DENIALS_HEADING = "### Denials seen on Debian's reference policy";

export interface Denial {
  /** The process's name (comm), or the executable's base name for a user-space AVC. */
  comm: string;
  permissions: string[];
  sourceType: string;
  targetType: string;
  targetClass: string;
  /** The audit line as the guest reported it. */
  line: string;
}

/** A row of the guide's table: `*` in comm or target type matches any. */
export interface ExplainedDenial {
  comm: string;
  sourceType: string;
  targetType: string;
  targetClass: string;
  permissions: string[];
}

/** The type of an SELinux context (user:role:type:level); undefined for anything but a string. */
export function contextType(context: unknown): string | undefined {
  return typeof context === "string" ? context.split(":")[2] : undefined;
}

/** One raw AVC line (kernel log or ausearch --raw), or undefined when it is not one (SELINUX_ERR). */
export function parseDenial(line: string): Denial | undefined {
  const permissions = /avc:\s+denied\s+\{([^}]*)\}/.exec(line)?.[1]?.trim().split(/\s+/);
  const sourceType = contextType(/\bscontext=(\S+)/.exec(line)?.[1]);
  const targetType = contextType(/\btcontext=(\S+)/.exec(line)?.[1]);
  const targetClass = /\btclass=(\w+)/.exec(line)?.[1];
  const comm = /\bcomm="([^"]*)"/.exec(line)?.[1] ?? /\bexe="[^"]*\/([^"/]+)"/.exec(line)?.[1] ?? "?";
  if (!permissions || !sourceType || !targetType || !targetClass) return undefined;
  return { comm, permissions, sourceType, targetType, targetClass, line };
}

/** When the kernel stamped the line (audit(SECONDS.MILLIS:SERIAL)), in seconds since the epoch. */
export function auditTime(line: string): number | undefined {
  const stamp = /audit\((\d+\.\d+):\d+\)/.exec(line)?.[1];
  return stamp === undefined ? undefined : Number(stamp);
}

/** Whether the line is an execmem denial within [from, to] (a second's slack each side): one the test caused on purpose. */
export function execmemWithin(line: string, from: number, to: number): boolean {
  const denial = parseDenial(line);
  const time = auditTime(line);
  return denial !== undefined && time !== undefined && denial.permissions.every((permission) => permission === "execmem") && time >= from - 1 && time <= to + 1;
}

/** The cells of a Markdown table row, without the code backticks. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, "")
    .split("|")
    .map((cell) => cell.trim().replaceAll("`", ""));
}

/**
 * The table under `heading` in the guide: its columns are process, domain, target type, class,
 * permissions, then the explanation (which must not be empty).
 */
export function explainedDenials(guide: string, heading: string): ExplainedDenial[] {
  const start = guide.indexOf(heading);
  if (start === -1) throw new Error(`the guide has no "${heading}"`);
  const lines = guide.slice(start).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  if (first === -1) throw new Error(`no table under "${heading}"`);
  const rows: ExplainedDenial[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    const [comm, sourceType, targetType, targetClass, permissions, why] = cells(line);
    if (!comm || !sourceType || !targetType || !targetClass || !permissions || !why) throw new Error(`an incomplete row under "${heading}": ${line}`);
    rows.push({ comm, sourceType, targetType, targetClass, permissions: permissions.split(/[\s,]+/).filter(Boolean) });
  }
  return rows;
}

/** Whether a row of the guide explains the denial: same process, domain, target and class, and every permission listed. */
export function explains(row: ExplainedDenial, denial: Denial): boolean {
  return (
    (row.comm === "*" || row.comm === denial.comm) &&
    row.sourceType === denial.sourceType &&
    (row.targetType === "*" || row.targetType === denial.targetType) &&
    row.targetClass === denial.targetClass &&
    denial.permissions.every((permission) => row.permissions.includes(permission))
  );
}

/** The guest's lines the guide does not explain (a line that is no AVC is never explained). */
export function unexplainedDenials(lines: readonly string[], explained: readonly ExplainedDenial[]): string[] {
  return lines.filter((line) => {
    const denial = parseDenial(line);
    return denial === undefined || !explained.some((row) => explains(row, denial));
  });
}
