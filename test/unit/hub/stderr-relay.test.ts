import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { LineSplitter, levelOfLine, relayStderr } from "../../../src/hub/stderr-relay.js";
import type { HubLogger } from "../../../src/hub/logger.js";

function recorder(): { logger: HubLogger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => lines.push(`${level}:${message}`);
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

describe("line splitting", () => {
  it("joins partial chunks and strips CR", () => {
    const splitter = new LineSplitter();
    expect(splitter.push("ab")).toEqual([]);
    expect(splitter.push("c\r\nde\nf")).toEqual(["abc", "de"]);
    expect(splitter.flush()).toEqual(["f"]);
    expect(splitter.flush()).toEqual([]);
  });

  it("cuts a line that never ends", () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push("abcdefghij")).toEqual(["abcd", "efgh"]);
    expect(splitter.flush()).toEqual(["ij"]);
  });
});

describe("levels of relayed lines", () => {
  it.each([
    ["[I 2026-11-25 07:30:00.123 ts-sudospawner] Spawning", "info"],
    ["[W 2026-11-25 07:30:00.123 ts-sudospawner] dropped LD_PRELOAD", "warn"],
    ["[E 07:30:00.123 SingleUserNotebookApp] crash", "error"],
    ["[C 2026-11-25 SingleUserNotebookApp] fatal", "error"],
    ["[D 2026-11-25 x] detail", "debug"],
    ['{"level":50,"msg":"x"}', "error"],
    ['{"level":40,"msg":"x"}', "warn"],
    ['{"level":20,"msg":"x"}', "debug"],
    ["Traceback (most recent call last):", "info"],
  ])("%s -> %s", (line, level) => {
    expect(levelOfLine(line)).toBe(level);
  });
});

describe("relaying a stream", () => {
  it("relays each line as it arrives, tagged, and keeps going after capture stops", async () => {
    const { logger, lines } = recorder();
    const stream = new PassThrough();
    const relay = relayStderr(stream, logger, "[alice]");
    stream.write("[W 2026 ts-sudospawner] dropped LD_PRELOAD\npartial");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual(["warn:[alice] [W 2026 ts-sudospawner] dropped LD_PRELOAD"]);
    expect(relay.captured()).toContain("partial");
    relay.stopCapture();
    expect(relay.captured()).toBe("");
    stream.write(" line\n\n[E 2026 Server] late\n");
    stream.end("tail");
    await relay.closed;
    expect(lines).toEqual([
      "warn:[alice] [W 2026 ts-sudospawner] dropped LD_PRELOAD",
      "info:[alice] partial line",
      "error:[alice] [E 2026 Server] late",
      "info:[alice] tail",
    ]);
    expect(relay.captured()).toBe("");
  });
});
