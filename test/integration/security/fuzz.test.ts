/**
 * Fuzzing the stdin protocol of the installed mediator, run directly as a spawnable user (no
 * sudo per call, for speed): at least 10,000 structure-aware inputs from a seeded PRNG — wrong types,
 * huge and fractional numbers, NaN-ish tokens, signals out of range, deep nesting, NUL bytes, giant
 * strings around the 1 MiB bound, duplicate keys, unicode and escapes, truncated JSON, extra keys,
 * valid kills of pids that are not ours.
 *
 * The oracle is exact: the request validator decides what each input is (valid spawns without a
 * launch profile would start a server, so they are never generated; spawn requests naming a profile
 * are refused because no policy file exists), so every answer is compared byte for byte. For every
 * input: exactly one JSON line on stdout, exit status 0 iff ok, every stderr line a log line (no
 * stack trace), no hang; and after every batch no process of the user but the canaries, which
 * must never have received a signal although their pids are in the corpus.
 *
 * TSSS_FUZZ_SEED reproduces a run (the seed is printed); TSSS_FUZZ_COUNT sets the count (at least
 * 1,000; default 10,000).
 *
 * A second corpus is traitlets-shaped: server arguments and typed environment values, spawns
 * without a profile among them, judged by this file's own table of what the vocabulary admits (not
 * by the mediator's code), and a sample of it goes through the real sudo rule. Its valid spawns
 * start real servers, which are checked and stopped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MAX_REQUEST_BYTES, escapeControls, parseRequest } from "../../../src/protocol/index.js";
import { slurmDisabled } from "../../../src/mediator/slurm/job.js";
import { POLICY_DIR } from "../../helpers/site-policy.js";
import { freePort } from "../../helpers/ports.js";
import { killUserProcesses, procState, procStatus, runMediatorAs, userInfo, userProcesses, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("protocol fuzzing (test/integration/security/fuzz.test.ts)", fx.reason);

const COUNT = Math.max(1_000, Number(process.env.TSSS_FUZZ_COUNT ?? 0) || 10_000);
const SEED = Number.isSafeInteger(Number(process.env.TSSS_FUZZ_SEED)) && process.env.TSSS_FUZZ_SEED ? Number(process.env.TSSS_FUZZ_SEED) : Date.now() % 2 ** 31;
const PARALLEL = Math.max(2, Math.min(4, os.cpus().length + 1));
const CALL_TIMEOUT_MS = 20_000;
const BATCH = 1_000;
const LOG_LINE = /^\[[DIWEC] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ts-sudospawner\] /;
const LOG_LEVELS = ["--logging=INFO", "--logging=INFO", "--logging=INFO", "--logging=debug", "--logging=warning", "--logging=error", "--logging=none"];

// ---- a seeded PRNG (mulberry32) --------------------------------------------------------------

class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

// ---- structure-aware generation (JSON text built token by token) -------------------------------

interface Targets {
  /** Pids of processes of the user that the mediator did not start: must never be signalled. */
  canaries: number[];
  /** Pids that exist but belong to others (root): EPERM. */
  foreign: number[];
}

/** Number tokens as JSON text, including ones JSON.parse reads surprisingly ("2.0" is 2). */
const NUMBER_TOKENS = [
  "0", "-0", "1", "2", "-1", "-2", "1.0", "2.0", "1.5", "-1.5", "0.1", "1e0", "1e1", "1E3", "-1e3", "1e-7", "2e9", "1e21", "1e308", "-1e308",
  "1e309", "-1e309", "9007199254740991", "9007199254740992", "9007199254740993", "2147483647", "2147483648", "4294967295", "4294967296",
  "4294967301", "-2147483648", "-4294967295", "64", "65", "63", "-64", "255", "256", "123456789012345678901234567890", "0.0000000000001",
];
/** Tokens that are not JSON at all. */
const BAD_TOKENS = ["NaN", "-NaN", "Infinity", "-Infinity", "undefined", "0x10", "01", ".5", "+1", "1.", "1e", "--1", "'x'", "True", "nul", "∞"];
const WEIRD_STRINGS = [
  "", " ", "kill", "spawn", "KILL", "Kill", "kill ", " kill", "kill\u0000", "\u0000", "15", "0", "-1", "null", "true", "1e3", "💥", "ℌ𝔲𝔟",
  "\u202Ekill", "k\u0301ill", "\uFEFFkill", "\ud800", "\udfff", "a\nb", "\t", "\\", '"', "/bin/sh", "../../etc/passwd", "$(id)", "`id`", "%s%n",
];
const UNICODE_SAMPLES = ["é", "日本語", "😀", "\u0000", "\u0001", "\u007f", "\u2028", "\u2029", "\ud83d", "\ude00", "\uFFFE", "\uFFFF", "ÿ", "Ω", "\u00a0"];

