"""TsSudoSlurmSpawner against the fake mediator's scripted Slurm queue (fake_sudo.py, "slurm")."""

import asyncio
import html.parser
import time

import pytest
from conftest import async_wait_until

from ts_sudospawner import MediatorError, TsSudoSlurmSpawner, TsSudoSpawner
from ts_sudospawner.slurm_job import (
    Bounds,
    SlurmOptions,
    job_exit_status,
    job_request,
    job_status,
    memory_mb,
    slurm_from_form,
    slurm_options,
    submitted_job,
)

RUNNING = {"state": "RUNNING", "node": "node07"}
OPTIONS = SlurmOptions(["debug", "short"], Bounds(60, 480), Bounds(2048, 8192), Bounds(1, 4), Bounds(0, 0))
WITH_GPUS = {
    "partitions": ["debug", "short", "gpu"],
    "minutes": {"default": 60, "max": 480},
    "memoryMB": {"default": 2048, "max": 8192},
    "cpus": {"default": 1, "max": 4},
    "gpus": {"default": 0, "max": 2},
}
TWO_PROFILES = [{"name": "lab", "description": "JupyterLab"}, {"name": "voila", "description": "Voilà dashboards"}]


def pending(reason):
    return {"state": "PENDING", "reason": reason}


def actions(fake):
    return [r["action"] for r in fake.requests()]


async def collect(spawner):
    return [event async for event in spawner.progress()]


async def wait_for_request(fake, action, timeout=5.0):
    assert await async_wait_until(lambda: fake.requests(action), timeout), f"no {action} request"
    return fake.requests(action)[-1]


# -- the submit request ---------------------------------------------------------------------------


async def test_submit_carries_args_env_and_the_job_from_options_and_limits(make_slurm_spawner, fake):
    spawner = make_slurm_spawner(mem_limit=1_500_000_000, cpu_limit=1.5, args=["--ServerApp.default_url=/lab"])
    spawner.user_options = {"partition": "short", "minutes": 30}
    ip, port = await spawner.start()
    assert (ip, port) == ("node07", spawner.port) and 0 < port < 65536
    assert actions(fake) == ["slurm-options", "submit", "query"]
    assert all(call["user"] == "alice" for call in fake.calls())
    [submit] = fake.requests("submit")
    assert set(submit) == {"action", "args", "env", "job", "server", "reconcile"}  # never limits or tls in Slurm mode
    assert submit["args"] == ["--ServerApp.default_url=/lab"]
    # 1.5e9 bytes = 1430.5 MiB, rounded up; 1.5 CPUs rounded up
    assert submit["job"] == {"partition": "short", "minutes": 30, "memoryMB": 1431, "cpus": 2}
    env = submit["env"]
    assert env["JUPYTERHUB_SERVICE_URL"] == f"http://0.0.0.0:{port}/user/alice/"
    assert env["JUPYTERHUB_API_TOKEN"] == spawner.api_token
    assert env["MEM_LIMIT"] == "1500000000" and env["CPU_LIMIT"] == "1.5"
    assert not any("not enforced" in w for w in spawner.records.lines("WARNING"))


