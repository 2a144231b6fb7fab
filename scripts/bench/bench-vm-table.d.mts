// Types of scripts/bench/bench-vm-table.mjs, for its unit test.
export interface FigureSummary {
  n: number;
  median: number;
  p90: number;
  samples: number[];
}
export type PlacementFigures = Record<"spawnWithPlacement" | "spawnWithoutPlacement" | "killWithPlacement" | "killWithoutPlacement" | "sudoTrue" | "node", FigureSummary>;
export interface PlacementVerdict {
  spawn: { diff: number; hardware: number; pass: boolean };
  kill: { diff: number; hardware: number; noise: number; noiseHardware: number; pass: boolean };
}
export declare const SPAWN_TARGET_MS: number;
export declare const KILL_NOISE_FLOOR_MS: number;
export declare function judgePlacement(figures: PlacementFigures, slowdown: number): PlacementVerdict;
export declare function placementReport(
  result: { figures: PlacementFigures; firstSpawn: FigureSummary | { error: string }; guest: { cpus: number; node: string }; seconds: { image: number; tree: number; boot: number }; imageCached: boolean },
  hostNode: readonly number[],
): { text: string; pass: boolean; slowdown: number; verdict: PlacementVerdict };
