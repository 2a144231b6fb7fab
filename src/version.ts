/** Kept equal to package.json's version by a unit test; inlined so --version reads no file. */
export const VERSION = "0.1.0";
