"""The package installs offline into a plain venv made by Debian's Python,
and what it installs carries its type annotations (PEP 561).

The path tested is the one docs/python.md gives: ``python3 -m venv`` (no
system site-packages), then pip with ``--no-index --find-links
/usr/share/python-wheels``, where Debian's python3-setuptools-whl and
python3-wheel-whl put the only build requirements pip's isolated build
environment needs. Nothing is fetched from the network.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

import sipflow
from test_typing import SANITIZER_ENV, mypy_command

SRC = os.path.dirname(os.path.dirname(os.path.abspath(sipflow.__file__)))
WHEELS = "/usr/share/python-wheels"


def _env_without_the_source_tree(keep_sanitizer=False):
    """The environment minus PYTHONPATH, so that only the venv's copy of
    sipflow can be found (and minus the sanitizer settings unless the
    library is loaded)."""
    drop = ("PYTHONPATH",) + (() if keep_sanitizer else SANITIZER_ENV)
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_the_build_asks_for_setuptools_alone():
    """A pure-Python package: pyproject.toml requires no `wheel` (pip asks
    setuptools for what else it needs)."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(SRC, "pyproject.toml"), "rb") as f:
        build = tomllib.load(f)["build-system"]
    assert build["requires"] == ["setuptools>=61"]
    assert build["build-backend"] == "setuptools.build_meta"


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A plain venv with the package installed from a copy of the source."""
    for name in ("setuptools", "wheel"):
        assert glob.glob(os.path.join(WHEELS, name + "-*.whl")), (
            "%s has no %s wheel: apt-get install python3-%s-whl"
            % (WHEELS, name, name))
    root = tmp_path_factory.mktemp("install")
    # Build from a copy so that parallel runs do not share build/ dirs.
    src = root / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns(
        "tests", "examples", "build", "*.egg-info", "__pycache__"))
    env = _env_without_the_source_tree()
    venv = root / "venv"
    res = subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, (
        "python3 -m venv failed (apt-get install python3-venv): "
        + res.stdout + res.stderr)
    py = venv / "bin" / "python"
    res = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-index", "--find-links", WHEELS,
         "--disable-pip-version-check", "--no-cache-dir", "--quiet", str(src)],
        env=env, cwd=str(root), capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return py


def test_pip_installs_the_package_offline_into_a_plain_venv(venv, tmp_path):
    env = _env_without_the_source_tree(keep_sanitizer=True)
    res = subprocess.run(
        [str(venv), "-c",
         "import sys, sipflow; print(sys.prefix != sys.base_prefix); "
         "print(sipflow.__file__); print(sipflow.version())"],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    in_venv, path, version = res.stdout.split()
    assert in_venv == "True"
    venv_dir = os.path.dirname(os.path.dirname(str(venv)))
    assert path.startswith(venv_dir) and "site-packages" in path
    assert os.path.exists(os.path.join(os.path.dirname(path), "py.typed"))
    assert version == "0.2.0"


USER_CODE = '''\
import sipflow

ctx = sipflow.Context(hash_key=bytes(16))
ring = sipflow.KeyRing(ctx)
key: bytes = ring.new_key(1)
flows = sipflow.FlowTable(ctx, ring)
fid: int = flows.add(sipflow.FlowTuple("tcp", ("192.0.2.1", 5060),
                                       ("198.51.100.7", 40000)))
token: str = flows.token(fid)
info: sipflow.FlowInfo = flows.lookup(token)
d: sipflow.EdgeDecision = sipflow.decide(method="REGISTER", arrival_flow=fid)
timeout: float | None = ctx.timeout()
wrong: str = sipflow.seconds(1)
'''


def test_the_installed_package_is_typed_for_its_users(venv, tmp_path):
    """mypy --strict on a user's program that imports the installed package:
    the one error is the one planted on the last line, which mypy can only
    see if it reads the package's annotations (py.typed shipped)."""
    prog = tmp_path / "user.py"
    prog.write_text(USER_CODE)
    res = subprocess.run(
        mypy_command() + ["--strict", "--python-executable", str(venv),
                          "--cache-dir", str(tmp_path / "cache"), str(prog)],
        env=_env_without_the_source_tree(), cwd=str(tmp_path),
        capture_output=True, text=True, timeout=300,
    )
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    last = len(USER_CODE.splitlines())
    assert len(errors) == 1, res.stdout + res.stderr
    assert errors[0].startswith("user.py:%d: error: Incompatible types in "
                                "assignment" % last), res.stdout
    assert '"int"' in errors[0] and '"str"' in errors[0]
