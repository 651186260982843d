"""KeepaliveScheduler on a fake clock: probes through a Python callable,
answers, round-trip times, misses, dead endpoints, reasons, statistics."""

import re

import pytest

import sipflow
from sipflow import MILLISECOND, SECOND, KeepaliveEvent as Ev
from sipflow import stun

from conftest import tcp_tuple, udp_tuple


class Host:
    """Records what the scheduler asks of the host."""

    def __init__(self, ctx, **settings):
        self.sent = []
        self.rtts = []
        self.states = []
        self.removed = []
        self.ka = sipflow.KeepaliveScheduler(
            ctx,
            send_probe=self.sent.append,
            on_rtt=lambda flow, rtt, ud: self.rtts.append((flow, rtt, ud)),
            on_state=lambda flow, ch, ud: self.states.append((flow, ch)),
            on_removed=lambda flow, why, ud: self.removed.append((flow, why, ud)),
            **settings
        )

    def events(self):
        return [ch.event for _, ch in self.states]


def step(ctx, clock):
    """Move the fake clock to the next deadline and handle it."""
    clock.to(max(clock.t, ctx.expiry))
    ctx.handle_expiry()
    assert ctx.expiry is None or ctx.expiry > clock.t


def run_until(ctx, clock, t):
    while ctx.expiry is not None and ctx.expiry <= t:
        step(ctx, clock)
    clock.to(t)
    ctx.handle_expiry()


def stun_answer(probe, mapped=("203.0.113.5", 40000)):
    return stun.encode_success(probe.data[8:20], mapped)


def test_stun_probe_answered_gives_an_rtt_and_alive(ctx, clock):
    h = Host(ctx)
    ep = sipflow.Endpoint(1, udp_tuple(), interval=20 * SECOND, user_data="alice")
    h.ka.set_reason(ep, "registration", 100, 3600 * SECOND)
    step(ctx, clock)  # no rand: the first probe goes at once
    [p] = h.sent
    assert p.method == sipflow.KeepaliveMethod.STUN  # AUTO on UDP (RFC 5626 §4.4.2)
    assert len(p.data) == 20 and stun.is_message(p.data)
    assert p.flow_id == 1 and p.user_data == "alice" and p.attempt == 0
    assert p.tuple == udp_tuple()
    clock.advance(30 * MILLISECOND)
    h.ka.on_stun(stun_answer(p), 1)
    assert h.rtts == [(1, 30 * MILLISECOND, "alice")]
    assert h.events() == [Ev.ALIVE]
    st = h.ka.stats(1)
    assert st.health == sipflow.Health.ALIVE
    assert st.last_rtt == st.min_rtt == 30 * MILLISECOND
    assert st.probes_sent == 1 and st.probes_answered == 1
    assert st.user_data == "alice" and st.reasons == 1
    with pytest.raises(sipflow.StaleError):  # a duplicate answer
        h.ka.on_stun(stun_answer(p), 1)
    # The next probe 80% of the interval after the last send (no rand).
    assert ctx.expiry == clock.t - 30 * MILLISECOND + 16 * SECOND


def test_unanswered_probes_make_an_endpoint_suspect_then_dead(ctx, clock):
    h = Host(ctx, dead_after=2, stun_rc=2, stun_rm=2)
    h.ka.set_reason(sipflow.Endpoint(1, udp_tuple(), interval=10 * SECOND),
                    "registration", 1, 3600 * SECOND)
    start = clock.t
    while Ev.DEAD not in h.events():
        step(ctx, clock)
        assert clock.t < start + 120 * SECOND, "never declared dead"
    assert h.events() == [Ev.SUSPECT, Ev.DEAD]
    assert [p.attempt for p in h.sent[:2]] == [0, 1]  # RFC 5389 retransmission
    dead = h.states[-1][1]
    assert dead.health == sipflow.Health.DEAD and dead.consecutive_misses == 2
    c = h.ka.counters()
    assert c.deaths == 1 and c.suspects == 1 and c.probes_missed == 2
    assert c.stun_retransmissions >= 1
    assert c.probes_sent[sipflow.KeepaliveMethod.STUN] == 2


