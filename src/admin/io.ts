/** Where admin commands write: results to `out` (stdout), progress and warnings to `err` (stderr). */
import { writeAllSync } from "../system/write-all.js";

export interface AdminIO {
  out(text: string): void;
  err(text: string): void;
}

/** Synchronous, so progress shows before each slow step and nothing is lost at process.exit. */
export const stdio: AdminIO = {
  out: (text) => writeAllSync(1, text),
  err: (text) => writeAllSync(2, text),
};