function jsonString(rng: Rng, value: string): string {
  // Sometimes escape every character: the same value in different bytes.
  if (rng.chance(0.1)) {
    let escaped = "";
    for (let i = 0; i < value.length; i++) escaped += `\\u${value.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return `"${escaped}"`;
  }
  // Lone surrogates must be escaped to survive as text; JSON.stringify does that.
  return JSON.stringify(value);
}

function randomText(rng: Rng, maxLength: number): string {
  let out = "";
  const length = rng.int(maxLength + 1);
  for (let i = 0; i < length; i++) {
    out += rng.chance(0.7) ? String.fromCharCode(32 + rng.int(95)) : rng.pick(UNICODE_SAMPLES);
  }
  return out;
}

function whitespace(rng: Rng): string {
  if (rng.chance(0.85)) return "";
  return rng.pick([" ", "\n", "\t", "\r\n", "  ", " \n\t "]);
}

function weirdValue(rng: Rng, depth = 0): string {
  const kind = rng.int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0:
      return rng.pick(NUMBER_TOKENS);
    case 1:
      return jsonString(rng, rng.pick(WEIRD_STRINGS));
    case 2:
      return rng.pick(["true", "false", "null"]);
    case 3:
      return jsonString(rng, randomText(rng, 40));
    case 4:
      return rng.pick(["[]", "{}", "[[]]", '{"":""}', "[null]", '[""]', "[1,2,3]"]);
    case 5:
      return rng.pick(NUMBER_TOKENS);
    case 6: {
      const n = rng.int(4);
      return `[${Array.from({ length: n }, () => weirdValue(rng, depth + 1)).join(",")}]`;
    }
    case 7: {
      const n = rng.int(4);
      return `{${Array.from({ length: n }, () => `${jsonString(rng, randomText(rng, 8))}:${weirdValue(rng, depth + 1)}`).join(",")}}`;
    }
    default:
      return `${"[".repeat(1 + rng.int(200))}${"]".repeat(1 + rng.int(200))}`;
  }
}

type Field = [key: string, value: string];

/** Render fields as an object, with optional duplicates (JSON.parse keeps the last), extra keys, order and whitespace changes. */
function renderObject(rng: Rng, fields: Field[]): string {
  const all: Field[] = [...fields];
  if (rng.chance(0.08)) all.push([jsonString(rng, rng.pick(["executable", "cmd", "uid", "user", "shell", "cwd", "__proto__", "constructor", "", "Action", randomText(rng, 6)])), weirdValue(rng)]);
  if (rng.chance(0.05) && all.length > 0) {
    // A duplicate of some key with another value, at a random place: JSON.parse keeps the last.
    const [key] = rng.pick(all);
    all.splice(rng.int(all.length), 0, [key, weirdValue(rng)]);
  }
  if (rng.chance(0.1)) {
    for (let i = all.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [all[i], all[j]] = [all[j] as Field, all[i] as Field];
    }
  }
  if (rng.chance(0.04) && all.length > 0) all.splice(rng.int(all.length), 1);
  return `${whitespace(rng)}{${all.map(([k, v]) => `${whitespace(rng)}${k}${whitespace(rng)}:${whitespace(rng)}${v}`).join(",")}${whitespace(rng)}}${whitespace(rng)}`;
}

function validPid(rng: Rng, targets: Targets): string {
  const choice = rng.int(6);
  if (choice <= 1 && targets.canaries.length > 0) return String(rng.pick(targets.canaries));
  if (choice === 2 && targets.foreign.length > 0) return String(rng.pick(targets.foreign));
  if (choice === 3) return String(4_194_305 + rng.int(1_000_000)); // above any pid_max
  if (choice === 4) return rng.pick(["2147483647", "4194304", "4194305", "999999", "2.0"]);
  return String(2 + rng.int(2_000_000_000));
}

/** Which of `count` fields to break: none in about a third of the requests, so deep paths are reached. */
function faults(rng: Rng, count: number): Set<number> {
  const broken = new Set<number>();
  const n = rng.int(3);
  for (let i = 0; i < n; i++) broken.add(rng.int(count));
  return broken;
}

function killRequest(rng: Rng, targets: Targets): string {
  const broken = faults(rng, 3);
  const action = broken.has(0) ? weirdValue(rng) : jsonString(rng, "kill");
  const pid = broken.has(1) ? (rng.chance(0.3) ? rng.pick(BAD_TOKENS) : weirdValue(rng)) : validPid(rng, targets);
  const signal = broken.has(2) ? (rng.chance(0.3) ? rng.pick(BAD_TOKENS) : weirdValue(rng)) : String(rng.int(65));
  return renderObject(rng, [
    [jsonString(rng, "action"), action],
    [jsonString(rng, "pid"), pid],
    [jsonString(rng, "signal"), signal],
  ]);
}

function envObject(rng: Rng, valid: boolean): string {
  const n = rng.int(6);
  const entries: string[] = [];
  const bad = valid ? -1 : rng.int(n + 1);
  for (let i = 0; i < n; i++) {
    const breakName = i === bad && rng.chance(0.5);
    const breakValue = i === bad && !breakName;
    const name = breakName
      ? rng.pick(["", "A=B", "A\u0000B", "=", "\u0000"])
      : rng.chance(0.8)
        ? rng.pick(["PATH", "LANG", "JUPYTERHUB_API_TOKEN", "LD_PRELOAD", "PYTHONPATH", "HOME", "NODE_OPTIONS", "TS_SUDOSPAWNER_PID", "X", "é"])
        : randomText(rng, 10).replace(/[=\u0000]/g, "_") || "Y";
    const value = breakValue ? weirdValue(rng) : jsonString(rng, randomText(rng, 20).replace(/\u0000/g, ""));
    entries.push(`${jsonString(rng, name)}:${value}`);
  }
  // The chosen bad entry may not exist (n = 0): then the whole value is wrong instead.
  if (!valid && (bad >= n)) return weirdValue(rng);
  return `{${entries.join(",")}}`;
}

function argsArray(rng: Rng, valid: boolean): string {
  const n = rng.int(5);
  if (!valid && n === 0) return weirdValue(rng);
  const bad = valid ? -1 : rng.int(n);
  const items: string[] = [];
  for (let i = 0; i < n; i++) {
    items.push(i === bad ? (rng.chance(0.5) ? weirdValue(rng) : jsonString(rng, "x\u0000y")) : jsonString(rng, rng.pick(["--port=8888", "--ip=0.0.0.0", randomText(rng, 30).replace(/\u0000/g, "")])));
  }
  return `[${items.join(",")}]`;
}

/** Slurm actions: with no "slurm" section in the policy, each valid one must be refused before it acts. */
function slurmRequest(rng: Rng): string {
  const broken = faults(rng, 3);
  const action = rng.pick(["submit", "submit-test", "query", "cancel", "slurm-options"]);
  const fields: Field[] = [[jsonString(rng, "action"), broken.has(0) ? weirdValue(rng) : jsonString(rng, action)]];
  if (action === "query" || action === "cancel") {
    fields.push([jsonString(rng, "job"), broken.has(1) ? rng.pick([...BAD_TOKENS, "0", "-1", "4294967296", '"12"']) : String(1 + rng.int(100_000))]);
  } else if (action.startsWith("submit")) {
    fields.push([jsonString(rng, "args"), argsArray(rng, true)], [jsonString(rng, "env"), envObject(rng, true)]);
    if (rng.chance(0.6)) {
      const job = broken.has(2)
        ? rng.pick(['{"cpus":-1}', '{"partition":"a b"}', '{"gpus":1.5}', '{"account":"x"}', "[]", '{"minutes":"60"}'])
        : rng.pick(['{"cpus":2}', '{"partition":"debug","minutes":30}', '{"memoryMB":1024,"gpus":0}', "{}"]);
      fields.push([jsonString(rng, "job"), job]);
    }
  }
  return renderObject(rng, fields);
}

function spawnRequest(rng: Rng): string {
  const broken = faults(rng, 5);
  const fields: Field[] = [
    [jsonString(rng, "action"), broken.has(0) ? weirdValue(rng) : jsonString(rng, "spawn")],
    [jsonString(rng, "args"), argsArray(rng, !broken.has(1))],
    [jsonString(rng, "env"), envObject(rng, !broken.has(2))],
  ];
  // A profile keeps a valid spawn from starting anything: there is no policy file defining one.
  if (rng.chance(0.85)) fields.push([jsonString(rng, "profile"), broken.has(3) ? weirdValue(rng) : jsonString(rng, rng.pick(["lab", "voila", "conda-env.2", "a".repeat(64)]))]);
  if (rng.chance(0.3)) {
    const limits = broken.has(4)
      ? rng.chance(0.5)
        ? `{${rng.pick(['"cpu":-1', '"core":1.5', '"stack":1', '"nofile":"1"', '"as":1e309', '"nproc":null'])}}`
        : weirdValue(rng)
      : `{${rng.pick(['"nofile":1024', '"nproc":10,"as":0', '"cpu":60', '"core":0', ""])}}`;
    fields.push([jsonString(rng, "limits"), limits]);
  }
  return renderObject(rng, fields);
}

function otherInput(rng: Rng): string {
  switch (rng.int(8)) {
    case 0:
      return weirdValue(rng);
    case 1:
      return rng.pick(["", " ", "\n", "\t\r\n", "{", "}", "[", "{}", "[]", "null", '"kill"', "kill 1234", "{}{}", "{} {}", "\uFEFF{}", "\u0000"]);
    case 2:
      return `{"action":${weirdValue(rng)}}`;
    case 3:
      return `${killRequest(rng, { canaries: [], foreign: [] })}${rng.pick(["{}", " x", ",", "]", '{"action":"spawn"}'])}`;
    case 4:
      return rng.pick(BAD_TOKENS);
    case 5:
      return `{"action":"kill","pid":${rng.pick(BAD_TOKENS)},"signal":0}`;
    case 6:
      return `{"action":"kill","pid":12345,"signal":${rng.pick([...BAD_TOKENS, ...NUMBER_TOKENS])}}`;
    default:
      return `{"action":"kill","pid":${String(4_194_305 + rng.int(1000))},"signal":${rng.int(65)}${rng.pick(["", ",", ',"x":1', ",}"])}}`;
  }
}

/** Byte-level damage to a rendered request: truncation, raw NUL, invalid UTF-8, a flipped byte. */
function damage(rng: Rng, text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  switch (rng.int(5)) {
    case 0:
      return bytes.subarray(0, rng.int(bytes.length + 1));
    case 1: {
      const at = rng.int(bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([0]), bytes.subarray(at)]);
    }
    case 2: {
      const at = rng.int(bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick([[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]])), bytes.subarray(at)]);
    }
    case 3: {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[rng.int(copy.length)] = rng.int(256);
      return copy;
    }
    default:
      return Buffer.concat([bytes, Buffer.from(randomText(rng, 20), "utf8")]);
  }
}

/** Inputs at and around the size bound, deep nesting, huge names and many keys. */
function giant(rng: Rng, targets: Targets): Buffer {
  const kill = `{"action":"kill","pid":${String(rng.pick(targets.canaries))},"signal":15}`;
  switch (rng.int(9)) {
    case 0: // exactly the bound, valid: whitespace padding
      return Buffer.from(kill + " ".repeat(MAX_REQUEST_BYTES - kill.length));
    case 1: // one byte over the bound
      return Buffer.from(kill + " ".repeat(MAX_REQUEST_BYTES - kill.length + 1));
    case 2: // far over the bound
      return Buffer.alloc(MAX_REQUEST_BYTES * (2 + rng.int(6)), "x");
    case 3: {
      // a giant argument just under the bound, with a profile (refused, nothing starts)
      const head = '{"action":"spawn","profile":"lab","env":{},"args":["';
      const tail = '"]}';
      return Buffer.from(head + "a".repeat(MAX_REQUEST_BYTES - head.length - tail.length - rng.int(100)) + tail);
    }
    case 4: {
      // a giant argument just over the bound
      const head = '{"action":"spawn","profile":"lab","env":{},"args":["';
      return Buffer.from(`${head}${"b".repeat(MAX_REQUEST_BYTES)}"]}`);
    }
    case 5: {
      // deep nesting inside args
      const depth = 100_000 + rng.int(400_000);
      return Buffer.from(`{"action":"spawn","env":{},"args":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    }
    case 6: {
      // a huge environment variable name with a non-string value: the error names it
      return Buffer.from(`{"action":"spawn","args":[],"env":{"${"N".repeat(500_000 + rng.int(400_000))}":1}}`);
    }
    case 7: {
      // many keys, the last one bad
      const entries = Array.from({ length: 20_000 + rng.int(20_000) }, (_, i) => `"V${i}":"${i}"`);
      return Buffer.from(`{"action":"spawn","args":[],"env":{${entries.join(",")},"BAD":[]}}`);
    }
    default: {
      // a giant string full of escapes and NULs
      return Buffer.from(`{"action":"spawn","profile":"lab","env":{},"args":["${"\\u0000é😀".repeat(60_000 + rng.int(20_000))}"]}`);
    }
  }
}

interface Case {
  index: number;
  input: Buffer;
  args: string[];
  expectedStdout: string;
  expectedStatus: number;
  /** A log line the mediator must print (at log levels that show it). */
  stderrMust?: string;
}

/** What the mediator must answer, from the request validator; undefined for a spawn that would start a server. */
function oracle(input: Buffer, targets: Targets): { answer: Record<string, unknown>; stderrMust?: string } | undefined {
  if (input.length > MAX_REQUEST_BYTES) return { answer: { ok: false, error: `the request on stdin is larger than ${MAX_REQUEST_BYTES} bytes` } };
  let request: ReturnType<typeof parseRequest>;
  try {
    request = parseRequest(input);
  } catch (error) {
    return { answer: { ok: false, error: (error as Error).message } };
  }
  if (request.action === "kill") {
    const { pid } = request;
    if (targets.canaries.includes(pid)) return { answer: { ok: true, alive: false }, stderrMust: `pid ${pid} is not a server started by ts-sudospawner` };
    if (targets.foreign.includes(pid)) {
      return { answer: { ok: true, alive: false }, stderrMust: `permission denied sending signal ${request.signal} to pid ${pid}` };
    }
    return { answer: { ok: true, alive: false } };
  }
  if (request.action === "profiles") return { answer: { ok: true, profiles: [] } };
  // The fuzz policy has no "slurm" section: every Slurm action is refused before it acts.
  if (request.action !== "spawn") return { answer: { ok: false, error: slurmDisabled().message } };
  if (request.profile !== undefined) {
    return { answer: { ok: false, error: `launch profile ${JSON.stringify(request.profile)} requested, but the site policy defines no profiles` } };
  }
  return undefined;
}

function generate(seed: number, count: number, targets: Targets): { cases: Case[]; categories: Record<string, number> } {
  const rng = new Rng(seed);
  const cases: Case[] = [];
  const categories: Record<string, number> = { kill: 0, spawn: 0, slurm: 0, other: 0, damaged: 0, giant: 0, "valid kill": 0, "spawn with profile": 0, rejected: 0 };
  while (cases.length < count) {
    const roll = rng.next();
    let input: Buffer;
    let category: string;
    if (roll < 0.006) {
      input = giant(rng, targets);
      category = "giant";
    } else if (roll < 0.4) {
      input = Buffer.from(killRequest(rng, targets), "utf8");
      category = "kill";
    } else if (roll < 0.66) {
      input = Buffer.from(spawnRequest(rng), "utf8");
      category = "spawn";
    } else if (roll < 0.74) {
      input = Buffer.from(slurmRequest(rng), "utf8");
      category = "slurm";
    } else if (roll < 0.87) {
      input = Buffer.from(otherInput(rng), "utf8");
      category = "other";
    } else {
      input = damage(rng, rng.chance(0.5) ? killRequest(rng, targets) : spawnRequest(rng));
      category = "damaged";
    }
    const expected = oracle(input, targets);
    if (!expected) {
      // Would start a server: never part of the corpus.
      categories.rejected = (categories.rejected ?? 0) + 1;
      continue;
    }
    categories[category] = (categories[category] ?? 0) + 1;
    if (expected.answer.ok === true) categories["valid kill"] = (categories["valid kill"] ?? 0) + 1;
    if (typeof expected.answer.error === "string" && expected.answer.error.startsWith("launch profile ")) {
      categories["spawn with profile"] = (categories["spawn with profile"] ?? 0) + 1;
    }
    const args = [rng.pick(LOG_LEVELS)];
    const showsWarnings = !["--logging=error", "--logging=none"].includes(args[0] as string);
    const item: Case = {
      index: cases.length,
      input,
      args,
      expectedStdout: `${JSON.stringify(expected.answer)}\n`,
      expectedStatus: expected.answer.ok === true ? 0 : 1,
    };
    // Warnings (not ours) show at warning and below; the EPERM line is an error and shows at error too.
    if (expected.stderrMust && (showsWarnings || (args[0] === "--logging=error" && expected.stderrMust.startsWith("permission denied")))) {
      item.stderrMust = expected.stderrMust;
    }
    cases.push(item);
  }
  return { cases, categories };
}

// ---- running the corpus as the user ------------------------------------------------------------

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

function runOne(user: TestUser, item: Case): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(fx.mediator, item.args, {
      uid: user.uid,
      gid: user.gid,
      cwd: user.home,
      // What sudo -H would give it.
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: "/bin/bash", LANG: "C.UTF-8" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let exit: { status: number | null; signal: NodeJS.Signals | null } | undefined;
    let stdoutEnded = false;
    let stderrEnded = false;
    let settled = false;
    const settle = (): void => {
      if (settled || !exit || !stdoutEnded) return;
      settled = true;
      clearTimeout(timer);
      // Anything that kept stderr open after the mediator exited (a server) is noticed by the
      // process checks; do not wait for it here.
      const finish = (): void => {
        child.stderr.destroy();
        resolve({
          status: exit?.status ?? null,
          signal: exit?.signal ?? null,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
          timedOut,
          ms: Date.now() - started,
        });
      };
      if (stderrEnded) finish();
      else setTimeout(finish, 200);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
      stdoutEnded = true;
      settle();
    }, CALL_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stdout.on("end", () => {
      stdoutEnded = true;
      settle();
    });
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.stderr.on("end", () => {
      stderrEnded = true;
    });
    child.on("error", reject);
    child.on("exit", (status, signal) => {
      exit = { status, signal };
      settle();
    });
    child.stdin.on("error", () => undefined); // the mediator may stop reading an oversized request
    child.stdin.end(item.input);
  });
}

function shorten(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** Every property the protocol promises for one input; the first broken one, or undefined. */
function violation(item: Case, outcome: Outcome): string | undefined {
  if (outcome.timedOut) return `no answer within ${CALL_TIMEOUT_MS} ms (hang)`;
  if (outcome.signal !== null) return `killed by ${outcome.signal}`;
  if (outcome.stdout !== item.expectedStdout) return `stdout ${shorten(JSON.stringify(outcome.stdout))}, expected ${shorten(JSON.stringify(item.expectedStdout))}`;
  if (outcome.status !== item.expectedStatus) return `exit status ${outcome.status}, expected ${item.expectedStatus}`;
  const lines = outcome.stderr.split("\n").filter((line) => line !== "");
  const stray = lines.find((line) => !LOG_LINE.test(line));
  if (stray !== undefined) return `stderr line that is not a log line (stack trace or stray output): ${shorten(stray)}`;
  if (item.expectedStatus === 1 && item.args[0] !== "--logging=none") {
    // As written to stderr: control characters escaped, lone surrogates encoded as U+FFFD.
    const error = Buffer.from(escapeControls((JSON.parse(item.expectedStdout) as { error: string }).error), "utf8").toString("utf8");
    if (!outcome.stderr.includes(error)) return "the error message is not repeated on stderr";
  }
  if (item.stderrMust && !outcome.stderr.includes(item.stderrMust)) return `stderr lacks ${JSON.stringify(item.stderrMust)}`;
  return undefined;
}

// ---- the traitlets-shaped corpus: arguments and typed variables, with an oracle of its own -------

/**
 * What the vocabulary admits, written out here from docs/policy.md and not from
 * src/mediator/vocabulary: option spellings (case, dashes and underscores do not matter) with
 * values of their type, and the flags. A value option needs "=VALUE"; a flag takes none.
 */
const ARG_TABLE: { spellings: string[]; good: string[]; bad: string[] }[] = [
  { spellings: ["ip", "ServerApp.ip", "NotebookApp.ip", "SingleUserNotebookApp.ip"], good: ["127.0.0.1", "0.0.0.0", "::1", "localhost", ""], bad: ["1.2.3.4.5", "a b", "$(id)", "-x", "::1::"] },
  { spellings: ["port", "ServerApp.port", "NotebookApp.port", "SingleUserNotebookApp.port"], good: ["1", "8888", "65535"], bad: ["0", "65536", "x", "8888 ", "-1", "1e3", ""] },
  { spellings: ["SingleUserNotebookApp.default_url", "ServerApp.default_url", "NotebookApp.default_url", "base-url", "ServerApp.base_url"], good: ["/", "/lab", "/user/a%20b/"], bad: ["lab", "//evil.example/", "http://evil.example/", "/a b", ""] },
  { spellings: ["hub-api-url", "SingleUserNotebookApp.hub_api_url"], good: ["http://127.0.0.1:8081/hub/api", "https://hub.example.org/hub/api"], bad: ["file:///etc/passwd", "ftp://x/", "127.0.0.1:8081"] },
  { spellings: ["SingleUserNotebookApp.disable_user_config"], good: ["True", "false", "1", "0"], bad: ["yes", "2", ""] },
];
const ARG_FLAGS = ["debug", "disable-user-config"];
/** Traitlets options a hub would love to pass, none of them in the vocabulary. */
const TRAITLETS_BAIT = [
  "Application.logging_config", "ServerApp.jpserver_extensions", "ServerApp.kernel_manager_class", "JupyterApp.config_file", "config",
  "ServerApp.browser", "ServerApp.runtime_dir", "ServerApp.preferred_dir", "ServerApp.tornado_settings", "KernelSpecManager.kernel_dirs",
  "ContentsManager.pre_save_hook", "ServerApp.allow_origin", "ServerApp.disable_check_xsrf", "ServerApp.token", "ServerApp.port_retries",
  "MappingKernelManager.cull_idle_timeout", "LabApp.collaborative", "no-browser", "log-level", "y", "generate-config", "notebook_dir_x",
];
/** Vocabulary traits the invented names could hit but ARG_TABLE does not judge (their values are paths). */
const VOCABULARY_TRAITS_NOT_IN_TABLE = new Set(["root_dir", "notebook_dir"]);
const CLASS_WORDS = ["Server", "Notebook", "Kernel", "Lab", "Contents", "Session", "Gateway", "Terminal", "Hub", "Jupyter"];
const TRAIT_WORDS = ["root", "dir", "url", "class", "config", "file", "port", "ip", "extra", "paths", "cmd", "level", "log", "mode"];

/** A spelling in the traitlets forms: "--x", "--Class.trait", case and dash variants. */
function spellingOf(rng: Rng, name: string): string {
  let out = name;
  if (rng.chance(0.15)) out = out.toLowerCase();
  if (rng.chance(0.15)) out = out.replaceAll("_", "-");
  return `--${out}`;
}

function normalisedSpelling(arg: string): string {
  const eq = arg.indexOf("=");
  return (eq === -1 ? arg : arg.slice(0, eq)).replace(/^-+/, "").toLowerCase().replaceAll("-", "_");
}

const KNOWN_VALUE_OPTIONS = new Set(ARG_TABLE.flatMap((row) => row.spellings.map((name) => normalisedSpelling(`--${name}`))));
const KNOWN_FLAGS = new Set(ARG_FLAGS.map((name) => normalisedSpelling(`--${name}`)));

type ArgVerdict = { ok: true } | { ok: false; reason: string };

/** The oracle for one argument: this table's own reading of the vocabulary. */
function judgeArg(arg: string): ArgVerdict {
  if (!arg.startsWith("--") || arg === "--") return { ok: false, reason: "the single-user server takes no positional arguments from the hub" };
  const name = normalisedSpelling(arg);
  const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined;
  if (KNOWN_FLAGS.has(name) && !KNOWN_VALUE_OPTIONS.has(name)) {
    return value === undefined ? { ok: true } : { ok: false, reason: `${arg.slice(0, arg.indexOf("="))} is a flag and takes no value` };
  }
  const row = ARG_TABLE.find((entry) => entry.spellings.some((spelling) => normalisedSpelling(`--${spelling}`) === name));
  if (!row) return { ok: false, reason: "not in the vocabulary of what a hub sends" };
  if (value === undefined) return { ok: false, reason: `${arg} needs its value in the same word` };
  if (row.good.includes(value)) return { ok: true };
  if (row.bad.includes(value)) return { ok: false, reason: "the value must be " };
  throw new Error(`the corpus generated a value the table does not judge: ${arg}`);
}

function traitletsArg(rng: Rng): string {
  switch (rng.int(7)) {
    case 0:
    case 1: {
      const row = rng.pick(ARG_TABLE);
      return `${spellingOf(rng, rng.pick(row.spellings))}=${rng.chance(0.7) ? rng.pick(row.good) : rng.pick(row.bad)}`;
    }
    case 2:
      return rng.chance(0.8) ? spellingOf(rng, rng.pick(ARG_FLAGS)) : `${spellingOf(rng, rng.pick(ARG_FLAGS))}=${rng.pick(["1", "", "x"])}`;
    case 3:
      return rng.chance(0.5) ? spellingOf(rng, rng.pick(TRAITLETS_BAIT)) : `${spellingOf(rng, rng.pick(TRAITLETS_BAIT))}=${rng.pick(["{}", "x", "/home/hub/x.py", "['/tmp']", "os.system", "1"])}`;
    case 4: {
      // an invented "--ClassName.trait_name=value": the vocabulary knows none of them. The words
      // can make a real one ("NotebookApp.root_dir"), which this table does not judge: pick again.
      const klass = `${rng.pick(CLASS_WORDS)}${rng.pick(["App", "Manager", "Handler", ""])}`;
      let trait = `${rng.pick(TRAIT_WORDS)}_${rng.pick(TRAIT_WORDS)}`;
      while (VOCABULARY_TRAITS_NOT_IN_TABLE.has(trait)) trait = `${rng.pick(TRAIT_WORDS)}_${rng.pick(TRAIT_WORDS)}`;
      return `--${klass}.${trait}=${rng.pick(["1", "x", "/tmp", "True"])}`;
    }
    case 5: {
      // a value option with its value in the next word
      const row = rng.pick(ARG_TABLE);
      return spellingOf(rng, rng.pick(row.spellings));
    }
    default:
      return rng.pick(["notebook.ipynb", "x", "-c", "--", "-", "/home/hub/run.py", "lab", "8888", "-y"]);
  }
}

/** Variables with values of their type and not, from docs/policy.md's table. */
const ENV_TABLE: Record<string, { good: string[]; bad: string[] }> = {
  JUPYTERHUB_API_TOKEN: { good: ["0123456789abcdef0123456789abcdef"], bad: ["two words", ""] },
  JUPYTERHUB_USER: { good: ["alice", "Jörg.Müller"], bad: ["a\nb", "a\u001bb"] },
  JUPYTERHUB_SERVICE_PREFIX: { good: ["/user/alice/"], bad: ["//evil.example/", "user/alice/"] },
  JUPYTERHUB_API_URL: { good: ["http://127.0.0.1:8081/hub/api"], bad: ["file:///etc/passwd", "javascript:alert(1)"] },
  JUPYTERHUB_SINGLEUSER_APP: { good: ["", "jupyter-server", "notebook"], bad: ["os.system", "hubmodule.App"] },
  JUPYTERHUB_DEBUG: { good: ["1", "0", ""], bad: ["maybe"] },
  JUPYTERHUB_OAUTH_SCOPES: { good: ['["access:servers!user=alice"]', "[]"], bad: ['"x"', "[1]"] },
  MEM_LIMIT: { good: ["1073741824"], bad: ["1G", "-1"] },
  CPU_LIMIT: { good: ["1.5", "2"], bad: ["two"] },
  TZ: { good: ["UTC", "Europe/Berlin"], bad: ["/etc/passwd", ":/home/hub/tz", "Europe/../../x"] },
  LANG: { good: ["C.UTF-8", "en_US.UTF-8"], bad: ["/home/hub/locale", "../x"] },
  LC_ALL: { good: ["C"], bad: ["/tmp/x"] },
};
/** Names outside the vocabulary: dropped with a warning, never a refusal. */
const ENV_DROPPED = ["LD_PRELOAD", "PYTHONPATH", "SITE_DATASET", "JUPYTERHUB_INVENTED", "JUPYTERHUB_SSL_KEYFILE", "XDG_CONFIG_HOME"];

function typedEnv(rng: Rng): { env: Record<string, string>; refusal?: string; dropped: string[] } {
  const env: Record<string, string> = {};
  let refusal: string | undefined;
  const dropped: string[] = [];
  for (let i = rng.int(4); i > 0; i--) {
    if (rng.chance(0.25)) {
      const name = rng.pick(ENV_DROPPED);
      if (!(name in env)) dropped.push(name);
      env[name] = "/home/hub/x";
      continue;
    }
    const name = rng.pick(Object.keys(ENV_TABLE));
    if (name in env) continue;
    const row = ENV_TABLE[name] as { good: string[]; bad: string[] };
    const good = rng.chance(0.75);
    env[name] = good ? rng.pick(row.good) : rng.pick(row.bad);
    if (!good && refusal === undefined) refusal = `environment variable ${name} refused: its value must be `;
  }
  return { env, ...(refusal === undefined ? {} : { refusal }), dropped };
}

interface TraitletsCase {
  index: number;
  args: string[];
  env: Record<string, string>;
  /** The start of the error, or undefined: a valid spawn that starts a server. */
  refusal?: string;
  dropped: string[];
  viaSudo: boolean;
}

/** Valid spawns start real servers (a second each): a few, not hundreds. */
const TRAITLETS_COUNT = 600;
const MAX_VALID_SPAWNS = 12;
const SUDO_SAMPLE_EVERY = 8;

function traitletsCorpus(seed: number): TraitletsCase[] {
  const rng = new Rng(seed ^ 0x5eed);
  const cases: TraitletsCase[] = [];
  let valid = 0;
  while (cases.length < TRAITLETS_COUNT) {
    // Valid spawns need a port of their own: the server is started with the corpus's other arguments.
    const args = Array.from({ length: 1 + rng.int(4) }, () => traitletsArg(rng)).filter((arg) => !/^--(\w+\.)?port=/i.test(arg));
    const { env, refusal: envRefusal, dropped } = typedEnv(rng);
    const badArg = args.map((arg) => [arg, judgeArg(arg)] as const).find(([, verdict]) => !verdict.ok);
    const refusal = badArg ? `server argument ${JSON.stringify(badArg[0])} refused: ${(badArg[1] as { reason: string }).reason}` : envRefusal;
    if (refusal === undefined && ++valid > MAX_VALID_SPAWNS) continue;
    cases.push({ index: cases.length, args, env, ...(refusal === undefined ? {} : { refusal }), dropped, viaSudo: cases.length % SUDO_SAMPLE_EVERY === 0 });
  }
  return cases;
}

async function runTraitletsCase(item: TraitletsCase, user: TestUser): Promise<{ run: MediatorRun; port: number }> {
  const port = await freePort();
  const input = JSON.stringify({ action: "spawn", args: [`--port=${port}`, ...item.args], env: { PATH: "/usr/bin:/bin", ...item.env } });
  if (item.viaSudo) return { run: await runMediatorAs(fx.hub, user.name, fx.mediator, input, ["--logging=INFO"]), port };
  const outcome = await runOne(user, { index: item.index, input: Buffer.from(input), args: ["--logging=INFO"], expectedStdout: "", expectedStatus: 0 });
  let answer: Record<string, unknown> | undefined;
  try {
    answer = JSON.parse(outcome.stdout) as Record<string, unknown>;
  } catch {
    answer = undefined;
  }
  return { run: { status: outcome.status, stdout: outcome.stdout, stderr: outcome.stderr, answer }, port };
}

function traitletsViolation(item: TraitletsCase, run: MediatorRun): string | undefined {
  if (run.stdout.split("\n").filter(Boolean).length !== 1) return `stdout is not one JSON line: ${shorten(JSON.stringify(run.stdout))}`;
  const stray = run.stderr.split("\n").filter(Boolean).find((line) => !LOG_LINE.test(line) && !line.startsWith("demo-singleuser: "));
  if (stray !== undefined) return `stderr line that is not a log line: ${shorten(stray)}`;
  if (item.refusal !== undefined) {
    if (run.status !== 1 || run.answer?.ok !== false) return `expected a refusal starting ${JSON.stringify(item.refusal)}, got ${shorten(run.stdout)}`;
    if (!String(run.answer.error).startsWith(item.refusal)) return `error ${JSON.stringify(run.answer.error)} does not start with ${JSON.stringify(item.refusal)}`;
    return undefined;
  }
  if (run.status !== 0 || run.answer?.ok !== true || typeof run.answer.pid !== "number") return `expected a started server, got ${shorten(run.stdout)}; ${shorten(run.stderr, 600)}`;
  for (const name of item.dropped) {
    if (!run.stderr.includes(`dropped environment variable ${name}: `)) return `no warning for the dropped ${name}`;
  }
  return undefined;
}

// ---- a table of what must be refused, and why: written by hand, sent through the real sudo rule --

/**
 * Each row is an attack on the protocol itself, with the word the refusal must name. It does not
 * consult the request validator: a validator that let one of these through fails here.
 */
const MUST_REFUSE: { why: string; input: string; names: RegExp }[] = [
  { why: "pid -1 would signal every process of the user", input: '{"action":"kill","pid":-1,"signal":9}', names: /"pid" must be an integer greater than 1/ },
  { why: "pid 0 is the caller's process group", input: '{"action":"kill","pid":0,"signal":9}', names: /"pid"/ },
  { why: "pid 1 is init", input: '{"action":"kill","pid":1,"signal":9}', names: /"pid"/ },
  { why: "true is pid 1 to Python", input: '{"action":"kill","pid":true,"signal":9}', names: /"pid"/ },
  { why: "a pid as text", input: '{"action":"kill","pid":"4242","signal":9}', names: /"pid"/ },
  { why: "a fractional pid", input: '{"action":"kill","pid":4242.5,"signal":9}', names: /"pid"/ },
  { why: "a signal beyond the kernel's", input: '{"action":"kill","pid":4242,"signal":65}', names: /"signal" must be an integer from 0 to 64/ },
  { why: "a negative signal", input: '{"action":"kill","pid":4242,"signal":-9}', names: /"signal"/ },
  { why: "the last of duplicate keys wins in JSON.parse: a pid 1 hidden behind a good one", input: '{"action":"kill","pid":4242,"signal":9,"pid":1}', names: /"pid"/ },
  { why: "the hub names the executable", input: '{"action":"spawn","args":[],"env":{},"executable":"/bin/sh"}', names: /unknown key "executable"/ },
  { why: "the hub names a working directory", input: '{"action":"spawn","args":[],"env":{},"cwd":"/home/hub"}', names: /unknown key "cwd"/ },
  { why: "the hub names a user", input: '{"action":"spawn","args":[],"env":{},"user":"root"}', names: /unknown key "user"/ },
  { why: "the hub names a sandbox", input: '{"action":"spawn","args":[],"env":{},"sandbox":{"noNewPrivileges":false}}', names: /unknown key "sandbox"/ },
  { why: "args as one shell string", input: '{"action":"spawn","args":"--port=1; id","env":{}}', names: /"args" must be an array of strings/ },
  { why: "a NUL byte would cut an argument short", input: '{"action":"spawn","args":["--port=1\\u0000--config=x"],"env":{}}', names: /NUL/ },
  { why: "an environment name with '=' would set another variable", input: '{"action":"spawn","args":[],"env":{"LANG=C LD_PRELOAD":"x"}}', names: /contains "="/ },
  { why: "a non-string environment value", input: '{"action":"spawn","args":[],"env":{"LANG":1}}', names: /must be a string/ },
  { why: "a raised limit of an unknown kind", input: '{"action":"spawn","args":[],"env":{},"limits":{"memlock":1}}', names: /unknown limit "memlock"/ },
  { why: "an action the mediator does not have", input: '{"action":"shell","cmd":"id"}', names: /"action" must be one of/ },
  { why: "two requests in one", input: '{"action":"profiles"}{"action":"kill","pid":4242,"signal":9}', names: /expected one JSON object/ },
  { why: "a positional argument (a file to open)", input: '{"action":"spawn","args":["/home/hub/x.ipynb"],"env":{}}', names: /takes no positional arguments/ },
  { why: "a traitlets option outside the vocabulary", input: '{"action":"spawn","args":["--ServerApp.jpserver_extensions={}"],"env":{}}', names: /not in the vocabulary/ },
  { why: "an import path as the single-user app", input: '{"action":"spawn","args":[],"env":{"JUPYTERHUB_SINGLEUSER_APP":"hub.App"}}', names: /JUPYTERHUB_SINGLEUSER_APP refused/ },
];

// ---- canaries ----------------------------------------------------------------------------------

/** A process of the user that records every signal it can catch into `log` (and ignores them). */
const CANARY_SCRIPT = `
const fs = require("node:fs");
const os = require("node:os");
const log = process.argv[1];
for (const name of Object.keys(os.constants.signals)) {
  if (["SIGKILL", "SIGSTOP"].includes(name)) continue;
  try { process.on(name, () => fs.appendFileSync(log, name + "\\n")); } catch {}
}
setInterval(() => {}, 1 << 30);
`;

function startCanary(user: TestUser, file: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(file, args, { uid: user.uid, gid: user.gid, cwd: user.home, env: { PATH: "/usr/bin:/bin", ...env }, stdio: "ignore" });
  if (child.pid === undefined) throw new Error(`could not start canary ${file}`);
  return child;
}

describe.skipIf(skip)("fuzzing the stdin protocol", () => {
  let alice: TestUser;
  const canaries: ChildProcess[] = [];
  let signalLog = "";
  let workDir = "";

  beforeAll(async () => {
    // Spawn requests naming a profile are refused only while no policy exists.
    expect(fs.existsSync(POLICY_DIR), `${POLICY_DIR} must not exist during fuzzing`).toBe(false);
    alice = userInfo(fx.users[0] as string);
    killUserProcesses(alice.name);
    workDir = fs.mkdtempSync("/tmp/tsss-fuzz-");
    fs.chmodSync(workDir, 0o755);
    const script = path.join(workDir, "canary.cjs");
    fs.writeFileSync(script, CANARY_SCRIPT, { mode: 0o644 });
    signalLog = path.join(workDir, "signals.log");
    fs.writeFileSync(signalLog, "", { mode: 0o666 });
    fs.chownSync(signalLog, alice.uid, alice.gid);
    // An unmarked sleep (any signal but CHLD/CONT/URG/WINCH would end or stop it), and a node
    // process that records catchable signals and carries a mark naming another pid.
    const sleeper = startCanary(alice, "/usr/bin/sleep", ["3600"]);
    canaries.push(sleeper);
    canaries.push(startCanary(alice, process.execPath, [script, signalLog], { TS_SUDOSPAWNER_PID: String(sleeper.pid) }));
    await new Promise((resolve) => setTimeout(resolve, 500));
  });

  afterAll(async () => {
    await Promise.all(
      canaries.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGKILL");
          }),
      ),
    );
    killUserProcesses(alice.name);
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    expect(userProcesses(alice.name)).toEqual([]);
  });

  it(`answers ${COUNT} generated inputs exactly, without a crash, hang, spawn or stray signal`, async () => {
    const targets: Targets = { canaries: canaries.map((c) => c.pid as number), foreign: [process.pid, 2] };
    const started = Date.now();
    const { cases, categories } = generate(SEED, COUNT, targets);
    process.stderr.write(
      `fuzz: seed ${SEED} (TSSS_FUZZ_SEED=${SEED} reproduces), ${cases.length} inputs, ${PARALLEL} in parallel; ${Object.entries(categories)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; generated in ${Date.now() - started} ms\n`,
    );
    expect(cases.length).toBeGreaterThanOrEqual(COUNT);

    const failures: string[] = [];
    const durations: number[] = [];
    for (let from = 0; from < cases.length; from += BATCH) {
      const batch = cases.slice(from, from + BATCH);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < batch.length) {
          const item = batch[next++] as Case;
          const outcome = await runOne(alice, item);
          durations.push(outcome.ms);
          const problem = violation(item, outcome);
          if (problem) failures.push(`#${item.index} (${item.args[0]}, input ${shorten(JSON.stringify(item.input.toString("utf8")), 200)}): ${problem}`);
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      // Between batches nothing of the user may run but the canaries: nothing spawned, nothing left.
      const left = userProcesses(alice.name).filter((pid) => !targets.canaries.includes(pid));
      if (left.length > 0) failures.push(`after input #${from + batch.length - 1}: processes of ${alice.name} left behind: ${left.join(", ")}`);
      for (const pid of targets.canaries) {
        const state = procState(pid);
        if (state !== "S" && state !== "R") failures.push(`after input #${from + batch.length - 1}: canary ${pid} is ${state ?? "gone"}`);
      }
      const caught = fs.readFileSync(signalLog, "utf8");
      if (caught !== "") failures.push(`after input #${from + batch.length - 1}: the canary caught ${caught.trim().split("\n").join(", ")}`);
      process.stderr.write(`fuzz: ${from + batch.length}/${cases.length} inputs, ${failures.length} failures, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      if (failures.length > 50) break;
    }
    durations.sort((a, b) => a - b);
    process.stderr.write(
      `fuzz: seed ${SEED}: ${cases.length} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s; per call median ${durations[durations.length >> 1]} ms, max ${durations[durations.length - 1]} ms\n`,
    );
    expect(failures.slice(0, 20), `seed ${SEED}: ${failures.length} failures`).toEqual([]);
    for (const child of canaries) expect(child.exitCode === null && child.signalCode === null).toBe(true);
  }, 900_000);

  it.each(MUST_REFUSE)("refuses through the real sudo rule: $why", async ({ input, names }) => {
    const run = await runMediatorAs(fx.hub, alice.name, fx.mediator, input, ["--logging=INFO"]);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    expect(run.answer?.ok).toBe(false);
    expect(String(run.answer?.error)).toMatch(names);
    for (const child of canaries) expect(child.exitCode === null && child.signalCode === null).toBe(true);
  });

  it(`answers ${TRAITLETS_COUNT} traitlets-shaped spawns as this file's table of the vocabulary says, starting servers only for valid ones (a sample through sudo)`, async () => {
    const started = Date.now();
    const cases = traitletsCorpus(SEED);
    const counts = { refused: cases.filter((c) => c.refusal !== undefined).length, valid: cases.filter((c) => c.refusal === undefined).length, sudo: cases.filter((c) => c.viaSudo).length };
    process.stderr.write(`fuzz (traitlets): seed ${SEED}, ${cases.length} spawns: ${counts.refused} to refuse, ${counts.valid} valid (servers started), ${counts.sudo} through sudo\n`);
    expect(counts.valid).toBeGreaterThan(0);
    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < cases.length) {
        const item = cases[next++] as TraitletsCase;
        const { run } = await runTraitletsCase(item, alice);
        const problem = traitletsViolation(item, run);
        if (problem) failures.push(`#${item.index} (args ${JSON.stringify(item.args)}, env ${JSON.stringify(item.env)}${item.viaSudo ? ", via sudo" : ""}): ${problem}`);
        const pid = run.answer?.pid;
        if (typeof pid === "number") {
          // A real server of alice's: stop it through the mediator, as the hub would.
          if (procStatus(pid)?.Uid?.split(/\s+/)[0] !== String(alice.uid)) failures.push(`#${item.index}: server ${pid} does not run as ${alice.name}`);
          await runMediatorAs(fx.hub, alice.name, fx.mediator, JSON.stringify({ action: "kill", pid, signal: 9 }), ["--logging=error"]);
          await waitFor(() => !["R", "S", "D"].includes(procState(pid) ?? ""), 15_000, `server ${pid} to stop`);
        }
        if (failures.length > 50) return;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    process.stderr.write(`fuzz (traitlets): seed ${SEED}: ${cases.length} spawns in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failures.length} failures\n`);
    expect(failures.slice(0, 20), `seed ${SEED}: ${failures.length} failures`).toEqual([]);
    await waitFor(() => userProcesses(alice.name).filter((pid) => !canaries.some((c) => c.pid === pid) && ["R", "S", "D"].includes(procState(pid) ?? "")).length === 0, 15_000, "no server of alice left");
  }, 900_000);
});
