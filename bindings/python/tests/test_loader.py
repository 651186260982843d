"""Finding the library: explicit path, then pkg-config, then find_library."""

import os
import subprocess
import sys

import pytest

import sipflow
from sipflow import _loader

PKG = os.path.dirname(os.path.dirname(os.path.abspath(sipflow.__file__)))


def run_python(code, env):
    full = {k: v for k, v in os.environ.items() if k != "SIPFLOW_LIBRARY"}
    full.update(env)
    full["PYTHONPATH"] = PKG
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True,
        timeout=60,
    )


def test_the_library_loaded_is_the_one_the_rules_found():
    assert os.path.exists(sipflow.library_path())
    assert sipflow.version() == "0.2.0"


def test_an_explicit_path_that_does_not_exist_is_an_error_naming_it():
    with pytest.raises(sipflow.LibraryNotFoundError, match="/nonexistent/libx.so"):
        _loader.find_library("/nonexistent/libx.so")


def test_a_directory_is_searched_for_the_soname():
    d = os.path.dirname(os.path.realpath(sipflow.library_path()))
    found = _loader.find_library(d)
    assert os.path.basename(found) == "libsipflow.so.0.2"


def test_the_environment_variable_comes_before_pkg_config(monkeypatch):
    monkeypatch.setenv("SIPFLOW_LIBRARY", "/nonexistent/dir/libsipflow.so")
    with pytest.raises(sipflow.LibraryNotFoundError, match="SIPFLOW_LIBRARY"):
        _loader.find_library()


def test_pkg_config_libdir_is_used_when_no_path_is_given(tmp_path):
    libdir = os.path.dirname(os.path.realpath(sipflow.library_path()))
    (tmp_path / "sipflow.pc").write_text(
        "libdir=%s\nName: sipflow\nDescription: test\nVersion: 0.2.0\n"
        "Libs: -L${libdir} -lsipflow\n" % libdir
    )
    res = run_python(
        "import sipflow; print(sipflow.library_path()); print(sipflow.version())",
        {"PKG_CONFIG_PATH": str(tmp_path), "PKG_CONFIG_LIBDIR": str(tmp_path)},
    )
    assert res.returncode == 0, res.stderr
    path, version = res.stdout.split()
    assert path == os.path.join(libdir, "libsipflow.so.0.2")
    assert version == "0.2.0"


def test_nothing_found_gives_a_message_saying_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("SIPFLOW_LIBRARY", raising=False)
    monkeypatch.setattr(_loader.shutil, "which", lambda name: None)
    monkeypatch.setattr(_loader.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(sipflow.LibraryNotFoundError) as info:
        _loader.find_library()
    text = str(info.value)
    assert "SIPFLOW_LIBRARY" in text
    assert "pkg-config" in text
    assert "load_library" in text


def test_import_does_not_load_the_library_so_a_path_can_be_given_first():
    res = run_python(
        "import sipflow, sipflow._loader as L; assert L._lib is None; "
        "sipflow.load_library('/nonexistent/lib.so')",
        {"PKG_CONFIG_PATH": "/nonexistent"},
    )
    assert res.returncode != 0
    assert "LibraryNotFoundError" in res.stderr
    assert "/nonexistent/lib.so" in res.stderr
