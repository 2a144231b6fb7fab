/**
 * The Slurm watchdog's fixed text (pure). A detached /bin/sh (its own session) runs sbatch with
 * --hold, so it learns the job id whatever happens to the mediator, reports sbatch's status and
 * output, then waits on its stdin: "commit" (the hub has the answer) releases the job; an end of
 * stdin without it (the mediator died, or its answer could not be written) cancels the job. Every
 * value arrives as a positional parameter; the text itself holds no request data.
 */
import { OUTAGE_TEXTS } from "./job.js";

/** $0 of the watchdog: how it shows in ps. */
export const WATCHDOG_NAME = "tsss-slurm-watchdog";
/** The word on the watchdog's stdin that lets the job run. */
export const COMMIT_WORD = "commit";
/** A release or cancel that meets an outage is tried again every RETRY_SECONDS, RETRY_TRIES times. */
export const RETRY_SECONDS = 5;
export const RETRY_TRIES = 60;

const outageCases = OUTAGE_TEXTS.map((text) => `*"${text}"*`).join("|");

/** $1 sbatch, $2 scontrol, $3 scancel, then sbatch's options; the job script on fd 3. */
export const WATCHDOG_SCRIPT = `
trap '' PIPE HUP
sbatch=$1 scontrol=$2 scancel=$3
shift 3
out=$("$sbatch" "$@" <&3 3<&-)
status=$?
exec 3<&-
printf '%s\\n%s\\n' "$status" "$out"
exec >/dev/null 2>&1
[ "$status" -eq 0 ] || exit 0
job=\${out%%;*}
case $job in ''|*[!0-9]*) exit 0 ;; esac
if read -r word && [ "$word" = ${COMMIT_WORD} ]; then
  set -- "$scontrol" release "$job"
else
  set -- "$scancel" "$job"
fi
tries=0
while :; do
  said=$("$@" 2>&1) && exit 0
  case $said in ${outageCases}) ;; *) exit 1 ;; esac
  tries=$((tries + 1))
  [ "$tries" -lt ${RETRY_TRIES} ] || exit 1
  sleep ${RETRY_SECONDS}
done
`;

/** /bin/sh's arguments for one submit. */
export function watchdogArgs(tools: { sbatch: string; scontrol: string; scancel: string }, sbatchArgs: readonly string[]): string[] {
  return ["-c", WATCHDOG_SCRIPT, WATCHDOG_NAME, tools.sbatch, tools.scontrol, tools.scancel, ...sbatchArgs];
}

/** The watchdog's report: sbatch's exit status on the first line, its stdout after; undefined when cut short. */
export function parseReport(text: string): { status: number; stdout: string } | undefined {
  const newline = text.indexOf("\n");
  if (newline < 0 || !/^\d{1,3}$/.test(text.slice(0, newline)) || !text.endsWith("\n")) return undefined;
  return { status: Number(text.slice(0, newline)), stdout: text.slice(newline + 1, -1) };
}
