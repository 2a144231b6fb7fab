/**
 * A minimal Jupyter kernel client: one execute_request over the kernel's WebSocket
 * (/api/kernels/ID/channels, the Jupyter messaging protocol v5.3), as a browser tab would send it.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

/** Execute `code` and resolve with its printed output once the kernel is idle again; rejects when the kernel dies. */
export function executeInKernel(url: string, token: string, code: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `token ${token}` } });
    const msgId = randomUUID();
    let output = "";
    const finish = (error?: Error) => {
      clearTimeout(timer);
      ws.close();
      if (error) reject(error);
      else resolve(output);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer from the kernel at ${url} within ${timeoutMs} ms (output so far: ${JSON.stringify(output)})`));
    }, timeoutMs);
    ws.on("open", () => {
      ws.send(
        JSON.stringify({
          header: { msg_id: msgId, username: "e2e", session: randomUUID(), msg_type: "execute_request", version: "5.3", date: new Date().toISOString() },
          parent_header: {},
          metadata: {},
          content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
          channel: "shell",
          buffers: [],
        }),
      );
    });
    ws.on("unexpected-response", (_request, response) => finish(new Error(`the kernel WebSocket at ${url} was refused: HTTP ${response.statusCode}`)));
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as {
        channel: string;
        msg_type: string;
        parent_header: { msg_id?: string };
        content: { text?: string; execution_state?: string; ename?: string; evalue?: string };
      };
      // The server announces a kernel that died (OOM kill, crash) to every client, not as a reply.
      if (message.channel === "iopub" && message.msg_type === "status" && (message.content.execution_state === "restarting" || message.content.execution_state === "dead")) {
        finish(new Error(`the kernel died while executing (the server says "${message.content.execution_state}")`));
        return;
      }
      if (message.parent_header?.msg_id !== msgId) return;
      if (message.channel === "iopub" && message.msg_type === "stream") output += message.content.text ?? "";
      if (message.msg_type === "error") finish(new Error(`kernel error ${message.content.ename}: ${message.content.evalue}`));
      if (message.channel === "iopub" && message.msg_type === "status" && message.content.execution_state === "idle") finish();
    });
    ws.on("error", (error) => finish(error));
  });
}
