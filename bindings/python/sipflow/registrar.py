"""Registrar bindings and target selection (RFC 3261 §10.3, RFC 5626 §6-7).

REGISTER facts go in as Python values (:class:`RegisterRequest` and
:class:`Contact`, or plain dicts with the same keys); bindings come out as
:class:`Binding` values copied out of the library, so they stay valid.
"""

import collections.abc
import ctypes
import enum
from ctypes import POINTER, byref, c_char_p, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from . import _structs as S
from ._live import Live, owner_call, trampoline
from ._loader import C
from .errors import CALLBACK_FAILURE, NOT_FOUND, check
from .types import Address, AddressLike, FlowTuple, FlowTupleLike, Health, enum_value
from .types import to_c_addr, to_c_tuple

if TYPE_CHECKING:
    from .context import Context

_ENC = ("utf-8", "surrogateescape")
_T = TypeVar("_T")


class RegOption(enum.IntFlag):
    """Option tags the registrar understands (Supported / Require)."""

    NONE = 0
    OUTBOUND = 1
    PATH = 2
    GRUU = 4  # RFC 5627


class OutboundPolicy(enum.IntEnum):
    OFF = 0
    SUPPORTED = 1
    REQUIRED = 2


class OverflowPolicy(enum.IntEnum):
    REJECT = 0
    REPLACE_OLDEST = 1


class DeadFlowPolicy(enum.IntEnum):
    REMOVE = 0
    SHORTEN = 1


class PathOb(enum.IntEnum):
    BOTTOM = 0
    TOP = 1
    ANY = 2


class FlowOrder(enum.IntEnum):
    LOWEST_REG_ID = 0
    MOST_RECENT = 1


class RegChange(enum.IntEnum):
    """Why the change callback was called."""

    ADDED = 1
    REFRESHED = 2
    UPDATED = 3
    REMOVED = 4
    EXPIRED = 5
    FLOW_FAILED = 6


class PushReason(enum.IntEnum):
    """Why the registrar asks for a push (RFC 8599)."""

    CALL = 1  # a request waits for the phone: push, hold, TargetPlan.woken
    REFRESH = 2  # the binding nears expiry: the phone should re-register


# Settings whose values are enums, with the enum to read names with.
_SETTING_ENUMS = {
    "outbound": OutboundPolicy,
    "overflow": OverflowPolicy,
    "dead_flow": DeadFlowPolicy,
    "path_ob": PathOb,
    "flow_order": FlowOrder,
}
SETTINGS = tuple(name for name, _ in S.registrar_settings._fields_)
# Settings given as text.
_SETTING_STRINGS = ("push_providers",)

#: Option tags: :class:`RegOption` bits, an int, a name ("outbound"), names,
#: or None for none.
RegOptionsLike = Union[RegOption, int, str, Iterable[str], None]


def _options(value: RegOptionsLike) -> int:
    """RegOption bits from flags, an int, or names ("outbound", "path")."""
    if value is None:
        return 0
    if isinstance(value, (int, RegOption)):
        return int(value)
    if isinstance(value, str):
        value = [value]
    bits = 0
    for name in value:
        bits |= int(enum_value(RegOption, name, "option tag"))
    return bits


# -- input values ------------------------------------------------------------


@dataclass
class Contact:
    """One Contact of a REGISTER, as the host's parser found it.

    ``reg_id`` and ``expires`` may be ints or the text as received (the
    library checks it). ``q`` is as in SIP, 0.0 to 1.0, or None.
    """

    uri: str
    instance: Optional[str] = None
    reg_id: Union[int, str, None] = None
    expires: Union[int, str, None] = None
    q: Optional[float] = None
    ob: bool = False
    params: Optional[str] = None


