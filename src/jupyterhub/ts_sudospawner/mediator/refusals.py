"""Recognising the privilege tool's own refusals (sudo 1.8/1.9, dzdo, OpenBSD doas and OpenDoas).

The TypeScript client has the same table (src/hub): both must classify the same messages alike.
The patterns are matched, in order, against the lower-cased stderr of the call; the first match
wins. They use only the regular-expression syntax that Python and JavaScript share.
"""

import re
from typing import Optional, Tuple

__all__ = ["REFUSAL_KINDS", "REFUSAL_PATTERNS", "classify_refusal", "TOOL_LINE"]

REFUSAL_KINDS = ("asks_password", "not_allowed", "needs_tty", "unknown_user", "not_found", "cannot_execute", "no_privileges")

# (kind, pattern), in the order they are tried. Examples of what each one matches:
#   asks_password   sudo: a password is required / sudo: a terminal is required to read the password
#                   [sudo] password for rhea: / doas: Authorization required / doas: Authentication failed
#   not_allowed     Sorry, user rhea is not allowed to execute '/x' as alice on host.
#                   rhea is not in the sudoers file. / doas: Operation not permitted
#   needs_tty       sudo: sorry, you must have a tty to run sudo  (Defaults requiretty)
#   unknown_user    sudo: unknown user alice / sudo: unknown user: alice / doas: no passwd entry for alice
#   not_found       sudo: /x: command not found / sudo: unable to execute /x: No such file or directory
#   cannot_execute  sudo: unable to execute /x: Permission denied
#   no_privileges   sudo: effective uid is not 0, is /usr/bin/sudo on a file system with 'nosuid' ...
#                   sudo: /usr/bin/sudo must be owned by uid 0 and have the setuid bit set
#                   sudo: The "no new privileges" flag is set, which prevents sudo from running as root.
REFUSAL_PATTERNS: Tuple[Tuple[str, str], ...] = (
    (
        "asks_password",
        r"a password is required|a terminal is required|password for|\[sudo\] password|no tty present"
        r"|no askpass program|authorization required|authentication failed",
    ),
    ("not_allowed", r"is not allowed to (?:run|execute)|is not in the sudoers file|may not run sudo|operation not permitted"),
    ("needs_tty", r"you must have a tty"),
    ("unknown_user", r"unknown user|user \S+ unknown|no passwd entry|unknown login"),
    ("not_found", r"command not found|no such file or directory"),
    ("cannot_execute", r"unable to execute|permission denied"),
    ("no_privileges", r"effective uid is not 0|must be owned by uid 0 and have the setuid bit set|no new privileges"),
)

_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in REFUSAL_PATTERNS)

# A line the tool itself wrote ("sudo: ...", "doas: ...", "dzdo: ..."): evidence it failed before
# the mediator ran, when no pattern above matched.
TOOL_LINE = re.compile(r"^(sudo|doas|dzdo):", re.MULTILINE)


def classify_refusal(stderr_text: str) -> Optional[str]:
    """The kind of refusal the privilege tool's stderr shows (one of REFUSAL_KINDS), or None."""
    text = stderr_text.lower()
    for kind, pattern in _COMPILED:
        if pattern.search(text):
            return kind
    return None
