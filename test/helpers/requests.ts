/** The JSON requests a hub writes to the mediator, for the demo single-user server. */
import { killRequest as killRequestOf, spawnRequest as spawnRequestOf } from "../../src/protocol/index.js";

/** What a hub passes at the least: a PATH on which the demo server's `node` is found. */
export const BASE_ENV: Readonly<Record<string, string>> = { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" };

export function spawnRequest(port: number, env: Record<string, string> = {}): string {
  return JSON.stringify(spawnRequestOf([`--port=${port}`, "--ip=127.0.0.1"], { ...BASE_ENV, ...env }));
}

export function killRequest(pid: number, signal: number): string {
  return JSON.stringify(killRequestOf(pid, signal));
}
