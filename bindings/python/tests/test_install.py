"""`pip install ./bindings/python` works with Debian's Python alone."""

import os
import shutil
import subprocess
import sys

import pytest

import sipflow

SRC = os.path.dirname(os.path.dirname(os.path.abspath(sipflow.__file__)))


def test_pip_installs_the_package_offline(tmp_path):
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"],
                         capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not installed for %s" % sys.executable)
    # Build from a copy so that parallel runs do not share build/ dirs.
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns(
        "tests", "examples", "build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation",
         "--no-index", "--no-deps", "--disable-pip-version-check", "--quiet",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (target / "sipflow" / "py.typed").exists()
    env = dict(os.environ, PYTHONPATH=str(target))
    res = subprocess.run(
        [sys.executable, "-c",
         "import sipflow; print(sipflow.__file__); print(sipflow.version())"],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    path, version = res.stdout.split()
    assert path.startswith(str(target))
    assert version == "0.1.0"
