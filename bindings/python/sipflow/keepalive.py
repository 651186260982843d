"""The keepalive scheduler (RFC 5626 §4.4, §5.4, §8; RFC 6223).

All times and durations are integer nanoseconds (``5 * sipflow.SECOND``).
"""

import ctypes
import enum
import time
from ctypes import byref, c_int, c_size_t, c_uint, c_uint8, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _structs as S
from ._live import Live, owner_call, trampoline
from ._loader import C
from .errors import BUFFER_TOO_SMALL, CALLBACK_FAILURE, INTERNAL, NOT_FOUND
from .errors import check, error_for
from .types import Address, AddressLike, FlowTuple, FlowTupleLike, Health, Transport
from .types import TransportLike, as_tuple, enum_value, to_c_addr, to_c_tuple

if TYPE_CHECKING:
    from .context import Context


class KeepaliveMethod(enum.IntEnum):
    AUTO = 0  # CRLF on TCP/TLS, STUN on UDP, WS Ping on WS/WSS
    CRLF = 1
    STUN = 2
    OPTIONS = 3
    UDP_PING = 4
    PASSIVE = 5  # the UA sends keepalives; report them with on_peer_keepalive
    WS_PING = 6  # WebSocket Ping; report the Pong with on_ws_pong


class ReasonKind(enum.IntEnum):
    REGISTRATION = 1
    SUBSCRIPTION = 2
    DIALOG = 3
    OTHER = 4


class KeepaliveEvent(enum.IntEnum):
    ALIVE = 1
    SUSPECT = 2
    DEAD = 3
    REBOUND = 4  # the NAT rebound the flow: a new XOR-MAPPED-ADDRESS


class Removal(enum.IntEnum):
    ENDED = 1
    EXPIRED = 2
    REJECTED = 3
    DEAD = 4
    HOST = 5


#: A reason kind: a :class:`ReasonKind`, its value or its name.
ReasonKindLike = Union[ReasonKind, int, str]


@dataclass(init=False)
class Endpoint:
    """An endpoint as the host describes it: one flow.

    ``tuple`` is a :class:`~sipflow.FlowTuple` or the items of one;
    ``method`` a :class:`KeepaliveMethod` or its name ("crlf");
    ``interval`` 0 takes the settings' default for the transport;
    ``user_data`` is any Python object, given back in callbacks and stats;
    ``request_uri`` the Request-URI of this endpoint's OPTIONS probes (a
    Contact URI), None for the default "sip:remote".
    """

    flow_id: int
    tuple: FlowTuple
    method: KeepaliveMethod = KeepaliveMethod.AUTO
    interval: int = 0
    user_data: Any = None
    request_uri: Optional[str] = None

    def __init__(
        self,
        flow_id: int,
        tuple: FlowTupleLike,
        method: Union[KeepaliveMethod, int, str] = KeepaliveMethod.AUTO,
        interval: int = 0,
        user_data: Any = None,
        request_uri: Optional[str] = None,
    ) -> None:
        self.flow_id = flow_id
        self.tuple = as_tuple(tuple)
        self.method = enum_value(KeepaliveMethod, method, "method")
        self.interval = interval
        self.user_data = user_data
        self.request_uri = request_uri

    def to_c(self, out: Optional[S.keepalive_endpoint] = None) -> S.keepalive_endpoint:
        out = out if out is not None else S.keepalive_endpoint()
        C.sipflow_keepalive_endpoint_default(out)
        out.flow_id = self.flow_id
        to_c_tuple(self.tuple, out.tuple)
        out.method = int(self.method)
        out.interval = self.interval
        # The buffer lives as long as the struct the C call reads.
        setattr(out, "_request_uri", S.str_set(
            out.request_uri,
            self.request_uri.encode() if self.request_uri else None))
        return out


@dataclass(frozen=True)
class Probe:
    """A probe to send on ``flow_id``: put ``data`` on the flow."""

    flow_id: int
    method: KeepaliveMethod
    attempt: int  # 0 first transmission; STUN retransmissions 1, 2, ...
    data: bytes
    probe_id: int  # OPTIONS: carried in the tag and branch
    tuple: Optional[FlowTuple]
    user_data: Any


@dataclass(frozen=True)
class StateChange:
    """A change of an endpoint's health (or a rebinding)."""

    event: KeepaliveEvent
    old_health: Health
    health: Health
    consecutive_misses: int
    mapped: Optional[Address]  # REBOUND: the new XOR-MAPPED-ADDRESS


