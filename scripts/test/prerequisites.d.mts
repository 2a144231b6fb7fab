// Types of scripts/test/prerequisites.mjs for the TypeScript test helpers.
export declare function inCi(env?: NodeJS.ProcessEnv): boolean;
export declare class MissingPrerequisite extends Error {}
export declare function banner(lines: string[]): void;
export declare function prerequisiteMissing(what: string, missing: string | undefined, consequence?: string, env?: NodeJS.ProcessEnv): boolean;
