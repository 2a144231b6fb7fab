"""Launch profiles: their names, the options form that offers them, and reading the form back.

The root-owned site policy of the mediator defines the profiles; the hub only learns their names
and descriptions (``{"action":"profiles"}``) and may name one of them in a spawn request. The
mediator checks the name again, so a hub can never run anything the site did not list.
"""

import html
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Sequence

if TYPE_CHECKING:  # mypy only: typing has TypeGuard from Python 3.10, the package runs on 3.8
    from typing_extensions import TypeGuard

__all__ = ["PROFILE_NAME_PATTERN", "Profile", "is_valid_profile_name", "render_profiles_form", "profile_from_form"]

PROFILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Profile(NamedTuple):
    name: str
    description: str


def is_valid_profile_name(name: Any) -> "TypeGuard[str]":
    return isinstance(name, str) and PROFILE_NAME_PATTERN.fullmatch(name) is not None


def render_profiles_form(profiles: Sequence[Profile], selected: Optional[str] = None) -> str:
    """HTML radio buttons for the profiles (names and descriptions escaped), or "" for none.

    The first profile is preselected unless ``selected`` names another listed one (e.g. the
    user's last choice). JupyterHub wraps this in its own <form> with the submit button.
    """
    if not profiles:
        return ""
    names = [p.name for p in profiles]
    chosen = selected if selected in names else names[0]
    rows = []
    for index, profile in enumerate(profiles):
        ident = f"tsss-profile-{index}"
        name = html.escape(profile.name, quote=True)
        description = html.escape(profile.description or profile.name, quote=True)
        checked = " checked" if profile.name == chosen else ""
        rows.append(
            f'  <div class="form-check radio">\n'
            f'    <input class="form-check-input" type="radio" name="profile" id="{ident}" value="{name}"{checked}>\n'
            f'    <label class="form-check-label" for="{ident}"><strong>{name}</strong> &mdash; {description}</label>\n'
            f"  </div>"
        )
    return (
        '<fieldset class="ts-sudospawner-profiles">\n'
        "  <legend>Launch profile</legend>\n" + "\n".join(rows) + "\n</fieldset>\n"
    )


def profile_from_form(form_data: Mapping[str, Any]) -> Dict[str, str]:
    """``{"profile": NAME}`` from submitted form data (a list of strings, or a string from a query).

    Raises ValueError for a value that is not a profile name (JupyterHub shows the form again with
    the message). No profile in the data gives {}.
    """
    value: Any = form_data.get("profile")
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        values: List[Any] = list(value)
        if len(values) != 1:
            raise ValueError(f"choose exactly one launch profile, got {len(values)}")
        value = values[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not is_valid_profile_name(value):
        raise ValueError(f"invalid launch profile name {str(value)[:80]!r}: 1-64 letters, digits, '.', '_' or '-'")
    return {"profile": value}
