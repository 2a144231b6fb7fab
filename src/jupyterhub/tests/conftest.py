"""Fixtures: the package from this source tree, a fake privilege tool, spawners built from
JupyterHub's own objects (orm user and spawner rows, jupyterhub.user.User, objects.Hub), and a
runner for ``async def`` tests (no pytest plugin needed)."""

import asyncio
import inspect
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# Test this source tree (an installed copy is compared with it in test_packaging.py).
sys.path.insert(0, str(PROJECT))

from ts_sudospawner import TsSudoSlurmSpawner, TsSudoSpawner  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> Optional[bool]:
    """Run ``async def`` tests in a fresh event loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    timeout = 60
    marker = pyfuncitem.get_closest_marker("timeout")
    if marker:
        timeout = marker.args[0]

    async def run() -> None:
        try:
            await asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout)
        finally:
            # Stop what the test left running, then let the relays read to the end, inside this
            # loop: their pipes close when the fake servers and reapers are gone.
            tool = pyfuncitem.funcargs.get("fake")
            if isinstance(tool, FakeTool):
                tool.kill_all()
            await drain_background(5.0)

    asyncio.run(run())
    return True


async def drain_background(timeout: float) -> None:
    from ts_sudospawner.mediator import call as mediator_call

    pending = list(mediator_call._background)
    if pending:
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "timeout(seconds): time limit of an async test")


class Records(logging.Handler):
    """Log records of one spawner, as (level name, message)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: Optional[str] = None) -> List[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelname == level]

    def text(self) -> str:
        return "\n".join(f"{r.levelname}:{r.getMessage()}" for r in self.records)


class FakeTool:
    """The fake sudo in its own directory: configure it with .scenario(), read what it saw."""

    def __init__(self, directory: Path, name: str = "sudo") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        source = (Path(__file__).parent / "fake_sudo.py").read_text()
        self.path.write_text(f"#!{sys.executable}\n{source}")
        self.path.chmod(0o755)
        self.mediator = directory / "ts-sudospawner"  # exists, so "not found" checks pass
        self.mediator.write_text("#!/bin/sh\nexit 1\n")
        self.mediator.chmod(0o755)

    def scenario(self, **settings: Any) -> None:
        (self.dir / "scenario.json").write_text(json.dumps(settings))

    def calls(self) -> List[Dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def requests(self, action: Optional[str] = None) -> List[Dict[str, Any]]:
        return [c["request"] for c in self.calls() if action is None or c["request"].get("action") == action]

    def kill_all(self) -> None:
        """SIGKILL every fake server this tool started (never leave one behind)."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def pids(self) -> List[int]:
        path = self.dir / "pids.txt"
        return [int(p) for p in path.read_text().split()] if path.exists() else []


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def async_wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


@pytest.fixture
def fake(tmp_path: Path) -> Any:
    tool = FakeTool(tmp_path / "fake")
    yield tool
    tool.kill_all()


@pytest.fixture
def hub_db() -> Any:
    from jupyterhub import orm

    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = orm.new_session_factory("sqlite:///:memory:")()
    yield db
    db.close()


class SpawnerFactory:
    def __init__(self, db: Any, fake: FakeTool, spawner_class: Any = TsSudoSpawner, defaults: Optional[Dict[str, Any]] = None) -> None:
        self.db = db
        self.fake = fake
        self.users: Dict[str, Any] = {}
        self.spawner_class = spawner_class
        self.defaults = defaults or {}

    def __call__(self, user: str = "alice", server: str = "", **traits: Any) -> TsSudoSpawner:
        """A spawner (TsSudoSpawner, or the factory's class) for user's server, configured as an
        admin would (c.TsSudoSpawner... or c.TsSudoSlurmSpawner...)."""
        from jupyterhub import orm
        from jupyterhub.objects import Hub
        from jupyterhub.user import User
        from traitlets.config import Config

        settings = {
            "sudo_command": [str(self.fake.path)],
            "mediator_path": str(self.fake.mediator),
            "mediator_timeout": 10.0,
            "kill_grace": 1.0,
            "interrupt_timeout": 2,
            "term_timeout": 2,
            "kill_timeout": 2,
        }
        settings.update(self.defaults)
        settings.update(traits)
        config = Config({self.spawner_class.__name__: settings})

        orm_user = self.db.query(orm.User).filter_by(name=user).first()
        if orm_user is None:
            orm_user = orm.User(name=user)
            self.db.add(orm_user)
            self.db.commit()
        orm_spawner = orm.Spawner(name=server)
        self.db.add(orm_spawner)
        orm_spawner.user = orm_user
        orm_spawner.server = orm.Server(base_url=f"/user/{user}/{server}/" if server else f"/user/{user}/")
        self.db.commit()

        hub_user = User(orm_user, {"spawner_class": self.spawner_class, "config": config, "hub": Hub()})
        spawner = hub_user.spawners[server]
        assert type(spawner) is self.spawner_class
        records = Records()
        logger = logging.getLogger(f"tsss-test.{id(spawner)}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(records)
        spawner.log = logger
        spawner.records = records  # type: ignore[attr-defined]
        return spawner


@pytest.fixture
def make_spawner(hub_db: Any, fake: FakeTool) -> SpawnerFactory:
    return SpawnerFactory(hub_db, fake)


@pytest.fixture
def make_slurm_spawner(hub_db: Any, fake: FakeTool) -> SpawnerFactory:
    """TsSudoSlurmSpawner, polling the fake queue every 50 ms."""
    return SpawnerFactory(hub_db, fake, TsSudoSlurmSpawner, {"slurm_poll_interval": 0.05, "slurm_stop_timeout": 5.0})


@pytest.fixture(autouse=True)
def fresh_warnings() -> Any:
    """The once-per-process warnings start afresh in each test."""
    from ts_sudospawner import spawner as module

    module._warned.clear()
    yield
