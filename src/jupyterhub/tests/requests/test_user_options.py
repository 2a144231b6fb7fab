"""User options checked where JupyterHub asks (apply_user_options, 5.3+), with errors the REST API
can answer: HTTP 400 and the reason, not a bare 500."""

import json

import jupyterhub
import pytest
from tornado import web

from ts_sudospawner import InvalidUserOptions, MediatorError

needs_apply_user_options = pytest.mark.skipif(jupyterhub.version_info < (5, 3), reason="JupyterHub before 5.3 has no apply_user_options")

TWO = [{"name": "lab", "description": "JupyterLab"}, {"name": "voila", "description": "Voilà dashboards"}]


def body_of(error: web.HTTPError) -> str:
    """The message JupyterHub's API handlers write: 3.0-5.x format log_message % args, 6.x take
    get_message() and then jupyterhub_message."""
    old = error.log_message % error.args
    new = getattr(error, "jupyterhub_message", error.get_message())
    assert old == new
    return new


def test_errors_are_http_errors_with_their_message():
    error = MediatorError("the mediator refused: 100% sure")
    assert isinstance(error, web.HTTPError) and isinstance(error, RuntimeError)
    assert error.status_code == 500
    assert str(error) == "the mediator refused: 100% sure"
    assert body_of(error) == "the mediator refused: 100% sure"
    bad = InvalidUserOptions("launch profile 'x' is not offered")
    assert bad.status_code == 400 and body_of(bad) == "launch profile 'x' is not offered"


@needs_apply_user_options
async def test_jupyterhub_answers_a_bad_profile_with_400_and_the_reason(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    with pytest.raises(web.HTTPError) as raised:
        await spawner._run_apply_user_options({"profile": "conda"})  # JupyterHub's own hook runner
    assert raised.value.status_code == 400
    assert "launch profile 'conda' is not one the site policy offers to alice (lab, voila)" in body_of(raised.value)
    assert fake.requests("spawn") == []


@needs_apply_user_options
async def test_a_valid_profile_passes_without_the_unhandled_warning(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    await spawner._run_apply_user_options({"profile": "voila"})
    assert not any("unhandled user_options" in line for line in spawner.records.lines())
    # A key no spawner reads is still named, in JupyterHub's words.
    await spawner._run_apply_user_options({"profile": "lab", "colour": "blue"})
    assert any("Received unhandled user_options" in line and "colour" in line and "profile" not in line.split(":")[-1] for line in spawner.records.lines("WARNING"))


async def test_start_refuses_the_same_with_400_for_older_jupyterhub(make_spawner, fake):
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    spawner.user_options = {"profile": "../lab"}
    with pytest.raises(InvalidUserOptions, match="invalid launch profile") as raised:
        await spawner.start()
    assert raised.value.status_code == 400
    assert fake.requests("spawn") == []


async def test_a_refusal_of_the_mediator_carries_its_message(make_spawner, fake):
    fake.scenario(mode="refuse", error="argument --foo is not in the vocabulary")
    spawner = make_spawner()
    with pytest.raises(MediatorError) as raised:
        await spawner.start()
    assert raised.value.status_code == 500
    assert "--foo" in body_of(raised.value)
    json.dumps({"message": body_of(raised.value)})


async def test_slurm_options_declared_and_checked(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    assert set(spawner.user_option_names) == {"profile", "partition", "minutes", "gpus"}


@needs_apply_user_options
async def test_slurm_apply_user_options_blames_the_user_only_for_the_users_choice(make_slurm_spawner, fake):
    """JupyterHub 5.3+ passes an HTTPError from apply_user_options through with its status."""
    with pytest.raises(web.HTTPError) as raised:
        await make_slurm_spawner()._run_apply_user_options({"minutes": 481})
    assert raised.value.status_code == 400 and "slurm.minutes.max" in body_of(raised.value)
    with pytest.raises(web.HTTPError) as raised:
        await make_slurm_spawner(mem_limit="9G")._run_apply_user_options({"minutes": 60})
    assert raised.value.status_code == 500 and "lower c.TsSudoSlurmSpawner.mem_limit" in body_of(raised.value)
    assert fake.requests("submit") == []


@needs_apply_user_options
async def test_one_start_asks_for_the_profiles_once(make_spawner, fake):
    """apply_user_options and then start(), as JupyterHub 5.3+ runs them: one profiles call."""
    fake.scenario(profiles=TWO)
    spawner = make_spawner()
    spawner.user_options = {"profile": "voila"}
    await spawner._run_apply_user_options(spawner.user_options)
    await spawner.start()
    assert [r["action"] for r in fake.requests()] == ["profiles", "spawn"]
    await spawner.stop(now=True)
    await spawner.start()  # the next start asks afresh
    assert [r["action"] for r in fake.requests()].count("profiles") == 2
    await spawner.stop(now=True)


@needs_apply_user_options
async def test_one_slurm_start_asks_for_the_slurm_options_once(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    spawner.user_options = {"minutes": 30}
    await spawner._run_apply_user_options(spawner.user_options)
    await spawner.start()
    assert [r["action"] for r in fake.requests()][:2] == ["slurm-options", "submit"]
    await spawner.stop()
