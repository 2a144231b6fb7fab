"""poll() returns the server's real exit status from its reaper's line."""

import os
import signal

import pytest
from conftest import async_wait_until, pid_gone

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
