import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_SIGNAL } from "../../../src/protocol/index.js";

describe("protocol bounds checked again in native code", () => {
  it("the addon's signal bound is the protocol's", () => {
    const addon = fs.readFileSync(path.resolve(import.meta.dirname, "../../../native/src/addon.cc"), "utf8");
    expect(/constexpr int kMaxSignal = (\d+);/.exec(addon)?.[1]).toBe(String(MAX_SIGNAL));
  });
});
