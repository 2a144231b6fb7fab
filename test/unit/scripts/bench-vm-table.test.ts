import { describe, expect, it } from "vitest";
import { judgePlacement, placementReport, type FigureSummary, type PlacementFigures } from "../../../scripts/bench/bench-vm-table.mjs";

const figure = (median: number, p90 = median): FigureSummary => ({ n: 3, median, p90, samples: [median, median, p90] });

function figures(overrides: Partial<PlacementFigures> = {}): PlacementFigures {
  return {
    spawnWithPlacement: figure(900, 950),
    spawnWithoutPlacement: figure(700, 740),
    killWithPlacement: figure(500, 540),
    killWithoutPlacement: figure(495, 520),
    sudoTrue: figure(120),
    node: figure(400, 430),
    ...overrides,
  };
}

describe("the VM section's verdict on the cgroup placement (issue 17)", () => {
  it("judges the spawn difference divided by the slowdown against +30 ms", () => {
    // 200 ms more in TCG at a 10× slowdown is 20 ms on hardware: within the target.
    expect(judgePlacement(figures(), 10).spawn).toEqual({ diff: 200, hardware: 20, pass: true });
    // At 5× the same 200 ms is 40 ms.
    expect(judgePlacement(figures(), 5).spawn.pass).toBe(false);
  });

  it("calls a kill difference nothing within the larger of 2 ms on hardware and either side's p90 − median", () => {
    // Spread 40 ms (with: 540 − 500) against 2 ms × 10 = 20 ms: the 5 ms difference is noise.
    expect(judgePlacement(figures(), 10).kill).toMatchObject({ diff: 5, noise: 40, pass: true });
    // No spread at all: the floor of 2 ms on hardware (20 ms in TCG at 10×) decides.
    const tight = figures({ killWithPlacement: figure(530), killWithoutPlacement: figure(500) });
    expect(judgePlacement(tight, 10).kill).toMatchObject({ diff: 30, noise: 20, pass: false });
    // A faster kill with placement is no cost either, within the same band.
    const faster = figures({ killWithPlacement: figure(485), killWithoutPlacement: figure(500) });
    expect(judgePlacement(faster, 10).kill.pass).toBe(true);
  });

  it("takes the slowdown from node -e 0 in the guest against the host's, and says both figures in the table", () => {
    const result = { figures: figures(), firstSpawn: figure(3000), guest: { cpus: 2, node: "v20.0.0" }, seconds: { image: 0, tree: 9, boot: 200 }, imageCached: true };
    const section = placementReport(result, [39, 40, 41]);
    expect(section.slowdown).toBe(10);
    expect(section.pass).toBe(true);
    expect(section.text).toContain("+200.0 ms in TCG ~ +20.0 ms on hardware at the measured slowdown 10.0×");
    expect(section.text).toContain("| ≤ +30 ms per spawn | PASS |");
    // The first spawn of a never-lingering user is reported apart; its failure judges nothing.
    const without = placementReport({ ...result, firstSpawn: { error: "polkit said no" } }, [39, 40, 41]);
    expect(without.pass).toBe(true);
    expect(without.text).toContain("not measured: polkit said no");
  });
});