@dataclass
class RegisterRequest:
    """The facts of a REGISTER (sipflow_reg_request).

    ``supported`` and ``require`` take :class:`RegOption` bits or names
    ("outbound", "path"); ``expires`` is the Expires header (None when
    absent); ``contacts`` holds :class:`Contact` values, dicts or URI
    strings; ``flow`` is the :class:`~sipflow.FlowTuple` of ``flow_id``.
    """

    aor: str
    call_id: str
    cseq: int
    contacts: Sequence[Union[Contact, Mapping[str, Any], str]] = ()
    expires: Optional[int] = None
    wildcard: bool = False
    path: Sequence[str] = ()
    supported: RegOptionsLike = RegOption.NONE
    require: RegOptionsLike = RegOption.NONE
    require_unknown: Sequence[str] = ()
    via_count: int = 1
    flow_id: int = 0
    flow: Optional[FlowTupleLike] = None
    user_agent: Optional[str] = None
    received: Optional[AddressLike] = None


class _Strings:
    """Keeps the byte buffers behind sipflow_str values alive for the
    length of one call."""

    def __init__(self) -> None:
        self._bufs: List[object] = []

    def set(self, target: S.str_, value: Union[str, bytes, int, None]) -> S.str_:
        if value is None:
            target.ptr = None
            target.len = 0
            return target
        raw = value if isinstance(value, bytes) else str(value).encode(*_ENC)
        buf = ctypes.create_string_buffer(raw, max(len(raw), 1))
        self._bufs.append(buf)
        target.ptr = ctypes.addressof(buf)
        target.len = len(raw)
        return target

    def keep(self, obj: _T) -> _T:
        self._bufs.append(obj)
        return obj


def _contact_to_c(pool: _Strings, value: Union[Contact, Mapping[str, Any], str],
                  out: S.reg_contact) -> None:
    if isinstance(value, str):
        value = Contact(value)
    elif isinstance(value, collections.abc.Mapping):
        value = Contact(**value)
    C.sipflow_reg_contact_default(out)
    pool.set(out.uri, value.uri)
    pool.set(out.instance, value.instance)
    pool.set(out.reg_id, value.reg_id)
    pool.set(out.expires, value.expires)
    out.q = S.REG_Q_NONE if value.q is None else int(round(float(value.q) * 1000))
    out.ob = 1 if value.ob else 0
    pool.set(out.params, value.params)


def _request_to_c(pool: _Strings, r: RegisterRequest) -> S.reg_request:
    req = S.reg_request()
    C.sipflow_reg_request_default(req)
    pool.set(req.aor, r.aor)
    pool.set(req.call_id, r.call_id)
    req.cseq = r.cseq
    req.has_expires = 0 if r.expires is None else 1
    req.expires = 0 if r.expires is None else r.expires
    req.wildcard = 1 if r.wildcard else 0
    contacts = pool.keep((S.reg_contact * max(len(r.contacts), 1))())
    for i, c in enumerate(r.contacts):
        _contact_to_c(pool, c, contacts[i])
    req.contacts = ctypes.cast(contacts, POINTER(S.reg_contact))
    req.n_contacts = len(r.contacts)
    req.path, req.n_path = _str_array(pool, r.path)
    req.supported = _options(r.supported)
    req.require = _options(r.require)
    req.require_unknown, req.n_require_unknown = _str_array(pool, r.require_unknown)
    req.via_count = r.via_count
    req.flow_id = r.flow_id
    to_c_tuple(r.flow, req.flow)
    pool.set(req.user_agent, r.user_agent)
    to_c_addr(r.received, req.received)
    return req


def _str_array(pool: _Strings, values: Sequence[str]) -> Tuple[Any, int]:
    arr = pool.keep((S.str_ * max(len(values), 1))())
    for i, v in enumerate(values):
        pool.set(arr[i], v)
    return ctypes.cast(arr, POINTER(S.str_)), len(values)


# -- output values -----------------------------------------------------------


def _text(s: S.str_) -> Optional[str]:
    if not s.ptr:
        return None
    return ctypes.string_at(s.ptr, s.len).decode(*_ENC)


def _text_or_empty(s: S.str_) -> str:
    """A string the library always sets (an AoR, a URI, a Call-ID)."""
    return _text(s) or ""


