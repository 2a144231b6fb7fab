"""Which hub user names may be passed to ``sudo -u``.

Directory-service sites have names such as ``j.doe``, ``jdoe@example.org``, ``EXAMPLE\\jdoe`` and
machine accounts ending in ``$``. What sudo would misread is refused: a leading ``-`` (an option),
``#`` (a uid), ``%`` or ``+`` (a group or netgroup), and whitespace, control characters, ``/``
and ``:`` anywhere (not part of any account name, and path or field separators elsewhere).
"""

import re

from .errors import MediatorError

__all__ = ["USERNAME_PATTERN", "MAX_USERNAME_LENGTH", "is_valid_username", "check_username"]

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.@\\][A-Za-z0-9_.@\\-]*\$?")
MAX_USERNAME_LENGTH = 256


def is_valid_username(name: str) -> bool:
    return isinstance(name, str) and len(name) <= MAX_USERNAME_LENGTH and USERNAME_PATTERN.fullmatch(name) is not None


def check_username(name: str) -> str:
    """Return name if sudo can take it safely, else raise MediatorError saying what to do."""
    if is_valid_username(name):
        return name
    raise MediatorError(
        f"user name {name!r} cannot be passed to sudo: a system user name here may contain letters, digits, "
        "'.', '_', '-', '@', '\\' and a final '$', and may not start with '-'; map hub names to system "
        "users with c.Authenticator.username_map (or normalize_username)"
    )