async def test_without_choices_or_limits_the_policy_defaults_apply(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    await spawner.start()
    [submit] = fake.requests("submit")
    assert "job" not in submit and "profile" not in submit


async def test_the_launch_profile_goes_into_the_submit(make_slurm_spawner, fake):
    fake.scenario(profiles=TWO_PROFILES)
    spawner = make_slurm_spawner()
    spawner.user_options = {"profile": "voila"}
    await spawner.start()
    [submit] = fake.requests("submit")
    assert submit["profile"] == "voila"


async def test_values_at_the_maximum_are_sent(make_slurm_spawner, fake):
    spawner = make_slurm_spawner(mem_limit=8192 * 2**20, cpu_limit=4)
    spawner.user_options = {"minutes": 480, "partition": "debug"}
    await spawner.start()
    assert fake.requests("submit")[0]["job"] == {"partition": "debug", "minutes": 480, "memoryMB": 8192, "cpus": 4}


@pytest.mark.parametrize(
    "traits, user_options, message, status",
    [
        ({"mem_limit": "9G"}, {}, r"mem_limit 9663676416 bytes asks Slurm for 9216 MB, above the site policy's maximum of 8192 MB \(slurm\.memoryMB\.max\); lower c\.TsSudoSlurmSpawner\.mem_limit", 500),
        ({"mem_limit": 8192 * 2**20 + 1}, {}, r"asks Slurm for 8193 MB, above the site policy's maximum of 8192 MB", 500),
        ({"cpu_limit": 4.5}, {}, r"cpu_limit 4\.5 asks Slurm for 5 CPUs, above the site policy's maximum of 4 CPUs \(slurm\.cpus\.max\)", 500),
        ({}, {"minutes": 481}, r"the wall time in minutes 481 is above the site policy's maximum of 480 \(slurm\.minutes\.max\)", 400),
        ({}, {"gpus": 1}, r"the GPU count 1 is above the site policy's maximum of 0 \(slurm\.gpus\.max\)", 400),
        ({}, {"partition": "gpu"}, r"partition 'gpu' is not one the site policy offers \(debug, short\)", 400),
        ({}, {"partition": ["short"]}, r"partition .* is not one the site policy offers", 400),
        ({}, {"minutes": 0}, r"the wall time in minutes 0 is too small: at least 1", 400),
        ({}, {"minutes": "1e3"}, r"invalid wall time in minutes '1e3': a whole number", 400),
        ({}, {"minutes": 30.5}, r"invalid wall time in minutes '30\.5'", 400),
        ({}, {"minutes": True}, r"invalid wall time in minutes 'True'", 400),
    ],
)
async def test_beyond_the_policy_is_refused_before_any_submit(make_slurm_spawner, fake, traits, user_options, message, status):
    """A user's choice the policy does not allow is the user's 400; the admin's limit, a 500."""
    spawner = make_slurm_spawner(**traits)
    spawner.user_options = user_options
    with pytest.raises(MediatorError, match=message) as raised:
        await spawner.start()
    assert raised.value.status_code == status
    assert actions(fake) == ["slurm-options"]
    assert spawner.get_state() == {}


async def test_slurm_mode_off_fails_the_start_with_the_mediators_reason(make_slurm_spawner, fake):
    fake.scenario(modes={"slurm-options": "refuse"}, error='Slurm mode is off: the site policy has no "slurm" section')
    spawner = make_slurm_spawner()
    with pytest.raises(MediatorError, match="Slurm mode is off"):
        await spawner.start()
    assert fake.requests("submit") == []


async def test_internal_ssl_is_refused_before_any_call(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    spawner.internal_ssl = True
    with pytest.raises(MediatorError, match=r"^internal_ssl is not supported by TsSudoSlurmSpawner.*c\.JupyterHub\.internal_ssl = False"):
        await spawner.start()
    assert fake.calls() == []


def test_defaults_for_a_batch_system(make_slurm_spawner):
    spawner = TsSudoSlurmSpawner()
    assert spawner.ip == "0.0.0.0" and "all interfaces" in TsSudoSlurmSpawner.class_traits()["ip"].help
    assert TsSudoSpawner().ip == "127.0.0.1"  # the parent keeps JupyterHub's default
    assert spawner.start_timeout == 300 + 120 and spawner.http_timeout == 120 and spawner.mediator_timeout == 60
    assert (spawner.slurm_poll_interval, spawner.slurm_start_timeout, spawner.slurm_stop_timeout) == (1.0, 300, 60)
    assert make_slurm_spawner(slurm_start_timeout=600).start_timeout == 720
    assert make_slurm_spawner(start_timeout=90).start_timeout == 90


async def test_a_configured_ip_is_where_the_server_listens(make_slurm_spawner, fake):
    spawner = make_slurm_spawner(ip="10.1.2.3", port=8765)
    assert await spawner.start() == ("node07", 8765)
    assert fake.requests("submit")[0]["env"]["JUPYTERHUB_SERVICE_URL"] == "http://10.1.2.3:8765/user/alice/"
    await spawner.stop()
    assert spawner.port == 8765  # a configured port stays


# -- waiting for the job ----------------------------------------------------------------------------


async def test_start_returns_node_and_port_once_running_with_progress(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [pending("Priority"), pending("Priority"), pending("Resources"), {"state": "CONFIGURING", "node": "node07"}, RUNNING]})
    spawner = make_slurm_spawner()
    spawner._spawn_pending = True  # as JupyterHub sets it while a spawn is pending
    reader = asyncio.ensure_future(collect(spawner))
    await asyncio.sleep(0.05)
    assert await spawner.start() == ("node07", spawner.port)
    assert actions(fake) == ["slurm-options", "submit"] + ["query"] * 5
    events = await asyncio.wait_for(reader, 5)
    assert [e["message"] for e in events] == [
        "Asked the mediator to submit a Slurm job as alice",
        "Submitted as Slurm job 4711",
        "pending: Priority",
        "pending: Resources",
        "Running on node node07",
        "Waiting for the server to answer HTTP",
    ]
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] < 100
    wrapped = [e async for e in spawner._generate_progress()]  # JupyterHub's own wrapper
    assert wrapped[1:] == events


