"""A PEP 517 build backend for ts-sudospawner that needs only the Python standard library.

The package must install with ``pip install --no-index DIR`` on a hub host without network and
without setuptools, so this backend builds the wheel itself: a pure-Python ``py3-none-any`` wheel
with METADATA, WHEEL, entry_points.txt and RECORD (sha256), and an sdist. Both are reproducible:
sorted entries, fixed timestamps, fixed permissions and owners.

It reads the few keys of pyproject.toml it needs ([project] strings and string arrays, and the
entry-point tables); with Python < 3.11 (no tomllib) through a small parser of that subset.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

__all__ = [
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_wheel",
]

# The project directory: this file lives in PROJECT/_build/.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "ts_sudospawner"
# Earliest time a zip entry can carry; used for every entry so that builds are byte-identical.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# 1980-01-01T00:00:00Z, the same moment for the sdist's tar headers.
TAR_MTIME = 315532800
# What goes into the sdist besides the package: the build inputs and the tests.
SDIST_EXTRA = ("pyproject.toml", "README.md", "_build", "tests")
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")


# -- pyproject.toml ----------------------------------------------------------------------------


def _load_toml(text: str) -> Dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ImportError:
        return parse_toml_subset(text)
    return tomllib.loads(text)


_BARE_KEY = r"[A-Za-z0-9_-]+"
_BASIC_STRING = r'"(?:[^"\\\n]|\\.)*"'
_KEY = rf"(?:{_BARE_KEY}|{_BASIC_STRING})"
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    if not token.startswith('"'):
        return token

    def escape(match: "re.Match[str]") -> str:
        seq = match.group(1)
        if seq[0] in "uU":
            return chr(int(seq[1:], 16))
        return _ESCAPES[seq]

    return re.sub(r'\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[btnfr"\\])', escape, token[1:-1])


def _split_key(text: str) -> List[str]:
    rest, parts = text.strip(), []
    while True:
        match = re.match(rf"({_KEY})\s*", rest)
        if not match:
            raise ValueError(f"unsupported TOML key {text!r}")
        parts.append(_unquote(match.group(1)))
        rest = rest[match.end():]
        if not rest:
            return parts
        if not rest.startswith("."):
            raise ValueError(f"unsupported TOML key {text!r}")
        rest = rest[1:].lstrip()


def _strip_comment(line: str) -> str:
    out, in_string, escaped = [], False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out).strip()


def _parse_value(text: str) -> Any:
    text = text.strip()
    if re.fullmatch(_BASIC_STRING, text):
        return _unquote(text)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        items = re.findall(rf"({_BASIC_STRING})\s*(?:,|$)", inner)
        if re.sub(rf"{_BASIC_STRING}|[\s,]", "", inner):
            raise ValueError(f"unsupported TOML array {text!r} (only arrays of strings)")
        return [_unquote(item) for item in items]
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    raise ValueError(f"unsupported TOML value {text!r}")


def parse_toml_subset(text: str) -> Dict[str, Any]:
    """Tables, dotted/quoted keys, basic strings, integers, booleans and arrays of strings."""
    doc: Dict[str, Any] = {}
    table = doc
    pending = ""
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if pending:
            pending += " " + line
            if pending.count("[") > pending.count("]"):
                continue
            line, pending = pending, ""
        if not line:
            continue
        header = re.fullmatch(r"\[([^\[\]]+)\]", line)
        if header:
            table = doc
            for part in _split_key(header.group(1)):
                table = table.setdefault(part, {})
            continue
        if "=" not in line:
            raise ValueError(f"unsupported TOML line {raw!r}")
        key_text, value_text = line.split("=", 1)
        if value_text.strip().startswith("[") and value_text.count("[") > value_text.count("]"):
            pending = line
            continue
        *parents, last = _split_key(key_text)
        target = table
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = _parse_value(value_text)
    if pending:
        raise ValueError("unterminated TOML array")
    return doc


def read_project(root: str = ROOT) -> Dict[str, Any]:
    with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:
        project = _load_toml(f.read())["project"]
    for key in ("name", "version"):
        if not isinstance(project.get(key), str):
            raise ValueError(f"pyproject.toml: [project] {key} must be a string")
    return project


# -- metadata ----------------------------------------------------------------------------------


def normalized_name(project: Dict[str, Any]) -> str:
    """The distribution name as wheel and sdist file names spell it (PEP 427 / PEP 625)."""
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def dist_info_name(project: Dict[str, Any]) -> str:
    return f"{normalized_name(project)}-{project['version']}.dist-info"


def wheel_name(project: Dict[str, Any]) -> str:
    return f"{normalized_name(project)}-{project['version']}-py3-none-any.whl"


def metadata_text(project: Dict[str, Any], root: str = ROOT) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    license_ = project.get("license")
    if isinstance(license_, str):
        lines.append(f"License: {license_}")
    if project.get("keywords"):
        lines.append(f"Keywords: {','.join(project['keywords'])}")
    for classifier in project.get("classifiers", []):
        lines.append(f"Classifier: {classifier}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for requirement in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {requirement}")
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        with open(os.path.join(root, readme), encoding="utf-8") as f:
            body = f.read()
        lines.append("Description-Content-Type: text/markdown")
    text = "\n".join(lines) + "\n"
    if body:
        text += "\n" + body
    return text


def wheel_text() -> str:
    return "Wheel-Version: 1.0\nGenerator: tsss_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def entry_points_text(project: Dict[str, Any]) -> str:
    groups = dict(project.get("entry-points", {}))
    if project.get("scripts"):
        groups["console_scripts"] = project["scripts"]
    sections = []
    for group in sorted(groups):
        entries = groups[group]
        sections.append(f"[{group}]\n" + "".join(f"{name} = {entries[name]}\n" for name in sorted(entries)))
    return "\n".join(sections)


def dist_info_files(project: Dict[str, Any], root: str = ROOT) -> List[Tuple[str, bytes]]:
    """The .dist-info files except RECORD, as (name inside the dist-info, content)."""
    files = [
        ("METADATA", metadata_text(project, root).encode("utf-8")),
        ("WHEEL", wheel_text().encode("utf-8")),
        ("top_level.txt", f"{PACKAGE}\n".encode("utf-8")),
    ]
    entry_points = entry_points_text(project)
    if entry_points:
        files.append(("entry_points.txt", entry_points.encode("utf-8")))
    return sorted(files)


# -- files -------------------------------------------------------------------------------------


def _walk(root: str, relative: str) -> Iterator[str]:
    """Files under root/relative (a file or a directory), as sorted '/'-separated paths."""
    full = os.path.join(root, relative)
    if os.path.isfile(full):
        yield relative.replace(os.sep, "/")
        return
    found = []
    for directory, dirs, files in os.walk(full):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if not name.endswith(SKIP_SUFFIXES):
                found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    yield from sorted(found)


def package_files(root: str = ROOT) -> List[str]:
    return list(_walk(root, PACKAGE))


def _read(root: str, relative: str) -> bytes:
    with open(os.path.join(root, *relative.split("/")), "rb") as f:
        return f.read()


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


# -- the PEP 517 hooks -------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = read_project()
    name = dist_info_name(project)
    target = os.path.join(metadata_directory, name)
    os.makedirs(target, exist_ok=True)
    for filename, data in dist_info_files(project):
        with open(os.path.join(target, filename), "wb") as f:
            f.write(data)
    return name


def _zip_entry(name: str, executable: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16
    info.create_system = 3  # Unix, so that the permission bits are read
    return info


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[Dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    project = read_project()
    dist_info = dist_info_name(project)
    entries: List[Tuple[str, bytes]] = [(path, _read(ROOT, path)) for path in package_files()]
    entries += [(f"{dist_info}/{filename}", data) for filename, data in dist_info_files(project)]
    entries.sort()
    record = "".join(f"{path},{record_hash(data)},{len(data)}\n" for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"

    filename = wheel_name(project)
    os.makedirs(wheel_directory, exist_ok=True)
    target = os.path.join(wheel_directory, filename)
    partial = target + ".partial"
    with zipfile.ZipFile(partial, "w") as wheel:
        for path, data in entries:
            wheel.writestr(_zip_entry(path), data)
        wheel.writestr(_zip_entry(f"{dist_info}/RECORD"), record.encode("utf-8"))
    os.replace(partial, target)
    return filename


def _tar_entry(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.type = kind
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = read_project()
    base = f"{normalized_name(project)}-{project['version']}"
    files: List[str] = []
    for relative in (PACKAGE,) + SDIST_EXTRA:
        if os.path.exists(os.path.join(ROOT, relative)):
            files.extend(_walk(ROOT, relative))
    entries = [(path, _read(ROOT, path)) for path in sorted(set(files))]
    entries.append(("PKG-INFO", metadata_text(project).encode("utf-8")))
    entries.sort()

    filename = f"{base}.tar.gz"
    os.makedirs(sdist_directory, exist_ok=True)
    target = os.path.join(sdist_directory, filename)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = sorted({"/".join(path.split("/")[:i]) for path, _ in entries for i in range(1, path.count("/") + 1)})
        tar.addfile(_tar_entry(base, 0, 0o755, tarfile.DIRTYPE))
        for directory in directories:
            tar.addfile(_tar_entry(f"{base}/{directory}", 0, 0o755, tarfile.DIRTYPE))
        for path, data in entries:
            tar.addfile(_tar_entry(f"{base}/{path}", len(data), 0o644), io.BytesIO(data))
    with open(target + ".partial", "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    os.replace(target + ".partial", target)
    return filename
