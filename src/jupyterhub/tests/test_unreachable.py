"""A stop that cannot reach a server the hub still sees alive is not reported as success."""

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
