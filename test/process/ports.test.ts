import net from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "../helpers/ports.js";

function hold(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("the tests' free ports", () => {
  it("never hands out one port twice in a row of calls, and stays below the kernel's ephemeral range", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 60; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeLessThan(32_768);
  });

  it("skips a port something else holds", async () => {
    const before = await freePort();
    // The port after it is the next one handed out (unless `before` ended the worker's block).
    const held = await hold(before + 1);
    try {
      const port = await freePort();
      expect(port).not.toBe(before + 1);
      expect(port).not.toBe(before);
    } finally {
      await new Promise((resolve) => held.close(resolve));
    }
  });
});
