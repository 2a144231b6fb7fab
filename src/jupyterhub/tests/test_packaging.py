"""The package: version, the in-tree build backend (wheel, sdist, metadata), the offline install,
the entry point, and what the code may use (Python 3.8 syntax, no installed metadata at import)."""

import ast
import base64
import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import ts_sudospawner
from ts_sudospawner import TsSudoSlurmSpawner, TsSudoSpawner

PROJECT = Path(__file__).resolve().parent.parent
SPAWNERS = {"ts-sudospawner": "ts_sudospawner:TsSudoSpawner", "ts-sudospawner-slurm": "ts_sudospawner.slurm:TsSudoSlurmSpawner"}
ENTRY_POINTS_TXT = (
    "[jupyterhub.spawners]\n"
    "ts-sudospawner = ts_sudospawner:TsSudoSpawner\n"
    "ts-sudospawner-slurm = ts_sudospawner.slurm:TsSudoSlurmSpawner\n"
)
PACKAGE_FILES = sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "ts_sudospawner").rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def load_backend():
    spec = importlib.util.spec_from_file_location("tsss_build_under_test", PROJECT / "_build" / "tsss_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backend = load_backend()


def pyproject():
    return backend.read_project(str(PROJECT))


def test_versions_agree():
    version = pyproject()["version"]
    assert ts_sudospawner.__version__ == version
    package_json = PROJECT.parent.parent / "package.json"
    if package_json.exists():  # in the repository and in the npm package
        assert json.loads(package_json.read_text())["version"] == version


def test_pyproject_says_what_the_brief_fixed():
    project = pyproject()
    assert project["name"] == "ts-sudospawner"
    assert project["requires-python"] == ">=3.8"
    assert project["dependencies"] == ["jupyterhub>=4"]
    assert project["entry-points"]["jupyterhub.spawners"] == SPAWNERS


def test_toml_subset_parser_matches_tomllib():
    tomllib = pytest.importorskip("tomllib")
    text = (PROJECT / "pyproject.toml").read_text()
    assert backend.parse_toml_subset(text) == tomllib.loads(text)
    sample = 'a = "x # not a comment" # comment\n[t."q.k"]\nb-c = [\n  "1",\n  "2", # two\n]\nn = 3\nf = false\ns = "\\u00e9\\n"\n'
    assert backend.parse_toml_subset(sample) == tomllib.loads(sample)
    with pytest.raises(ValueError):
        backend.parse_toml_subset("x = 1.5\n")


def test_backend_declares_no_build_requirements():
    assert backend.get_requires_for_build_wheel() == [] and backend.get_requires_for_build_sdist() == []
    text = (PROJECT / "pyproject.toml").read_text()
    assert "requires = []" in text and 'backend-path = ["_build"]' in text


def test_backend_uses_only_the_standard_library():
    tree = ast.parse((PROJECT / "_build" / "tsss_build.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        pytest.skip("sys.stdlib_module_names needs Python >= 3.10")
    assert imported - set(stdlib) == set()


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(directory):
    name = backend.build_wheel(str(directory))
    return directory / name


def test_wheel_contents(tmp_path):
    wheel = build_wheel(tmp_path)
    assert wheel.name == "ts_sudospawner-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
        dist_info = "ts_sudospawner-0.1.0.dist-info"
        assert names[-1] == f"{dist_info}/RECORD"
        assert names[:-1] == sorted(names[:-1])
        assert [n for n in names if not n.startswith(dist_info)] == PACKAGE_FILES
        assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/") for n in names)
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert (info.external_attr >> 16) & 0o777 == 0o644

        metadata = zf.read(f"{dist_info}/METADATA").decode()
        headers = metadata.split("\n\n", 1)[0].splitlines()
        assert "Metadata-Version: 2.1" in headers and "Name: ts-sudospawner" in headers and "Version: 0.1.0" in headers
        assert "Requires-Python: >=3.8" in headers and "Requires-Dist: jupyterhub>=4" in headers
        assert "License: BSD-3-Clause" in headers
        wheel_meta = zf.read(f"{dist_info}/WHEEL").decode().splitlines()
        assert {"Wheel-Version: 1.0", "Root-Is-Purelib: true", "Tag: py3-none-any"} <= set(wheel_meta)
        assert zf.read(f"{dist_info}/entry_points.txt").decode() == ENTRY_POINTS_TXT

        rows = list(csv.reader(io.StringIO(zf.read(f"{dist_info}/RECORD").decode())))
        assert sorted(r[0] for r in rows) == sorted(names)
        for path, digest, size in rows:
            if path == f"{dist_info}/RECORD":
                assert digest == "" and size == ""
                continue
            data = zf.read(path)
            assert digest == record_hash(data) and int(size) == len(data)
        for path in PACKAGE_FILES:
            assert zf.read(path) == (PROJECT / path).read_bytes()


def test_wheel_is_reproducible(tmp_path):
    first = build_wheel(tmp_path / "a").read_bytes()
    os.utime(PROJECT / "ts_sudospawner" / "__init__.py")  # a newer mtime changes nothing
    second = build_wheel(tmp_path / "b").read_bytes()
    assert first == second


def test_prepare_metadata_matches_the_wheel(tmp_path):
    name = backend.prepare_metadata_for_build_wheel(str(tmp_path))
    assert name == "ts_sudospawner-0.1.0.dist-info"
    with zipfile.ZipFile(build_wheel(tmp_path / "wheel")) as zf:
        for file in ("METADATA", "WHEEL", "entry_points.txt"):
            assert (tmp_path / name / file).read_bytes() == zf.read(f"{name}/{file}")


def test_sdist(tmp_path):
    name = backend.build_sdist(str(tmp_path / "a"))
    assert name == "ts_sudospawner-0.1.0.tar.gz"
    again = backend.build_sdist(str(tmp_path / "b"))
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / again).read_bytes()
    with tarfile.open(tmp_path / "a" / name) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        base = "ts_sudospawner-0.1.0"
        for needed in ("PKG-INFO", "pyproject.toml", "README.md", "_build/tsss_build.py", "ts_sudospawner/spawner.py", "tests/conftest.py"):
            assert f"{base}/{needed}" in names
        assert not any("__pycache__" in n for n in names)
        assert all(m.mtime == 315532800 and m.uid == 0 and m.uname == "" for m in members)
        assert b"Name: ts-sudospawner" in tar.extractfile(f"{base}/PKG-INFO").read()


def test_offline_pip_install(tmp_path):
    """pip builds and installs the package with no index, no network and no setuptools."""
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_CONSTRAINT", None)
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir", "--target", str(target), str(PROJECT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (target / "ts_sudospawner" / "spawner.py").read_bytes() == (PROJECT / "ts_sudospawner" / "spawner.py").read_bytes()
    [dist] = list(importlib.metadata.distributions(path=[str(target)]))
    assert dist.metadata["Name"] == "ts-sudospawner" and dist.version == "0.1.0"
    found = {ep.name: ep.value for ep in dist.entry_points if ep.group == "jupyterhub.spawners"}
    assert found == SPAWNERS


def installed_distribution():
    try:
        return importlib.metadata.distribution("ts-sudospawner")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("ts-sudospawner is not installed in this Python: pip install --no-index src/jupyterhub (scripts/test/test-python.mjs does)")


def test_entry_point_resolves_in_this_environment():
    installed_distribution()
    if sys.version_info >= (3, 10):
        group = importlib.metadata.entry_points(group="jupyterhub.spawners")
    else:  # Python 3.8/3.9: a dict of groups
        group = importlib.metadata.entry_points().get("jupyterhub.spawners", [])
    for name, cls in (("ts-sudospawner", TsSudoSpawner), ("ts-sudospawner-slurm", TsSudoSlurmSpawner)):
        found = [ep for ep in group if ep.name == name]
        assert len(found) == 1, name
        assert found[0].load() is cls


def test_jupyterhub_loads_the_spawner_by_its_short_name():
    installed_distribution()
    from jupyterhub.app import JupyterHub

    hub = JupyterHub(spawner_class="ts-sudospawner")
    assert hub.spawner_class is TsSudoSpawner
    hub = JupyterHub(spawner_class="ts-sudospawner-slurm")
    assert hub.spawner_class is TsSudoSlurmSpawner


def test_the_installed_copy_is_this_source():
    dist = installed_distribution()
    installed = {str(f): f for f in dist.files if str(f).startswith("ts_sudospawner/") and "__pycache__" not in str(f)}
    assert sorted(installed) == PACKAGE_FILES, "the installed package is stale: reinstall from src/jupyterhub"
    for name, file in installed.items():
        assert Path(file.locate()).read_bytes() == (PROJECT / name).read_bytes(), f"{name} differs from the source"


def python_sources():
    return sorted(PROJECT.glob("ts_sudospawner/*.py")) + [PROJECT / "_build" / "tsss_build.py"]


@pytest.mark.parametrize("path", python_sources(), ids=lambda p: p.name)
def test_python_38_syntax_and_no_installed_metadata(path):
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 8))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    # Debian's JupyterHub 3.0 loads the package from a path: nothing may depend on installed metadata.
    assert not modules & {"importlib.metadata", "importlib_metadata", "pkg_resources"}
    # Built-in generics (list[int]) and X | Y unions in annotations need 3.9 / 3.10 at runtime.
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            assert node.value.id not in {"list", "dict", "set", "tuple", "type"}, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            names = [n for n in (node.left, node.right) if isinstance(n, ast.Name)]
            assert not any(n.id in {"None", "str", "int", "float", "bool"} for n in names), f"{path.name}:{node.lineno}"


# The package ships py.typed: its annotations must hold under mypy --strict (scripts/test/test-python.mjs
# installs mypy beside pytest).
def test_mypy_strict(tmp_path):
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", f"--cache-dir={tmp_path}", "ts_sudospawner"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
