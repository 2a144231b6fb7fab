// What a failed part of `npm test` said about its failures, kept for the end of the run: the parts
// run side by side for half an hour, and a CI log that keeps only its last lines would otherwise
// end with "FAILED" and no reason.
//
// Pure: lines in, digest lines out. Understands vitest's failure blocks (" FAIL  file > test" and
// the error lines after it), vitest's "×" lines, pytest's "FAILED"/"ERROR" summary lines, and the
// VM tier's heartbeat ("the driver's "x" check FAILED: ...").

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
/** A line that names a failure by itself. */
const NAMES_FAILURE = /^(?:FAIL\s|×\s|FAILED\s|ERROR\s)|check FAILED:/;
/** Lines kept after a " FAIL " header: the error's own first lines. */
const AFTER_HEADER = 4;
const WIDTH = 300;

/** Keeps, in order and once each, the lines that say what failed; at most `limit` of them. */
export class FailureDigest {
  #lines = [];
  #seen = new Set();
  #after = 0;

  constructor(limit = 40) {
    this.limit = limit;
  }

  /** Feed one line of a part's output. */
  add(raw) {
    const line = raw.replace(ANSI, "").trim();
    if (NAMES_FAILURE.test(line)) {
      this.#keep(line);
      this.#after = line.startsWith("FAIL") ? AFTER_HEADER : 0;
    } else if (this.#after > 0 && line !== "" && !/^⎯+/.test(line)) {
      this.#after -= 1;
      this.#keep(`  ${line}`);
    }
  }

  #keep(line) {
    const short = line.length > WIDTH ? `${line.slice(0, WIDTH)}...` : line;
    if (this.#seen.has(short) || this.#lines.length >= this.limit) return;
    this.#seen.add(short);
    this.#lines.push(short);
  }

  /** The kept lines; empty when the output named no failure. */
  get lines() {
    return [...this.#lines];
  }
}
