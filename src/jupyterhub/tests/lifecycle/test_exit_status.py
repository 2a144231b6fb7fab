"""poll() returns the server's real exit status from its reaper's line."""

import asyncio
import os
import signal
import time

import pytest
from conftest import async_wait_until, pid_gone

from ts_sudospawner.errors import MediatorError
from ts_sudospawner.exit_status import describe_status, parse_reaper_exit


@pytest.mark.parametrize(
    "line, expected",
    [
        ("[I tsss-reaper] server pid 1234 exited with status 3", (1234, 3)),
        ("[I tsss-reaper] server pid 1234 exited with status 0", (1234, 0)),
        ("[I tsss-reaper] server pid 1234 was killed by signal 9", (1234, -9)),
        ("[W 2026-11-25 07:30:00.123 tsss-reaper] server pid 77 was killed by signal 11\n", (77, -11)),
        ("[I tsss-reaper] server pid 1234 exited with status 256", None),
        ("[I tsss-reaper] server pid 1234 was killed by signal 0", None),
        ("[I tsss-reaper] server pid x exited with status 3", None),
        ("[I FakeServer] server pid 1234 exited with status 3", None),
        ("prefix [I tsss-reaper] server pid 1234 exited with status 3", None),
        ("[I tsss-reaper] server pid 1234 exited with status 3 and more", None),
    ],
)
def test_parse_reaper_exit(line, expected):
    assert parse_reaper_exit(line) == expected


def test_describe_status():
    assert describe_status(3) == "exited with status 3"
    assert describe_status(-9).startswith("was killed by signal 9 (SIGKILL: out of memory?")
    assert describe_status(-11) == "was killed by signal 11 (SIGSEGV: the server crashed)"
    assert describe_status(-10) == "was killed by signal 10 (SIGUSR1)"
    assert describe_status(-63) == "was killed by signal 63" or describe_status(-63).startswith("was killed by signal 63 (SIGRTMAX")


async def test_a_crash_gives_its_exit_code(make_spawner, fake):
    fake.scenario(server={"seconds": 1.5, "code": 3})
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    assert await spawner.poll() is None
    assert await async_wait_until(lambda: pid_gone(pid), 10)
    assert await spawner.poll() == 3
    assert f"WARNING:[alice] server pid {pid} exited with status 3" in spawner.records.text()
    assert spawner.get_state() == {}


async def test_a_kill_gives_minus_the_signal_and_the_reason(make_spawner, fake):
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    assert await async_wait_until(lambda: pid_gone(pid), 5)
    assert await spawner.poll() == -9
    assert "killed by signal 9 (SIGKILL: out of memory?" in spawner.records.text()


async def test_a_clean_exit_gives_zero(make_spawner, fake):
    fake.scenario(server={"seconds": 1.2, "code": 0})
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    assert await async_wait_until(lambda: pid_gone(pid), 10)
    assert await spawner.poll() == 0
    assert f"INFO:[alice] server pid {pid} exited with status 0" in spawner.records.text()


async def test_only_the_line_for_this_servers_pid_counts(make_spawner, fake):
    # The server itself prints a reaper-like line about another pid before it dies of SIGTERM.
    fake.scenario(server={"say": ["[I tsss-reaper] server pid 2 exited with status 42"], "seconds": 300})
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    assert await async_wait_until(lambda: "pid 2 exited with status 42" in spawner.records.text(), 5)
    os.kill(pid, signal.SIGTERM)
    assert await async_wait_until(lambda: pid_gone(pid), 5)
    assert await spawner.poll() == -15


async def test_without_the_reaper_line_the_status_is_unknown(make_spawner, fake):
    fake.scenario(reaper_line=False)
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    os.kill(pid, signal.SIGKILL)
    assert await async_wait_until(lambda: pid_gone(pid), 5)
    assert await spawner.poll() == 0
    assert "exit status unknown" in spawner.records.text()


async def test_after_a_hub_restart_the_status_is_unknown(make_spawner, fake):
    fake.scenario(server={"seconds": 1.0, "code": 5})
    first = make_spawner()
    await first.start()
    restarted = make_spawner()
    restarted.load_state(first.get_state())
    assert await async_wait_until(lambda: pid_gone(first.pid), 10)
    assert await restarted.poll() == 0
    assert await first.poll() == 5  # the spawner that relayed the line knows it


# -- the status is kept until the next start -----------------------------------------------------


