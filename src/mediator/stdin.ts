/**
 * Read the whole request from stdin, bounded in size and time, so a hub that never closes the
 * pipe or sends endless data gets a clear error instead of a hung or exhausted mediator.
 */
import { read as fsRead } from "node:fs";
import { SudoSpawnerError, errnoCode } from "../errors.js";

export const STDIN_TIMEOUT_MS = 30_000;

function tooLarge(limit: number): SudoSpawnerError {
  return new SudoSpawnerError("REQUEST_TOO_LARGE", `the request on stdin is larger than ${limit} bytes`);
}

/** Read from a stream (used when fd 0 is non-blocking, e.g. a terminal or a socket). */
function readStream(stream: NodeJS.ReadableStream, limit: number, initial: Buffer[], initialSize: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks = initial;
    let size = initialSize;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge(limit));
        stream.removeAllListeners("data");
        return;
      }
      chunks.push(chunk);
    });
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", (error: Error) => reject(new SudoSpawnerError("BAD_REQUEST", `cannot read stdin: ${error.message}`)));
  });
}

function readFd(fd: number, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const step = (): void => {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      fsRead(fd, buffer, 0, buffer.length, null, (error, bytesRead) => {
        if (error) {
          if (errnoCode(error) === "EAGAIN") {
            resolve(readStream(process.stdin, limit, chunks, size));
            return;
          }
          reject(new SudoSpawnerError("BAD_REQUEST", `cannot read stdin: ${error.message}`));
          return;
        }
        if (bytesRead === 0) {
          resolve(Buffer.concat(chunks));
          return;
        }
        size += bytesRead;
        if (size > limit) {
          reject(tooLarge(limit));
          return;
        }
        chunks.push(buffer.subarray(0, bytesRead));
        step();
      });
    };
    step();
  });
}

export async function readRequestBytes(limit: number, timeoutMs = STDIN_TIMEOUT_MS, fd = 0): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SudoSpawnerError("REQUEST_TIMEOUT", `no complete request on stdin after ${timeoutMs / 1000} s; the hub must write one JSON object and close stdin`)),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([readFd(fd, limit), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
