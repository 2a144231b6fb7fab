/** The wire protocol between hub and mediator: see wire.ts for the shapes, docs/protocol.md for the prose. */
export * from "./wire.js";
export { parseRequest, validateRequest } from "./request.js";
export { answerStopped, excerpt, isServerPid, killAnswerAlive, profilesAnswerList, slurmOptionsAnswer, spawnAnswerPid } from "./answer.js";
export { LOG_LEVELS, logLevelOf, type LogLevel } from "./log-levels.js";
export { shellLine, shellQuote } from "./shell.js";
export { parseExitLine, type ServerExit } from "./exit-line.js";
export { escapeControls, logExcerpt, terminalText } from "./log-text.js";
