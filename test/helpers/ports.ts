import net from "node:net";

// Ports for the servers the tests start (hubs, proxies, single-user servers, slurmd).
//
// Asking the kernel for port 0 and closing it again is not enough: the kernel may give the same
// port to the next such request, and then a hub and its proxy's API were handed one port (seen:
// "Failed to bind hub ... Address already in use"). So the ports come from a block below the
// kernel's ephemeral range (32768-60999 on Linux), where neither port-0 requests nor outgoing
// connections land, each vitest worker has a block of its own, and a process hands each port of
// its block out once before it wraps around. A port something else holds is skipped.
const FIRST = 20_000;
const BLOCK = 600;
const WORKERS = 20;

function workerIndex(): number {
  const id = Number(process.env["VITEST_POOL_ID"] ?? process.env["VITEST_WORKER_ID"] ?? 1);
  return Number.isInteger(id) && id > 0 ? (id - 1) % WORKERS : 0;
}

const blockStart = FIRST + workerIndex() * BLOCK;
// A random start, so that two runs of the same worker (e.g. the Node matrix after `vitest run`)
// do not replay the same ports while the previous run's servers may still be closing.
let next = Math.floor(Math.random() * BLOCK);

function portAt(offset: number): number {
  return blockStart + (offset % BLOCK);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 that this process has not handed out before (until its block wraps). */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = portAt(next++);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in 127.0.0.1:${blockStart}-${blockStart + BLOCK - 1}`);
}