@dataclass(frozen=True)
class Binding:
    """One binding, copied out of the registrar."""

    id: int
    aor: str
    uri: str
    instance: Optional[str]  # without quotes and angle brackets
    reg_id: int  # 0 for a binding that is not Outbound
    q: Optional[float]
    call_id: str
    cseq: int
    path: Optional[str]  # the Path vector as one Route value
    n_path: int
    params: Optional[str]
    user_agent: Optional[str]
    flow_id: int
    flow: Optional[FlowTuple]
    received: Optional[Address]
    health: Health
    outbound: bool
    ob: bool
    expires_at: int
    updated_at: int
    expires: int  # seconds, for the 200 OK's expires parameter
    # In on_change: the flow before the change; differs from flow_id when
    # the binding moved to another flow (RFC 5626 §6). 0 for ADDED.
    prev_flow_id: int = 0
    # In a 200 to a REGISTER with Supported: gruu, when GRUUs are on
    # (RFC 5627 §5.1, §5.2); None elsewhere (see Registrar.gruu()).
    pub_gruu: Optional[str] = None
    temp_gruu: Optional[str] = None
    # RFC 8599: the Contact URI's pn-* parameters; push: they make the
    # binding push-reachable; suspended: its flow failed, only a push
    # reaches it.
    pn_provider: Optional[str] = None
    pn_param: Optional[str] = None
    pn_prid: Optional[str] = None
    push: bool = False
    suspended: bool = False

    @classmethod
    def from_c(cls, b: S.reg_binding) -> "Binding":
        return cls(
            id=b.id,
            aor=_text_or_empty(b.aor),
            uri=_text_or_empty(b.uri),
            instance=_text(b.instance) or None,
            reg_id=b.reg_id,
            q=None if b.q == S.REG_Q_NONE else b.q / 1000.0,
            call_id=_text_or_empty(b.call_id),
            cseq=b.cseq,
            path=_text(b.path) or None,
            n_path=b.n_path,
            params=_text(b.params) or None,
            user_agent=_text(b.user_agent) or None,
            flow_id=b.flow_id,
            flow=FlowTuple.from_c(b.flow),
            received=Address.from_c(b.received),
            health=Health(b.health),
            outbound=bool(b.outbound),
            ob=bool(b.ob),
            expires_at=b.expires_at,
            updated_at=b.updated_at,
            expires=b.expires,
            prev_flow_id=b.prev_flow_id,
            pub_gruu=_text(b.pub_gruu) or None,
            temp_gruu=_text(b.temp_gruu) or None,
            pn_provider=_text(b.pn_provider) or None,
            pn_param=_text(b.pn_param) or None,
            pn_prid=_text(b.pn_prid) or None,
            push=bool(b.push),
            suspended=bool(b.suspended),
        )


@dataclass(frozen=True)
class RegisterResult:
    """The answer to a REGISTER (sipflow_reg_result), copied."""

    status: int
    reason: str
    min_expires: int = 0  # 423: the Min-Expires value
    unsupported: RegOption = RegOption.NONE  # 420: list in Unsupported
    unsupported_unknown: bool = False  # 420: also the request's unknown tags
    require: RegOption = RegOption.NONE  # 421/200: list in Require
    supported: RegOption = RegOption.NONE  # list in Supported
    flow_timer: int = 0  # 200: Flow-Timer, 0 = none
    echo_path: bool = False  # 200: copy the request's Path values
    contacts: List[Binding] = field(default_factory=list)  # 200: every binding
    pns: Optional[str] = None  # 200: Feature-Caps +sip.pns (RFC 8599)
    pnsreg: int = 0  # 200: Feature-Caps +sip.pnsreg, 0 = none

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def from_c(cls, r: S.reg_result) -> "RegisterResult":
        return cls(
            status=r.status,
            reason=r.reason.decode() if r.reason else "",
            min_expires=r.min_expires,
            unsupported=RegOption(r.unsupported),
            unsupported_unknown=bool(r.unsupported_unknown),
            require=RegOption(r.require),
            supported=RegOption(r.supported),
            flow_timer=r.flow_timer,
            echo_path=bool(r.echo_path),
            contacts=[Binding.from_c(r.contacts[i]) for i in range(r.n_contacts)],
            pns=_text(r.pns) or None,
            pnsreg=r.pnsreg,
        )


