/**
 * Write a whole string to stdout or stderr synchronously (the mediator's answer and logs, the admin
 * commands' output). Once anything touches process.stderr (a library's import may), Node leaves the
 * pipe non-blocking, so a long line the reader has not drained yet is written partly and then
 * fails with EAGAIN; fs.writeSync alone would drop the rest.
 */
import { writeSync } from "node:fs";
import { errnoCode } from "../errors.js";

const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeAllSync(fd: number, text: string, timeoutMs = 10_000): void {
  const data = Buffer.from(text, "utf8");
  const deadline = Date.now() + timeoutMs;
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset, data.length - offset);
    } catch (error) {
      if (errnoCode(error) !== "EAGAIN" || Date.now() > deadline) throw error;
      Atomics.wait(pause, 0, 0, 2); // the reader is still reading: give it a moment
    }
  }
}