@pytest.mark.parametrize(
    "states, message",
    [
        ([pending("Resources"), {"state": "FAILED", "reason": "NonZeroExitCode"}], r"Slurm job 4711 ended before its server started: FAILED \(NonZeroExitCode\)"),
        ([{"state": "GONE"}], r"Slurm job 4711 ended before its server started: GONE; .*sacct -j 4711"),
        ([{"state": "COMPLETING", "node": "node07"}], r"ended before its server started: COMPLETING"),
    ],
)
async def test_a_job_that_ends_before_it_runs_fails_the_start(make_slurm_spawner, fake, states, message):
    fake.scenario(slurm={"states": states})
    spawner = make_slurm_spawner()
    with pytest.raises(MediatorError, match=message):
        await spawner.start()
    assert fake.requests("cancel") == []  # it ended: nothing to cancel
    assert spawner.get_state() == {}
    assert await spawner.poll() == 0


async def test_slurm_start_timeout_cancels_the_job(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [pending("Resources")]})
    spawner = make_slurm_spawner(slurm_start_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(MediatorError, match=r"Slurm job 4711 did not run within 0\.3 s \(still PENDING: Resources\), so it is cancelled"):
        await spawner.start()
    assert time.monotonic() - started < 5
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert actions(fake)[-1] == "cancel"
    assert spawner.get_state() == {}


async def test_a_query_that_fails_during_the_start_cancels_the_job(make_slurm_spawner, fake):
    """A node name that cannot be a host name is refused, and the job is not left running."""
    fake.scenario(modes={"query": "stdout"}, stdout='{"ok":true,"state":"RUNNING","reason":null,"node":"evil.example/x"}\n')
    spawner = make_slurm_spawner()
    with pytest.raises(MediatorError, match="invalid node name"):
        await spawner.start()
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert spawner.get_state() == {}


# -- cancellation -----------------------------------------------------------------------------------


async def test_a_start_cancelled_at_start_timeout_cancels_the_job(make_slurm_spawner, fake):
    """JupyterHub >= 5.1: asyncio.wait_for(spawner.start(), start_timeout) cancels start()."""
    fake.scenario(slurm={"states": [pending("Priority")]})
    spawner = make_slurm_spawner()
    start = asyncio.ensure_future(spawner.start())
    await wait_for_request(fake, "query")  # submitted, and waiting
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(start, timeout=0.2)
    # wait_for returns once the cancelled start() has finished: the job is cancelled by then.
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert any("cancelling Slurm job 4711: the start was cancelled" in w for w in spawner.records.lines("WARNING"))
    assert spawner.get_state() == {} and await spawner.poll() == 0


async def test_stop_during_a_start_cancels_it_and_the_job(make_slurm_spawner, fake):
    """JupyterHub before 5.1 calls stop() at start_timeout while start() still waits."""
    fake.scenario(slurm={"states": [pending("Resources")]})
    spawner = make_slurm_spawner()
    start = asyncio.ensure_future(spawner.start())
    await wait_for_request(fake, "query")
    await spawner.stop(now=True)
    assert start.done() and start.cancelled()
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert any("stop requested while the server was still starting" in w for w in spawner.records.lines("WARNING"))
    assert spawner.get_state() == {}


async def test_a_stop_during_a_start_cancels_it_again_when_the_cancellation_was_lost(make_slurm_spawner, fake):
    """Before Python 3.12, asyncio.wait_for returns a result that arrives together with the
    cancellation and drops the cancellation: start() then waits on as if nothing happened."""
    fake.scenario(slurm={"states": [pending("Resources")]})
    spawner = make_slurm_spawner()
    waiting = spawner._wait_until_running
    lost = []

    async def losing_one_cancellation(job):
        try:
            return await waiting(job)
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(job)
            return await waiting(job)

    spawner._wait_until_running = losing_one_cancellation
    start = asyncio.ensure_future(spawner.start())
    await wait_for_request(fake, "query")
    began = time.monotonic()
    await spawner.stop(now=True)
    assert lost == [4711]
    assert start.done() and start.cancelled()
    assert time.monotonic() - began < 5  # not after mediator_timeout (10 s)
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert spawner.get_state() == {}


async def test_a_submit_answered_after_it_was_abandoned_is_cancelled(make_slurm_spawner, fake):
    fake.scenario(modes={"submit": "late"})
    spawner = make_slurm_spawner(kill_grace=2.0)
    start = asyncio.ensure_future(spawner.start())
    await wait_for_request(fake, "submit")  # the job is in the queue, the answer not yet sent
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(start, timeout=0.2)
    assert fake.requests("cancel") == []  # only the answer names the job
    cancel = await wait_for_request(fake, "cancel", 10)
    assert cancel == {"action": "cancel", "job": 4711}
    assert any("cancelling Slurm job 4711: its submit was abandoned" in w for w in spawner.records.lines("WARNING"))


# -- poll -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, status",
    [
        ("PENDING", None),
        ("CONFIGURING", None),
        ("RUNNING", None),
        ("COMPLETING", None),
        ("SUSPENDED", None),
        ("REQUEUED", None),
        ("COMPLETED", 0),
        ("GONE", 0),
        ("FAILED", 1),
        ("TIMEOUT", 1),
        ("CANCELLED", 1),
        ("NODE_FAIL", 1),
        ("OUT_OF_MEMORY", 1),
        ("PREEMPTED", 1),
        ("BOOT_FAIL", 1),
        ("DEADLINE", 1),
        ("A_STATE_SLURM_ADDS_LATER", 1),
    ],
)
def test_job_exit_status(state, status):
    assert job_exit_status(state) == status