@dataclass(frozen=True)
class Branch:
    """One branch of a target plan: send the request to ``binding.uri``,
    with ``binding.path`` as Route, over ``binding.flow_id`` when the host
    owns that flow; then report its final status to the plan."""

    id: int
    group: int
    binding: Binding
    # RFC 8599: do not send; a push was asked for; hold the request until
    # TargetPlan.woken() gives the branch, or report 480.
    push: bool = False

    @classmethod
    def from_c(cls, br: S.reg_branch) -> "Branch":
        return cls(br.id, br.group, Binding.from_c(br.binding.contents),
                   bool(br.push))


# -- the registrar -----------------------------------------------------------


#: ``on_change(change, binding)``.
ChangeFn = Callable[[RegChange, Binding], None]


def _on_change(reg: "Registrar", _reg: Optional[int], change: int, binding: Any,
               _ud: Optional[int]) -> None:
    if reg.on_change is not None:
        reg.on_change(RegChange(change), Binding.from_c(binding.contents))


#: ``on_push(reason, binding)``: send a push to ``binding.pn_provider``.
PushFn = Callable[[PushReason, Binding], None]


def _on_push(reg: "Registrar", _reg: Optional[int], reason: int, binding: Any,
             _ud: Optional[int]) -> None:
    if reg.on_push is not None:
        reg.on_push(PushReason(reason), Binding.from_c(binding.contents))


def _visit(collect: List[Binding], binding: Any, _ud: Optional[int]) -> int:
    collect.append(Binding.from_c(binding.contents))
    return 0


