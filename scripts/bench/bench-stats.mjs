// The statistics of `npm run bench`, one definition for the host figures (bench.mjs) and the VM
// tier's guest bench (test/vm/guest/bench.ts): a median, and a quantile as the sample at that rank.

/** The middle of the samples (the mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The sample below which a fraction `q` of them lie (no interpolation: a value that was measured). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
