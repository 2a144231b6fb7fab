"""One mediator call: ``sudo -u USER -nH MEDIATOR --logging=LEVEL``, one JSON request on its stdin,
one JSON answer on its stdout, its stderr relayed into the hub's log.

A call that times out or is cancelled (JupyterHub >= 5.1 cancels start() at start_timeout) is
abandoned: the in-flight sudo gets SIGTERM (sudo relays it to the mediator, which stops the server
it had started), then SIGKILL; an answer that still arrives with a pid is handed to
``on_late_answer``, which stops that server. Nothing is left running.
"""

import asyncio
import json
import shlex
import weakref
from typing import Any, Awaitable, Callable, Dict, List, NamedTuple, Optional, Set, Tuple

from ..errors import MediatorError
from .answers import extract_answer
from .explain import CallContext, explain_failure, mediator_found
from .relay import Logger, StderrRelay

__all__ = ["CallSettings", "call_mediator", "keep_running", "exit_status"]

# The mediator answers with one short line; anything far larger is not the mediator.
MAX_STDOUT = 1024 * 1024

Answer = Dict[str, Any]
LateAnswerHandler = Callable[[Answer], Awaitable[None]]

# Background tasks (stderr relays, clean-up of abandoned calls) must not be garbage collected while
# they run: the event loop keeps only weak references to tasks.
_background: Set["asyncio.Future[Any]"] = set()


def keep_running(awaitable: Awaitable[Any]) -> "asyncio.Future[Any]":
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class CallSettings(NamedTuple):
    context: CallContext  # argv, who and what, for running and for explaining failures
    log: Logger
    tag: str  # prefix of relayed lines, e.g. "[alice]" or "[alice:gpu]"
    timeout: float  # seconds the whole call may take, once it runs
    kill_grace: float  # seconds between SIGTERM and SIGKILL for an abandoned call
    concurrency: int = 0  # calls of this hub process that run at once; 0: no bound


# One bound per event loop (a hub has one; tests make many), shared by every spawner of the process.
_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


def _call_slots(concurrency: int) -> Optional[asyncio.Semaphore]:
    """The bound on calls running at once: each is a sudo and a Node process (about 45 MB at its
    peak), and a hub restarting with hundreds of servers polls them all at once (in Slurm mode each
    poll is a call). The first call of a loop fixes its size."""
    if concurrency <= 0:
        return None
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(concurrency)
    return slots


async def exit_status(proc: "asyncio.subprocess.Process", timeout: float) -> Optional[int]:
    """proc's exit status once it has exited, or None after timeout seconds.

    Not proc.wait(): that returns only once every pipe has closed too, and the single-user server
    keeps the mediator's stderr open for as long as it runs.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.returncode is None:
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.02)
    return proc.returncode


async def call_mediator(
    settings: CallSettings,
    request: Dict[str, Any],
    on_late_answer: Optional[LateAnswerHandler] = None,
) -> Tuple[Answer, StderrRelay]:
    """Run one call, once one of the process's call slots is free (the wait is not part of the
    call's timeout); return its {"ok": true} answer and the relay of its stderr, or raise MediatorError."""
    slots = _call_slots(settings.concurrency)
    if slots is None:
        return await _call_now(settings, request, on_late_answer)
    async with slots:
        return await _call_now(settings, request, on_late_answer)


async def _call_now(
    settings: CallSettings,
    request: Dict[str, Any],
    on_late_answer: Optional[LateAnswerHandler],
) -> Tuple[Answer, StderrRelay]:
    ctx = settings.context
    argv = list(ctx.argv)
    settings.log.debug("%s running %s for a %s request", settings.tag, " ".join(map(shlex.quote, argv)), request.get("action"))
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # the hub's Ctrl-C must not reach sudo and the server
        )
    except (FileNotFoundError, PermissionError) as e:
        raise MediatorError(
            f"cannot run {argv[0]} ({e.strerror}): install {ctx.tool} on the hub host or set c.TsSudoSpawner.sudo_command"
        ) from None
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    relay = StderrRelay(proc.stderr, settings.log, settings.tag)
    keep_running(relay.run())
    stdout_parts: List[bytes] = []

    async def exchange() -> Optional[int]:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n")
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tool refused before reading; its exit status and stderr tell why
        proc.stdin.close()
        size = 0
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_STDOUT:
                raise MediatorError(
                    f"the mediator wrote more than {MAX_STDOUT} bytes on stdout: is {ctx.mediator_path} really ts-sudospawner?"
                )
            stdout_parts.append(chunk)
        # stdout is closed: the mediator is done, or about to be.
        return await exit_status(proc, 5)

    try:
        returncode = await asyncio.wait_for(exchange(), settings.timeout)
    except asyncio.TimeoutError:
        keep_running(_abandon(settings, proc, stdout_parts, on_late_answer))
        raise MediatorError(
            f"the mediator for {ctx.user} did not answer within {settings.timeout:g} s; "
            "raise c.TsSudoSpawner.mediator_timeout if this machine is just slow"
        ) from None
    except BaseException:
        # Cancelled, or our own error: stop the in-flight call and clean up what it still starts.
        keep_running(_abandon(settings, proc, stdout_parts, on_late_answer))
        raise
    stdout = b"".join(stdout_parts).decode("utf-8", "replace")
    answer = extract_answer(stdout)
    if answer is not None and answer.get("ok") is True:
        relay.capturing = False
        return answer, relay
    # Give the tool's last words a moment to arrive before explaining.
    try:
        await asyncio.wait_for(relay.closed.wait(), 0.25)
    except asyncio.TimeoutError:
        pass
    relay.capturing = False
    raise explain_failure(ctx._replace(mediator_found=mediator_found(ctx.mediator_path)), returncode, stdout, relay.captured)


def _signal(proc: "asyncio.subprocess.Process", kill: bool) -> None:
    try:
        proc.kill() if kill else proc.terminate()
    except ProcessLookupError:
        pass


async def _abandon(
    settings: CallSettings,
    proc: "asyncio.subprocess.Process",
    stdout_parts: List[bytes],
    on_late_answer: Optional[LateAnswerHandler],
) -> None:
    settings.log.warning("%s stopping the abandoned mediator call (pid %s of %s)", settings.tag, proc.pid, settings.context.tool)
    _signal(proc, kill=False)
    if await exit_status(proc, settings.kill_grace) is None:
        _signal(proc, kill=True)
        await exit_status(proc, 5)
    rest = b""
    if proc.stdout is not None:
        try:
            rest = await asyncio.wait_for(proc.stdout.read(MAX_STDOUT), 1)
        except (asyncio.TimeoutError, ValueError, OSError):
            pass
    answer = extract_answer((b"".join(stdout_parts) + rest).decode("utf-8", "replace"))
    if answer is not None and answer.get("ok") is True and on_late_answer is not None:
        try:
            await on_late_answer(answer)
        except Exception:
            settings.log.exception("%s could not clean up after the abandoned mediator call", settings.tag)
