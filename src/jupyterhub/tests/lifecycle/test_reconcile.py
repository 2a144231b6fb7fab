"""Reconciliation at start: every start names its server and asks the mediator to stop first what an
earlier hub left of it (in the same call as the spawn or submit); what was stopped is a WARNING."""

import pytest

from ts_sudospawner import MediatorError
from ts_sudospawner.mediator.answers import answer_stopped, describe_stopped


async def test_a_start_names_its_server_and_asks_for_reconciliation(make_spawner, fake):
    default = make_spawner("alice")
    await default.start()
    named = make_spawner("alice", server="two")
    await named.start()
    first, second = fake.requests("spawn")
    assert (first["server"], first["reconcile"]) == ("", True)
    assert (second["server"], second["reconcile"]) == ("two", True)
    # The same name as JupyterHub gives the server itself (the mediator checks they agree).
    assert second["env"]["JUPYTERHUB_SERVER_NAME"] == "two"
    # One mediator call per start: reconciliation rides on the spawn.
    assert [call["request"]["action"] for call in fake.calls()] == ["spawn", "spawn"]
    await default.stop(now=True)
    await named.stop(now=True)


async def test_what_was_stopped_is_logged_at_warning(make_spawner, fake):
    fake.scenario(stopped=[4242])
    spawner = make_spawner("alice", server="two")
    await spawner.start()
    [warning] = [line for line in spawner.records.lines("WARNING") if "earlier hub" in line]
    assert warning == (
        '[alice:two] stopped 1 server named "two" of alice (pid 4242) left by an earlier hub '
        "that stopped before it saved the server's state"
    )
    await spawner.stop(now=True)


async def test_nothing_stopped_logs_no_warning(make_spawner, fake):
    spawner = make_spawner("alice")
    await spawner.start()
    assert not [line for line in spawner.records.lines("WARNING") if "earlier hub" in line]
    await spawner.stop(now=True)


async def test_reconcile_at_start_off_still_names_the_server(make_spawner, fake):
    spawner = make_spawner("alice", reconcile_at_start=False)
    await spawner.start()
    [request] = fake.requests("spawn")
    assert request["server"] == "" and "reconcile" not in request
    await spawner.stop(now=True)


async def test_the_slurm_spawner_reconciles_in_its_submit(make_slurm_spawner, fake):
    fake.scenario(stopped=[4700, 4701])
    spawner = make_slurm_spawner("alice")
    await spawner.start()
    [submit] = fake.requests("submit")
    assert (submit["server"], submit["reconcile"]) == ("", True)
    [warning] = [line for line in spawner.records.lines("WARNING") if "earlier hub" in line]
    assert "cancelled 2 Slurm jobs of alice (job 4700, 4701) left by an earlier hub" in warning
    await spawner.stop(now=True)


async def test_an_invalid_stopped_list_is_a_mediator_error(make_spawner, fake):
    fake.scenario(stopped=["4242"])
    spawner = make_spawner("alice")
    with pytest.raises(MediatorError, match='invalid "stopped" list'):
        await spawner.start()
    fake.kill_all()


def test_answer_stopped_reads_the_list():
    assert answer_stopped({"ok": True, "pid": 7}) == []
    assert answer_stopped({"ok": True, "pid": 7, "stopped": [12, 13]}) == [12, 13]
    for bad in ([1], [True], "12", [12.5], [2**32]):
        with pytest.raises(MediatorError):
            answer_stopped({"ok": True, "pid": 7, "stopped": bad})


def test_describe_stopped_words():
    assert describe_stopped([5], "bob", "").startswith("stopped 1 server of bob (pid 5) left by an earlier hub")
    assert describe_stopped([5, 6], "bob", "x").startswith('stopped 2 servers named "x" of bob (pid 5, 6)')
