"""Shared fixtures: a fake clock the tests own, and a context on it.

The library is found by the binding's own rules; scripts/test-python.sh sets
SIPFLOW_LIBRARY to the build tree's libsipflow.so and SIPFLOW_INCLUDE_DIRS to
the header directories the layout test compiles against.
"""

import os

import pytest

import sipflow

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start=1000 * sipflow.SECOND):
        self.t = start

    def __call__(self):
        return self.t

    def advance(self, ns):
        self.t += ns
        return self.t

    def to(self, t):
        assert t >= self.t, "the fake clock never goes backwards"
        self.t = t
        return t


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def ctx(clock):
    """A deterministic context: fake clock, no randomness."""
    c = sipflow.Context(clock=clock, rand=None, hash_key=bytes(16))
    yield c
    c.close()


def include_dirs():
    """Header directories: SIPFLOW_INCLUDE_DIRS, else the source tree's
    include/ and the build tree's include/ beside the loaded library."""
    env = os.environ.get("SIPFLOW_INCLUDE_DIRS")
    if env:
        return [d for d in env.split(os.pathsep) if d]
    lib = os.path.realpath(sipflow.library_path())
    build = os.path.dirname(os.path.dirname(lib))
    return [os.path.join(REPO, "include"), os.path.join(build, "include")]


def udp_tuple(port=40000, remote="198.51.100.7"):
    return sipflow.FlowTuple("udp", ("192.0.2.1", 5060), (remote, port))


def tcp_tuple(port=40000, remote="198.51.100.7"):
    return sipflow.FlowTuple("tcp", ("192.0.2.1", 5060), (remote, port), 7)
