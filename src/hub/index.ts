/** The hub-side client, as exported from the package root. */
export { SudoSpawner, DEFAULT_STOP, DEFAULT_TIMEOUT_MS, type SudoSpawnerOptions, type StartOptions, type StopOptions, type SudoSpawnerState } from "./spawner.js";
export { buildSudoCommand, describeCommand, type SudoCommand, type SudoCommandOptions } from "./command-line.js";
export { callMediator, type MediatorCallOptions } from "./mediator-call.js";
export { classifySudoFailure, extractJsonObject, interpretOutcome, type CallOutcome } from "./answer.js";
export { processAlive, signalNumber } from "./liveness.js";
export { stderrLogger, silentLogger, type HubLogger } from "./logger.js";
