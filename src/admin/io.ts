/** Where admin commands write: results to `out` (stdout), progress and warnings to `err` (stderr). */
import fs from "node:fs";

export interface AdminIO {
  out(text: string): void;
  err(text: string): void;
}

/** Synchronous, so progress shows before each slow step and nothing is lost at process.exit. */
function writeAll(fd: number, text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(fd, rest));
    } catch (error) {
      // A non-blocking pipe that is full: wait for the reader rather than drop output.
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

export const stdio: AdminIO = {
  out: (text) => writeAll(1, text),
  err: (text) => writeAll(2, text),
};