def test_a_rebinding_nat_is_reported(ctx, clock):
    h = Host(ctx)
    h.ka.set_reason(sipflow.Endpoint(1, udp_tuple(), interval=10 * SECOND),
                    "registration", 1, 3600 * SECOND)
    step(ctx, clock)
    h.ka.on_stun(stun_answer(h.sent[-1], ("203.0.113.5", 1000)))  # found by txid
    step(ctx, clock)
    h.ka.on_stun(stun_answer(h.sent[-1], ("203.0.113.5", 2000)))
    assert h.events() == [Ev.ALIVE, Ev.REBOUND]  # RFC 5626 §4.4.2
    assert h.states[-1][1].mapped == sipflow.Address("203.0.113.5", 2000)


def test_crlf_ping_and_pong_on_a_stream(ctx, clock):
    h = Host(ctx)
    h.ka.set_reason(sipflow.Endpoint(2, tcp_tuple()), "dialog", 5, 600 * SECOND)
    step(ctx, clock)
    [p] = h.sent
    assert p.method == sipflow.KeepaliveMethod.CRLF and p.data == stun.CRLF_PING
    assert h.ka.awaiting_pong(2)
    clock.advance(10 * MILLISECOND)
    h.ka.on_pong(2)
    assert h.rtts == [(2, 10 * MILLISECOND, None)]
    assert not h.ka.awaiting_pong(2)
    with pytest.raises(sipflow.StaleError):  # no ping in flight
        h.ka.on_pong(2)
    assert h.ka.stats(2).interval == 120 * SECOND  # RFC 5626 §4.4.1 default


def test_options_probe_carries_its_id_and_any_response_is_alive(ctx, clock):
    h = Host(ctx, options_not_alive=[408])
    h.ka.set_reason(sipflow.Endpoint(3, udp_tuple(), "options", 10 * SECOND),
                    "other", 1, 600 * SECOND)
    step(ctx, clock)
    [p] = h.sent
    assert p.data.startswith(b"OPTIONS sip:")
    branch = re.search(rb"branch=([^;\s]+)", p.data).group(1).decode()
    assert sipflow.probe_id_parse(branch) == p.probe_id
    via = re.search(rb"Via: [^\r]*", p.data).group(0)
    answer = b"SIP/2.0 200 OK\r\n" + via + b"\r\nCSeq: 1 OPTIONS\r\n\r\n"
    assert sipflow.options_response_parse(answer) == (p.probe_id, 200)
    assert sipflow.options_response_parse(answer.replace(b"OPTIONS", b"INFO")) is None
    clock.advance(5 * MILLISECOND)
    h.ka.on_options_response(p.probe_id, 404)  # RFC 3261 §11.2: any answer
    assert h.rtts[-1][1] == 5 * MILLISECOND
    step(ctx, clock)
    h.ka.on_options_response(h.sent[-1].probe_id, 408)  # listed: a miss
    assert h.events() == [Ev.ALIVE, Ev.SUSPECT]
    with pytest.raises(sipflow.NotFoundError):
        h.ka.on_options_response(12345, 200)


def test_an_options_answer_read_late_is_timed_to_its_arrival(ctx, clock):
    h = Host(ctx)
    h.ka.set_reason(sipflow.Endpoint(4, udp_tuple(), "options", 10 * SECOND),
                    "other", 1, 600 * SECOND)
    step(ctx, clock)
    [p] = h.sent
    sent = clock()
    clock.advance(300 * MILLISECOND)  # read a tick after it arrived
    h.ka.on_options_response(p.probe_id, 200, received=sent + 2 * MILLISECOND)
    assert h.rtts[-1][1] == 2 * MILLISECOND
    assert h.ka.stats(4).last_answer == sent + 2 * MILLISECOND


