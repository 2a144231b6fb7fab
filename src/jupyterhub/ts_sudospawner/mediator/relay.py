"""Relaying the mediator's stderr into the hub's log, line by line, for as long as it is open.

After a spawn the single-user server and its reaper inherit that pipe, so lines keep arriving long
after the call returned; the relay must keep reading (a full pipe would block the server's
logging). It also keeps the start of the output to explain a failed call, and picks out the
reaper's exit line, which carries the server's real exit status.
"""

import asyncio
import collections
import logging
from typing import Any, Deque, Dict, List, Optional, Union

from ..exit_status import parse_reaper_exit

__all__ = ["StderrRelay", "level_of_line", "MAX_CAPTURE"]

# stderr kept to explain a failed call (sudo's own complaint comes first).
MAX_CAPTURE = 64 * 1024
# A line longer than this is relayed in pieces.
MAX_LINE = 64 * 1024
# The last lines kept to explain a server's early death (each cut to TAIL_LINE_CHARS).
TAIL_LINES = 12
TAIL_LINE_CHARS = 400

_LEVEL_OF_LETTER = {"D": logging.DEBUG, "T": logging.DEBUG, "I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "C": logging.CRITICAL}

Logger = Union[logging.Logger, "logging.LoggerAdapter[Any]"]


def level_of_line(line: str) -> int:
    """The level of a JupyterHub-style line ``[W 2026-... name] ...``; INFO for anything else."""
    if line.startswith("[") and len(line) > 2 and line[2] in " ]":
        return _LEVEL_OF_LETTER.get(line[1], logging.INFO)
    return logging.INFO


class StderrRelay:
    def __init__(self, stream: asyncio.StreamReader, log: Logger, tag: str) -> None:
        self.captured = ""
        self.capturing = True
        self.exits: Dict[int, int] = {}
        self._tail: Deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.closed = asyncio.Event()
        self._stream = stream
        self._log = log
        self._tag = tag

    async def run(self) -> None:
        try:
            while True:
                try:
                    raw = await self._stream.readuntil(b"\n")
                except asyncio.IncompleteReadError as e:
                    raw = e.partial  # the last line, without a newline (or b"" at the end)
                except asyncio.LimitOverrunError:
                    raw = await self._stream.read(MAX_LINE)  # a very long line: take a piece
                if not raw:
                    break
                self._line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except Exception:  # the relay must never take the hub down
            self._log.exception("%s stopped relaying the mediator's output", self._tag)
        finally:
            self.closed.set()

    def _line(self, line: str) -> None:
        if self.capturing and len(self.captured) < MAX_CAPTURE:
            self.captured += line + "\n"
        if not line.strip():
            return
        self._log.log(level_of_line(line), "%s %s", self._tag, line)
        exit_ = parse_reaper_exit(line)
        if exit_ is not None:
            pid, status = exit_
            self.exits[pid] = status
        else:
            self._tail.append(line[:TAIL_LINE_CHARS])

    def last_lines(self, count: int = TAIL_LINES) -> List[str]:
        """The last lines relayed (the reaper's exit lines left out): what a dying server said."""
        return list(self._tail)[-count:]

    async def wait_for_exit(self, pid: int, timeout: float) -> Optional[int]:
        """The status the reaper reported for pid, waiting up to timeout for the line to arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pid not in self.exits and not self.closed.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self.exits.get(pid)
