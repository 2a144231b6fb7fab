"""Which hub user names may be passed to ``sudo -u``.

Directory-service sites have names such as ``j.doe``, ``Alice.Smith``, ``jdoe@example.org``,
``EXAMPLE\\jdoe``, ``John Smith`` and machine accounts ending in ``$``: all are passed on as one
argument. Refused are only names sudo or the account files would read as something else: a
leading ``#`` (sudo reads ``#0`` as a uid), ``%`` or ``+`` (a group or netgroup in sudoers), ``!``
(a negation in sudoers) or ``-`` (an option); ``:`` (the passwd field separator) and ``/``; control
characters, whitespace other than an inner space, and leading or trailing spaces.

The TypeScript tools apply the same rule (src/system/account-name.ts); the tests hold both to
one table of examples.
"""

import re
from typing import Any, Optional

from .errors import MediatorError

__all__ = ["MAX_USERNAME_LENGTH", "username_problem", "is_valid_username", "check_username"]

MAX_USERNAME_LENGTH = 256

_LEADING = {
    "#": "sudo reads #N as a numeric id",
    "%": "sudo reads it as a group",
    "+": "sudo reads it as a netgroup",
    "!": "sudoers reads it as a negation",
    "-": "commands read it as an option",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OTHER_WHITESPACE = re.compile(r"[^\S ]")


def username_problem(name: Any) -> Optional[str]:
    """Why ``name`` cannot be given to sudo, or None when it can."""
    if not isinstance(name, str):
        return "it is not a string"
    if name == "":
        return "it is empty"
    if len(name) > MAX_USERNAME_LENGTH:
        return f"it is longer than {MAX_USERNAME_LENGTH} characters"
    if _CONTROL.search(name):
        return "it contains a control character (a tab, a newline, ...)"
    if _OTHER_WHITESPACE.search(name):
        return "it contains whitespace other than a space"
    if name != name.strip(" "):
        return "it begins or ends with a space"
    if ":" in name:
        return 'it contains ":", the field separator of /etc/passwd and /etc/group'
    if "/" in name:
        return 'it contains "/"'
    if name[0] in _LEADING:
        return f'it begins with "{name[0]}" ({_LEADING[name[0]]})'
    return None


def is_valid_username(name: Any) -> bool:
    return username_problem(name) is None


def check_username(name: str) -> str:
    """Return name if sudo can take it safely, else raise MediatorError saying what to do."""
    problem = username_problem(name)
    if problem is None:
        return name
    raise MediatorError(
        f"user name {name!r} cannot be passed to sudo: {problem}; map hub names to system "
        "users with c.Authenticator.username_map (or normalize_username)"
    )