class Registrar(Live):
    """The location service (registrar.h).

    :param ctx: the :class:`~sipflow.Context`.
    :param on_change: ``on_change(change: RegChange, binding: Binding)``,
        once per binding changed, after the change. May be set later.
    :param settings: any member of sipflow_registrar_settings by name
        (``max_contacts=4``, ``outbound="required"``, ``flow_timer=25``);
        unnamed ones keep the library's defaults.
    """

    _ctx: "Context"
    on_change: Optional[ChangeFn]
    on_push: Optional[PushFn]

    def __init__(self, ctx: "Context", on_change: Optional[ChangeFn] = None,
                 on_push: Optional[PushFn] = None, **settings: Any) -> None:
        self._ctx = ctx
        self.on_change = on_change
        self.on_push = on_push
        keep = []
        cs = S.registrar_settings()
        C.sipflow_registrar_settings_default_versioned(
            S.REGISTRAR_SETTINGS_VERSION, cs
        )
        for name, value in settings.items():
            if name not in SETTINGS:
                raise TypeError("unknown registrar setting %r" % name)
            if name in _SETTING_STRINGS:
                raw = value.encode() if isinstance(value, str) else bytes(value)
                keep.append(raw)
                setattr(cs, name, S.str_(ctypes.cast(c_char_p(raw), c_void_p),
                                         len(raw)))
                continue
            if name in _SETTING_ENUMS:
                value = enum_value(_SETTING_ENUMS[name], value, name)
            setattr(cs, name, int(value))
        cb = S.registrar_callbacks()
        cb.on_change = trampoline(S.reg_change_cb, self, _on_change)
        # Without on_push the library suspends nothing (RFC 8599 off).
        if on_push is not None:
            cb.on_push = trampoline(S.reg_push_cb, self, _on_push)
        ptr = c_void_p()
        check(
            ctx._invoke(
                C.sipflow_registrar_new_versioned,
                byref(ptr),
                ctx._outside_callbacks("Registrar()"),
                S.REGISTRAR_CALLBACKS_VERSION,
                cb,
                S.REGISTRAR_SETTINGS_VERSION,
                cs,
                None,
            ),
            "registrar_new",
        )
        self._own(ptr, C.sipflow_registrar_del, (ctx, cb.on_change, cb.on_push))
        self._depend_on(ctx)

    def process(
        self,
        request: Union[RegisterRequest, Mapping[str, Any], None] = None,
        now: Optional[int] = None,
        **facts: Any
    ) -> RegisterResult:
        """Apply a REGISTER, all or nothing (RFC 3261 §10.3).

        :param request: a :class:`RegisterRequest` or a dict of its fields;
            or give the fields as keywords.
        :returns: :class:`RegisterResult`; every status (400, 423, ...) is a
            result, not an exception.
        :raises NoMemoryError, TimeBackwardsError, BadStateError (inside a
            callback), InvalidArgumentError.
        """
        if request is None:
            request = RegisterRequest(**facts)
        elif isinstance(request, collections.abc.Mapping):
            request = RegisterRequest(**request, **facts)
        elif facts:
            raise TypeError("give a request or keyword facts, not both")
        pool = _Strings()
        req = _request_to_c(pool, request)
        out = POINTER(S.reg_result)()
        owner_call(
            self,
            C.sipflow_registrar_process_versioned,
            self._p(),
            S.REG_REQUEST_VERSION,
            req,
            self._ctx._now(now),
            byref(out),
            context="REGISTER",
        )
        return RegisterResult.from_c(out.contents)

    def flow_failed(self, flow_id: int, now: Optional[int] = None) -> bool:
        """A flow failed (RFC 5626 §7): its bindings go (or are shortened,
        under ``dead_flow="shorten"``). Returns False if none used it."""
        return self._flow_call(C.sipflow_registrar_flow_failed, flow_id, now)

    def flow_health(self, flow_id: int, health: Union[Health, int, str],
                    now: Optional[int] = None) -> bool:
        """Report a flow's :class:`~sipflow.Health` (from the keepalive
        scheduler) so that plans try healthy flows first and skip dead ones.
        Returns False if no binding uses the flow."""
        h = int(enum_value(Health, health, "health"))
        return self._flow_call(C.sipflow_registrar_flow_health, flow_id, now, h)

    def flow_binding_count(self, flow_id: int) -> int:
        """How many bindings use the flow, whatever their AoR."""
        return int(C.sipflow_registrar_flow_binding_count(self._p(), flow_id))

    def binding_failed(self, aor: str, binding_id: int,
                       now: Optional[int] = None) -> bool:
        """One binding's flow failed although this registrar does not hold
        it (a 430 through its Path, RFC 5626 §7): that binding goes (or is
        shortened). Returns False if the AoR has no binding with that id.

        :raises MalformedError: |aor| is not a SIP or SIPS URI.
        """
        pool = _Strings()
        s = pool.set(S.str_(), aor)
        rv = self._ctx._invoke(C.sipflow_registrar_binding_failed, self._p(), s,
                               binding_id, self._ctx._now(now))
        if rv == NOT_FOUND:
            return False
        check(rv, "binding %d of %r" % (binding_id, aor))
        return True

    def _flow_call(self, fn: Callable[..., int], flow_id: int, now: Optional[int],
                   *extra: int) -> bool:
        args: Tuple[Any, ...] = (self._p(), flow_id) + extra + (self._ctx._now(now),)
        rv = self._ctx._invoke(fn, *args)
        if rv == NOT_FOUND:
            return False
        check(rv, "flow %d" % flow_id)
        return True

    def lookup(self, uri: str, now: Optional[int] = None) -> Optional["TargetPlan"]:
        """The target plan for a request to an AoR (RFC 5626 §7), or None
        when the AoR has no binding (answer 480).

        :raises MalformedError: not a SIP or SIPS URI, or too long.
        """
        pool = _Strings()
        s = pool.set(S.str_(), uri)
        ptr = c_void_p()
        rv = self._ctx._invoke(
            C.sipflow_registrar_lookup, self._p(), s, self._ctx._now(now), byref(ptr)
        )
        if rv == NOT_FOUND:
            return None
        check(rv, "lookup %r" % uri)
        return TargetPlan(self, ptr)

    def set_gruu(self, keyring: Optional[Any]) -> None:
        """Turn GRUUs (RFC 5627) on with a :class:`~sipflow.KeyRing`, or off
        with None: a REGISTER listing ``RegOption.GRUU`` in Supported gets
        pub_gruu and temp_gruu on each Contact with an instance. The ring
        must stay open while the registrar uses it (docs/gruu.md)."""
        ptr = keyring._p() if keyring is not None else None
        check(self._ctx._invoke(C.sipflow_registrar_set_gruu, self._p(), ptr),
              "set_gruu")
        self._gruu_ring = keyring

    def gruu(self, binding: "Binding") -> Tuple[str, str]:
        """The public and a new temporary GRUU of a binding (RFC 5627
        §3.1, §5.4), as ``(pub, temp)``.

        :raises BadStateError: GRUUs are off. NotFoundError: no instance.
        """
        pool = _Strings()
        b = S.reg_binding()
        pool.set(b.aor, binding.aor)
        pool.set(b.instance, binding.instance or "")
        pool.set(b.call_id, binding.call_id)
        b.cseq = binding.cseq
        buf = ctypes.create_string_buffer(4096)
        pub, temp = S.str_(), S.str_()
        check(self._ctx._invoke(C.sipflow_registrar_gruu, self._p(), byref(b),
                                buf, len(buf), byref(pub), byref(temp)),
              "gruu")
        return _text_or_empty(pub), _text_or_empty(temp)

    def lookup_gruu(self, uri: str,
                    now: Optional[int] = None) -> Tuple[Optional["TargetPlan"], int]:
        """The target plan of the one instance a GRUU names (RFC 5627 §6.1),
        as ``(plan, 0)``, or ``(None, status)`` with 404 (not a valid GRUU,
        or a temp-gruu outdated by a new Call-ID) or 480 (no binding now).
        """
        pool = _Strings()
        s = pool.set(S.str_(), uri)
        ptr = c_void_p()
        rv = self._ctx._invoke(C.sipflow_registrar_lookup_gruu, self._p(), s,
                               self._ctx._now(now), byref(ptr))
        status = int(C.sipflow_reg_gruu_status(rv))
        if status in (404, 480):
            return None, status
        check(rv, "lookup_gruu %r" % uri)
        return TargetPlan(self, ptr), 0

    def lookup_many(self, uris: Iterable[str],
                    now: Optional[int] = None) -> List[Optional["TargetPlan"]]:
        """Target plans for several AoRs in one call, in order: a plan, or
        None where the AoR has no binding. The memory loads of the lookups
        overlap (sipflow_registrar_lookup_batch), which pays for a host
        holding several requests at once.

        :raises MalformedError: one of them is not a SIP or SIPS URI, or is
            too long (the plans made for the others are deleted).
        """
        names = list(uris)
        n = len(names)
        pool = _Strings()
        arr = pool.keep((S.str_ * max(n, 1))())
        for i, u in enumerate(names):
            pool.set(arr[i], u)
        plans = (c_void_p * max(n, 1))()
        results = (ctypes.c_int * max(n, 1))()
        rv = self._ctx._invoke(C.sipflow_registrar_lookup_batch, self._p(),
                               arr, n, self._ctx._now(now), plans, results)
        check(rv, "lookup of %d AoRs" % n)
        out = [TargetPlan(self, c_void_p(plans[i])) if results[i] == 0 else None
               for i in range(n)]
        for i in range(n):
            if results[i] not in (0, NOT_FOUND):
                for plan in out:
                    if plan is not None:
                        plan.close()
                check(results[i], "lookup %r" % names[i])
        return out

    def bindings(self, now: Optional[int] = None) -> List[Binding]:
        """Every binding, after expiring those due at ``now``."""
        collect: List[Binding] = []
        visit = trampoline(S.reg_visit_cb, self,
                           lambda _reg, b, ud: _visit(collect, b, ud),
                           CALLBACK_FAILURE)
        owner_call(self, C.sipflow_registrar_foreach, self._p(),
                   self._ctx._now(now), visit, None, context="foreach")
        return collect

    def __len__(self) -> int:
        """Number of bindings held."""
        return int(C.sipflow_registrar_binding_count(self._p()))

    def __bool__(self) -> bool:
        return True

    @property
    def aor_count(self) -> int:
        return int(C.sipflow_registrar_aor_count(self._p()))


