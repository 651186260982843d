"""Edge-proxy decisions (RFC 5626 §5), Path / Record-Route values, NAT tests.

Everything here is a pure function over plain values: no context needed.
"""

import ctypes
import enum
from ctypes import byref, c_size_t, c_uint
from dataclasses import dataclass
from typing import Optional, Union

from . import _structs as S
from ._loader import C
from .errors import SipflowError, check
from .types import AddressLike, Transport, TransportLike, enum_value, to_c_addr


class EdgeMethod(enum.IntEnum):
    OTHER = 0
    REGISTER = 1
    INVITE = 2
    SUBSCRIBE = 3
    REFER = 4

    @classmethod
    def parse(cls, value: Union["EdgeMethod", int, str]) -> "EdgeMethod":
        """A method from a member, an int, or a SIP method name
        (case-sensitive, RFC 3261 §7.1): "OPTIONS" gives OTHER."""
        if isinstance(value, str):
            raw = value.encode()
            return cls(C.sipflow_edge_method_parse(raw, len(raw)))
        return cls(int(value))


class EdgeForce(enum.IntEnum):
    NONE = 0
    ON = 1
    OFF = 2


class EdgeAction(enum.IntEnum):
    NONE = 0
    ADD_TOKEN_OB = 1
    ADD_TOKEN = 2
    ROUTE_FLOW = 3
    REJECT = 4

    @property
    def label(self) -> str:
        """The library's name: "add-token-ob", "route-flow", ..."""
        raw: bytes = C.sipflow_edge_action_name(int(self))
        return raw.decode()


class EdgeHeader(enum.IntEnum):
    NONE = 0
    PATH = 1
    RECORD_ROUTE = 2


class EdgeDirection(enum.IntEnum):
    NONE = 0
    FROM_UA = 1
    TO_UA = 2


class EdgeReason(enum.IntEnum):
    NOT_APPLICABLE = 0
    FORCED_OFF = 1
    FORCED_ON = 2
    REGISTER_FIRST_HOP = 3
    REGISTER_NOT_FIRST_HOP = 4
    REGISTER_NO_REG_ID = 5
    PATH_UNSUPPORTED = 6
    DIALOG_CONTACT_OB = 7
    DIALOG_ROUTE_OB = 8
    DIALOG_NOT_FIRST_HOP = 9
    TOKEN_TO_UA = 10
    TOKEN_FROM_UA = 11
    TOKEN_TAMPERED = 12
    TOKEN_STALE = 13
    TOKEN_MALFORMED = 14

    @property
    def text(self) -> str:
        """The reason in words, with its RFC section."""
        raw: bytes = C.sipflow_edge_reason_str(int(self))
        return raw.decode()


@dataclass(frozen=True)
class EdgeDecision:
    """What the edge does with a request (sipflow_edge_decision)."""

    action: EdgeAction
    reason: EdgeReason
    header: EdgeHeader
    direction: EdgeDirection
    flow: int  # the flow to mint a token for, or to route over; 0 if none
    record_route: bool
    status: int  # REJECT: 403, 430 or 421; else 0

    @property
    def reason_text(self) -> str:
        return self.reason.text


_FLAG_FACTS = (
    "to_tag",
    "contact_reg_id",
    "contact_ob",
    "no_supported_path",
    "route_is_us",
    "route_ob",
    "route_has_user",
    "token_tuple_is_arrival",
)


def decide(
    *,
    method: Union[EdgeMethod, int, str],
    via_count: int = 1,
    token_result: Union[int, SipflowError, None] = 0,
    token_flow: int = 0,
    arrival_flow: int = 0,
    force: Union[EdgeForce, int, str] = EdgeForce.NONE,
    **flags: bool
) -> EdgeDecision:
    """Decide what the edge does with a request (RFC 5626 §5.1, §5.3).

    Keyword facts, all optional but ``method``:

    - ``method``: "REGISTER", "INVITE", ... or an :class:`EdgeMethod`;
    - ``via_count``: number of Via values (default 1: from the UA itself);
    - flags (bool, default False): ``to_tag``, ``contact_reg_id``,
      ``contact_ob``, ``no_supported_path``, ``route_is_us``, ``route_ob``,
      ``route_has_user``, ``token_tuple_is_arrival``;
    - ``token_result``: the result of looking up the Route's token: 0 or
      None, a negative code, or the SipflowError that lookup raised;
    - ``token_flow``, ``arrival_flow``: flow ids (0: none);
    - ``force``: "none", "on", "off" or an :class:`EdgeForce`.

    :returns: :class:`EdgeDecision`.
    :raises InvalidArgumentError: via_count 0, unknown force.
    :raises TypeError: an unknown fact.
    """
    unknown = set(flags) - set(_FLAG_FACTS)
    if unknown:
        raise TypeError("unknown edge facts: %s" % ", ".join(sorted(unknown)))
    f = S.edge_facts()
    C.sipflow_edge_facts_default_versioned(S.EDGE_FACTS_VERSION, f)
    f.method = int(EdgeMethod.parse(method))
    f.via_count = via_count
    for name, value in flags.items():
        setattr(f, name, 1 if value else 0)
    if isinstance(token_result, SipflowError):
        token_result = token_result.code
    f.token_result = int(token_result or 0)
    f.token_flow = token_flow
    f.arrival_flow = arrival_flow
    f.force = int(enum_value(EdgeForce, force, "force"))
    d = S.edge_decision()
    check(C.sipflow_edge_decide_versioned(S.EDGE_FACTS_VERSION, f, d), "decide")
    return EdgeDecision(
        EdgeAction(d.action),
        EdgeReason(d.reason),
        EdgeHeader(d.header),
        EdgeDirection(d.direction),
        d.flow,
        bool(d.record_route),
        d.status,
    )


