"""The package's annotations pass ``mypy --strict`` (Debian's mypy), checked
for the interpreter running the tests and for the oldest Python the package
supports (requires-python in pyproject.toml)."""

import os
import subprocess
import sys

import pytest

import sipflow

PKG = os.path.dirname(os.path.abspath(sipflow.__file__))
OLDEST_PYTHON = "3.9"
# Set by scripts/test-python.sh for a library built with AddressSanitizer;
# mypy does not load the library.
SANITIZER_ENV = ("LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS", "UBSAN_OPTIONS")


def mypy_command():
    """How to run mypy: MYPY if set, else the test interpreter's module,
    else Debian's /usr/bin/mypy. A missing mypy is a failure, not a skip."""
    if os.environ.get("MYPY"):
        return [os.environ["MYPY"]]
    env = {k: v for k, v in os.environ.items() if k not in SANITIZER_ENV}
    probe = subprocess.run([sys.executable, "-m", "mypy", "--version"], env=env,
                           capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return [sys.executable, "-m", "mypy"]
    if os.access("/usr/bin/mypy", os.X_OK):
        return ["/usr/bin/mypy"]
    pytest.fail("mypy is not installed (apt-get install mypy)")


@pytest.mark.parametrize("python_version", [None, OLDEST_PYTHON])
def test_mypy_strict_finds_nothing(python_version, tmp_path):
    cmd = mypy_command() + ["--strict", "--cache-dir", str(tmp_path / "cache")]
    if python_version:
        cmd += ["--python-version", python_version]
    env = {k: v for k, v in os.environ.items() if k not in SANITIZER_ENV}
    res = subprocess.run(cmd + [os.path.basename(PKG)],
                         cwd=os.path.dirname(PKG), env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("Success: no issues found"), res.stdout
