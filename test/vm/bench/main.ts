/**
 * The VM bench as a program, for `npm run bench` (scripts/bench/bench-vm.mjs bundles and runs it as
 * root): `node main.mjs --tarball FILE --repo DIR --reps N --warmup N`. Progress goes to stderr;
 * stdout gets one JSON object: the result, or {"unavailable": why} when this host cannot boot the
 * VM (then the exit status is 0: a bench without the VM section is not a failed bench).
 */
import { parseArgs } from "node:util";
import { vmToolsMissing } from "../setup.js";
import { runVmBench } from "./host.js";

function count(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, not ${String(raw)}`);
  return n;
}

// Exit on a signal, so that the run's exit handler stops qemu and removes its files.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => process.exit(1));

const { values } = parseArgs({ options: { tarball: { type: "string" }, repo: { type: "string" }, reps: { type: "string" }, warmup: { type: "string" } } });
const missing = process.getuid?.() === 0 ? vmToolsMissing() : "not running as root";
if (missing !== undefined) {
  process.stdout.write(`${JSON.stringify({ unavailable: missing })}\n`);
} else {
  if (values.tarball === undefined || values.repo === undefined) throw new Error("usage: --tarball FILE --repo DIR --reps N --warmup N");
  const result = await runVmBench({
    tarball: values.tarball,
    repoRoot: values.repo,
    reps: Math.max(1, count(values.reps, "reps")),
    warmup: count(values.warmup, "warmup"),
    progress: (message) => process.stderr.write(`bench (VM): ${message}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
