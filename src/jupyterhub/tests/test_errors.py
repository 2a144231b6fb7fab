"""Refusal classification, error explanations (cause + next step), and failing calls end to end."""

import os
import re

import pytest

from ts_sudospawner import REFUSAL_KINDS, REFUSAL_PATTERNS, MediatorError, classify_refusal
from ts_sudospawner.mediator.answers import extract_answer, extract_answers, kill_alive, spawn_pid
from ts_sudospawner.mediator.explain import CallContext, explain_failure, mediator_found

# Messages of sudo 1.8/1.9, dzdo and doas, each with the kind it must be classified as. The
# TypeScript client's table must agree on these (the lead's cross-check uses REFUSAL_PATTERNS).
SAMPLES = [
    ("sudo: a password is required", "asks_password"),
    ("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper", "asks_password"),
    ("[sudo] password for rhea: ", "asks_password"),
    ("sudo: no tty present and no askpass program specified", "asks_password"),
    ("doas: Authorization required", "asks_password"),
    ("doas: Authentication failed", "asks_password"),
    ("Sorry, user rhea is not allowed to execute '/opt/x/bin/ts-sudospawner --logging=INFO' as alice on hub.", "not_allowed"),
    ("rhea is not in the sudoers file.  This incident will be reported.", "not_allowed"),
    ("sudo: rhea may not run sudo on hub", "not_allowed"),
    ("doas: Operation not permitted", "not_allowed"),
    ("Sorry, user rhea is not allowed to run '/x' as alice on hub.", "not_allowed"),
    ("sudo: sorry, you must have a tty to run sudo", "needs_tty"),
    ("sudo: unknown user alice", "unknown_user"),
    ("sudo: unknown user: alice", "unknown_user"),
    ("dzdo: unknown user alice", "unknown_user"),
    ("doas: unknown login alice", "unknown_user"),
    ("doas: no passwd entry for alice", "unknown_user"),
    ("sudo: user alice unknown", "unknown_user"),
    ("sudo: /opt/x/bin/ts-sudospawner: command not found", "not_found"),
    ("sudo: unable to execute /opt/x/bin/ts-sudospawner: No such file or directory", "not_found"),
    ("sudo: unable to execute /opt/x/bin/ts-sudospawner: Permission denied", "cannot_execute"),
    ("sudo: effective uid is not 0, is /usr/bin/sudo on a file system with the 'nosuid' option set or an NFS file system without root privileges?", "no_privileges"),
    ("sudo: /usr/bin/sudo must be owned by uid 0 and have the setuid bit set", "no_privileges"),
    ('sudo: The "no new privileges" flag is set, which prevents sudo from running as root.', "no_privileges"),
    ("[I 2026-11-25 07:30:00.000 ts-sudospawner] spawning", None),
    ("", None),
]


@pytest.mark.parametrize("text, kind", SAMPLES)
def test_classify_refusal(text, kind):
    assert classify_refusal(text) == kind
    assert classify_refusal(text.upper()) == kind  # case does not matter


def test_refusal_table_shape():
    kinds = [kind for kind, _ in REFUSAL_PATTERNS]
    assert kinds == list(REFUSAL_KINDS)
    for _, pattern in REFUSAL_PATTERNS:
        re.compile(pattern)
        # only syntax JavaScript reads the same way: no named groups, inline flags or \A \Z
        assert not re.search(r"\(\?[P<=!a-zA-Z]|\\[AZ]", pattern), pattern


def ctx(**kw):
    base = dict(
        argv=["sudo", "-u", "alice", "-nH", "/opt/x/bin/ts-sudospawner", "--logging=INFO"],
        tool="sudo",
        user="alice",
        hub_user="rhea",
        mediator_path="/opt/x/bin/ts-sudospawner",
        mediator_found=True,
    )
    base.update(kw)
    return CallContext(**base)


