// Types of scripts/test/failure-digest.mjs for its unit test.
export declare class FailureDigest {
  constructor(limit?: number);
  readonly limit: number;
  add(raw: string): void;
  get lines(): string[];
}
