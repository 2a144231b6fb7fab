"""Which user names reach `sudo -u`."""

import pytest

from ts_sudospawner import MediatorError
from ts_sudospawner.usernames import check_username, is_valid_username

ACCEPTED = ["alice", "j.doe", "jdoe@example.org", "EXAMPLE\\jdoe", "host01$", "_svc", "a-b_c.d", "0day", "x" * 256]
REFUSED = [
    "-u", "#0", "%wheel", "+netgroup", "a b", "a\tb", "alice\n", "al\x00ice", "a\x1bb", "a/b", "a:b", "", "$", "a$b", "x" * 257,
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted(name):
    assert is_valid_username(name) and check_username(name) == name


@pytest.mark.parametrize("name", REFUSED)
def test_refused(name):
    assert not is_valid_username(name)
    with pytest.raises(MediatorError, match=r"cannot be passed to sudo: .* map hub names to system users with c\.Authenticator\.username_map"):
        check_username(name)


async def test_a_refused_name_never_reaches_sudo(make_spawner, fake):
    spawner = make_spawner("alice")
    spawner.user.orm_user.name = "#0"  # what an authenticator might hand over
    with pytest.raises(MediatorError, match="'#0' cannot be passed to sudo"):
        await spawner.start()
    assert fake.calls() == []


async def test_directory_names_go_through(make_spawner, fake):
    spawner = make_spawner("EXAMPLE\\jdoe")
    await spawner.start()
    assert fake.calls()[0]["argv"][:2] == ["-u", "EXAMPLE\\jdoe"]
    await spawner.stop(now=True)
