"""The context: one deadline, time passed in, callbacks never unwinding C."""

import gc
import weakref

import pytest

import sipflow
from sipflow import SECOND

from conftest import udp_tuple


def test_an_empty_context_has_no_deadline(ctx):
    assert ctx.expiry is None
    assert ctx.get_expiry() is None
    assert ctx.timeout() is None
    ctx.handle_expiry()  # nothing to do, no error


def test_now_defaults_to_the_context_clock(ctx, clock):
    assert ctx.now() == clock.t
    clock.advance(5)
    assert ctx.now() == clock.t


def test_the_default_clock_is_monotonic_ns():
    import time

    with sipflow.Context() as c:
        before = time.monotonic_ns()
        assert before <= c.now() <= time.monotonic_ns()


def test_time_going_backwards_raises_and_changes_nothing(ctx, clock):
    ctx.handle_expiry(clock.t)
    with pytest.raises(sipflow.TimeBackwardsError) as info:
        ctx.handle_expiry(clock.t - 1)
    assert info.value.name == "SIPFLOW_ERR_TIME_BACKWARDS"
    ctx.handle_expiry(clock.t)


def test_the_deadline_follows_the_objects_and_timeout_is_in_seconds(ctx, clock):
    ka = sipflow.KeepaliveScheduler(ctx, send_probe=lambda p: None)
    ep = sipflow.Endpoint(1, udp_tuple(), "udp_ping", interval=10 * SECOND)
    ka.set_reason(ep, "registration", 1, 3600 * SECOND)
    assert ctx.expiry == clock.t  # rand None: the first probe goes at once
    assert ctx.timeout() == 0.0
    ctx.handle_expiry()
    assert ctx.expiry == clock.t + 8 * SECOND  # 80% of the interval
    assert ctx.ms_until_expiry() == 8000
    assert ctx.timeout() == 8.0


def test_rand_callback_feeds_the_library_and_its_exception_comes_back(clock):
    drawn = []

    def rand(n):
        drawn.append(n)
        return bytes(range(n))

    with sipflow.Context(clock=clock, rand=rand) as c:
        sipflow.KeepaliveScheduler(c, send_probe=lambda p: None).close()
        assert sum(drawn) >= 16  # the scheduler keys its ids from rand

    def broken(n):
        raise OSError("entropy pool empty")

    with sipflow.Context(clock=clock, rand=broken) as c:
        with pytest.raises(OSError, match="entropy pool empty"):
            sipflow.KeepaliveScheduler(c, send_probe=lambda p: None)


def test_log_lines_reach_the_python_callable(clock):
    lines = []
    with sipflow.Context(
        clock=clock,
        rand=None,
        log=lambda level, msg: lines.append((level, msg)),
        log_level=sipflow.LogLevel.DEBUG,
    ) as c:
        ka = sipflow.KeepaliveScheduler(c, send_probe=lambda p: None)
        junk = sipflow.stun.encode_success(bytes(12), ("192.0.2.9", 1))
        with pytest.raises(sipflow.NotFoundError):
            ka.on_stun(junk)
    assert any("STUN" in msg for _, msg in lines), lines
    assert all(isinstance(level, sipflow.LogLevel) for level, _ in lines)


def test_closing_the_context_closes_every_object_on_it(clock):
    c = sipflow.Context(clock=clock, rand=None)
    kr = sipflow.KeyRing(c)
    kr.new_key(1)
    ft = sipflow.FlowTable(c, kr)
    reg = sipflow.Registrar(c)
    c.close()
    assert c.closed and kr.closed and ft.closed and reg.closed
    with pytest.raises(ValueError, match="closed"):
        len(ft)
    c.close()  # twice is fine


def test_objects_are_freed_by_the_garbage_collector(clock):
    c = sipflow.Context(clock=clock, rand=None)
    reg = sipflow.Registrar(c, on_change=lambda *a: None)
    ka = sipflow.KeepaliveScheduler(c, send_probe=lambda p: None)
    refs = [weakref.ref(o) for o in (c, reg, ka)]
    del c, reg, ka
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_closing_from_inside_a_callback_is_refused(ctx):
    def send(probe):
        ka.close()

    ka = sipflow.KeepaliveScheduler(ctx, send_probe=send)
    ka.set_reason(sipflow.Endpoint(1, udp_tuple(), "udp_ping"), "other", 1, SECOND)
    with pytest.raises(RuntimeError, match="inside a sipflow callback"):
        ctx.handle_expiry()
    assert not ka.closed


def test_calls_that_are_not_callback_safe_are_refused_inside_callbacks(ctx):
    def send(probe):
        ctx.handle_expiry()

    ka = sipflow.KeepaliveScheduler(ctx, send_probe=send)
    ka.set_reason(sipflow.Endpoint(1, udp_tuple(), "udp_ping"), "other", 1, SECOND)
    with pytest.raises(RuntimeError, match="handle_expiry"):
        ctx.handle_expiry()

    ka.send_probe = lambda probe: sipflow.Registrar(ctx)
    ka.set_reason(sipflow.Endpoint(2, udp_tuple(2), "udp_ping"), "other", 1, SECOND)
    with pytest.raises(RuntimeError, match="Registrar"):
        ctx.handle_expiry()


def test_a_flow_tuple_from_c_may_lack_addresses():
    t = sipflow.FlowTuple("udp", None, None)
    assert t.local is None and t.remote is None
