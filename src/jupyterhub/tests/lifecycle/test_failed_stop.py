"""A stop whose kill fails (sudo refuses, the call times out, the mediator errs) or whose server
survives SIGKILL does not lose the server: JupyterHub's User.stop forgets it after any stop, so the
spawner keeps it as "unstopped" in the state it saves, and the next start stops it first."""

import signal

import pytest
from conftest import pid_gone

from ts_sudospawner import MediatorError
from ts_sudospawner.procfs import Liveness, liveness


async def hub_stop(spawner) -> dict:
    """JupyterHub's own User.stop (which re-raises; its API handler swallows); the state it stores."""
    with pytest.raises(MediatorError) as raised:
        await spawner.user.stop(spawner.name)
    return {"error": raised.value, "state": spawner.orm_spawner.state}


@pytest.mark.parametrize(
    "failure, cause",
    [
        ({"modes": {"kill": "refusal"}, "stderr": "sudo: a password is required\n"}, "password"),
        ({"modes": {"kill": "refuse"}, "error": "kill refused for a test"}, "kill refused for a test"),
        ({"modes": {"kill": "hang"}}, "did not answer within 1 s"),
    ],
    ids=["sudo-password", "mediator-error", "timeout"],
)
async def test_a_failed_kill_keeps_the_server_as_unstopped(make_spawner, fake, failure, cause):
    spawner = make_spawner(mediator_timeout=1.0)
    await spawner.start()
    pid, started = spawner.pid, spawner.start_time
    fake.scenario(**failure)
    stopped = await hub_stop(spawner)
    assert cause in str(stopped["error"])
    assert liveness(pid, started) is Liveness.ALIVE
    state = stopped["state"]
    assert state.get("pid", 0) == 0  # JupyterHub forgot it ...
    assert state["unstopped"] == {"pid": pid, "start_time": started}  # ... the spawner did not
    [error] = [line for line in spawner.records.lines("ERROR") if f"pid {pid}" in line]
    assert cause in error and "next start" in error and f"kill {pid}" in error

    # The cause is fixed; the user's next start (a restarted hub, from the stored state) stops it first.
    fake.scenario()
    again = make_spawner()
    again.load_state(state)
    await again.start()
    assert liveness(pid, started) is not Liveness.ALIVE
    assert [r["action"] for r in fake.requests()][-2:] == ["kill", "spawn"]
    assert "unstopped" not in again.get_state()
    await again.stop()


async def test_a_server_that_survives_sigkill_is_kept_as_unstopped(make_spawner, fake):
    spawner = make_spawner(interrupt_timeout=1, term_timeout=1, kill_timeout=1)
    await spawner.start()
    pid, started = spawner.pid, spawner.start_time
    fake.scenario(deaf=True)  # the mediator signals, the server does not end (a process in D state)
    stopped = await hub_stop(spawner)
    assert [r["signal"] for r in fake.requests("kill")] == [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
    assert "still runs after SIGKILL" in str(stopped["error"])
    assert stopped["state"]["unstopped"] == {"pid": pid, "start_time": started}
    assert any(f"pid {pid}" in line and "SIGKILL" in line for line in spawner.records.lines("ERROR"))
    assert not any("it is kept" in line for line in spawner.records.lines("WARNING"))


async def test_a_failed_kill_of_a_server_that_ended_anyway_is_a_stop(make_spawner, fake):
    # The mediator signalled, the server ended, and then the call failed (e.g. its answer was lost).
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    fake.scenario(modes={"kill": "refuse"}, error="lost the answer", signal_first=True)
    await spawner.user.stop(spawner.name)  # no exception: what the stop was for has happened
    assert pid_gone(pid)
    assert "unstopped" not in spawner.orm_spawner.state
    assert any(f"pid {pid} failed" in line and "lost the answer" in line and "has ended" in line for line in spawner.records.lines("WARNING"))
    assert not any("next start" in line for line in spawner.records.lines("ERROR"))  # only the mediator's relayed refusal
