"""Turning a failed mediator call into an error that names the cause and the next step (pure)."""

import json
import os
import re
import shlex
from typing import NamedTuple, Optional, Sequence

from ..errors import MediatorError
from ..slurm_job import SLURM_NOT_ANSWERING
from .answers import excerpt, extract_answers
from .refusals import TOOL_LINE, classify_refusal

__all__ = ["CallContext", "explain_failure", "mediator_found", "DEFAULT_SECURE_PATH"]

# sudo's usual secure_path, where it looks up a bare command name.
# What V8 prints when the kernel refuses it writable executable memory (mprotect fails with EACCES
# where V8 only expects ENOMEM): SELinux without execmem for the hub's domain (docs/admin-guide.md §8).
NO_EXECUTABLE_MEMORY = re.compile(r"Check failed: 12 == \(\*__errno_location \(\)\)")

DEFAULT_SECURE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class CallContext(NamedTuple):
    argv: Sequence[str]  # the command that ran
    tool: str  # base name of the privilege tool: sudo, doas, dzdo, ...
    user: str  # the user the mediator runs as
    hub_user: str  # the user the hub runs as (the one the sudoers rule names)
    mediator_path: str
    # Whether the mediator exists where sudo looks (None: not checked). sudo -n says "a password
    # is required" for a command it cannot find, too, since no rule matches it.
    mediator_found: Optional[bool] = None


def mediator_found(mediator_path: str) -> bool:
    """Does the mediator exist where sudo will look? A path we may not stat counts as found."""
    if mediator_path.startswith("/"):
        candidates = [mediator_path]
    else:
        candidates = [os.path.join(d, mediator_path) for d in DEFAULT_SECURE_PATH]
    for candidate in candidates:
        try:
            os.stat(candidate)
            return True
        except FileNotFoundError:
            continue
        except OSError:
            return True
    return False


def _tail(stderr: str, lines: int = 3) -> str:
    return " | ".join(stderr.strip().splitlines()[-lines:])


def _is_doas(ctx: CallContext) -> bool:
    return ctx.tool == "doas"


def _rule(ctx: CallContext) -> str:
    return "doas.conf rule" if _is_doas(ctx) else "sudoers rule"


def _fix(ctx: CallContext) -> str:
    if _is_doas(ctx):
        return f"add `permit nopass {ctx.hub_user} as {ctx.user} cmd {ctx.mediator_path}` to /etc/doas.conf"
    return (
        f"add {ctx.user} to the group the rule names (as root: `usermod -aG GROUP {ctx.user}`); for a rule "
        f"that lists users, run `ts-sudospawner sudoers --hub-user {ctx.hub_user} --users {ctx.user} --install` "
        f"as root, which keeps everyone the installed rule serves or prints the command that does; then check with "
        f"`ts-sudospawner check --hub-user {ctx.hub_user} --user {ctx.user}`"
    )


def _not_found(ctx: CallContext, tail: str) -> MediatorError:
    if not ctx.mediator_path.startswith("/"):
        return MediatorError(
            f"{ctx.tool} could not find the mediator {ctx.mediator_path!r} on its secure_path: set "
            "c.TsSudoSpawner.mediator_path to the absolute path of the installed ts-sudospawner "
            f"(e.g. /opt/ts-sudospawner/bin/ts-sudospawner) and name that same path in the {_rule(ctx)} [{tail}]"
        )
    return MediatorError(
        f"{ctx.tool} could not find the mediator {ctx.mediator_path}: it does not exist; install ts-sudospawner "
        f"there (`npm install -g --prefix PREFIX ts-sudospawner-*.tgz` gives PREFIX/bin/ts-sudospawner) or fix "
        f"c.TsSudoSpawner.mediator_path [{tail}]"
    )


