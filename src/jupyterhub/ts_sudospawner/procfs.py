"""Is the server still running? Answered from the hub, without sudo, safe against pid reuse.

``kill(pid, 0)`` says whether *some* process has the pid (EPERM: it exists but belongs to another
user, as the server does). /proc/PID/stat then says whether it is a zombie and when it started:
the start time (field 22, clock ticks since boot) together with the pid names one process for the
life of the machine, so a pid the kernel has handed to another process is not mistaken for ours.
"""

import enum
import os
from typing import Optional, Tuple

__all__ = ["Liveness", "parse_stat", "read_stat", "start_time_of", "liveness"]


class Liveness(enum.Enum):
    ALIVE = "alive"
    GONE = "gone"  # no such process
    ZOMBIE = "zombie"  # exited, not yet reaped by its parent
    REUSED = "reused"  # the pid now belongs to a process that started at another time


def parse_stat(text: str) -> Tuple[str, int]:
    """(state, start time in clock ticks) from the text of /proc/PID/stat.

    The command name (field 2) is in parentheses and may itself contain ')' and spaces, so the
    fields are counted from after the *last* ')': state is field 3, starttime field 22.
    """
    close = text.rindex(")")
    fields = text[close + 1 :].split()
    state = fields[0]
    start_time = int(fields[22 - 3])
    return state, start_time


def read_stat(pid: int) -> Optional[Tuple[str, int]]:
    """parse_stat of /proc/PID/stat, or None if it cannot be read (gone, or /proc mounted hidepid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return parse_stat(f.read())
    except (OSError, ValueError, IndexError):
        return None


def start_time_of(pid: int) -> Optional[int]:
    stat = read_stat(pid)
    return stat[1] if stat else None


def liveness(pid: int, start_time: Optional[int] = None) -> Liveness:
    """Whether pid is alive, seen from the hub user.

    Alive only if kill(pid, 0) succeeds or fails with EPERM, the process is not a zombie, and its
    start time equals start_time (when one is given and /proc can be read).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Liveness.GONE
    except PermissionError:
        pass  # another user's process: it exists
    stat = read_stat(pid)
    if stat is None:
        # Gone between the two calls, or /proc unreadable (hidepid): ask kill() once more.
        return Liveness.ALIVE if _exists(pid) else Liveness.GONE
    state, started = stat
    if state in ("Z", "X", "x"):
        return Liveness.ZOMBIE
    if start_time is not None and started != start_time:
        return Liveness.REUSED
    return Liveness.ALIVE


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