async def test_poll_follows_the_job(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [RUNNING, {"state": "COMPLETING", "node": "node07"}, {"state": "OUT_OF_MEMORY"}]})
    spawner = make_slurm_spawner()
    await spawner.start()
    assert await spawner.poll() is None  # COMPLETING: still holds the node
    assert spawner.get_state()["job_id"] == 4711
    assert await spawner.poll() == 1
    assert any("Slurm job 4711 has ended: OUT_OF_MEMORY" in w for w in spawner.records.lines("WARNING"))
    assert spawner.get_state() == {}
    queries = len(fake.requests("query"))
    # The job's end is the answer again (JupyterHub polls an ended server more than once), with no call.
    assert await spawner.poll() == 1 and len(fake.requests("query")) == queries


async def test_a_job_cancelled_outside_the_hub_stays_1_through_jupyterhubs_double_poll(make_slurm_spawner, fake):
    """poll_and_notify polls, its callback (BaseHandler.user_stopped) polls again, and User.stop
    polls once more before clear_state(): each sees the job's end, never "exit code: 0"."""
    fake.scenario(slurm={"states": [RUNNING, {"state": "CANCELLED", "reason": "None"}]})
    spawner = make_slurm_spawner()
    await spawner.start()
    seen = []

    async def user_stopped():
        seen.append(await spawner.poll())

    spawner.add_poll_callback(user_stopped)
    assert await spawner.poll_and_notify() == 1
    assert seen == [1]
    spawner.clear_state()
    assert await spawner.poll() == 1


async def test_poll_of_a_completed_job_is_0(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [RUNNING, {"state": "COMPLETED"}]})
    spawner = make_slurm_spawner()
    await spawner.start()
    assert await spawner.poll() == 0


async def test_poll_without_a_job_is_0_and_calls_nothing(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    assert await spawner.poll() == 0
    assert fake.calls() == []


async def test_a_failing_query_is_not_taken_as_the_end(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"query": "refuse"}, error="squeue failed with status 1: slurm_load_jobs error: Socket timed out")
    assert await spawner.poll() is None
    assert spawner.get_state()["job_id"] == 4711
    assert any("could not query Slurm job 4711, taking it as still running" in w and "Socket timed out" in w for w in spawner.records.lines("WARNING"))


