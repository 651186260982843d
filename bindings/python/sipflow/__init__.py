"""libsipflow for Python: RFC 5626 (SIP Outbound) flow tokens, registrar
bindings and NAT keepalive, over the C library through ctypes.

Times are integer nanoseconds on a monotonic clock; wherever ``now`` is
omitted it is read from the context's clock (default
:func:`time.monotonic_ns`). See docs/python.md.
"""

from typing import Union

from ._loader import LibraryNotFoundError, find_library, library_path, load_library
from .context import Context, LogLevel
from .edge import (
    EdgeAction,
    EdgeDecision,
    EdgeDirection,
    EdgeForce,
    EdgeHeader,
    EdgeMethod,
    EdgeReason,
    NatFlags,
    decide,
    format_uri,
    nat_detect,
)
from .errors import (
    BadStateError,
    BufferTooSmallError,
    CallbackFailureError,
    ExistsError,
    InternalError,
    InvalidArgumentError,
    LimitError,
    MalformedError,
    NoMemoryError,
    NotFoundError,
    SipflowError,
    StaleError,
    TamperedError,
    TimeBackwardsError,
    TooLargeError,
    UnsupportedError,
    err_name,
    strerror,
)
from .flow import FlowEndReason, FlowInfo, FlowTable
from .framer import Frame, Framer, FrameType
from .keepalive import (
    Endpoint,
    KeepaliveCounters,
    KeepaliveEvent,
    KeepaliveMethod,
    KeepaliveScheduler,
    KeepaliveStats,
    Probe,
    ReasonKind,
    Removal,
    SavedReason,
    StateChange,
    keep_interval,
    keep_parse,
    keep_response_value,
    options_build,
    options_response_parse,
    probe_id_parse,
)
from .registrar import (
    Binding,
    Branch,
    Contact,
    RegChange,
    PushReason,
    RegisterRequest,
    RegisterResult,
    Registrar,
    RegOption,
    TargetPlan,
    response_pick,
    response_upstream,
)
from . import stun
from .stun import DatagramKind, classify_datagram
from .token import KeyRing, TokenInfo, generate_key, sip_status
from .types import Address, Family, FlowTuple, Health, Transport, is_private

__version__ = "0.2.0"

#: Durations in nanoseconds.
NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND


def seconds(value: Union[int, float]) -> int:
    """``value`` seconds (int or float) as integer nanoseconds."""
    return int(round(value * SECOND))


def version() -> str:
    """The version string of the libsipflow actually loaded."""
    from ._loader import C

    raw: bytes = C.sipflow_version(0).contents.version_str
    return raw.decode()


__all__ = [
    "Address",
    "BadStateError",
    "Binding",
    "Branch",
    "BufferTooSmallError",
    "CallbackFailureError",
    "Contact",
    "Context",
    "DatagramKind",
    "EdgeAction",
    "EdgeDecision",
    "EdgeDirection",
    "EdgeForce",
    "EdgeHeader",
    "EdgeMethod",
    "EdgeReason",
    "Endpoint",
    "ExistsError",
    "Family",
    "FlowEndReason",
    "FlowInfo",
    "FlowTable",
    "FlowTuple",
    "Frame",
    "FrameType",
    "Framer",
    "Health",
    "InternalError",
    "InvalidArgumentError",
    "KeepaliveCounters",
    "KeepaliveEvent",
    "KeepaliveMethod",
    "KeepaliveScheduler",
    "KeepaliveStats",
    "KeyRing",
    "LibraryNotFoundError",
    "LimitError",
    "LogLevel",
    "MICROSECOND",
    "MILLISECOND",
    "MalformedError",
    "NANOSECOND",
    "NatFlags",
    "NoMemoryError",
    "NotFoundError",
    "Probe",
    "ReasonKind",
    "RegChange",
    "PushReason",
    "RegOption",
    "RegisterRequest",
    "RegisterResult",
    "Registrar",
    "Removal",
    "SECOND",
    "SavedReason",
    "SipflowError",
    "StaleError",
    "StateChange",
    "TamperedError",
    "TargetPlan",
    "TimeBackwardsError",
    "TokenInfo",
    "TooLargeError",
    "Transport",
    "UnsupportedError",
    "classify_datagram",
    "decide",
    "err_name",
    "find_library",
    "format_uri",
    "generate_key",
    "is_private",
    "keep_interval",
    "keep_parse",
    "keep_response_value",
    "library_path",
    "load_library",
    "nat_detect",
    "options_build",
    "options_response_parse",
    "probe_id_parse",
    "response_pick",
    "response_upstream",
    "seconds",
    "sip_status",
    "strerror",
    "stun",
    "version",
]