def test_explanations_name_cause_and_next_step():
    fix = "add alice to the group the rule names (as root: `usermod -aG GROUP alice`); for a rule that lists users, run `ts-sudospawner sudoers --hub-user rhea --users alice --install` as root, which keeps everyone"
    check = "`ts-sudospawner check --hub-user rhea --user alice`"
    e = explain_failure(ctx(), 1, "", "sudo: a password is required\n")
    assert str(e).startswith("sudo asked for a password: the sudoers rule for hub user rhea does not cover user alice")
    assert fix in str(e) and check in str(e) and str(e).endswith("[sudo: a password is required]")

    e = explain_failure(ctx(), 1, "", "Sorry, user rhea is not allowed to execute '/x' as alice on hub.\n")
    assert str(e).startswith("sudo refused: the sudoers rule for hub user rhea does not allow running /opt/x/bin/ts-sudospawner as alice") and fix in str(e)

    e = explain_failure(ctx(), 1, "", "sudo: sorry, you must have a tty to run sudo\n")
    assert str(e).startswith("sudo requires a terminal (requiretty) and the hub has none: add `Defaults:rhea !requiretty`")

    e = explain_failure(ctx(), 1, "", "sudo: unknown user alice\n")
    assert str(e).startswith("sudo does not know the user alice: create the system account (useradd alice)")

    e = explain_failure(ctx(), 1, "", "sudo: unable to execute /opt/x/bin/ts-sudospawner: Permission denied\n")
    assert "make it and every directory above it readable and executable by alice" in str(e)

    e = explain_failure(ctx(), 1, "", "sudo: effective uid is not 0, is /usr/bin/sudo on a file system with the 'nosuid' option set\n")
    assert str(e).startswith("sudo cannot gain privileges here (setuid is disabled")

    e = explain_failure(ctx(tool="doas"), 1, "", "doas: Operation not permitted\n")
    assert "add `permit nopass rhea as alice cmd /opt/x/bin/ts-sudospawner` to /etc/doas.conf" in str(e) and "doas.conf rule" in str(e)


def test_a_missing_mediator_is_named_even_when_sudo_asks_for_a_password():
    # sudo -n says "a password is required" for a command no rule matches, e.g. a missing one.
    e = explain_failure(ctx(mediator_found=False), 1, "", "sudo: a password is required\n")
    assert str(e).startswith("sudo could not find the mediator /opt/x/bin/ts-sudospawner: it does not exist; install ts-sudospawner there")
    e = explain_failure(ctx(mediator_path="ts-sudospawner", mediator_found=False), 1, "", "sudo: ts-sudospawner: command not found\n")
    assert "on its secure_path: set c.TsSudoSpawner.mediator_path to the absolute path" in str(e)


def test_mediator_answers_and_garbage():
    assert str(explain_failure(ctx(), 1, '{"ok":false,"error":"boom"}\n', "")) == "the mediator refused (as alice): boom"
    usage = explain_failure(ctx(), 2, '{"ok":false,"error":"unknown argument --x"}\n', "")
    assert "a usage error: is the installed mediator older than this spawner?" in str(usage)
    assert str(explain_failure(ctx(), 0, "hello\n", "")).startswith("the mediator's output is not JSON: 'hello'; is /opt/x/bin/ts-sudospawner really ts-sudospawner")
    assert "2 JSON objects on stdout instead of one" in str(explain_failure(ctx(), 0, '{"a":1}\n{"b":2}\n', ""))
    assert str(explain_failure(ctx(), 3, "", "Segmentation fault\n")) == "the mediator exited with status 3 without an answer [Segmentation fault]"
    assert str(explain_failure(ctx(), -9, "", "")).startswith("the mediator was killed by signal 9 before answering")
    generic = explain_failure(ctx(), 1, "", "sudo: something new went wrong\n")
    assert "sudo failed before the mediator answered (exit status 1); try `sudo -u alice -nH /opt/x/bin/ts-sudospawner --help` as rhea" in str(generic)


def test_a_node_refused_executable_memory_names_selinux_and_check():
    # V8's own words when mprotect is refused (SELinux without execmem), then SIGTRAP through sudo.
    stderr = "\n\n#\n# Fatal error in , line 0\n# Check failed: 12 == (*__errno_location ()).\n#\n" + "".join(
        f" {n}: 0x{n:x} v8::base::OS::SetPermissions(void*)\n" for n in range(1, 22)
    )
    e = str(explain_failure(ctx(), -5, "", stderr))
    assert e.startswith("the mediator (Node) stopped at its first compiled function: the system refused it executable memory")
    assert "`ts-sudospawner check` as root names the fix in its selinux-execmem row (on Debian: setsebool -P allow_execmem on)" in e
    assert str(explain_failure(ctx(), -5, "", "Trace/breakpoint trap\n")).startswith("the mediator was killed by signal 5")


def test_answers():
    assert extract_answer('{"ok":true,"pid":5}\n') == {"ok": True, "pid": 5}
    assert extract_answer('Welcome to hub!\n{"ok":true,"alive":false}\n') == {"ok": True, "alive": False}
    assert extract_answer("not json") is None
    assert extract_answer('{"a":1}\n{"b":2}') is None and len(extract_answers('{"a":1}\n{"b":2}')) == 2
    assert spawn_pid({"ok": True, "pid": 4242}) == 4242
    for bad in ({"pid": 1}, {"pid": True}, {"pid": "4242"}, {"pid": 2**31}, {}):
        with pytest.raises(MediatorError, match="spawn answer has no valid pid"):
            spawn_pid(bad)
    assert kill_alive({"alive": False}) is False
    with pytest.raises(MediatorError, match='no boolean "alive"'):
        kill_alive({"alive": 1})


def test_mediator_found(tmp_path):
    assert mediator_found(str(tmp_path)) is True
    assert mediator_found(str(tmp_path / "missing")) is False
    assert mediator_found("sh") is True  # on the default secure_path
    assert mediator_found("surely-not-installed-tsss") is False


