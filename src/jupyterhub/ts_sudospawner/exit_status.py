"""The server's real exit status, from the line its reaper writes when it exits.

The mediator's native reaper parents each server for the server's lifetime. When the server exits
it writes exactly one line on the stderr the hub relays, e.g.

    [I tsss-reaper] server pid 1234 exited with status 3
    [I tsss-reaper] server pid 1234 was killed by signal 9

poll() returns that status as subprocess does: the exit code, or -SIGNAL for a signal.
"""

import re
import signal
from typing import Optional, Tuple

__all__ = ["REAPER_EXIT_LINE", "parse_reaper_exit", "describe_status"]

REAPER_EXIT_LINE = re.compile(
    r"\[[A-Z](?: [^\]]*)? tsss-reaper\] server pid ([0-9]{1,10}) "
    r"(?:exited with status ([0-9]{1,3})|was killed by signal ([0-9]{1,2}))\s*"
)

# Why a server may have died of a signal, for the admin and the user.
_SIGNAL_HINTS = {
    signal.SIGKILL: "out of memory? killed by the kernel's OOM killer or an admin",
    signal.SIGSEGV: "the server crashed",
    signal.SIGABRT: "the server aborted",
    signal.SIGBUS: "the server crashed",
    signal.SIGTERM: "stopped from outside",
    signal.SIGINT: "interrupted",
    signal.SIGXCPU: "CPU time limit reached",
    signal.SIGXFSZ: "file size limit reached",
}


def parse_reaper_exit(line: str) -> Optional[Tuple[int, int]]:
    """(pid, status) from a reaper exit line, status being the code or -signal; else None."""
    match = REAPER_EXIT_LINE.fullmatch(line.strip())
    if not match:
        return None
    pid = int(match.group(1))
    if match.group(2) is not None:
        code = int(match.group(2))
        return (pid, code) if code <= 255 else None
    sig = int(match.group(3))
    return (pid, -sig) if 0 < sig <= 64 else None


def describe_status(status: int) -> str:
    """'exited with status 3' or 'was killed by signal 9 (SIGKILL: out of memory? ...)'."""
    if status >= 0:
        return f"exited with status {status}"
    number = -status
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"was killed by signal {number}"
    hint = _SIGNAL_HINTS.get(signal.Signals(number))
    return f"was killed by signal {number} ({name}: {hint})" if hint else f"was killed by signal {number} ({name})"