@dataclass(frozen=True)
class SavedReason:
    """A reason as exported: its expiry in wall-clock seconds."""

    kind: ReasonKind
    id: int
    expires_unix: int


def _none_if_unset(t: int) -> Optional[int]:
    return None if t == S.TSTAMP_NONE else t


@dataclass(frozen=True)
class KeepaliveStats:
    """One endpoint's figures. RTTs are 0 and times None until known."""

    method: KeepaliveMethod
    health: Health
    probe_in_flight: bool
    probing: bool
    consecutive_misses: int
    reasons: int
    probes_sent: int
    probes_answered: int
    probes_missed: int
    interval: int
    last_rtt: int
    srtt: int
    rttvar: int
    min_rtt: int
    max_rtt: int
    last_sent: Optional[int]
    last_answer: Optional[int]
    next_event: Optional[int]
    user_data: Any


COUNTERS = tuple(name for name, _ in S.keepalive_counters._fields_)


@dataclass(frozen=True)
class KeepaliveCounters:
    """Figures for the whole scheduler; ``probes_sent`` is a dict by method."""

    endpoints: int
    probing: int
    registrations: int
    subscriptions: int
    dialogs: int
    others: int
    tentative: int
    probes_sent: Dict[KeepaliveMethod, int]
    probes_answered: int
    probes_missed: int
    stun_retransmissions: int
    send_failures: int
    rejected_answers: int
    unexpected_pongs: int
    peer_keepalives: int
    suspects: int
    deaths: int
    rebinds: int
    revivals: int
    expired: int
    removed: int
    deferred: int


SETTINGS = tuple(name for name, _ in S.keepalive_settings._fields_)


# -- trampolines: (scheduler, C arguments...) ---------------------------------


#: ``send_probe(probe) -> False`` when it could not be sent.
SendFn = Callable[[Probe], Optional[bool]]
#: ``on_rtt(flow_id, rtt_ns, user_data)``.
RttFn = Callable[[int, int, Any], None]
#: ``on_state(flow_id, change, user_data)``.
StateFn = Callable[[int, StateChange, Any], None]
#: ``on_removed(flow_id, why, user_data)``.
RemovedFn = Callable[[int, Removal, Any], None]


def _send(ka: "KeepaliveScheduler", _ka: Optional[int], flow: int, probe: Any,
          _ud: Optional[int], _eud: Optional[int]) -> int:
    p = probe.contents
    sent = ka.send_probe(
        Probe(
            flow_id=flow,
            method=KeepaliveMethod(p.method),
            attempt=p.attempt,
            data=ctypes.string_at(p.data, p.len) if p.len else b"",
            probe_id=p.probe_id,
            tuple=FlowTuple.from_c(p.tuple.contents) if p.tuple else None,
            user_data=ka._user_data.get(flow),
        )
    )
    return 1 if sent is False else 0


def _rtt(ka: "KeepaliveScheduler", _ka: Optional[int], flow: int, rtt: int,
         _ud: Optional[int], _eud: Optional[int]) -> None:
    if ka.on_rtt is not None:
        ka.on_rtt(flow, rtt, ka._user_data.get(flow))


def _state(ka: "KeepaliveScheduler", _ka: Optional[int], flow: int, change: Any,
           _ud: Optional[int], _eud: Optional[int]) -> None:
    if ka.on_state is not None:
        c = change.contents
        ka.on_state(
            flow,
            StateChange(
                KeepaliveEvent(c.event),
                Health(c.old_health),
                Health(c.health),
                c.consecutive_misses,
                Address.from_c(c.mapped.contents) if c.mapped else None,
            ),
            ka._user_data.get(flow),
        )


def _removed(ka: "KeepaliveScheduler", _ka: Optional[int], flow: int, why: int,
             _ud: Optional[int], _eud: Optional[int]) -> None:
    user_data = ka._user_data.pop(flow, None)
    if ka.on_removed is not None:
        ka.on_removed(flow, Removal(why), user_data)


