/** What `ts-sudospawner ps` prints: a table for people, JSON for programs (pure). */
import { escapeControls } from "../../protocol/index.js";
import type { HubVerdict } from "./hub.js";
import type { MarkedServer } from "./servers.js";
import type { StopResult } from "./stop.js";

export interface PsRow {
  server: MarkedServer;
  /** Present when a hub was asked. */
  hub?: HubVerdict;
  /** Present when --stop-orphans tried to stop it. */
  stop?: StopResult;
}

/** "(default)" for the default server, "-" for a server started without a name. */
export function serverLabel(name: string | undefined): string {
  if (name === undefined) return "-";
  return name === "" ? "(default)" : name;
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "-";
  const units = ["B", "K", "M", "G", "T"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}B` : `${value.toFixed(1)}${units[unit]}`;
}

export function formatCpu(usec: number | undefined): string {
  return usec === undefined ? "-" : `${(usec / 1e6).toFixed(1)}s`;
}

export function formatPsTable(rows: readonly PsRow[], options: { hub: boolean }): string {
  const header = ["USER", "SERVER", "PID", "STARTED", "MEMORY", "CPU"];
  if (options.hub) header.push("HUB");
  const stopping = rows.some((row) => row.stop !== undefined);
  if (stopping) header.push("STOP");
  const lines = rows.map((row) => {
    const { server } = row;
    const cells = [server.user, serverLabel(server.server), String(server.pid), server.started, formatBytes(server.cgroup?.memoryBytes), formatCpu(server.cgroup?.cpuUsec)];
    if (options.hub) cells.push(row.hub ?? "-");
    if (stopping) cells.push(row.stop === undefined ? "-" : `${row.stop.stopped ? "stopped" : "FAILED"}: ${row.stop.detail}`);
    // The server's name comes from its environment, which its user controls: root's terminal must not run it.
    return cells.map(escapeControls);
  });
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((cells) => (cells[column] ?? "").length)));
  // The last column is not padded: it may be a long sentence.
  const render = (cells: readonly string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  ");
  const body = [render(header), ...lines.map(render)].join("\n");
  return rows.length === 0 ? `${render(header)}\n(no server started by ts-sudospawner runs on this host)\n` : `${body}\n`;
}

export function formatPsJson(rows: readonly PsRow[]): string {
  const servers = rows.map(({ server, hub, stop }) => ({
    user: server.user,
    uid: server.uid,
    server: server.server ?? null,
    pid: server.pid,
    started: server.started,
    cgroup: server.cgroup?.path ?? null,
    memoryBytes: server.cgroup?.memoryBytes ?? null,
    cpuUsec: server.cgroup?.cpuUsec ?? null,
    ...(hub === undefined ? {} : { hub }),
    ...(stop === undefined ? {} : { stop }),
  }));
  return `${JSON.stringify({ servers }, null, 2)}\n`;
}
