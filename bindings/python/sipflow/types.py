"""Plain values shared by every module: addresses, flow tuples, enums."""

import enum
import ipaddress
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Type, TypeVar, Union

from . import _structs as S
from ._loader import C
from .errors import check


class Transport(enum.IntEnum):
    """sipflow_transport: values are stable and appear inside tokens."""

    UDP = 1
    TCP = 2
    TLS = 3
    SCTP = 4
    WS = 5
    WSS = 6

    @property
    def is_stream(self) -> bool:
        return bool(C.sipflow_transport_is_stream(int(self)))

    @classmethod
    def parse(cls, value: "TransportLike") -> "Transport":
        """A Transport from itself, its value or its name ("udp", "TCP")."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            raw = value.encode()
            rv = C.sipflow_transport_parse(raw, len(raw))
            return cls(check(rv, "transport %r" % value))
        return cls(int(value))


class Health(enum.IntEnum):
    """sipflow_flow_health."""

    UNKNOWN = 0
    ALIVE = 1
    SUSPECT = 2
    DEAD = 3


class Family(enum.IntEnum):
    """sipflow_family."""

    NONE = 0
    INET = 4
    INET6 = 6


@dataclass(frozen=True)
class Address:
    """A transport address: an IP address (text) and a port.

    Made from ``Address("192.0.2.1", 5060)``, ``("::1", 5060)`` or
    ``"[::1]:5060"`` wherever the binding takes an address.
    """

    host: str
    port: int = 0

    @property
    def family(self) -> Family:
        return Family.INET6 if ":" in self.host else Family.INET

    def __str__(self) -> str:
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    @classmethod
    def parse(cls, value: "AddressLike") -> "Address":
        """An Address from an Address, a (host, port) pair, or "host:port"."""
        if isinstance(value, Address):
            return value
        if isinstance(value, tuple):
            host, port = value[0], value[1]  # socket tuples may have 4 items
            return cls._checked(host, port)
        if isinstance(value, str):
            if value.startswith("["):
                host, _, rest = value[1:].partition("]")
                port = rest[1:] if rest.startswith(":") else "0"
            elif value.count(":") == 1:
                host, _, port = value.partition(":")
            else:
                host, port = value, "0"
            return cls._checked(host, int(port))
        raise TypeError("not an address: %r" % (value,))

    @classmethod
    def _checked(cls, host: str, port: Union[int, str]) -> "Address":
        ip = ipaddress.ip_address(host.strip("[]"))
        if not 0 <= int(port) <= 65535:
            raise ValueError("port out of range: %r" % (port,))
        return cls(str(ip), int(port))

    def to_c(self, out: Optional[S.addr] = None) -> S.addr:
        out = out if out is not None else S.addr()
        check(
            C.sipflow_addr_parse(out, self.host.encode(), self.port),
            "address %r" % self.host,
        )
        return out

    @classmethod
    def from_c(cls, c: S.addr) -> Optional["Address"]:
        if c.family == Family.INET:
            return cls(str(ipaddress.IPv4Address(bytes(c.bytes[:4]))), c.port)
        if c.family == Family.INET6:
            return cls(str(ipaddress.IPv6Address(bytes(c.bytes[:16]))), c.port)
        return None


#: What the binding takes for an address: an :class:`Address`, a
#: ``(host, port)`` pair (a socket address; further items are ignored) or
#: ``"host:port"`` / ``"[v6]:port"``.
AddressLike = Union[Address, Tuple[Any, ...], str]
#: A :class:`Transport`, its value, or its name ("udp", "TCP").
TransportLike = Union[Transport, int, str]


def to_c_addr(value: Optional[AddressLike], out: Optional[S.addr] = None) -> S.addr:
    """Fill (or make) a C sipflow_addr; None leaves it family NONE."""
    if value is None:
        return out if out is not None else S.addr()
    return Address.parse(value).to_c(out)


@dataclass(frozen=True, init=False)
class FlowTuple:
    """A flow (RFC 5626 §3.4): transport, both addresses, generation.

    Made from a :class:`Transport` or its name, and two addresses in any
    form :class:`Address` parses. An address is None only in a tuple the
    library reports with family NONE.
    """

    transport: Transport
    local: Optional[Address]
    remote: Optional[Address]
    generation: int = 0

    def __init__(
        self,
        transport: TransportLike,
        local: Optional[AddressLike],
        remote: Optional[AddressLike],
        generation: int = 0,
    ) -> None:
        object.__setattr__(self, "transport", Transport.parse(transport))
        # None: family NONE, as C may report
        for side, value in (("local", local), ("remote", remote)):
            addr = None if value is None else Address.parse(value)
            object.__setattr__(self, side, addr)
        object.__setattr__(self, "generation", generation)

    def to_c(self, out: Optional[S.flow_tuple] = None) -> S.flow_tuple:
        out = out if out is not None else S.flow_tuple()
        out.transport = int(self.transport)
        to_c_addr(self.local, out.local)
        to_c_addr(self.remote, out.remote)
        out.generation = self.generation
        return out

    @classmethod
    def from_c(cls, c: S.flow_tuple) -> Optional["FlowTuple"]:
        if not c.transport:
            return None
        return cls(
            Transport(c.transport),
            Address.from_c(c.local),
            Address.from_c(c.remote),
            c.generation,
        )

    def same_flow(self, other: "FlowTuple") -> bool:
        """Same transport and addresses, generation ignored."""
        return bool(C.sipflow_flow_tuple_same(self.to_c(), other.to_c()))


def as_tuple(value: "FlowTupleLike") -> FlowTuple:
    """A FlowTuple from a FlowTuple or a (transport, local, remote[, gen])."""
    if isinstance(value, FlowTuple):
        return value
    if isinstance(value, (tuple, list)):
        return FlowTuple(*value)
    raise TypeError("not a flow tuple: %r" % (value,))


#: A :class:`FlowTuple` or ``(transport, local, remote[, generation])``.
FlowTupleLike = Union[FlowTuple, Sequence[Any]]


def to_c_tuple(value: Optional[FlowTupleLike],
               out: Optional[S.flow_tuple] = None) -> S.flow_tuple:
    if value is None:
        return out if out is not None else S.flow_tuple()
    return as_tuple(value).to_c(out)


def is_private(address: AddressLike) -> bool:
    """``sipflow_nat_is_private()``: RFC 1918, shared, link-local, ULA."""
    return bool(C.sipflow_nat_is_private(to_c_addr(address)))


_E = TypeVar("_E", bound=enum.Enum)


def enum_value(enum_cls: Type[_E], value: Union[_E, int, str], what: str) -> _E:
    """An enum member from a member, an int, or a case-insensitive name
    ("registration", "ALIVE", "add-token-ob")."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_")
        try:
            return enum_cls[key]
        except KeyError:
            raise ValueError("unknown %s: %r" % (what, value)) from None
    try:
        return enum_cls(value)
    except ValueError:
        raise ValueError("unknown %s: %r" % (what, value)) from None

