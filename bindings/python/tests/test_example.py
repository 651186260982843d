"""The example pinger against sipflow-proxy on loopback, bounded in time.
Every process started here is stopped by its PID."""

import os
import socket
import subprocess
import sys
import time

import pytest

import sipflow

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "options_ping.py")
PKG = os.path.dirname(os.path.dirname(os.path.abspath(sipflow.__file__)))


def proxy_binary():
    path = os.environ.get("SIPFLOW_PROXY")
    if not path:
        build = os.path.dirname(os.path.dirname(
            os.path.realpath(sipflow.library_path())))
        path = os.path.join(build, "examples", "proxy", "sipflow-proxy")
    return path if os.access(path, os.X_OK) else None


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_example(*args):
    env = dict(os.environ, PYTHONPATH=PKG)
    return subprocess.run([sys.executable, EXAMPLE, *args], env=env,
                          capture_output=True, text=True, timeout=30)


def test_the_pinger_reports_a_silent_server_dead():
    res = run_example("127.0.0.1", str(free_udp_port()), "-i", "0.2",
                      "-t", "0.2", "--dead-after", "2")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "is dead (2 missed in a row)" in res.stdout
    assert "0 answered, 2 missed" in res.stdout


def test_the_pinger_measures_rtts_against_sipflow_proxy(tmp_path):
    proxy = proxy_binary()
    if proxy is None:
        pytest.skip("sipflow-proxy not built (set SIPFLOW_PROXY)")
    port = free_udp_port()
    log = open(tmp_path / "proxy.log", "w")
    p = subprocess.Popen([proxy, "--listen", "udp:127.0.0.1:%d" % port],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "ready" not in (tmp_path / "proxy.log").read_text():
            assert p.poll() is None, (tmp_path / "proxy.log").read_text()
            assert time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.05)
        res = run_example("127.0.0.1", str(port), "-i", "0.2", "-c", "3")
    finally:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("rtt=") == 3
    assert "3 probes sent, 3 answered, 0 missed" in res.stdout
