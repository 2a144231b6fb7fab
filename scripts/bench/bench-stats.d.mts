// Types of scripts/bench/bench-stats.mjs for the TypeScript side (the VM tier's guest bench).
export declare function median(values: readonly number[]): number;
export declare function quantile(values: readonly number[], q: number): number;