NOT_OURS = "job 4711 is not a server ts-sudospawner submitted for alice; leaving it alone"


async def test_a_job_that_is_no_longer_ours_is_taken_as_ended(make_slurm_spawner, fake):
    """The mediator refuses a job id that now names another job (Slurm lost its state)."""
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"query": "refuse", "cancel": "refuse"}, error=NOT_OURS)
    assert await spawner.poll() == 1
    assert spawner.get_state() == {}
    assert any("Slurm job 4711 is no longer this user's server, taking it as ended" in w for w in spawner.records.lines("WARNING"))


async def test_stop_of_a_job_that_is_no_longer_ours_cancels_nothing(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"cancel": "refuse"}, error=NOT_OURS)
    await spawner.stop()
    assert spawner.get_state() == {}
    assert any("is no longer this user's server, nothing to cancel" in w for w in spawner.records.lines("WARNING"))


# -- stop -------------------------------------------------------------------------------------------


async def test_stop_cancels_and_waits_until_the_job_ended(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [RUNNING], "cancelled_states": [{"state": "COMPLETING"}, {"state": "COMPLETING"}, {"state": "CANCELLED"}]})
    spawner = make_slurm_spawner()
    await spawner.start()
    before = len(fake.requests())
    await spawner.stop()
    assert actions(fake)[before:] == ["cancel", "query", "query", "query"]
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert spawner.get_state() == {} and spawner.port == 0  # the picked port is picked anew next time


async def test_stop_waits_at_most_slurm_stop_timeout(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [RUNNING], "cancelled_states": [{"state": "COMPLETING", "node": "node07"}]})
    spawner = make_slurm_spawner(slurm_stop_timeout=0.5)
    await spawner.start()
    started = time.monotonic()
    await spawner.stop()
    assert 0.5 <= time.monotonic() - started < 5
    assert any("Slurm job 4711 is still COMPLETING 0.5 s after it was cancelled" in w for w in spawner.records.lines("WARNING"))
    assert spawner.get_state() == {}


async def test_stop_of_a_job_that_already_ended_does_not_wait(make_slurm_spawner, fake):
    fake.scenario(slurm={"states": [{"state": "COMPLETED"}]})
    spawner = make_slurm_spawner()
    spawner.load_state({"job_id": 4711, "port": 8765, "node": "node07"})
    await spawner.stop()
    assert actions(fake) == ["cancel"]
    assert spawner.get_state() == {}


async def test_a_failed_cancel_is_an_error_that_names_the_job(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"cancel": "refuse"}, error="scancel failed with status 1")
    with pytest.raises(MediatorError, match="scancel failed"):
        await spawner.stop()
    assert any("could not cancel Slurm job 4711: the mediator refused (as alice): scancel failed" in e and "`scancel 4711`" in e for e in spawner.records.lines("ERROR"))


async def failed_hub_stop(make_slurm_spawner, fake) -> dict:
    """A cancel that fails under JupyterHub's own User.stop; the state it stores."""
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"cancel": "refusal"}, stderr="sudo: a password is required\n")
    with pytest.raises(MediatorError, match="password"):
        await spawner.user.stop(spawner.name)
    assert any("could not cancel Slurm job 4711" in e and "next" in e for e in spawner.records.lines("ERROR"))
    return spawner.orm_spawner.state


async def test_a_failed_cancel_keeps_the_job_and_the_next_poll_cancels_it(make_slurm_spawner, fake):
    state = await failed_hub_stop(make_slurm_spawner, fake)
    assert state.get("job_id") is None and state["uncancelled_job"] == 4711  # JupyterHub forgot it, we did not
    fake.scenario()  # the cause is fixed
    restarted = make_slurm_spawner()
    restarted.load_state(state)
    assert await restarted.poll() == 0
    assert fake.requests("cancel")[-1] == {"action": "cancel", "job": 4711}
    assert restarted.get_state() == {}


