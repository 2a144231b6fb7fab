"""Which user names reach `sudo -u`: the table shared with the TypeScript tools
(account_names.json, also read by test/unit/system/account-name.test.ts)."""

import json
from pathlib import Path

import pytest

from ts_sudospawner import MediatorError
from ts_sudospawner.usernames import check_username, is_valid_username

_TABLE = json.loads((Path(__file__).parent / "account_names.json").read_text(encoding="utf-8"))
ACCEPTED = _TABLE["accepted"]
REFUSED = _TABLE["refused"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted(name):
    assert is_valid_username(name) and check_username(name) == name


@pytest.mark.parametrize("name", REFUSED)
def test_refused(name):
    assert not is_valid_username(name)
    with pytest.raises(MediatorError, match=r"(?s)cannot be passed to sudo: it .*; map hub names to system users with c\.Authenticator\.username_map"):
        check_username(name)


async def test_a_refused_name_never_reaches_sudo(make_spawner, fake):
    spawner = make_spawner("alice")
    spawner.user.orm_user.name = "#0"  # what an authenticator might hand over
    with pytest.raises(MediatorError, match="'#0' cannot be passed to sudo"):
        await spawner.start()
    assert fake.calls() == []


@pytest.mark.parametrize("name", ["EXAMPLE\\jdoe", "Alice.Smith@corp.example.com", "John Smith"])
async def test_directory_names_go_through(make_spawner, fake, name):
    spawner = make_spawner(name)
    await spawner.start()
    assert fake.calls()[0]["argv"][:2] == ["-u", name]
    await spawner.stop(now=True)
