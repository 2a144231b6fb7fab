"""Reading the mediator's one JSON answer (pure: no I/O)."""

import json
from typing import Any, Dict, List, Optional

from ..errors import MediatorError
from ..profiles import Profile, is_valid_profile_name

__all__ = ["MAX_PID", "extract_answers", "extract_answer", "excerpt", "spawn_pid", "kill_alive", "profile_list", "answer_stopped", "describe_stopped"]

# kill(2) takes a 32-bit signed pid.
MAX_PID = 2**31 - 1
# Slurm job ids are positive 32-bit integers (MAX_JOB_ID of src/protocol/wire.ts).
_MAX_STOPPED_ID = 2**32 - 1


def _as_object(text: str) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def extract_answers(stdout: str) -> List[Dict[str, Any]]:
    """The JSON objects on stdout: the whole text if it is one, else each line that is one.

    The mediator writes exactly one line, but a site's sudo may print a banner or lecture first.
    """
    whole = _as_object(stdout.strip())
    if whole is not None:
        return [whole]
    found = (_as_object(line.strip()) for line in stdout.splitlines() if line.strip().startswith("{"))
    return [value for value in found if value is not None]


def extract_answer(stdout: str) -> Optional[Dict[str, Any]]:
    """The one JSON object on stdout, or None when there is none or more than one."""
    answers = extract_answers(stdout)
    return answers[0] if len(answers) == 1 else None


def excerpt(text: str, limit: int = 300) -> str:
    """At most limit characters of text, quoted, for an error message."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _malformed(what: str, answer: Dict[str, Any]) -> MediatorError:
    return MediatorError(
        f"the mediator's {what}: {excerpt(json.dumps(answer))}; is the installed ts-sudospawner older or newer "
        "than this spawner? compare `ts-sudospawner --version` with ts_sudospawner.__version__"
    )


def spawn_pid(answer: Dict[str, Any]) -> int:
    pid = answer.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 1 < pid <= MAX_PID:
        raise _malformed("spawn answer has no valid pid", answer)
    return pid


def kill_alive(answer: Dict[str, Any]) -> bool:
    alive = answer.get("alive")
    if not isinstance(alive, bool):
        raise _malformed('kill answer has no boolean "alive"', answer)
    return alive


def profile_list(answer: Dict[str, Any]) -> List[Profile]:
    profiles = answer.get("profiles")
    if not isinstance(profiles, list):
        raise _malformed('profiles answer has no "profiles" list', answer)
    result = []
    for entry in profiles:
        name = entry.get("name") if isinstance(entry, dict) else None
        description = entry.get("description") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not is_valid_profile_name(name) or not isinstance(description, str):
            raise _malformed("profiles answer has an invalid entry", answer)
        result.append(Profile(name, description))
    return result


def answer_stopped(answer: Dict[str, Any]) -> List[int]:
    """What a reconciling spawn (pids) or submit (job ids) stopped first; [] when the answer says nothing."""
    stopped = answer.get("stopped")
    if stopped is None:
        return []
    if not isinstance(stopped, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 1 < i <= _MAX_STOPPED_ID for i in stopped
    ):
        raise _malformed('answer has an invalid "stopped" list', answer)
    return list(stopped)


def describe_stopped(ids: List[int], user: str, server_name: str, jobs: bool = False) -> str:
    """The hub's warning for what reconciliation at start stopped (the same words as the TS client's)."""
    which = f" named {json.dumps(server_name)}" if server_name else ""
    if jobs:
        what = "Slurm job" if len(ids) == 1 else "Slurm jobs"
        return f"cancelled {len(ids)} {what}{which} of {user} (job {', '.join(map(str, ids))}) left by an earlier hub that stopped before it saved the server's state"
    what = "server" if len(ids) == 1 else "servers"
    return f"stopped {len(ids)} {what}{which} of {user} (pid {', '.join(map(str, ids))}) left by an earlier hub that stopped before it saved the server's state"
