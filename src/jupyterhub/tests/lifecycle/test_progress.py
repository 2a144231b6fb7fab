"""progress(): the events of the spawn page."""

import asyncio

import pytest

from ts_sudospawner import MediatorError


async def collect(spawner):
    return [event async for event in spawner.progress()]


async def test_events_of_a_start(make_spawner, fake):
    spawner = make_spawner()
    spawner._spawn_pending = True  # as JupyterHub sets it while a spawn is pending
    reader = asyncio.ensure_future(collect(spawner))
    await asyncio.sleep(0.05)  # the spawn page may subscribe before start() sends anything
    await spawner.start()
    events = await asyncio.wait_for(reader, 5)
    messages = [e["message"] for e in events]
    assert messages == [
        "Asked the mediator to start the server as alice",
        f"Server started as pid {spawner.pid}",
        "Waiting for the server to answer HTTP",
    ]
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and 0 < progress[0] and progress[-1] < 100

    # A page opened later replays the same events.
    assert await asyncio.wait_for(collect(spawner), 5) == events
    # and JupyterHub's own wrapper (used by the progress API) passes them on after its first event
    wrapped = [e async for e in spawner._generate_progress()]
    assert wrapped[0]["progress"] == 0 and wrapped[1:] == events
    await spawner.stop(now=True)


async def test_events_name_the_profile(make_spawner, fake):
    fake.scenario(profiles=[{"name": "lab", "description": "JupyterLab"}])
    spawner = make_spawner(profile="lab")
    spawner._spawn_pending = True
    await spawner.start()
    events = await asyncio.wait_for(collect(spawner), 5)
    assert events[0]["message"] == "Asked the mediator to start the server as alice with launch profile lab"
    await spawner.stop(now=True)


async def test_a_failed_start_ends_the_events(make_spawner, fake):
    fake.scenario(mode="refuse", error="no")
    spawner = make_spawner()
    spawner._spawn_pending = True
    reader = asyncio.ensure_future(collect(spawner))
    with pytest.raises(MediatorError):
        await spawner.start()
    events = await asyncio.wait_for(reader, 5)
    assert [e["message"] for e in events] == ["Asked the mediator to start the server as alice"]


async def test_no_events_when_nothing_is_pending(make_spawner):
    spawner = make_spawner()
    assert await asyncio.wait_for(collect(spawner), 2) == []
