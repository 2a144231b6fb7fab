"""start / poll / stop against the fake privilege tool, with JupyterHub's own user objects."""

import asyncio
import json
import os
import signal
import time

import pytest
from conftest import async_wait_until, pid_gone

from ts_sudospawner import MediatorError


def stat_start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


async def test_start_poll_stop(make_spawner, fake):
    spawner = make_spawner("j.doe", args=["--debug"], environment={"EXTRA": "1"})
    ip, port = await spawner.start()
    assert ip == "127.0.0.1" and isinstance(port, int) and port > 0
    pid = spawner.pid
    assert pid > 1 and not pid_gone(pid)
    assert spawner.start_time == stat_start_time(pid)

    [call] = fake.calls()
    assert call["argv"] == ["-u", "j.doe", "-nH", str(fake.mediator), "--logging=INFO"]
    request = call["request"]
    assert request["action"] == "spawn"
    assert request["args"] == ["--debug"]
    env = request["env"]
    assert env["JUPYTERHUB_USER"] == "j.doe"
    assert env["EXTRA"] == "1"
    assert env["JUPYTERHUB_API_TOKEN"] == spawner.api_token
    assert all(isinstance(v, str) for v in env.values())
    # No profile, limits or tls unless asked for; no grace (start_grace = 0 by default); the
    # server's name and reconciliation at start (test_reconcile.py).
    assert set(request) == {"action", "args", "env", "graceSeconds", "server", "reconcile"} and request["graceSeconds"] == 0

    assert await spawner.poll() is None
    await spawner.stop()
    assert pid_gone(pid)
    assert spawner.pid == 0
    status = await spawner.poll()
    assert status == -signal.SIGINT  # how it ended, kept until the next start
    # The escalation went through the mediator: SIGINT first (the fake server dies of it).
    kills = fake.requests("kill")
    assert kills[0] == {"action": "kill", "pid": pid, "signal": int(signal.SIGINT)}


async def test_stop_now_starts_with_sigterm(make_spawner, fake):
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    await spawner.stop(now=True)
    assert pid_gone(pid)
    assert [r["signal"] for r in fake.requests("kill")][0] == int(signal.SIGTERM)


async def test_stop_escalates_to_sigkill(make_spawner, fake):
    # A server that ignores SIGINT and SIGTERM.
    fake.scenario(server={"seconds": 300})
    spawner = make_spawner(interrupt_timeout=1, term_timeout=1, kill_timeout=3)
    await spawner.start()
    pid = spawner.pid
    # Make the fake server deaf to SIGINT/SIGTERM by stopping it from outside first? Simpler: a
    # stopped (SIGSTOP) process ignores INT and TERM until continued; SIGKILL still kills it.
    os.kill(pid, signal.SIGSTOP)
    t = time.monotonic()
    await spawner.stop()
    assert pid_gone(pid)
    signals = [r["signal"] for r in fake.requests("kill")]
    assert signals == [int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIGKILL)]
    # It waited interrupt_timeout and term_timeout, 1 s each, through JupyterHub's wait_for_death,
    # whose exponential_backoff moves each deadline by up to 10% (timeout_tolerance): 0.9 s at least.
    assert time.monotonic() - t >= 1.8
    assert spawner.pid == 0


async def test_named_servers_of_one_user_are_independent(make_spawner, fake):
    default = make_spawner("alice")
    named = make_spawner("alice", "gpu")
    await default.start()
    await named.start()
    assert default.pid != named.pid
    assert named.get_state()["pid"] == named.pid
    env = fake.requests("spawn")[1]["env"]
    assert env["JUPYTERHUB_SERVER_NAME"] == "gpu"
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/user/alice/gpu/"
    await named.stop(now=True)
    assert await named.poll() == -signal.SIGTERM
    assert await default.poll() is None  # the other server of the same user is untouched
    # log lines say which server they are about
    assert any("[alice:gpu]" in line for line in named.records.lines())
    await default.stop(now=True)


