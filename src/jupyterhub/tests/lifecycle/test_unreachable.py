"""A stop that cannot reach a server the hub still sees alive is not reported as success."""

import signal
import subprocess

import pytest

from ts_sudospawner import MediatorError
from ts_sudospawner.procfs import Liveness, liveness, start_time_of


@pytest.fixture
def orphan():
    """A live process standing in for a server the Python sudospawner started (state: pid only)."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


async def test_an_orphaned_python_server_is_named_and_not_forgotten_silently(make_spawner, fake, orphan):
    fake.scenario(unowned="orphaned-python-server")
    spawner = make_spawner()
    spawner.load_state({"pid": orphan.pid})  # what the Python SudoSpawner stored
    with pytest.raises(MediatorError, match=r'NOT stopped\. Add "adopt"') as raised:
        await spawner.stop()
    assert "Python sudospawner fork is gone" in str(raised.value)
    errors = spawner.records.lines("ERROR")
    assert any("no ownership mark" in line and "adopt" in line for line in errors)
    assert not any("reused" in line for line in spawner.records.lines())
    assert liveness(orphan.pid) is Liveness.ALIVE  # nothing was signalled


async def test_with_a_stored_start_time_any_refusal_is_an_error(make_spawner, fake, orphan):
    fake.scenario(unowned="other")
    spawner = make_spawner()
    spawner.load_state({"pid": orphan.pid, "start_time": start_time_of(orphan.pid)})
    with pytest.raises(MediatorError, match="does not recognise it"):
        await spawner.stop()


async def test_without_a_start_time_another_process_is_a_reused_pid_as_before(make_spawner, fake, orphan):
    fake.scenario(unowned="other")
    spawner = make_spawner()
    spawner.load_state({"pid": orphan.pid})
    await spawner.stop()
    assert spawner.pid == 0


def after_hub_stop(spawner) -> dict:
    """What JupyterHub's User.stop does after any stop, raised or not: forget the server, store the state."""
    spawner.clear_state()
    return spawner.get_state()


async def failed_stop(make_spawner, fake, orphan) -> dict:
    """The state JupyterHub stores after a stop the mediator refused for the orphan."""
    fake.scenario(unowned="orphaned-python-server")
    spawner = make_spawner()
    spawner.load_state({"pid": orphan.pid})
    with pytest.raises(MediatorError):
        await spawner.stop()
    return after_hub_stop(spawner)


async def test_the_unstopped_server_is_kept_in_the_state_and_refuses_the_next_start(make_spawner, fake, orphan):
    state = await failed_stop(make_spawner, fake, orphan)
    assert state.get("pid", 0) == 0
    assert state["unstopped"] == {"pid": orphan.pid, "start_time": start_time_of(orphan.pid)}

    # A restarted hub loads that state; the user's next start stops nothing it may not stop.
    again = make_spawner()
    again.load_state(state)
    with pytest.raises(MediatorError, match=r"^No new server was started, because the earlier one still runs: server pid \d+ still runs") as raised:
        await again.start()
    assert 'Add "adopt"' in raised.value.jupyterhub_message  # the REST answer and the spawn page
    assert fake.requests("spawn") == []
    assert [r["signal"] for r in fake.requests("kill")] == [signal.SIGINT, signal.SIGTERM]  # the stop, then the start's
    assert liveness(orphan.pid) is Liveness.ALIVE
    assert after_hub_stop(again)["unstopped"]["pid"] == orphan.pid  # still not lost


async def test_once_the_mediator_may_stop_it_the_next_start_stops_it_first(make_spawner, fake, orphan):
    state = await failed_stop(make_spawner, fake, orphan)
    fake.scenario()  # the admin added "adopt": the mediator stops it now
    spawner = make_spawner()
    spawner.load_state(state)
    spawner.api_token = "tsss-new-token"  # as JupyterHub's User.spawn does before start()
    await spawner.start()
    assert orphan.wait(5) == -signal.SIGTERM
    assert [(r["action"], r.get("pid")) for r in fake.requests()] == [("kill", orphan.pid), ("kill", orphan.pid), ("spawn", None)]
    # The old server's stop did not touch what JupyterHub prepared for the new one.
    [spawn] = fake.requests("spawn")
    assert spawn["env"]["JUPYTERHUB_API_TOKEN"] == "tsss-new-token"
    assert spawner.pid > 1 and spawner.pid != orphan.pid
    assert "unstopped" not in spawner.get_state()
    assert any("which an earlier stop could not reach, is stopped" in line for line in spawner.records.lines("INFO"))
    await spawner.stop()


async def test_an_unstopped_server_that_ended_meanwhile_is_forgotten(make_spawner, fake, orphan):
    spawner = make_spawner()
    spawner.load_state({"unstopped": {"pid": orphan.pid, "start_time": start_time_of(orphan.pid)}})
    orphan.kill()
    orphan.wait()
    await spawner.start()
    assert [r["action"] for r in fake.requests()] == ["spawn"]
    assert "unstopped" not in spawner.get_state()
    await spawner.stop()


@pytest.mark.parametrize(
    "stored",
    [{"pid": True, "start_time": 5}, {"pid": 1, "start_time": 5}, {"pid": 1234}, {"pid": 1234, "start_time": "5"}, [1234, 5], "1234"],
)
async def test_an_invalid_unstopped_record_is_ignored_with_a_warning(make_spawner, fake, stored):
    spawner = make_spawner()
    spawner.load_state({"unstopped": stored})
    assert "unstopped" not in spawner.get_state()
    assert any("Ignoring invalid unstopped server" in line for line in spawner.records.lines("WARNING"))