async def test_a_failed_cancel_is_retried_first_by_the_next_start(make_slurm_spawner, fake):
    state = await failed_hub_stop(make_slurm_spawner, fake)
    fake.scenario()
    spawner = make_slurm_spawner()
    spawner.load_state(state)
    await spawner.start()
    assert actions(fake)[-4:-1] == ["cancel", "slurm-options", "submit"]
    assert fake.requests("cancel")[-1] == {"action": "cancel", "job": 4711}
    assert spawner.get_state()["job_id"] == 4712 and "uncancelled_job" not in spawner.get_state()


async def test_a_failed_start_whose_cancel_fails_keeps_the_job_for_the_next_poll(make_slurm_spawner, fake):
    fake.scenario(
        modes={"query": "stdout", "cancel": "refusal"},
        stdout='{"ok":true,"state":"RUNNING","reason":null,"node":"evil.example/x"}\n',
        stderr="sudo: a password is required\n",
    )
    spawner = make_slurm_spawner()
    with pytest.raises(MediatorError, match="invalid node name"):
        await spawner.start()
    assert spawner.get_state() == {"uncancelled_job": 4711}
    assert any("could not cancel Slurm job 4711" in e and "next poll or start" in e for e in spawner.records.lines("ERROR"))
    fake.scenario()  # the cause is fixed
    assert await spawner.poll() == 0
    assert fake.requests("cancel")[-1] == {"action": "cancel", "job": 4711}
    assert spawner.get_state() == {}


async def test_a_start_is_refused_while_the_earlier_job_cannot_be_cancelled(make_slurm_spawner, fake):
    state = await failed_hub_stop(make_slurm_spawner, fake)
    spawner = make_slurm_spawner()
    spawner.load_state(state)
    with pytest.raises(MediatorError, match=r"^No new server was started: the earlier Slurm job 4711 could not be cancelled"):
        await spawner.start()
    assert fake.requests("submit")[-1:] == [fake.requests("submit")[0]]  # only the first start's
    assert spawner.get_state() == {"uncancelled_job": 4711}


# -- state ------------------------------------------------------------------------------------------


async def test_a_restarted_hub_finds_the_running_job(make_slurm_spawner, fake):
    """cleanup_servers = False: the new hub loads the state, polls, and can stop the job."""
    spawner = make_slurm_spawner()
    _, port = await spawner.start()
    state = spawner.get_state()
    assert state == {"job_id": 4711, "port": port, "node": "node07"}

    restarted = make_slurm_spawner()
    restarted.load_state(state)
    assert restarted.get_state() == state and restarted.port == port
    before = len(fake.requests())
    assert await restarted.poll() is None
    assert fake.requests()[before:] == [{"action": "query", "job": 4711}]
    await restarted.stop()
    assert fake.requests("cancel") == [{"action": "cancel", "job": 4711}]
    assert restarted.get_state() == {} and restarted.port == 0


@pytest.mark.parametrize(
    "state",
    [
        {"job_id": "4711"},
        {"job_id": 0},
        {"job_id": True},
        {"job_id": 2**32},
        {"port": 8765, "node": "node07"},  # no job: nothing else counts
    ],
)
def test_invalid_stored_jobs_are_ignored(make_slurm_spawner, state):
    spawner = make_slurm_spawner()
    spawner.load_state(state)
    assert spawner.job_id is None and spawner.get_state() == {} and spawner.port == 0


def test_invalid_stored_node_and_port_are_ignored(make_slurm_spawner):
    spawner = make_slurm_spawner()
    spawner.load_state({"job_id": 4711, "port": 70000, "node": "node07/../x"})
    assert spawner.get_state() == {"job_id": 4711}


# -- the options form -------------------------------------------------------------------------------


