"""Slurm mode, pure parts: reading the answers of submit, query, cancel and slurm-options, the job
object of a submit request within the site policy's bounds, a job state as an exit status, and the
options form (partition, wall time, GPUs) with its strict reader. No I/O: slurm.py calls the mediator.

The mediator checks every value again (docs/protocol.md, "Slurm mode"); the checks here give the
user a clear message before anything is submitted, and never send a value above a maximum.
"""

import html
import json
import math
import re
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from .errors import InvalidUserOptions, MediatorError
from .mediator.answers import excerpt

__all__ = [
    "MAX_JOB_ID",
    "PARTITION_PATTERN",
    "NODE_PATTERN",
    "ACTIVE_STATES",
    "Bounds",
    "SlurmOptions",
    "JobStatus",
    "slurm_options",
    "submitted_job",
    "job_status",
    "cancelled",
    "job_exit_status",
    "job_request",
    "memory_mb",
    "render_slurm_form",
    "slurm_from_form",
]

# Slurm job ids are positive 32-bit integers (the mediator's bound).
MAX_JOB_ID = 2**32 - 1
# Partition names, as the mediator accepts them in requests and in its policy.
PARTITION_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A node name goes into the server's URL: a host name, nothing else.
NODE_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?")
STATE_PATTERN = re.compile(r"[A-Z_]{1,32}")
# A wall time, a GPU count: a few decimal digits, nothing else (no sign, no fraction, no space).
_COUNT_PATTERN = re.compile(r"[0-9]{1,7}")

# Slurm states in which the job still holds, or will hold, its resources: poll() answers None.
# The same set as the mediator's isFinished() (src/mediator/slurm/job.ts) leaves out.
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "RESV_DEL_HOLD",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
# Ended without a failure: the server exited by itself (COMPLETED), or squeue forgot the job (GONE).
_ENDED_OK = frozenset({"COMPLETED", "GONE"})


class Bounds(NamedTuple):
    default: int
    max: int


class SlurmOptions(NamedTuple):
    """The slurm-options answer: what a job may ask for under the site policy."""

    partitions: List[str]  # the first is the default
    minutes: Bounds
    memoryMB: Bounds
    cpus: Bounds
    gpus: Bounds


class JobStatus(NamedTuple):
    state: str  # Slurm's job state, or GONE
    reason: Optional[str]  # why a pending job waits (Resources, Priority, ...)
    node: Optional[str]  # the first node of a running job


