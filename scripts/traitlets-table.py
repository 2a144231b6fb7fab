#!/usr/bin/env python3
"""Writes (or checks) the traitlets table the mediator judges `serverArgs.allow` names by.

Run with the Python of a single-user environment (JupyterHub, jupyter_server, JupyterLab):

    VENV/bin/python scripts/traitlets-table.py > src/mediator/vocabulary/traitlets-table.json
    VENV/bin/python scripts/traitlets-table.py --check src/mediator/vocabulary/traitlets-table.json

Every configurable trait of the single-user server's classes gets a kind from its traitlets type:
bool, int, float, enum:A|B, text, or never:REASON. A value that is code, a class or callable name,
a config dict or a container is never passable from the hub, whatever a site allows. Text traits
whose name says they hold a file, directory, command, URL or secret are never passable either:
traitlets types those as plain Unicode, so the trait's own name is all there is to go by.
--check exits 1 when a trait the committed table lets a site allow has another kind here.
"""
import json
import os
import sys

os.environ.setdefault("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8888/")

import traitlets  # noqa: E402
from traitlets.config import Configurable  # noqa: E402

SCALARS = {
    "Bool": "bool", "CBool": "bool",
    "Int": "int", "CInt": "int", "Integer": "int", "Long": "int", "CLong": "int",
    "Float": "float", "CFloat": "float",
}
ENUMS = {"Enum", "CaselessStrEnum", "UseEnum", "FuzzyEnum"}
TEXT = {"Unicode", "CUnicode", "Bytes", "CBytes"}
NEVER_BY_TYPE = {
    "Dict": "a config dict",
    "List": "a list (commands, paths or config)", "Set": "a list (commands, paths or config)",
    "Tuple": "a list (commands, paths or config)", "Container": "a list (commands, paths or config)",
    "Type": "a class", "Instance": "a class instance", "ForwardDeclaredType": "a class",
    "ForwardDeclaredInstance": "a class instance",
    "DottedObjectName": "a class or callable name", "ObjectName": "a class or callable name",
    "Callable": "a callable",
}
# Words in a text trait's name that mark a file, directory, command, URL or secret.
PATH_WORDS = {
    "file", "files", "dir", "dirs", "path", "paths", "filepath", "certs", "ca", "cert", "key",
    "secret", "browser", "sock", "cmd", "command", "module", "class", "url", "uri", "uris",
    "endpoint", "config", "exec", "script", "settings", "manager", "password", "token", "pwd",
}
# ... and words ending so (certfile, keyfile, workdir).
PATH_ENDINGS = ("file", "dir", "path", "url", "uri")


def kind_of(name: str, trait: traitlets.TraitType) -> str:
    type_name = type(trait).__name__
    if type_name in SCALARS:
        return SCALARS[type_name]
    if type_name in ENUMS:
        return "enum:" + "|".join(sorted(str(v) for v in trait.values))
    if type_name in TEXT:
        words = name.lower().split("_")
        if PATH_WORDS.intersection(words) or any(word.endswith(PATH_ENDINGS) for word in words):
            return "never:a file, directory, command, URL or secret"
        return "text"
    return "never:" + NEVER_BY_TYPE.get(type_name, f"an untyped value (traitlets {type_name})")


def single_user_classes() -> list:
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp
    from jupyterhub.singleuser.extension import JupyterHubSingleUser
    from jupyterhub.singleuser.mixins import SingleUserNotebookAppMixin

    roots = [*ServerApp.classes, *LabApp.classes, JupyterHubSingleUser, LabApp, ServerApp, SingleUserNotebookAppMixin]
    seen = {}
    for root in roots:
        for klass in root.mro():
            if isinstance(klass, type) and issubclass(klass, Configurable):
                seen[klass.__name__] = klass
    return [seen[name] for name in sorted(seen)]


def build() -> dict:
    from jupyter_server.serverapp import ServerApp
    from jupyterhub.singleuser.mixins import aliases as hub_aliases, flags as hub_flags

    traits = {}
    for klass in single_user_classes():
        for name, trait in sorted(klass.class_traits(config=True).items()):
            traits[f"{klass.__name__}.{name}"] = kind_of(name, trait)
    # SingleUserNotebookApp is made at run time from the mixin: its own traits under its own name.
    for key in [k for k in traits if k.startswith("SingleUserNotebookAppMixin.")]:
        traits["SingleUserNotebookApp." + key.split(".", 1)[1]] = traits.pop(key)
    app = ServerApp()
    aliases = {**{k: v for k, v in app.aliases.items() if isinstance(v, str)}, **hub_aliases}
    flags = {}
    for name, (config, _help) in {**app.flags, **hub_flags}.items():
        if isinstance(config, dict):
            flags[name] = sorted(f"{klass}.{trait}" for klass, section in config.items() for trait in section)
    return {"traits": dict(sorted(traits.items())), "aliases": dict(sorted(aliases.items())), "flags": dict(sorted(flags.items()))}


def main() -> int:
    table = build()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2]) as f:
            committed = json.load(f)
        wrong = [
            f"{name}: table says {kind}, traitlets here says {table['traits'][name]}"
            for name, kind in committed["traits"].items()
            if not kind.startswith("never:") and name in table["traits"] and table["traits"][name] != kind
        ]
        print("\n".join(wrong) if wrong else f"{len(committed['traits'])} traits checked, none passable with another kind here")
        return 1 if wrong else 0
    json.dump(table, sys.stdout, indent=0, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
