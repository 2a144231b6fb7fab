/** Library entry: the hub-side client and the pure pieces admins and integrators reuse. */
export { SudoSpawnerError, ERROR_CODES, isSudoSpawnerError, type ErrorCode } from "./errors.js";
export { VERSION } from "./version.js";
export * from "./protocol/index.js";
export { applyEnvPolicy, denialReason, DENIED_NAMES, DENIED_PREFIXES, type EnvPolicy } from "./mediator/env-policy.js";
export * from "./hub/index.js";