def _malformed(what: str, answer: Mapping[str, Any]) -> MediatorError:
    return MediatorError(
        f"the mediator's {what}: {excerpt(json.dumps(answer))}; does the installed ts-sudospawner have Slurm mode? "
        "compare `ts-sudospawner --version` with ts_sudospawner.__version__"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def slurm_options(answer: Mapping[str, Any]) -> SlurmOptions:
    partitions = answer.get("partitions")
    if (
        not isinstance(partitions, list)
        or not partitions
        or not all(isinstance(p, str) and PARTITION_PATTERN.fullmatch(p) for p in partitions)
    ):
        raise _malformed('slurm-options answer has no valid "partitions" list', answer)
    bounds = {}
    for name in ("minutes", "memoryMB", "cpus", "gpus"):
        entry = answer.get(name)
        value: Any = entry.get("default") if isinstance(entry, dict) else None
        maximum: Any = entry.get("max") if isinstance(entry, dict) else None
        if not _is_int(value) or not _is_int(maximum) or not 0 <= value <= maximum:
            raise _malformed(f'slurm-options answer has no valid "{name}" bounds', answer)
        bounds[name] = Bounds(value, maximum)
    return SlurmOptions(list(partitions), **bounds)


def submitted_job(answer: Mapping[str, Any]) -> int:
    job: Any = answer.get("job")
    if not _is_int(job) or not 1 <= job <= MAX_JOB_ID:
        raise _malformed("submit answer has no valid job id", answer)
    return int(job)


def job_status(answer: Mapping[str, Any]) -> JobStatus:
    state, reason, node = answer.get("state"), answer.get("reason"), answer.get("node")
    if not isinstance(state, str) or not STATE_PATTERN.fullmatch(state):
        raise _malformed("query answer has no valid state", answer)
    if reason is not None and (not isinstance(reason, str) or len(reason) > 200 or not reason.isprintable()):
        raise _malformed("query answer has an invalid reason", answer)
    if node is not None and (not isinstance(node, str) or not NODE_PATTERN.fullmatch(node)):
        raise _malformed("query answer has an invalid node name", answer)
    return JobStatus(state, reason or None, node)


def cancelled(answer: Mapping[str, Any]) -> bool:
    value = answer.get("cancelled")
    if not isinstance(value, bool):
        raise _malformed('cancel answer has no boolean "cancelled"', answer)
    return value


# The mediator's refusal of a job that is not one of its servers for this user (NOT_OURS; the
# same text as NOT_OUR_JOB in src/protocol/wire.ts, which a unit test there compares).
NOT_OUR_JOB = "is not a server ts-sudospawner submitted for"


# How the mediator's SLURM_UNAVAILABLE error begins: slurmctld did not answer, an outage (the same
# text as SLURM_NOT_ANSWERING in src/protocol/wire.ts, which a unit test there compares).
SLURM_NOT_ANSWERING = "Slurm is not answering"


def is_slurm_outage(message: str) -> bool:
    """Whether a mediator error says Slurm's controller did not answer (not a refusal)."""
    return SLURM_NOT_ANSWERING in message


def is_not_our_job(message: str) -> bool:
    """Whether a mediator error says the job is no longer this user's server (e.g. its id was
    given to another job after Slurm lost its state): the server it stood for is gone."""
    return NOT_OUR_JOB in message


def job_exit_status(state: str) -> Optional[int]:
    """Spawner.poll()'s answer for a job state: None while the job holds (or waits for) its
    resources, 0 once it completed or is gone, 1 for any other end (FAILED, TIMEOUT, CANCELLED,
    NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE, ..., and states this code does not
    know, as the mediator treats them)."""
    if state in ACTIVE_STATES:
        return None
    return 0 if state in _ENDED_OK else 1


def memory_mb(mem_limit: Optional[int]) -> Optional[int]:
    """Spawner.mem_limit (bytes) as Slurm megabytes (MiB, what --mem=NM means), rounded up."""
    if not mem_limit or mem_limit <= 0:
        return None
    return int(math.ceil(mem_limit / 2**20))


def _count(value: Any, what: str) -> int:
    """An integer from user_options: an int, or a string of decimal digits (a form's value)."""
    if isinstance(value, str) and _COUNT_PATTERN.fullmatch(value):
        return int(value)
    if _is_int(value):
        return int(value)
    raise InvalidUserOptions(f"invalid {what} {str(value)[:40]!r}: a whole number; choose again on the spawn page")


def job_request(
    user_options: Mapping[str, Any],
    mem_limit: Optional[int],
    cpu_limit: Optional[float],
    options: SlurmOptions,
    setting: str = "c.TsSudoSlurmSpawner",
) -> Dict[str, Any]:
    """The "job" object of a submit request, checked against the site policy's bounds.

    partition, minutes and gpus come from user_options (the form, or the REST API), memoryMB from
    mem_limit and cpus from cpu_limit (both rounded up). What is not set is left out: the policy's
    default applies. Raises, naming the bound, for anything the policy does not allow: for the
    user's choices InvalidUserOptions (HTTP 400), for the admin's limits MediatorError (500).
    """
    job: Dict[str, Any] = {}
    partition = user_options.get("partition")
    if partition is not None and partition != "":
        if not isinstance(partition, str) or partition not in options.partitions:
            raise InvalidUserOptions(
                f"partition {str(partition)[:80]!r} is not one the site policy offers "
                f"({', '.join(options.partitions)}); choose another on the spawn page"
            )
        job["partition"] = partition
    for key, what, least in (("minutes", "wall time in minutes", 1), ("gpus", "GPU count", 0)):
        value = user_options.get(key)
        if value is None or value == "":
            continue
        count = _count(value, what)
        bound: Bounds = getattr(options, key)
        if count > bound.max:
            raise InvalidUserOptions(
                f"the {what} {count} is above the site policy's maximum of {bound.max} "
                f"(slurm.{key}.max); choose at most {bound.max} on the spawn page"
            )
        if count < least:
            raise InvalidUserOptions(f"the {what} {count} is too small: at least {least}")
        job[key] = count
    memory = memory_mb(mem_limit)
    if memory is not None:
        if memory > options.memoryMB.max:
            raise MediatorError(
                f"mem_limit {mem_limit} bytes asks Slurm for {memory} MB, above the site policy's maximum of "
                f"{options.memoryMB.max} MB (slurm.memoryMB.max); lower {setting}.mem_limit"
            )
        job["memoryMB"] = memory
    if cpu_limit is not None and cpu_limit > 0:
        cpus = int(math.ceil(cpu_limit))
        if cpus > options.cpus.max:
            raise MediatorError(
                f"cpu_limit {cpu_limit:g} asks Slurm for {cpus} CPUs, above the site policy's maximum of "
                f"{options.cpus.max} CPUs (slurm.cpus.max); lower {setting}.cpu_limit"
            )
        job["cpus"] = cpus
    return job


# -- the options form ---------------------------------------------------------------------------


def render_slurm_form(options: SlurmOptions, previous: Optional[Mapping[str, Any]] = None) -> str:
    """HTML fields for the policy's partitions (a select, the first preselected unless the user's
    last choice is another listed one), the wall time in minutes (default and maximum from the
    policy) and, where the policy allows GPUs, a GPU count. Every text is escaped; JupyterHub wraps
    this in its own <form> with the submit button."""
    previous = previous or {}
    chosen = previous.get("partition")
    if chosen not in options.partitions:
        chosen = options.partitions[0]
    rows = []
    for name in options.partitions:
        value = html.escape(name, quote=True)
        selected = " selected" if name == chosen else ""
        rows.append(f'      <option value="{value}"{selected}>{value}</option>')

    def number(key: str, label: str, least: int, bound: Bounds) -> str:
        value: Any = previous.get(key)
        current: int = value if _is_int(value) and least <= value <= bound.max else bound.default
        current = max(current, least)
        return (
            f'  <div class="form-group mb-3">\n'
            f'    <label class="form-label" for="tsss-{key}">{label} (at most {bound.max})</label>\n'
            f'    <input class="form-control" type="number" name="{key}" id="tsss-{key}" '
            f'min="{least}" max="{bound.max}" step="1" value="{current}" required>\n'
            f"  </div>"
        )

    fields = [
        '  <div class="form-group mb-3">\n'
        '    <label class="form-label" for="tsss-partition">Partition</label>\n'
        '    <select class="form-select form-control" name="partition" id="tsss-partition">\n'
        + "\n".join(rows)
        + "\n    </select>\n  </div>",
        number("minutes", "Wall time in minutes", 1, options.minutes),
    ]
    if options.gpus.max > 0:
        fields.append(number("gpus", "GPUs", 0, options.gpus))
    return '<fieldset class="ts-sudospawner-slurm">\n  <legend>Slurm job</legend>\n' + "\n".join(fields) + "\n</fieldset>\n"


def _one(form_data: Mapping[str, Any], key: str, what: str) -> Optional[str]:
    value: Any = form_data.get(key)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        values = list(value)
        if len(values) != 1:
            raise ValueError(f"give exactly one {what}, got {len(values)}")
        value = values[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError(f"invalid {what} {str(value)[:40]!r}")
    return value


def slurm_from_form(form_data: Mapping[str, Any], options: Optional[SlurmOptions] = None) -> Dict[str, Any]:
    """user_options from submitted form data: {"partition": NAME, "minutes": N, "gpus": N} (each
    only if present; values are lists of strings from a form, or strings from a query).

    Raises ValueError, which JupyterHub shows above the form, for anything else than one partition
    name and whole numbers; with the options the form was rendered from, also for a partition it
    did not list and a number outside its bounds. start() checks again against a fresh answer.
    """
    result: Dict[str, Any] = {}
    partition = _one(form_data, "partition", "partition")
    if partition is not None:
        if not PARTITION_PATTERN.fullmatch(partition):
            raise ValueError(f"invalid partition name {partition[:80]!r}: 1-64 letters, digits, '.', '_' or '-'")
        if options is not None and partition not in options.partitions:
            raise ValueError(f"partition {partition!r} is not offered here: choose one of {', '.join(options.partitions)}")
        result["partition"] = partition
    for key, what, least in (("minutes", "wall time in minutes", 1), ("gpus", "number of GPUs", 0)):
        text = _one(form_data, key, what)
        if text is None:
            continue
        text = text.strip()
        if not _COUNT_PATTERN.fullmatch(text):
            raise ValueError(f"invalid {what} {text[:40]!r}: a whole number")
        count = int(text)
        if count < least:
            raise ValueError(f"the {what} must be at least {least}, got {count}")
        bound = getattr(options, key) if options is not None else None
        if bound is not None and count > bound.max:
            raise ValueError(f"the {what} may be at most {bound.max}, got {count}")
        result[key] = count
    return result
