/** A slurm-options answer as the mediator writes it, for the unit tests of its readers. */
export const SLURM_OPTIONS_ANSWER = {
  ok: true,
  partitions: ["debug", "short"],
  minutes: { default: 60, max: 480 },
  memoryMB: { default: 2048, max: 8192 },
  cpus: { default: 1, max: 4 },
  gpus: { default: 0, max: 0 },
} as const;
