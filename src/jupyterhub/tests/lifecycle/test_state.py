"""get_state / load_state / clear_state, hub restarts, and pid-reuse-safe polling."""

import os
import signal
import subprocess
import sys

import pytest
from conftest import pid_gone

from ts_sudospawner.procfs import Liveness, liveness, parse_stat, start_time_of


async def test_state_round_trip_and_hub_restart(make_spawner, fake):
    first = make_spawner("j.doe")
    await first.start()
    state = first.get_state()
    assert set(state) == {"pid", "start_time"}
    assert state["pid"] == first.pid and state["start_time"] == first.start_time
    assert isinstance(state["start_time"], int) and state["start_time"] > 0

    # A restarted hub: a new spawner object loads the stored state and finds the server running.
    second = make_spawner("j.doe")
    second.load_state(state)
    assert (second.pid, second.start_time) == (state["pid"], state["start_time"])
    assert await second.poll() is None
    assert second.get_state() == state
    await second.stop(now=True)
    assert pid_gone(state["pid"])
    assert second.get_state() == {}
    # after a hub restart the relay is gone: the exit status is unknown, so 0
    assert await second.poll() == 0


async def test_old_state_with_only_a_pid_is_accepted(make_spawner, fake):
    """States of the old shim and of the Python SudoSpawner hold only the pid."""
    running = make_spawner()
    await running.start()
    old = {"pid": running.pid}

    loaded = make_spawner()
    loaded.load_state(old)
    assert loaded.pid == running.pid and loaded.start_time is None
    assert await loaded.poll() is None  # alive, checked without a start time
    assert loaded.get_state() == {"pid": running.pid}
    await loaded.stop(now=True)
    assert pid_gone(old["pid"])


def test_invalid_stored_values_are_ignored(make_spawner):
    spawner = make_spawner()
    spawner.load_state({"pid": 1, "start_time": "yesterday"})
    assert spawner.pid == 0 and spawner.start_time is None
    spawner.load_state({"pid": True})
    assert spawner.pid == 0
    spawner.load_state({"pid": "4242", "start_time": 5})
    assert spawner.pid == 0
    assert sum("Ignoring invalid pid" in w for w in spawner.records.lines("WARNING")) == 3
    spawner.load_state({"pid": 4242, "start_time": 17})
    assert (spawner.pid, spawner.start_time) == (4242, 17)
    spawner.clear_state()
    assert (spawner.pid, spawner.start_time, spawner.get_state()) == (0, None, {})
    spawner.load_state({})
    assert spawner.pid == 0


async def test_a_reused_pid_is_not_the_server(make_spawner):
    """The stored pid now belongs to another process (its start time differs): not running."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        spawner = make_spawner()
        real = start_time_of(other.pid)
        spawner.load_state({"pid": other.pid, "start_time": real - 1})
        assert await spawner.poll() == 0
        assert spawner.pid == 0  # forgotten, and never signalled
        assert other.poll() is None
        assert any("the pid now belongs to a process that started later" in w for w in spawner.records.lines("WARNING"))
        # With the right start time it is the server.
        spawner.load_state({"pid": other.pid, "start_time": real})
        assert await spawner.poll() is None
    finally:
        other.kill()
        other.wait()


async def test_stop_never_signals_a_reused_pid(make_spawner, fake):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        spawner = make_spawner()
        spawner.load_state({"pid": other.pid, "start_time": start_time_of(other.pid) + 5})
        await spawner.stop()
        assert fake.requests("kill") == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_liveness_of_gone_zombie_and_other_users_processes():
    child = subprocess.Popen(["true"])
    # A zombie until waited for: exited, but kill(pid, 0) still succeeds.
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    assert liveness(child.pid) is Liveness.ZOMBIE
    child.wait()
    assert liveness(child.pid) is Liveness.GONE
    assert liveness(os.getpid(), start_time_of(os.getpid())) is Liveness.ALIVE
    assert liveness(os.getpid(), start_time_of(os.getpid()) + 1) is Liveness.REUSED


def test_liveness_treats_eperm_as_alive(monkeypatch):
    def eperm(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", eperm)
    assert liveness(os.getpid(), start_time_of(os.getpid())) is Liveness.ALIVE


def test_liveness_without_readable_proc_trusts_kill(monkeypatch):
    from ts_sudospawner import procfs

    monkeypatch.setattr(procfs, "read_stat", lambda pid: None)
    assert liveness(os.getpid(), 12345) is Liveness.ALIVE  # hidepid: the start time cannot be compared


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1234 (python3) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100", ("S", 98765)),
        # a command name with ") " and spaces: fields count from after the LAST ')'
        ("77 (a) b) Z 9 (x) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0", ("R", 4242)),
    ],
)
def test_parse_stat(text, expected):
    assert parse_stat(text) == expected


def test_start_time_is_field_22_of_proc_stat():
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert start_time_of(os.getpid()) == int(fields[19])
    assert start_time_of(2**31 - 2) is None


async def test_signal_zero_needs_no_sudo(make_spawner, fake):
    spawner = make_spawner()
    await spawner.start()
    assert await spawner._signal(0) is True
    assert fake.requests("kill") == []
    os.kill(spawner.pid, signal.SIGKILL)
    await spawner.stop()
