/**
 * Deadlines in tests only guard against a hang: a test waits for the event it is about (an exit, a
 * line, a state) and fails if it never comes. They are never a timing check: an upper bound on how
 * fast something happens flakes on a loaded machine and belongs in `npm run bench`
 * (scripts/bench/bench.mjs), where figures are measured against floors of the same run.
 */
export const HANG_GUARD_MS = 30_000;

/** `promise`, or a rejection naming `what` once the hang guard is over. */
export function withinHangGuard<T>(promise: Promise<T>, what: string, ms = HANG_GUARD_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}