async def test_returns_at_once_although_the_server_keeps_stderr_open(make_spawner, fake):
    fake.scenario(
        server={
            "say": ["[I 2026-11-25 07:30:00.000 FakeServer] listening"],
            "seconds": 0.6,
            "say_after": ["[W 2026-11-25 07:30:01.000 FakeServer] after the answer"],
            "code": 0,
        }
    )
    spawner = make_spawner()
    t = time.monotonic()
    await spawner.start()
    assert time.monotonic() - t < 1.0
    before = spawner.records.text()
    assert "INFO:[alice] [I ts-sudospawner] server started as pid" in before
    assert "after the answer" not in before
    # The relay goes on reading the server's output, at each line's own level.
    assert await async_wait_until(lambda: "after the answer" in spawner.records.text(), 5)
    assert "WARNING:[alice] [W 2026-11-25 07:30:01.000 FakeServer] after the answer" in spawner.records.text()
    assert await async_wait_until(lambda: pid_gone(spawner.pid), 5)


async def test_poll_before_any_start_is_not_running(make_spawner):
    spawner = make_spawner()
    assert await spawner.poll() == 0
    assert spawner.get_state() == {}


async def test_cmd_is_ignored_with_one_warning(make_spawner, fake):
    spawner = make_spawner(cmd=["/usr/bin/evil"], cpu_limit=2.0)
    await spawner.start()
    await spawner.stop(now=True)
    await spawner.start()
    await spawner.stop(now=True)
    warnings = spawner.records.lines("WARNING")
    assert sum("Spawner.cmd ['/usr/bin/evil'] is ignored" in w for w in warnings) == 1
    # cpu_limit is no longer "not enforced": said once, at INFO, where it takes effect
    infos = spawner.records.lines("INFO")
    assert sum('cpu_limit=2.0 is sent as cgroup.CPUQuota=200%: enforced where the site policy has a "cgroup" section' in i for i in infos) == 1
    assert not any("cpu_limit" in w for w in warnings)
    assert all("/usr/bin/evil" not in str(r) for r in fake.requests("spawn"))


async def test_a_failed_start_leaves_no_state(make_spawner, fake):
    fake.scenario(mode="refuse", error="home directory /home/alice of alice does not exist")
    spawner = make_spawner()
    with pytest.raises(MediatorError, match=r"^the mediator refused \(as alice\): home directory /home/alice"):
        await spawner.start()
    assert spawner.pid == 0
    assert spawner.get_state() == {}
    assert await spawner.poll() == 0


async def test_poll_during_start_says_running(make_spawner, fake):
    fake.scenario(mode="hang")
    spawner = make_spawner(mediator_timeout=1.0)
    task = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0.3)
    assert await spawner.poll() is None
    with pytest.raises(MediatorError, match="did not answer within 1 s"):
        await task
    assert await spawner.poll() == 0


# -- how many mediator calls run at once ----------------------------------------------------------


def _most_at_once(busy: list) -> int:
    """The most calls that were busy at the same moment, from their start and end times."""
    edges = sorted([(call["start"], 1) for call in busy] + [(call["end"], -1) for call in busy])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


async def test_calls_of_all_spawners_wait_for_one_of_the_hubs_slots(make_spawner, fake):
    # A hub that restarts polls every server at once; each call is a sudo and a Node process.
    fake.scenario(busy=0.4, profiles=[])
    spawners = [make_spawner(f"user{i}", mediator_concurrency=2) for i in range(5)]
    answers = await asyncio.gather(*(spawner.list_profiles() for spawner in spawners))
    assert answers == [[]] * 5
    busy = [json.loads(line) for line in (fake.dir / "busy.jsonl").read_text().splitlines()]
    assert len(busy) == 5
    assert _most_at_once(busy) == 2


async def test_no_bound_when_the_concurrency_is_0(make_spawner, fake):
    fake.scenario(busy=0.4, profiles=[])
    spawners = [make_spawner(f"user{i}", mediator_concurrency=0) for i in range(3)]
    await asyncio.gather(*(spawner.list_profiles() for spawner in spawners))
    busy = [json.loads(line) for line in (fake.dir / "busy.jsonl").read_text().splitlines()]
    assert _most_at_once(busy) == 3