class KeepaliveScheduler(Live):
    """Keeps flows alive, measures round-trip times, finds dead flows.

    :param ctx: the :class:`~sipflow.Context`; its deadline drives probes.
    :param send_probe: ``send_probe(probe: Probe)``: put ``probe.data`` on
        the flow. Return False if it could not be sent (the probe then
        counts as missed at once); an exception counts the same and is
        re-raised from the library call that ran the callback.
    :param on_rtt: ``on_rtt(flow_id, rtt_ns, user_data)``.
    :param on_state: ``on_state(flow_id, change: StateChange, user_data)``.
    :param on_removed: ``on_removed(flow_id, why: Removal, user_data)``.
    :param settings: members of sipflow_keepalive_settings by name
        (``udp_interval=20 * SECOND``, ``dead_after=2``,
        ``options_not_alive=[408, 480]``).

    Inside the callbacks every method but :meth:`close` may be called,
    including removing the endpoint being reported.
    """

    _ctx: "Context"
    send_probe: SendFn
    on_rtt: Optional[RttFn]
    on_state: Optional[StateFn]
    on_removed: Optional[RemovedFn]

    def __init__(
        self,
        ctx: "Context",
        send_probe: SendFn,
        on_rtt: Optional[RttFn] = None,
        on_state: Optional[StateFn] = None,
        on_removed: Optional[RemovedFn] = None,
        **settings: Any
    ) -> None:
        self._ctx = ctx
        self.send_probe = send_probe
        self.on_rtt = on_rtt
        self.on_state = on_state
        self.on_removed = on_removed
        self._user_data: Dict[int, Any] = {}
        cs = S.keepalive_settings()
        C.sipflow_keepalive_settings_default_versioned(
            S.KEEPALIVE_SETTINGS_VERSION, cs
        )
        for name, value in settings.items():
            if name not in SETTINGS:
                raise TypeError("unknown keepalive setting %r" % name)
            if name == "options_not_alive":
                codes = list(value)
                if len(codes) > S.KEEPALIVE_MAX_CODES:
                    raise ValueError("at most %d codes" % S.KEEPALIVE_MAX_CODES)
                cs.options_not_alive[:] = codes + [0] * (S.KEEPALIVE_MAX_CODES - len(codes))
            else:
                setattr(cs, name, int(value))
        cb = S.keepalive_callbacks()
        cb.send_probe = trampoline(S.ka_send_cb, self, _send, CALLBACK_FAILURE)
        cb.on_rtt = trampoline(S.ka_rtt_cb, self, _rtt)
        cb.on_state = trampoline(S.ka_state_cb, self, _state)
        cb.on_removed = trampoline(S.ka_removed_cb, self, _removed)
        ptr = c_void_p()
        check(
            ctx._invoke(
                C.sipflow_keepalive_new_versioned,
                byref(ptr),
                ctx._outside_callbacks("KeepaliveScheduler()"),
                S.KEEPALIVE_CALLBACKS_VERSION,
                cb,
                S.KEEPALIVE_SETTINGS_VERSION,
                cs,
                None,
            ),
            "keepalive_new",
        )
        keep = (ctx, cb.send_probe, cb.on_rtt, cb.on_state, cb.on_removed)
        self._own(ptr, C.sipflow_keepalive_del, keep)
        self._depend_on(ctx)

    def _now(self, now: Optional[int]) -> int:
        return self._ctx._now(now)

    # -- endpoints and reasons ---------------------------------------------

    def _with_user_data(self, ep: Endpoint, fn: Callable[..., int], *args: Any) -> None:
        """Run a call that sets ``ep``'s user data in C; mirror it here so
        that callbacks made during the call already see it."""
        missing = object()
        old = self._user_data.get(ep.flow_id, missing)
        self._user_data[ep.flow_id] = ep.user_data
        try:
            owner_call(self, fn, *args, context="flow %d" % ep.flow_id)
        except BaseException:
            if old is missing:
                self._user_data.pop(ep.flow_id, None)
            else:
                self._user_data[ep.flow_id] = old
            raise

    def set_reason(self, endpoint: Endpoint, kind: ReasonKindLike, reason_id: int,
                   lifetime: int, now: Optional[int] = None) -> None:
        """Keep ``endpoint`` alive for a confirmed reason for ``lifetime``
        nanoseconds from now (0 ends the reason); creates the endpoint if
        needed and replaces its method, interval and user data.

        :param kind: a :class:`ReasonKind` or its name ("registration").
        :raises InvalidArgumentError: method not allowed on the transport,
            interval out of range, tuple differs from the endpoint's.
        :raises LimitError: max_endpoints reached.
        """
        kind = enum_value(ReasonKind, kind, "reason kind")
        self._with_user_data(
            endpoint,
            C.sipflow_keepalive_reason_set,
            self._p(),
            endpoint.to_c(),
            int(kind),
            reason_id,
            lifetime,
            self._now(now),
        )

    def open_reason(self, endpoint: Endpoint, kind: ReasonKindLike, reason_id: int,
                    wait: int = 0, now: Optional[int] = None) -> None:
        """Open a reason tentatively while its request is pending (not probed
        until confirmed); ``wait`` 0 takes ``tentative_timeout``."""
        kind = enum_value(ReasonKind, kind, "reason kind")
        self._with_user_data(
            endpoint,
            C.sipflow_keepalive_reason_open,
            self._p(),
            endpoint.to_c(),
            int(kind),
            reason_id,
            wait,
            self._now(now),
        )

    def confirm_reason(self, flow_id: int, kind: ReasonKindLike, reason_id: int,
                       status: int, granted: int = 0,
                       now: Optional[int] = None) -> None:
        """Apply a reason's final response: 2xx confirms it for ``granted``
        nanoseconds (0 ends it), 300-699 drops a tentative one."""
        kind = enum_value(ReasonKind, kind, "reason kind")
        owner_call(self, C.sipflow_keepalive_reason_confirm, self._p(), flow_id,
                   int(kind), reason_id, status, granted, self._now(now),
                   context="flow %d" % flow_id)

    def end_reason(self, flow_id: int, kind: ReasonKindLike, reason_id: int,
                   now: Optional[int] = None) -> None:
        """End a reason; the endpoint goes with its last one."""
        kind = enum_value(ReasonKind, kind, "reason kind")
        owner_call(self, C.sipflow_keepalive_reason_end, self._p(), flow_id,
                   int(kind), reason_id, self._now(now),
                   context="flow %d" % flow_id)

    def remove(self, flow_id: int, now: Optional[int] = None) -> None:
        """Remove an endpoint with all its reasons (on_removed: HOST)."""
        owner_call(self, C.sipflow_keepalive_remove, self._p(), flow_id,
                   self._now(now), context="flow %d" % flow_id)

    def __len__(self) -> int:
        return int(C.sipflow_keepalive_count(self._p()))

    def __bool__(self) -> bool:
        return True

    def __contains__(self, flow_id: object) -> bool:
        out = S.keepalive_stats()
        return bool(C.sipflow_keepalive_get_stats_versioned(
            self._p(), flow_id, S.KEEPALIVE_STATS_VERSION, out) == 0)

    # -- what the host saw ---------------------------------------------------

    def on_pong(self, flow_id: int, now: Optional[int] = None) -> None:
        """A CRLF pong arrived on the flow.

        :raises StaleError: no ping in flight (counted, otherwise ignored).
        :raises NotFoundError: no such endpoint.
        """
        owner_call(self, C.sipflow_keepalive_on_pong, self._p(), flow_id,
                   self._now(now), context="pong on flow %d" % flow_id)

    def awaiting_pong(self, flow_id: int) -> bool:
        """Whether a CRLF ping is in flight (for :meth:`Framer.expect_pong`)."""
        return bool(C.sipflow_keepalive_awaiting_pong(self._p(), flow_id))

    def on_ws_pong(self, flow_id: int, payload: Union[bytes, bytearray, memoryview],
                   now: Optional[int] = None) -> None:
        """A WebSocket Pong arrived on the flow (WS_PING endpoints).

        :raises StaleError: not the payload of the Ping in flight.
        :raises NotFoundError: no such endpoint.
        """
        raw = bytes(payload)
        buf = (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0"))
        owner_call(self, C.sipflow_keepalive_on_ws_pong, self._p(), flow_id, buf,
                   len(raw), self._now(now), context="WebSocket pong on flow %d" % flow_id)

    def on_stun(self, data: Union[bytes, bytearray, memoryview], flow_id: int = 0,
                now: Optional[int] = None) -> None:
        """A STUN response arrived (``flow_id`` 0: find it by transaction).

        :raises MalformedError, TooLargeError, UnsupportedError: bad input.
        :raises NotFoundError: no such transaction.
        :raises StaleError: a late or duplicate answer.
        """
        raw = bytes(data)
        buf = (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0"))
        owner_call(self, C.sipflow_keepalive_on_stun, self._p(), flow_id, buf,
                   len(raw), self._now(now), context="STUN response")

    def on_options_response(self, probe_id: int, status: int,
                            now: Optional[int] = None,
                            received: Optional[int] = None) -> None:
        """A response to an OPTIONS probe (``probe_id`` from
        :func:`probe_id_parse`); 1xx are ignored. ``received``: when it
        arrived, if it is read later (a kernel timestamp on the clock of
        ``now``): the round-trip time runs to it.

        :raises NotFoundError: no such probe. :raises StaleError: over.
        """
        if received is None:
            owner_call(self, C.sipflow_keepalive_on_options_response,
                       self._p(), probe_id, status, self._now(now),
                       context="OPTIONS response")
        else:
            owner_call(self, C.sipflow_keepalive_on_options_response_at,
                       self._p(), probe_id, status, self._now(now), received,
                       context="OPTIONS response")

    def on_peer_keepalive(self, flow_id: int, now: Optional[int] = None) -> None:
        """The UA sent a keepalive on the flow (PASSIVE endpoints)."""
        owner_call(self, C.sipflow_keepalive_on_peer_keepalive, self._p(),
                   flow_id, self._now(now), context="flow %d" % flow_id)

    def flow_failed(self, flow_id: int, now: Optional[int] = None) -> None:
        """The flow failed (TCP reset, ICMP): the endpoint is dead at once."""
        owner_call(self, C.sipflow_keepalive_flow_failed, self._p(), flow_id,
                   self._now(now), context="flow %d" % flow_id)

    # -- statistics ------------------------------------------------------------

    def stats(self, flow_id: int) -> KeepaliveStats:
        """One endpoint's :class:`KeepaliveStats`. :raises NotFoundError:"""
        s = S.keepalive_stats()
        owner_call(self, C.sipflow_keepalive_get_stats_versioned, self._p(),
                   flow_id, S.KEEPALIVE_STATS_VERSION, s,
                   context="flow %d" % flow_id)
        return KeepaliveStats(
            method=KeepaliveMethod(s.method),
            health=Health(s.health),
            probe_in_flight=bool(s.probe_in_flight),
            probing=bool(s.probing),
            consecutive_misses=s.consecutive_misses,
            reasons=s.reasons,
            probes_sent=s.probes_sent,
            probes_answered=s.probes_answered,
            probes_missed=s.probes_missed,
            interval=s.interval,
            last_rtt=s.last_rtt,
            srtt=s.srtt,
            rttvar=s.rttvar,
            min_rtt=s.min_rtt,
            max_rtt=s.max_rtt,
            last_sent=_none_if_unset(s.last_sent),
            last_answer=_none_if_unset(s.last_answer),
            next_event=_none_if_unset(s.next_event),
            user_data=self._user_data.get(flow_id),
        )

    def counters(self) -> KeepaliveCounters:
        """The scheduler's :class:`KeepaliveCounters`."""
        c = S.keepalive_counters()
        owner_call(self, C.sipflow_keepalive_get_counters_versioned, self._p(),
                   S.KEEPALIVE_COUNTERS_VERSION, c, context="counters")
        values: Dict[str, Any] = {name: getattr(c, name) for name in COUNTERS}
        values["probes_sent"] = {m: c.probes_sent[int(m)] for m in KeepaliveMethod}
        return KeepaliveCounters(**values)

    # -- saving and restoring ------------------------------------------------

    def export(
        self, unix_seconds: Optional[int] = None, now: Optional[int] = None
    ) -> Iterator[Tuple[Endpoint, List[SavedReason]]]:
        """Yield ``(Endpoint, [SavedReason])`` for every endpoint with
        confirmed reasons (user_data is None: it is not saved)."""
        unix = int(time.time()) if unix_seconds is None else unix_seconds
        cursor = c_uint64(0)
        cap = 4
        while True:
            ep = S.keepalive_endpoint()
            reasons = (S.keepalive_saved_reason * cap)()
            n = c_size_t()
            rv = self._ctx._invoke(
                C.sipflow_keepalive_export_next, self._p(), byref(cursor), ep,
                reasons, cap, byref(n), unix, self._now(now))
            if rv == NOT_FOUND:
                return
            if rv == BUFFER_TOO_SMALL:
                cap = n.value
                continue
            check(rv, "export")
            tup = FlowTuple.from_c(ep.tuple)
            if tup is None:  # the library exports only endpoints with a flow
                raise error_for(INTERNAL, "export")
            ruri = (ctypes.string_at(ep.request_uri.ptr, ep.request_uri.len)
                    .decode("utf-8", "replace") if ep.request_uri.len else None)
            yield (
                Endpoint(ep.flow_id, tup,
                         KeepaliveMethod(ep.method), ep.interval,
                         request_uri=ruri),
                [SavedReason(ReasonKind(r.kind), r.id, r.expires_unix)
                 for r in reasons[: n.value]],
            )

    def import_endpoint(self, endpoint: Endpoint, reasons: Sequence[SavedReason],
                        unix_seconds: Optional[int] = None,
                        now: Optional[int] = None) -> None:
        """Recreate an exported endpoint (give it this process's flow id).

        :raises StaleError: every reason had expired; nothing made.
        :raises ExistsError: the flow id is already an endpoint.
        """
        unix = int(time.time()) if unix_seconds is None else unix_seconds
        arr = (S.keepalive_saved_reason * max(len(reasons), 1))()
        for i, r in enumerate(reasons):
            arr[i].kind = int(enum_value(ReasonKind, r.kind, "reason kind"))
            arr[i].id = r.id
            arr[i].expires_unix = r.expires_unix
        self._with_user_data(endpoint, C.sipflow_keepalive_import, self._p(),
                             endpoint.to_c(), arr, len(reasons), unix,
                             self._now(now))


# -- SIP OPTIONS probes and RFC 6223 ------------------------------------------


def options_build(
    probe_id: int,
    transport: TransportLike,
    local: AddressLike,
    remote: AddressLike,
    request_uri: Optional[str] = None,
    route: Optional[str] = None,
    from_user: Optional[str] = None,
    max_forwards: int = 70,
) -> bytes:
    """A stateless OPTIONS request (bytes) carrying ``probe_id`` in its From
    tag, Via branch and Call-ID, as send_probe gets it by default; for hosts
    that want their own Request-URI or Route."""
    req = S.keepalive_options_request()
    C.sipflow_keepalive_options_request_default(req)
    req.probe_id = probe_id
    req.transport = int(Transport.parse(transport))
    to_c_addr(local, req.local)
    to_c_addr(remote, req.remote)
    keep = [
        S.str_set(req.request_uri, request_uri.encode() if request_uri else None),
        S.str_set(req.route, route.encode() if route else None),
        S.str_set(req.from_user, from_user.encode() if from_user else None),
    ]
    req.max_forwards = max_forwards
    size = S.KEEPALIVE_OPTIONS_MAX + sum(
        len(s or "") for s in (request_uri, route, from_user)) * 2
    buf = ctypes.create_string_buffer(size)
    n = c_size_t()
    check(C.sipflow_keepalive_options_build(req, buf, size, byref(n)),
          "options_build")
    del keep
    return buf.raw[: n.value]


def probe_id_parse(value: Union[str, bytes]) -> int:
    """The probe id in a response's From tag or Via branch (with or without
    "z9hG4bK"). :raises MalformedError: not one of ours."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    out = c_uint64()
    check(C.sipflow_keepalive_probe_id_parse(raw, len(raw), byref(out)),
          "probe id")
    return int(out.value)


def options_response_parse(
    data: Union[bytes, bytearray, memoryview]
) -> Optional[Tuple[int, int]]:
    """``(probe_id, status)`` when ``data`` (one datagram or framed message)
    is, in its plain form, a response to one of our OPTIONS probes, read
    without a SIP parser; None when it is not recognised and should be
    parsed fully."""
    raw = bytes(data)
    buf = (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0"))
    probe_id = c_uint64()
    status = c_uint()
    rv = C.sipflow_keepalive_options_response_parse(
        buf, len(raw), byref(probe_id), byref(status))
    if rv == NOT_FOUND:
        return None
    check(rv, "OPTIONS response")
    return int(probe_id.value), int(status.value)


def keep_parse(value: Optional[str]) -> Optional[int]:
    """A Via ``keep`` parameter's value (RFC 6223 §8.2): the seconds, or
    None for a bare ``keep``."""
    raw = b"" if value is None else value.encode()
    has = c_int()
    seconds = c_uint32()
    check(C.sipflow_keep_parse(raw, len(raw), byref(has), byref(seconds)), "keep")
    return int(seconds.value) if has.value else None


def keep_response_value(request_has_keep: bool, willing: bool,
                        interval_seconds: int = 0,
                        flow_timer_seconds: int = 0) -> Optional[int]:
    """The ``keep=`` value for a response's top Via (RFC 6223 §4.4, §5), or
    None to add nothing."""
    out = c_uint32()
    rv = check(C.sipflow_keep_response_value(
        1 if request_has_keep else 0, 1 if willing else 0, interval_seconds,
        flow_timer_seconds, byref(out)), "keep")
    return int(out.value) if rv == 1 else None


def keep_interval(seconds: int, transport: TransportLike) -> int:
    """The endpoint interval (ns) for a negotiated keep or Flow-Timer."""
    return int(C.sipflow_keep_interval(seconds, int(Transport.parse(transport))))