def explain_failure(ctx: CallContext, returncode: Optional[int], stdout: str, stderr: str) -> MediatorError:
    """The error for a call that gave no {"ok": true} answer."""
    tail = _tail(stderr)
    answers = extract_answers(stdout)
    if len(answers) == 1:
        answer = answers[0]
        if answer.get("ok") is False:
            reason = answer.get("error")
            if not isinstance(reason, str):
                reason = f"(no error message: {excerpt(json.dumps(answer))})"
            usage = ""
            if returncode == 2:
                usage = (
                    " (a usage error: is the installed mediator older than this spawner? compare "
                    "`ts-sudospawner --version` with ts_sudospawner.__version__)"
                )
            if reason.startswith(SLURM_NOT_ANSWERING):
                # An outage of the cluster, not a decision of the mediator: 503, and said so.
                return MediatorError(f"Slurm outage (as {ctx.user}), not a refusal: {reason}", 503)
            return MediatorError(f"the mediator refused (as {ctx.user}): {reason}{usage}")
        return MediatorError(
            f"the mediator answered without \"ok\": {excerpt(json.dumps(answer))}; is {ctx.mediator_path} really ts-sudospawner?"
        )

    kind = classify_refusal(stderr)
    if kind in ("asks_password", "not_found") and ctx.mediator_found is False:
        return _not_found(ctx, tail)
    if kind == "asks_password":
        return MediatorError(
            f"{ctx.tool} asked for a password: the {_rule(ctx)} for hub user {ctx.hub_user} does not cover user "
            f"{ctx.user} (or does not name {ctx.mediator_path} exactly, with NOPASSWD); {_fix(ctx)} [{tail}]"
        )
    if kind == "not_allowed":
        return MediatorError(
            f"{ctx.tool} refused: the {_rule(ctx)} for hub user {ctx.hub_user} does not allow running "
            f"{ctx.mediator_path} as {ctx.user}; {_fix(ctx)} [{tail}]"
        )
    if kind == "needs_tty":
        return MediatorError(
            f"{ctx.tool} requires a terminal (requiretty) and the hub has none: add `Defaults:{ctx.hub_user} !requiretty` "
            f"to the sudoers rule (the one `ts-sudospawner sudoers` generates has it) [{tail}]"
        )
    if kind == "unknown_user":
        return MediatorError(
            f"{ctx.tool} does not know the user {ctx.user}: create the system account (useradd {ctx.user}) or map "
            f"the hub's user name to an existing account (c.Authenticator.username_map) [{tail}]"
        )
    if kind == "not_found":
        return _not_found(ctx, tail)
    if kind == "cannot_execute":
        return MediatorError(
            f"{ctx.tool} could not execute {ctx.mediator_path} as {ctx.user}: make it and every directory above it "
            f"readable and executable by {ctx.user} (e.g. chmod 755) [{tail}]"
        )
    if kind == "no_privileges":
        return MediatorError(
            f"{ctx.tool} cannot gain privileges here (setuid is disabled: a nosuid mount, or a container started "
            f"with no-new-privileges); run the hub where {ctx.tool} works [{tail}]"
        )
    if TOOL_LINE.search(stderr.lower()) and not stdout.strip():
        return MediatorError(
            f"{ctx.tool} failed before the mediator answered (exit status {returncode}); try "
            f"`{' '.join(shlex.quote(a) for a in [*ctx.argv[:-1], '--help'])}` as {ctx.hub_user} [{tail}]"
        )
    if len(answers) > 1:
        return MediatorError(f"the mediator wrote {len(answers)} JSON objects on stdout instead of one: {excerpt(stdout)}")
    if NO_EXECUTABLE_MEMORY.search(stderr):
        return MediatorError(
            "the mediator (Node) stopped at its first compiled function: the system refused it executable memory "
            "(V8: \"Check failed: 12 == (*__errno_location ())\"). Under SELinux the hub's domain needs execmem: "
            "`ts-sudospawner check` as root names the fix in its selinux-execmem row (on Debian: setsebool -P allow_execmem on)"
        )
    if returncode is not None and returncode < 0:
        return MediatorError(f"the mediator was killed by signal {-returncode} before answering [{tail}]")
    if stdout.strip():
        return MediatorError(
            f"the mediator's output is not JSON: {excerpt(stdout)}; is {ctx.mediator_path} really ts-sudospawner "
            f"(try `{ctx.mediator_path} --version`)?"
        )
    return MediatorError(f"the mediator exited with status {returncode} without an answer [{tail}]")