def test_an_endpoint_s_own_request_uri_goes_into_its_options_probes(ctx, clock):
    h = Host(ctx)
    uri = "sip:alice@198.51.100.7:5070;ob"
    ep = sipflow.Endpoint(3, udp_tuple(), "options", 10 * SECOND, request_uri=uri)
    h.ka.set_reason(ep, "registration", 1, 600 * SECOND)
    step(ctx, clock)
    [p] = h.sent
    assert p.data.startswith(b"OPTIONS " + uri.encode() + b" SIP/2.0\r\n")
    [(out, _)] = list(h.ka.export(unix_seconds=1_700_000_000))
    assert out.request_uri == uri


def test_passive_endpoints_watch_the_ua_keepalives(ctx, clock):
    h = Host(ctx, passive_grace=2 * SECOND)
    h.ka.set_reason(sipflow.Endpoint(4, tcp_tuple(), "passive", 10 * SECOND),
                    "registration", 1, 600 * SECOND)
    run_until(ctx, clock, clock.t + 5 * SECOND)
    h.ka.on_peer_keepalive(4)
    assert h.sent == []
    assert h.ka.stats(4).health == sipflow.Health.ALIVE
    run_until(ctx, clock, clock.t + 11 * SECOND)
    assert h.events() == [Ev.ALIVE]  # within Flow-Timer + grace
    run_until(ctx, clock, clock.t + 2 * SECOND)
    # RFC 5626 §4.4: none past Flow-Timer + grace: the flow is dead.
    assert h.events() == [Ev.ALIVE, Ev.DEAD]


def test_an_exception_in_send_probe_is_reraised_and_counts_as_a_failure(ctx, clock):
    def send(probe):
        raise ConnectionError("socket gone")

    ka = sipflow.KeepaliveScheduler(ctx, send_probe=send)
    ka.set_reason(sipflow.Endpoint(1, udp_tuple()), "registration", 1, 60 * SECOND)
    with pytest.raises(ConnectionError, match="socket gone"):
        ctx.handle_expiry()
    assert ka.counters().send_failures == 1
    assert ka.stats(1).consecutive_misses == 1  # missed at once
    assert ctx.expiry > clock.t  # the library finished its work


def test_send_probe_returning_false_means_not_sent(ctx, clock):
    ka = sipflow.KeepaliveScheduler(ctx, send_probe=lambda p: False)
    ka.set_reason(sipflow.Endpoint(1, udp_tuple()), "registration", 1, 60 * SECOND)
    ctx.handle_expiry()
    assert ka.counters().send_failures == 1


def test_every_callback_exception_is_kept_and_the_first_raised(ctx, clock):
    def send(probe):
        raise ValueError("first %d" % probe.flow_id)

    ka = sipflow.KeepaliveScheduler(ctx, send_probe=send)
    for fid in (1, 2):
        ka.set_reason(sipflow.Endpoint(fid, udp_tuple(40000 + fid)),
                      "registration", 1, 60 * SECOND)
    with pytest.raises(ValueError, match="first 1") as info:
        ctx.handle_expiry()
    assert "first 2" in " ".join(getattr(info.value, "__notes__", ["first 2"]))
    assert ka.counters().send_failures == 2


def test_reasons_end_and_expire_and_removal_gives_back_user_data(ctx, clock):
    h = Host(ctx)
    ep = sipflow.Endpoint(1, udp_tuple(), "udp_ping", user_data={"aor": "a"})
    h.ka.set_reason(ep, "registration", 1, 60 * SECOND)
    h.ka.set_reason(ep, sipflow.ReasonKind.DIALOG, 2, 30 * SECOND)
    assert len(h.ka) == 1 and 1 in h.ka
    assert h.ka.stats(1).reasons == 2  # one keepalive, two reasons
    h.ka.end_reason(1, "dialog", 2)
    run_until(ctx, clock, clock.t + 61 * SECOND)
    assert h.removed == [(1, sipflow.Removal.EXPIRED, {"aor": "a"})]
    assert len(h.ka) == 0 and 1 not in h.ka
    with pytest.raises(sipflow.NotFoundError):
        h.ka.stats(1)


