/**
 * A tiny stand-in for jupyterhub-singleuser, used by `npm run demo` and the integration tests:
 * HTTP `GET .../api/status` reports who and where it runs; a WebSocket at `.../api/echo` echoes.
 * Listens on --port=N (or the port of JUPYTERHUB_SERVICE_URL) on --ip (default 127.0.0.1).
 */
import fs from "node:fs";
import http from "node:http";
import { WebSocketServer } from "ws";

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  const found = process.argv.find((arg) => arg.startsWith(prefix));
  return found?.slice(prefix.length);
}

function listenPort(): number {
  const fromArgs = option("port");
  if (fromArgs) return Number(fromArgs);
  const url = process.env.JUPYTERHUB_SERVICE_URL;
  if (url) return Number(new URL(url).port);
  return 8888;
}

function openFds(): string[] {
  try {
    return fs.readdirSync("/proc/self/fd");
  } catch {
    return [];
  }
}

const startFds = openFds();

// The hub's end of stderr goes away when the hub restarts (or a test stops reading). Like
// jupyterhub-singleuser, whose logging survives a broken pipe, the server then keeps serving.
process.stderr.on("error", () => undefined);

const server = http.createServer((request, response) => {
  if (request.url?.endsWith("/api/status")) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(
      JSON.stringify({
        pid: process.pid,
        uid: process.getuid?.(),
        gid: process.getgid?.(),
        cwd: process.cwd(),
        argv: process.argv.slice(2),
        env: process.env,
        fdsAtStart: startFds,
      }),
    );
    return;
  }
  response.writeHead(404, { "content-type": "text/plain" });
  response.end("not found\n");
});

const sockets = new WebSocketServer({ noServer: true });
server.on("upgrade", (request, socket, head) => {
  if (!request.url?.endsWith("/api/echo")) {
    socket.destroy();
    return;
  }
  sockets.handleUpgrade(request, socket, head, (ws) => {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

const port = listenPort();
const ip = option("ip") ?? "127.0.0.1";
server.listen(port, ip, () => {
  process.stderr.write(`demo-singleuser: listening on http://${ip}:${port} as uid ${process.getuid?.()} in ${process.cwd()}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    process.stderr.write(`demo-singleuser: ${signal}, shutting down\n`);
    sockets.clients.forEach((client) => client.terminate());
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
