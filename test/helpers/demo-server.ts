/**
 * Talking to the demo single-user server (examples/demo-singleuser.ts) the way a browser would:
 * HTTP for its status report, a WebSocket for the echo.
 */
import WebSocket from "ws";
import { waitFor } from "./system.js";

export interface DemoStatus {
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  fdsAtStart: string[];
}

/** The demo server's status report, from `host` (127.0.0.1 unless the server runs elsewhere). */
export async function demoStatus(port: number, host = "127.0.0.1"): Promise<DemoStatus> {
  const response = await fetch(`http://${host}:${port}/user/x/api/status`);
  if (response.status !== 200) throw new Error(`GET /user/x/api/status on ${host}:${port} answered ${response.status}`);
  return (await response.json()) as DemoStatus;
}

export async function waitForDemoServer(port: number, timeoutMs = 15_000, host = "127.0.0.1"): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await fetch(`http://${host}:${port}/api/status`)).ok;
      } catch {
        return false;
      }
    },
    timeoutMs,
    `the server on ${host}:${port}`,
  );
}

/** Send one message over the echo WebSocket and resolve with what comes back. */
export function demoEcho(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/user/x/api/echo`);
    ws.on("open", () => ws.send(message));
    ws.on("message", (data) => {
      resolve(String(data));
      ws.close();
    });
    ws.on("error", reject);
  });
}
