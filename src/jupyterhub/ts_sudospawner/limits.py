"""Spawner.mem_limit and cpu_limit as the limits of a spawn request (pure).

"limits": the mediator's reaper applies request limits with setrlimit(2) in the server's process
just before exec, and never above the site policy's. mem_limit becomes RLIMIT_DATA ("data"): the
bytes of the data segment, heap and private anonymous mappings of *each process* (Linux >= 4.7),
inherited by the kernels it starts. An allocation over it fails (MemoryError).

"cgroup": where the site policy has a "cgroup" section, the server and everything it starts run in
a cgroup of their own with systemd's resource controls; the request may only lower the site's caps.
mem_limit becomes MemoryMax (bytes, the sum over the whole tree: beyond it the cgroup's OOM killer
acts) and cpu_limit becomes CPUQuota (percent of one CPU, 100 = one CPU, rounded up). Without such
a section the mediator does not apply them. TasksMax has no JupyterHub trait and is never sent.
"""

import math
from typing import Dict, Optional

__all__ = ["request_limits", "request_cgroup"]


def request_limits(mem_limit: Optional[int]) -> Dict[str, int]:
    """The "limits" object of a spawn request; {} when there is nothing to limit."""
    if not mem_limit or mem_limit <= 0:
        return {}
    return {"data": int(mem_limit)}


def cpu_quota_percent(cpu_limit: float) -> int:
    """cpu_limit in CPUs as CPUQuota in percent of one CPU, rounded up (0.5 -> 50, 1.005 -> 101).

    Rounded to 1e-6 % first: 0.07 * 100 is 7.000000000000001 in binary floating point, which must
    stay 7, not become 8.
    """
    return max(1, math.ceil(round(cpu_limit * 100, 6)))


def request_cgroup(mem_limit: Optional[int], cpu_limit: Optional[float]) -> Dict[str, int]:
    """The "cgroup" object of a spawn request: only what is set; {} when nothing is."""
    cgroup: Dict[str, int] = {}
    if mem_limit and mem_limit > 0:
        cgroup["MemoryMax"] = int(mem_limit)
    if cpu_limit and cpu_limit > 0 and math.isfinite(cpu_limit):
        cgroup["CPUQuota"] = cpu_quota_percent(float(cpu_limit))
    return cgroup