async def test_the_exit_status_is_kept_until_the_next_start(make_spawner, fake):
    fake.scenario(server={"seconds": 1.0, "code": 3})
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    assert await async_wait_until(lambda: pid_gone(pid), 10)
    assert await spawner.poll() == 3
    assert spawner.get_state() == {}  # the pid is forgotten at once
    spawner.clear_state()  # as JupyterHub's User.stop() does after its own poll
    assert await spawner.poll() == 3
    assert await spawner.poll() == 3
    fake.scenario(server={"seconds": 300})
    await spawner.start()
    assert await spawner.poll() is None  # a new start forgets the old end
    await spawner.stop(now=True)


async def test_jupyterhubs_double_poll_sees_the_real_status(make_spawner, fake):
    """Spawner.poll_and_notify (JupyterHub's periodic poll) polls, then its callback
    (BaseHandler.user_stopped) polls again and logs "server stopped, with exit code: ..."."""
    fake.scenario(server={"seconds": 1.0, "code": 3})
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    seen = []

    async def user_stopped():
        seen.append(await spawner.poll())

    spawner.add_poll_callback(user_stopped)
    assert await async_wait_until(lambda: pid_gone(pid), 10)
    assert await spawner.poll_and_notify() == 3
    assert seen == [3]


# -- a start without the idle second -------------------------------------------------------------


async def test_a_start_asks_for_no_grace_and_returns_once_the_server_listens(make_spawner, fake):
    spawner = make_spawner()
    ip, port = await spawner.start()
    assert fake.requests("spawn")[0]["graceSeconds"] == 0
    reader, writer = await asyncio.open_connection(ip, port)  # it already listens
    writer.close()
    await spawner.stop(now=True)


async def test_start_grace_none_sends_no_key_and_a_value_is_sent_as_is(make_spawner, fake):
    spawner = make_spawner(start_grace=None)
    await spawner.start()
    assert "graceSeconds" not in fake.requests("spawn")[0]
    await spawner.stop(now=True)
    other = make_spawner("bob", start_grace=2.5)
    await other.start()
    assert fake.requests("spawn")[1]["graceSeconds"] == 2.5
    await other.stop(now=True)


async def test_the_watch_for_the_port_ends_before_start_timeout(make_spawner, fake):
    """JupyterHub bounds all of start() by start_timeout (5.1+ cancel it; before, User.stop): with
    http_timeout above it, start() returns in time and leaves the wait to JupyterHub's _wait_up."""
    fake.scenario(server={"listen": False, "seconds": 300})  # a slow server: not listening yet
    spawner = make_spawner(start_timeout=4, http_timeout=30)
    began = time.monotonic()
    ip, port = await asyncio.wait_for(spawner.start(), spawner.start_timeout)  # as JupyterHub 5.1+ does
    took = time.monotonic() - began
    assert (ip, port) == ("127.0.0.1", spawner.port)
    assert 2.5 <= took < 3.5  # start_timeout less a margin of 1 s
    assert any("start_timeout" in line and "leaving the wait to JupyterHub" in line for line in spawner.records.lines("INFO"))
    assert await spawner.poll() is None
    await spawner.stop(now=True)


@pytest.mark.parametrize("seconds", [0.3, 1.5])
async def test_an_early_death_fails_the_start_with_its_status_and_last_lines(make_spawner, fake, seconds):
    fake.scenario(
        server={
            "listen": False,
            "say": ["[I 2026-12-04 10:00:00.000 FakeServer] starting"],
            "seconds": seconds,
            "say_after": ["[E 2026-12-04 10:00:01.000 FakeServer] cannot open the notebook directory"],
            "code": 3,
        }
    )
    spawner = make_spawner()
    with pytest.raises(MediatorError) as raised:
        await spawner.start()
    message = str(raised.value)
    assert message.startswith("The single-user server exited with status 3 ")
    assert "before it accepted connections; its last output:\n" in message
    assert "cannot open the notebook directory" in message
    assert "server started as pid" not in message  # the mediator's own lines are left out
    assert getattr(raised.value, "jupyterhub_message") == message  # what the REST API answers
    # The spawn page shows it as the last event of the start.
    assert [e["message"] for e in spawner._progress.events][-1] == message
    # JupyterHub then polls (User.stop): the real status, again and again.
    assert await spawner.poll() == 3
    assert await spawner.poll() == 3


async def test_a_server_killed_before_it_listens_names_the_signal(make_spawner, fake):
    fake.scenario(server={"listen": False, "seconds": 300})
    spawner = make_spawner()
    task = asyncio.ensure_future(spawner.start())
    assert await async_wait_until(lambda: bool(fake.requests("spawn")) and spawner.pid, 10)
    os.kill(spawner.pid, signal.SIGKILL)
    with pytest.raises(MediatorError, match=r"was killed by signal 9 \(SIGKILL: out of memory\?"):
        await task
    assert await spawner.poll() == -9
