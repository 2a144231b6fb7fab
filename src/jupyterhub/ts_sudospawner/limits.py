"""Spawner.mem_limit as a resource limit of the spawn request (pure).

The mediator's reaper applies request limits with setrlimit(2) in the server's process just before
exec, and never above the site policy's. mem_limit becomes RLIMIT_DATA ("data"): the bytes of the
data segment, heap and private anonymous mappings of *each process* (Linux >= 4.7), inherited by
the kernels it starts. It is not a cgroup: it does not add up the processes of a server, nor count
shared memory or page cache; an allocation over it fails (MemoryError) instead of an OOM kill.
"""

from typing import Dict, Optional

__all__ = ["request_limits"]


def request_limits(mem_limit: Optional[int]) -> Dict[str, int]:
    """The "limits" object of a spawn request; {} when there is nothing to limit."""
    if not mem_limit or mem_limit <= 0:
        return {}
    return {"data": int(mem_limit)}