class Fields(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = []
        self.options = []
        self.selects = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input":
            self.inputs.append(attrs)
        elif tag == "option":
            self.options.append(attrs)
        elif tag == "select":
            self.selects.append(attrs)


def parse(form):
    parser = Fields()
    parser.feed(form)
    return parser


async def test_form_offers_the_policys_partitions_wall_time_and_gpus(make_slurm_spawner, fake):
    fake.scenario(slurm={"options": WITH_GPUS})
    spawner = make_slurm_spawner("j.doe")
    form = parse(await spawner.get_options_form())
    assert [s["name"] for s in form.selects] == ["partition"]
    assert [(o["value"], "selected" in o) for o in form.options] == [("debug", True), ("short", False), ("gpu", False)]
    minutes, gpus = form.inputs
    assert (minutes["name"], minutes["type"], minutes["min"], minutes["max"], minutes["value"]) == ("minutes", "number", "1", "480", "60")
    assert (gpus["name"], gpus["min"], gpus["max"], gpus["value"]) == ("gpus", "0", "2", "0")
    assert fake.requests() == [{"action": "profiles"}, {"action": "slurm-options"}]
    assert all(call["user"] == "j.doe" for call in fake.calls())  # asked as the user the form is for


async def test_form_has_no_gpu_field_without_gpus_and_keeps_the_last_choice(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    spawner.user_options = {"partition": "short", "minutes": 90}
    form = parse(await spawner.get_options_form())
    assert [i["name"] for i in form.inputs] == ["minutes"]
    assert [o["value"] for o in form.options if "selected" in o] == ["short"]
    assert form.inputs[0]["value"] == "90"


async def test_form_adds_the_launch_profiles(make_slurm_spawner, fake):
    fake.scenario(profiles=TWO_PROFILES)
    form = parse(await make_slurm_spawner().get_options_form())
    assert [(i["name"], i["value"]) for i in form.inputs if i["type"] == "radio"] == [("profile", "lab"), ("profile", "voila")]
    assert [s["name"] for s in form.selects] == ["partition"]


async def test_no_slurm_fields_when_turned_off(make_slurm_spawner, fake):
    fake.scenario(profiles=TWO_PROFILES)
    form = parse(await make_slurm_spawner(slurm_form=False).get_options_form())
    assert form.selects == [] and [i["name"] for i in form.inputs] == ["profile", "profile"]
    assert fake.requests("slurm-options") == []
    nothing = make_slurm_spawner(slurm_form=False, profile_form="never")
    assert nothing.options_form == "" and await nothing.get_options_form() == ""


async def test_no_slurm_fields_when_the_mediator_refuses(make_slurm_spawner, fake):
    fake.scenario(modes={"slurm-options": "refuse"}, error="Slurm mode is off")
    spawner = make_slurm_spawner()
    assert await spawner.get_options_form() == ""
    assert any("no Slurm job form" in w and "Slurm mode is off" in w for w in spawner.records.lines("WARNING"))


async def test_options_from_the_form(make_slurm_spawner, fake):
    fake.scenario(profiles=TWO_PROFILES, slurm={"options": WITH_GPUS})
    spawner = make_slurm_spawner()
    await spawner.get_options_form()
    form_data = {"profile": ["voila"], "partition": ["gpu"], "minutes": ["90"], "gpus": ["2"], "_xsrf": ["token"]}
    options = spawner.run_options_from_form(form_data)
    assert options == {"profile": "voila", "partition": "gpu", "minutes": 90, "gpus": 2}
    # what the form gave is what the submit asks for
    spawner.user_options = options
    await spawner.start()
    [submit] = fake.requests("submit")
    assert submit["profile"] == "voila" and submit["job"] == {"partition": "gpu", "minutes": 90, "gpus": 2}


@pytest.mark.parametrize(
    "form_data, message",
    [
        ({"partition": ["gpu"]}, r"partition 'gpu' is not offered here: choose one of debug, short"),
        ({"partition": ["a b"]}, r"invalid partition name 'a b'"),
        ({"partition": ["debug", "short"]}, r"give exactly one partition, got 2"),
        ({"minutes": ["481"]}, r"the wall time in minutes may be at most 480, got 481"),
        ({"minutes": ["0"]}, r"the wall time in minutes must be at least 1, got 0"),
        ({"minutes": ["abc"]}, r"invalid wall time in minutes 'abc': a whole number"),
        ({"minutes": ["1.5"]}, r"invalid wall time in minutes '1\.5'"),
        ({"minutes": ["-5"]}, r"invalid wall time in minutes '-5'"),
        ({"minutes": ["1e3"]}, r"invalid wall time in minutes '1e3'"),
        ({"minutes": [""]}, r"invalid wall time in minutes ''"),
        ({"minutes": ["60", "70"]}, r"give exactly one wall time in minutes, got 2"),
        ({"gpus": ["1"]}, r"the number of GPUs may be at most 0, got 1"),
        ({"profile": ["../x"]}, r"invalid launch profile name"),
    ],
)
async def test_bad_form_values_are_refused(make_slurm_spawner, fake, form_data, message):
    spawner = make_slurm_spawner()
    await spawner.get_options_form()
    with pytest.raises(ValueError, match=message):
        spawner.run_options_from_form(form_data)


def test_form_reader_without_the_rendered_options():
    """A form posted to another hub process (no options cached) is checked for its form only;
    start() then checks the values against the policy."""
    assert slurm_from_form({"partition": "long", "minutes": "9999"}) == {"partition": "long", "minutes": 9999}
    assert slurm_from_form({}) == {}
    with pytest.raises(ValueError, match="invalid partition name"):
        slurm_from_form({"partition": "<b>"})


# -- the pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mem_limit, mb", [(None, None), (0, None), (1, 1), (2**20, 1), (2**20 + 1, 2), (2 * 2**30, 2048)])
def test_memory_mb_rounds_up(mem_limit, mb):
    assert memory_mb(mem_limit) == mb


def test_job_request_leaves_unset_values_to_the_policy():
    assert job_request({}, None, None, OPTIONS) == {}
    assert job_request({"partition": "", "minutes": ""}, 0, 0.0, OPTIONS) == {}
    assert job_request({"minutes": "45"}, None, 0.1, OPTIONS) == {"minutes": 45, "cpus": 1}


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"ok": True, "partitions": [], "minutes": {"default": 1, "max": 2}}, "no valid \"partitions\" list"),
        ({"ok": True, "partitions": ["a b"]}, "no valid \"partitions\" list"),
        ({**WITH_GPUS, "cpus": {"default": 5, "max": 4}}, "no valid \"cpus\" bounds"),
        ({**WITH_GPUS, "minutes": {"default": 1}}, "no valid \"minutes\" bounds"),
    ],
)
def test_malformed_slurm_options_are_refused(answer, message):
    with pytest.raises(MediatorError, match=message):
        slurm_options(answer)


