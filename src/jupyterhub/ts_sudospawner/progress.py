"""Progress events of one start, for JupyterHub's spawn page (Spawner.progress)."""

import asyncio
from typing import AsyncIterator, Callable, Dict, List, Union

__all__ = ["ProgressEvents"]

Event = Dict[str, Union[int, str]]


class ProgressEvents:
    """The events of the current start; readers replay them from the first and then follow."""

    def __init__(self) -> None:
        self._events: List[Event] = []
        self._finished = False
        self._generation = 0

    def reset(self) -> None:
        """Forget the events (the server is gone): readers of them stop."""
        self._events = []
        self._finished = False
        self._generation += 1

    def begin(self) -> None:
        """A start begins. Readers already waiting for it (no events yet) go on reading."""
        if self._events or self._finished:
            self.reset()

    def add(self, progress: int, message: str, final: bool = False) -> None:
        self._events.append({"progress": progress, "message": message})
        if final:
            self._finished = True

    def finish(self) -> None:
        self._finished = True

    @property
    def events(self) -> List[Event]:
        return list(self._events)

    async def follow(self, pending: Callable[[], bool], interval: float = 0.1) -> AsyncIterator[Event]:
        """Yield every event of the current start, until its last one or until nothing is pending."""
        generation = self._generation
        index = 0
        while generation == self._generation:
            while index < len(self._events):
                yield self._events[index]
                index += 1
            if self._finished or not pending():
                return
            await asyncio.sleep(interval)