def test_tentative_reasons_are_confirmed_or_rejected(ctx, clock):
    h = Host(ctx)
    ep = sipflow.Endpoint(1, udp_tuple(), "udp_ping")
    h.ka.open_reason(ep, "registration", 1)
    assert not h.ka.stats(1).probing  # RFC 5626 §8: wait for the 2xx
    h.ka.confirm_reason(1, "registration", 1, 200, 60 * SECOND)
    assert h.ka.stats(1).probing
    h.ka.open_reason(sipflow.Endpoint(2, udp_tuple(2), "udp_ping"), "subscription", 9)
    h.ka.confirm_reason(2, "subscription", 9, 403)
    assert h.removed == [(2, sipflow.Removal.REJECTED, None)]


def test_an_endpoint_may_be_removed_from_its_own_callback(ctx, clock):
    h = Host(ctx, dead_after=1)
    h.ka.on_state = lambda flow, ch, ud: h.ka.remove(flow)
    h.ka.set_reason(sipflow.Endpoint(1, tcp_tuple()), "registration", 1, 600 * SECOND)
    step(ctx, clock)
    h.ka.flow_failed(1)  # RFC 5626 §7: dead at once
    assert h.removed == [(1, sipflow.Removal.HOST, None)]


def test_bad_endpoints_and_settings_are_refused(ctx):
    h = Host(ctx)
    with pytest.raises(sipflow.InvalidArgumentError):  # CRLF is for streams
        h.ka.set_reason(sipflow.Endpoint(1, udp_tuple(), "crlf"), "other", 1, SECOND)
    with pytest.raises(sipflow.InvalidArgumentError):
        h.ka.set_reason(sipflow.Endpoint(0, udp_tuple()), "other", 1, SECOND)
    assert len(h.ka) == 0
    with pytest.raises(TypeError):
        sipflow.KeepaliveScheduler(ctx, send_probe=print, udp_interal=1)
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.KeepaliveScheduler(ctx, send_probe=print, dead_after=0)


def test_export_and_import_keep_reasons_across_a_restart(ctx, clock):
    h = Host(ctx)
    ep = sipflow.Endpoint(1, udp_tuple(), "options", 30 * SECOND)
    h.ka.set_reason(ep, "registration", 7, 3600 * SECOND)
    h.ka.set_reason(ep, "dialog", 8, 60 * SECOND)
    saved = list(h.ka.export(unix_seconds=1_700_000_000))
    [(out, reasons)] = saved
    assert out.tuple == udp_tuple() and out.method == sipflow.KeepaliveMethod.OPTIONS
    assert sorted((r.kind, r.id, r.expires_unix) for r in reasons) == [
        (sipflow.ReasonKind.REGISTRATION, 7, 1_700_003_600),
        (sipflow.ReasonKind.DIALOG, 8, 1_700_000_060),
    ]
    other = Host(ctx)
    out.flow_id = 77
    other.ka.import_endpoint(out, reasons, unix_seconds=1_700_000_100)
    assert other.ka.stats(77).reasons == 1  # the dialog had expired


def test_rfc_6223_keep_helpers():
    assert sipflow.keep_parse("30") == 30
    assert sipflow.keep_parse(None) is None
    with pytest.raises(sipflow.MalformedError):
        sipflow.keep_parse("3x")
    assert sipflow.keep_response_value(True, True, 0, 25) == 25  # §4.4
    assert sipflow.keep_response_value(False, True, 30) is None
    assert sipflow.keep_interval(0, "udp") == 29 * SECOND  # RFC 5626 §4.4.2
    assert sipflow.keep_interval(0, "tcp") == 120 * SECOND  # RFC 5626 §4.4.1


def test_options_build_makes_a_request_with_the_probe_id():
    msg = sipflow.options_build(0x1234, "udp", ("192.0.2.1", 5060),
                                ("198.51.100.7", 5070), from_user="ping")
    assert msg.startswith(b"OPTIONS sip:198.51.100.7:5070 SIP/2.0\r\n")
    assert b"sip:ping@" in msg and b";rport" in msg
    tag = re.search(rb"tag=([^;\s]+)", msg).group(1).decode()
    assert sipflow.probe_id_parse(tag) == 0x1234
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.options_build(1, "udp", ("192.0.2.1", 5060),
                              ("198.51.100.7", 5070), route="a\r\nb")