def test_answer_readers():
    assert slurm_options({"ok": True, **WITH_GPUS}).gpus == Bounds(0, 2)
    assert submitted_job({"ok": True, "job": 4711}) == 4711
    for bad in (0, -1, True, "4711", 2**32, None):
        with pytest.raises(MediatorError, match="no valid job id"):
            submitted_job({"ok": True, "job": bad})
    assert job_status({"ok": True, "state": "PENDING", "reason": "Resources", "node": None}) == ("PENDING", "Resources", None)
    for bad in ({"state": "running"}, {"state": "RUNNING", "node": "-x"}, {"state": "RUNNING", "node": "a b"}, {"state": "PENDING", "reason": "x\ny"}):
        with pytest.raises(MediatorError):
            job_status({"ok": True, **bad})


OUTAGE = (
    "Slurm is not answering: sbatch could not reach the controller (sbatch: error: Batch job submission failed: "
    "Unable to contact slurm controller (connect failure)); this is an outage, not a refusal: run `scontrol ping` "
    "and `squeue -u alice` as alice (and `sinfo` for the nodes) to see when slurmctld answers again"
)


async def test_a_controller_outage_at_the_start_is_an_outage_not_a_refusal(make_slurm_spawner, fake):
    fake.scenario(modes={"submit": "refuse"}, error=OUTAGE)
    spawner = make_slurm_spawner()
    with pytest.raises(MediatorError) as raised:
        await spawner.start()
    message = str(raised.value)
    assert message.startswith("Slurm outage (as alice), not a refusal: Slurm is not answering")
    assert "refused" not in message.split("not a refusal")[0]
    assert "`scontrol ping`" in message and "`squeue -u alice`" in message
    assert raised.value.status_code == 503


async def test_a_controller_outage_at_poll_is_worded_as_an_outage_and_keeps_the_job(make_slurm_spawner, fake):
    spawner = make_slurm_spawner()
    await spawner.start()
    fake.scenario(modes={"query": "refuse"}, error=OUTAGE.replace("sbatch", "squeue"))
    assert await spawner.poll() is None
    assert spawner.get_state()["job_id"] == 4711
    warnings = spawner.records.lines("WARNING")
    assert any("Slurm is not answering about job 4711 (an outage, not a refusal)" in w and "`scontrol ping`" in w for w in warnings)
    assert not any("could not query" in w for w in warnings)