URI_OB = 0x01


def format_uri(
    host: str,
    token: Optional[str] = None,
    *,
    port: int = 0,
    transport: Optional[TransportLike] = None,
    ob: bool = False
) -> str:
    """A Path or Record-Route value: ``<sip:TOKEN@host:port;transport=x;lr;ob>``.

    :param host: a host name or an IP address (IPv6 with or without
        brackets).
    :param token: the token, or None for a URI without a user part.
    :param ob: add ``;ob`` (only for a first-hop Path, RFC 5626 §5.1).
    :raises InvalidArgumentError: a host or token with illegal characters.
    """
    local = S.edge_local()
    hostb = host.encode()
    keep = S.str_set(local.host, hostb)
    local.port = port
    local.transport = 0 if transport is None else int(Transport.parse(transport))
    tok = b"" if token is None else token.encode()
    n = c_size_t()
    size = 64 + len(hostb) + len(tok)
    buf = ctypes.create_string_buffer(size)
    check(
        C.sipflow_edge_format_uri(
            local, tok, len(tok), URI_OB if ob else 0, buf, size, byref(n)
        ),
        "format_uri",
    )
    del keep
    return buf.raw[: n.value].decode()


class NatFlags(enum.IntFlag):
    """SIPFLOW_NAT_* bits from :func:`nat_detect`."""

    NONE = 0
    CONTACT_PRIVATE = 0x01
    VIA_MISMATCH = 0x02
    VIA_PRIVATE = 0x04
    CONTACT_MISMATCH = 0x08
    RPORT = 0x10
    CONTACT_PORT_MISMATCH = 0x20

    @property
    def behind_nat(self) -> bool:
        """Any of the bits that mean a NAT sits between the UA and us
        (SIPFLOW_NAT_BEHIND_MASK: RPORT alone is not one)."""
        return bool(self & NAT_BEHIND_MASK)


NAT_BEHIND_MASK = (
    NatFlags.CONTACT_PRIVATE
    | NatFlags.VIA_MISMATCH
    | NatFlags.VIA_PRIVATE
    | NatFlags.CONTACT_MISMATCH
    | NatFlags.CONTACT_PORT_MISMATCH
)


def nat_detect(
    transport: TransportLike,
    source: AddressLike,
    via: Optional[AddressLike] = None,
    via_rport: bool = False,
    contact: Optional[AddressLike] = None,
) -> NatFlags:
    """NAT tests in the style of nathelper's nat_uac_test.

    :param transport: the transport the request came on.
    :param source: the packet's source address (``("198.51.100.7", 40000)``).
    :param via: the top Via sent-by as an address; None or a host-name
        string when it is a name.
    :param contact: the first Contact's host and port as an address, None
        when the request has none, or a host-name string such as
        ``"abc.invalid"`` (a name, not an address).
    :returns: :class:`NatFlags`.
    """
    f = S.nat_facts()
    C.sipflow_nat_facts_default_versioned(S.NAT_FACTS_VERSION, f)
    f.transport = int(Transport.parse(transport))
    to_c_addr(source, f.source)
    if not _is_host_name(via):
        to_c_addr(via, f.via)
    f.via_rport = 1 if via_rport else 0
    if contact is not None:
        f.contact = 1
        if not _is_host_name(contact):
            to_c_addr(contact, f.contact_addr)
    out = c_uint()
    check(C.sipflow_nat_detect_versioned(S.NAT_FACTS_VERSION, f, byref(out)),
          "nat_detect")
    return NatFlags(out.value)


def _is_host_name(value: object) -> bool:
    if not isinstance(value, str):
        return False
    host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return any(ch.isalpha() for ch in host) and ":" not in host and "[" not in host