# -- failing calls end to end ------------------------------------------------------------------


async def test_password_prompt_through_a_call(make_spawner, fake):
    fake.scenario(mode="refusal", stderr="sudo: a password is required\n")
    spawner = make_spawner()
    with pytest.raises(MediatorError) as info:
        await spawner.start()
    hub = __import__("pwd").getpwuid(os.getuid()).pw_name
    assert str(info.value).startswith(f"sudo asked for a password: the sudoers rule for hub user {hub} does not cover user alice")
    assert fake.pids() == []


async def test_missing_mediator_through_a_call(make_spawner, fake, tmp_path):
    fake.scenario(mode="refusal", stderr="sudo: a password is required\n")
    spawner = make_spawner(mediator_path=str(tmp_path / "nowhere" / "ts-sudospawner"))
    with pytest.raises(MediatorError, match=r"could not find the mediator .*nowhere/ts-sudospawner: it does not exist"):
        await spawner.start()


async def test_a_missing_privilege_tool(make_spawner, tmp_path):
    spawner = make_spawner(sudo_command=[str(tmp_path / "no-sudo")])
    with pytest.raises(MediatorError, match=r"^cannot run .*no-sudo \(No such file or directory\): install no-sudo on the hub host or set c\.TsSudoSpawner\.sudo_command"):
        await spawner.start()


async def test_stderr_is_relayed_at_its_level_and_quoted_in_the_error(make_spawner, fake):
    fake.scenario(mode="refuse", error="policy says no", before=["[W 2026-01-01 00:00:00.000 ts-sudospawner] dropped environment variable LD_PRELOAD"])
    spawner = make_spawner()
    with pytest.raises(MediatorError, match="policy says no"):
        await spawner.start()
    text = spawner.records.text()
    assert "WARNING:[alice] [W 2026-01-01 00:00:00.000 ts-sudospawner] dropped environment variable LD_PRELOAD" in text
    assert "ERROR:[alice] [E ts-sudospawner] policy says no" in text


async def test_kill_answer_must_say_alive(make_spawner, fake):
    spawner = make_spawner()
    await spawner.start()
    pid = spawner.pid
    fake.scenario(modes={"kill": "stdout"}, stdout='{"ok":true}\n')
    with pytest.raises(MediatorError, match='kill answer has no boolean "alive"'):
        await spawner.stop(now=True)
    assert spawner.pid == pid  # still tracked: stop can be retried
    fake.scenario()
    await spawner.stop(now=True)
    assert spawner.pid == 0


def test_trait_validation(make_spawner):
    from traitlets import TraitError

    spawner = make_spawner()
    assert spawner.sudo_args == ["-nH"]
    assert make_spawner(sudo_command=["/usr/bin/doas"]).sudo_args == ["-n"]
    spawner.mediator_log_level = "debug"
    assert spawner.mediator_log_level == "DEBUG"
    for name, value in (("mediator_log_level", "loud"), ("sudo_command", []), ("mediator_path", "bin/ts-sudospawner"), ("mediator_path", "")):
        with pytest.raises(TraitError):
            setattr(spawner, name, value)


@pytest.mark.parametrize("name", ["mediator_timeout", "kill_grace"])
@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_seconds_must_be_positive(make_spawner, make_slurm_spawner, name, value):
    from traitlets import TraitError

    for spawner in (make_spawner(), make_slurm_spawner()):
        with pytest.raises(TraitError, match=f"{name} .*: use a positive number of seconds"):
            setattr(spawner, name, value)
        setattr(spawner, name, 0.5)
        assert getattr(spawner, name) == 0.5


def test_command_line_for_sudo_and_doas(make_spawner):
    """The Python SudoSpawner's command line: TOOL -u USER OPTIONS MEDIATOR --logging=LEVEL."""
    sudo = make_spawner("j.doe", sudo_command=["sudo"], mediator_path="/opt/x/bin/ts-sudospawner")
    assert sudo._mediator_argv() == ["sudo", "-u", "j.doe", "-nH", "/opt/x/bin/ts-sudospawner", "--logging=INFO"]
    doas = make_spawner("alice", sudo_command=["doas"], mediator_path="/opt/x/bin/ts-sudospawner", mediator_log_level="debug")
    assert doas._mediator_argv() == ["doas", "-u", "alice", "-n", "/opt/x/bin/ts-sudospawner", "--logging=DEBUG"]
    custom = make_spawner("alice", sudo_command=["/usr/local/bin/sudo", "-C", "3"], sudo_args=["-n"], mediator_path="ts-sudospawner")
    assert custom._mediator_argv() == ["/usr/local/bin/sudo", "-C", "3", "-u", "alice", "-n", "ts-sudospawner", "--logging=INFO"]
