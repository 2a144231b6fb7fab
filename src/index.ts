/** Library entry: the hub-side client and the pure pieces admins and integrators reuse. */
export { SudoSpawnerError, ERROR_CODES, isSudoSpawnerError, type ErrorCode } from "./errors.js";
export { VERSION } from "./version.js";
export * from "./protocol/index.js";
export { applyEnvPolicy, type EnvPolicy } from "./mediator/env-policy.js";
export { ENV_VOCABULARY, NEVER_NAMES, NEVER_PREFIXES, judgeVariable } from "./mediator/vocabulary/environment.js";
export { SERVER_ARG_VOCABULARY, checkServerArgs, settingsFixedBy } from "./mediator/vocabulary/server-args.js";
export * from "./hub/index.js";
