// The "systemd host (VM, qemu TCG)" section of `npm run bench` (pure): the placement's cost judged
// against issue 17's targets, "+30 ms per spawn" and "nothing on kill". TCG makes everything slower
// than hardware, so each difference is also shown divided by the slowdown measured in the same run
// (node -e 0 in the guest against node -e 0 on the host), and the targets are judged on that.
import { median, quantile } from "./bench-stats.mjs";

export const SPAWN_TARGET_MS = 30;
/** Below this much on hardware, a kill difference is called nothing whatever the spread. */
export const KILL_NOISE_FLOOR_MS = 2;

/**
 * The verdict, in hardware milliseconds (the guest's figures divided by `slowdown`):
 *   spawn: median(with) − median(without) ≤ 30 ms;
 *   kill:  |median(with) − median(without)| ≤ noise, the larger of 2 ms and either side's spread
 *          (p90 − median): a difference smaller than how far one side's own samples scatter is not
 *          a difference this run can tell apart.
 */
export function judgePlacement(figures, slowdown) {
  const { spawnWithPlacement: sw, spawnWithoutPlacement: so, killWithPlacement: kw, killWithoutPlacement: ko } = figures;
  const spawnDiff = sw.median - so.median;
  const killDiff = kw.median - ko.median;
  const killSpread = Math.max(kw.p90 - kw.median, ko.p90 - ko.median);
  const killNoise = Math.max(KILL_NOISE_FLOOR_MS * slowdown, killSpread);
  return {
    spawn: { diff: spawnDiff, hardware: spawnDiff / slowdown, pass: spawnDiff / slowdown <= SPAWN_TARGET_MS },
    kill: { diff: killDiff, hardware: killDiff / slowdown, noise: killNoise, noiseHardware: killNoise / slowdown, pass: Math.abs(killDiff) <= killNoise },
  };
}

const ms = (value) => `${value.toFixed(1)} ms`;
const signed = (value) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)} ms`;
const spread = (figure) => `${ms(figure.median)}, p90 ${ms(figure.p90)}`;

/**
 * The section's text and whether both targets pass. `result`: what test/vm/bench/main.ts printed;
 * `hostNode`: node -e 0 on the host, as the bench's user, in this run (ms).
 */
export function placementReport(result, hostNode) {
  const { figures } = result;
  const hostMedian = median(hostNode);
  const slowdown = figures.node.median / hostMedian;
  const verdict = judgePlacement(figures, slowdown);
  const factor = `${slowdown.toFixed(1)}×`;
  const table = [
    "| figure (in the guest, through real sudo) | with placement | without | difference (medians) | target (judged at the slowdown) | result |",
    "| --- | --- | --- | --- | --- | --- |",
    `| spawn answer (graceSeconds 0, a lingering user) | ${spread(figures.spawnWithPlacement)} | ${spread(figures.spawnWithoutPlacement)} | ${signed(verdict.spawn.diff)} in TCG ~ ${signed(verdict.spawn.hardware)} on hardware at the measured slowdown ${factor} | ≤ +${SPAWN_TARGET_MS} ms per spawn | ${verdict.spawn.pass ? "PASS" : "FAIL"} |`,
    `| kill round trip (SIGTERM to that server) | ${spread(figures.killWithPlacement)} | ${spread(figures.killWithoutPlacement)} | ${signed(verdict.kill.diff)} in TCG ~ ${signed(verdict.kill.hardware)} on hardware at the measured slowdown ${factor} | nothing: within noise ±${ms(verdict.kill.noiseHardware)} on hardware (±${ms(verdict.kill.noise)} in TCG) | ${verdict.kill.pass ? "PASS" : "FAIL"} |`,
  ];
  const first = result.firstSpawn;
  const firstRow = first.error === undefined ? `${ms(first.median)} | each: ${first.samples.map(ms).join(", ")}` : `not measured: ${first.error} | `;
  const floors = [
    "| floor and slowdown (same run) | median | p90 |",
    "| --- | --- | --- |",
    `| sudo -n -u U /usr/bin/true as the hub (guest) | ${ms(figures.sudoTrue.median)} | ${ms(figures.sudoTrue.p90)} |`,
    `| node -e 0 as U (guest) | ${ms(figures.node.median)} | ${ms(figures.node.p90)} |`,
    `| node -e 0 as U (host) | ${ms(hostMedian)} | ${ms(quantile(hostNode, 0.9))} |`,
    `| TCG slowdown (guest node -e 0 / host node -e 0) | ${factor} | |`,
    `| first spawn of a never-lingering user, with placement (linger enabled, its manager started) | ${firstRow} |`,
  ];
  const notes = [
    `${figures.spawnWithPlacement.n} rounds in the guest (Debian 12, systemd, cgroup v2; ${result.guest.cpus} vCPUs, Node ${result.guest.node}), with and without alternating first; medians and p90.`,
    `"nothing on kill": |median difference| ≤ the larger of ${KILL_NOISE_FLOOR_MS} ms on hardware and either side's p90 − median.`,
    `VM: base image ${result.imageCached ? "cached" : `built in ${result.seconds.image.toFixed(0)} s`}, tree and disk ${result.seconds.tree.toFixed(0)} s, boot to power-off ${result.seconds.boot.toFixed(0)} s.`,
  ];
  const text = ["systemd host (VM, qemu TCG): the cgroup placement's cost (issue 17)", "", ...table, "", ...floors, "", ...notes].join("\n");
  return { text, pass: verdict.spawn.pass && verdict.kill.pass, slowdown, verdict };
}
