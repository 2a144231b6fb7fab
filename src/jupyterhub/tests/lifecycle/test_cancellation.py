"""A start cancelled by JupyterHub (>= 5.1 cancels it at start_timeout) or timed out leaves nothing running."""

import asyncio
import signal
import sys

import pytest
from conftest import async_wait_until, pid_gone

from ts_sudospawner import MediatorError


async def wait_for_call(fake, action, timeout=5.0):
    assert await async_wait_until(lambda: any(c["request"].get("action") == action for c in fake.calls()), timeout)
    return [c for c in fake.calls() if c["request"].get("action") == action][-1]


async def test_cancelled_start_stops_the_server_of_a_late_answer(make_spawner, fake):
    """The mediator started the server but answers only as the cancelled call is stopped."""
    fake.scenario(modes={"spawn": "late"})
    spawner = make_spawner(kill_grace=2.0)
    spawner.start_timeout = 1
    # What JupyterHub's User.spawn does with start_timeout:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(spawner.start(), timeout=spawner.start_timeout)
    call = await wait_for_call(fake, "spawn")
    [server] = fake.pids()
    assert await async_wait_until(lambda: pid_gone(server), 10), "the late server is still running"
    assert await async_wait_until(lambda: pid_gone(call["pid"]), 5), "the abandoned sudo is still running"
    kills = fake.requests("kill")
    assert kills and kills[0] == {"action": "kill", "pid": server, "signal": int(signal.SIGTERM)}
    assert any(f"the abandoned start still started pid {server}: stopping it" in w for w in spawner.records.lines("WARNING"))
    assert spawner.pid == 0 and spawner.get_state() == {}


async def test_cancelled_start_before_any_answer_kills_the_call(make_spawner, fake):
    fake.scenario(mode="hang")
    spawner = make_spawner(kill_grace=1.0)
    task = asyncio.ensure_future(spawner.start())
    call = await wait_for_call(fake, "spawn")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await async_wait_until(lambda: pid_gone(call["pid"]), 5)
    assert fake.pids() == [] and fake.requests("kill") == []
    assert await spawner.poll() == 0


async def test_mediator_timeout_stops_the_call_and_its_late_server(make_spawner, fake):
    fake.scenario(modes={"spawn": "late"})
    spawner = make_spawner(mediator_timeout=1.0, kill_grace=2.0)
    with pytest.raises(MediatorError, match=r"^the mediator for alice did not answer within 1 s; raise c\.TsSudoSpawner\.mediator_timeout"):
        await spawner.start()
    [server] = fake.pids()
    assert await async_wait_until(lambda: pid_gone(server), 10)
    assert spawner.pid == 0


async def test_a_sudo_that_ignores_sigterm_is_killed(make_spawner, fake, tmp_path):
    pidfile = tmp_path / "stubborn.pid"
    stubborn = tmp_path / "stubborn-sudo"
    stubborn.write_text(
        f"#!{sys.executable}\n"
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(30)\n"
    )
    stubborn.chmod(0o755)
    spawner = make_spawner(sudo_command=[str(stubborn)], mediator_timeout=1.0, kill_grace=0.5)
    with pytest.raises(MediatorError, match="did not answer within 1 s"):
        await spawner.start()
    assert await async_wait_until(pidfile.exists, 5)
    pid = int(pidfile.read_text())
    assert await async_wait_until(lambda: pid_gone(pid), 5)
    assert any("stopping the abandoned mediator call" in w for w in spawner.records.lines("WARNING"))


async def test_stop_during_a_start_cancels_it_and_leaves_nothing_running(make_spawner, fake):
    """JupyterHub before 5.1 does not cancel start() at start_timeout: it calls stop() while the
    start still waits, and ignores what the start returns later."""
    fake.scenario(modes={"spawn": "late"})
    spawner = make_spawner(kill_grace=2.0)
    start = asyncio.ensure_future(spawner.start())
    await wait_for_call(fake, "spawn")
    await spawner.stop(now=True)
    assert start.done() and start.cancelled()
    # The fake mediator starts its server only after the call was abandoned, as a slow one may.
    assert await async_wait_until(lambda: fake.pids(), 10), "the late server never started"
    [server] = fake.pids()
    assert await async_wait_until(lambda: pid_gone(server), 10), "the server of the stopped start is still running"
    assert any("stop requested while the server was still starting: cancelling the start" in w for w in spawner.records.lines("WARNING"))
    assert spawner.pid == 0 and spawner.get_state() == {}