class TargetPlan(Live):
    """The branches to try for one request (RFC 5626 §7).

    Iterating yields groups (lists of :class:`Branch`, highest q first);
    report every branch's final status before asking for the next group::

        for group in plan:
            for branch in group:
                nxt = plan.report(branch, send(branch))
                while nxt is not None:          # 430/408: same instance,
                    nxt = plan.report(nxt, send(nxt))  # its next flow
        status = plan.final_status

    Close the plan (or use ``with``) before the registrar; closing the
    registrar closes its plans.
    """

    _ctx: "Context"
    registrar: Registrar

    def __init__(self, registrar: Registrar, ptr: c_void_p) -> None:
        self._ctx = registrar._ctx
        self.registrar = registrar
        self._own(ptr, C.sipflow_reg_plan_del, (registrar,))
        self._depend_on(registrar)

    def next_group(self) -> List[Branch]:
        """The next q group's branches; an empty list when nothing is left.

        :raises BadStateError: branches of the current group still wait for
            their final status.
        """
        arr = POINTER(S.reg_branch)()
        n = c_size_t()
        owner_call(self, C.sipflow_reg_plan_next_group, self._p(), byref(arr),
                   byref(n), context="next_group")
        return [Branch.from_c(arr[i]) for i in range(n.value)]

    def __iter__(self) -> Iterator[List[Branch]]:
        while True:
            group = self.next_group()
            if not group:
                return
            yield group

    def report(self, branch: Union[Branch, int], status: int,
               now: Optional[int] = None) -> Optional[Branch]:
        """Report a branch's final status (a local timeout is 408).

        430 removes the binding and 408 keeps it; both give the instance's
        next usable flow, returned as a :class:`Branch` to send now (or
        None). 2xx and 6xx finish the plan.
        """
        bid = branch.id if isinstance(branch, Branch) else int(branch)
        out = POINTER(S.reg_branch)()
        owner_call(self, C.sipflow_reg_plan_report, self._p(), bid, status,
                   self._ctx._now(now), byref(out), context="report")
        return Branch.from_c(out.contents) if out else None

    def woken(self, branch: Union[Branch, int],
              now: Optional[int] = None) -> Optional[Branch]:
        """A push branch's phone registered again: the branch to send the
        held request on now, or None while it is still suspended (RFC 8599
        §5.6.2)."""
        bid = branch.id if isinstance(branch, Branch) else int(branch)
        out = POINTER(S.reg_branch)()
        rv = self._ctx._invoke(C.sipflow_reg_plan_woken, self._p(), bid,
                               self._ctx._now(now), byref(out))
        if rv == NOT_FOUND:  # still suspended, or gone
            return None
        check(rv, "woken")
        return Branch.from_c(out.contents)

    @property
    def pending(self) -> int:
        """Branches sent whose final status has not been reported."""
        return int(C.sipflow_reg_plan_pending(self._p()))

    @property
    def final_status(self) -> int:
        """The status to send upstream once nothing is left (430 never goes
        upstream: it becomes 480)."""
        return int(C.sipflow_reg_plan_final_status(self._p()))


def response_pick(best: int, candidate: int) -> int:
    """Of two final statuses, the one a forking proxy forwards (RFC 3261
    §16.7, RFC 5626 §11.5); 0 means none yet."""
    return int(C.sipflow_reg_response_pick(best, candidate))


def response_upstream(status: int) -> int:
    """The status to forward upstream: 430 becomes 480, 503 becomes 500."""
    return int(C.sipflow_reg_response_upstream(status))
