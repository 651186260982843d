"""The flow table: the host's connections, their ids and their tokens."""

import ctypes
import enum
from ctypes import byref, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Tuple, Union

from . import _structs as S
from ._live import Live, owner_call, trampoline
from ._loader import C
from .errors import NOT_FOUND, ExistsError, check, error_for
from .token import KeyRing, TokenLike, _token_bytes
from .types import FlowTuple, FlowTupleLike, enum_value, to_c_tuple

if TYPE_CHECKING:
    from .context import Context


class FlowEndReason(enum.IntEnum):
    """sipflow_flow_end_reason: why a connection ended."""

    CLOSED = 1
    RESET = 2
    KEEPALIVE_TIMEOUT = 3
    ICMP_ERROR = 4
    LOCAL_CLOSE = 5

    @property
    def label(self) -> str:
        """The library's name: "closed", "keepalive-timeout", ..."""
        raw: bytes = C.sipflow_flow_end_reason_name(int(self))
        return raw.decode()


@dataclass(frozen=True)
class FlowInfo:
    """A flow as the table knows it."""

    id: int  # 0 when a token names none of the table's flows
    handle: int  # the host's handle given to add()
    tuple: Optional[FlowTuple]

    @classmethod
    def from_c(cls, c: S.flow_info) -> "FlowInfo":
        return cls(c.id, c.handle, FlowTuple.from_c(c.tuple))


#: ``on_flow_failed(flow, reason)``.
FlowFailedFn = Callable[[FlowInfo, FlowEndReason], None]


def _on_flow_failed(table: "FlowTable", _ft: Optional[int], info: Any, reason: int,
                    _ud: Optional[int]) -> None:
    if table.on_flow_failed is not None:
        table.on_flow_failed(FlowInfo.from_c(info.contents), FlowEndReason(reason))


class FlowTable(Live):
    """Maps tokens to the host's connections (flow.h).

    :param ctx: the :class:`~sipflow.Context`.
    :param keyring: the :class:`~sipflow.KeyRing` that mints and verifies;
        it must stay open as long as the table (closing it closes the table).
    :param on_flow_failed: ``on_flow_failed(flow: FlowInfo, reason:
        FlowEndReason)``, called from :meth:`end`; every binding on the flow
        should go (RFC 5626 §7). May be set later as an attribute.
    :param max_flows: most flows at once (0: no limit).
    """

    _ctx: "Context"
    keyring: KeyRing
    on_flow_failed: Optional[FlowFailedFn]

    def __init__(self, ctx: "Context", keyring: KeyRing,
                 on_flow_failed: Optional[FlowFailedFn] = None,
                 max_flows: int = 0) -> None:
        self._ctx = ctx
        self.keyring = keyring
        self.on_flow_failed = on_flow_failed
        cb = S.flow_callbacks()
        cb.on_flow_failed = trampoline(S.flow_failed_cb, self, _on_flow_failed)
        settings = S.flow_settings()
        C.sipflow_flow_settings_default_versioned(S.FLOW_SETTINGS_VERSION, settings)
        settings.max_flows = max_flows
        ptr = c_void_p()
        check(
            ctx._invoke(
                C.sipflow_flow_table_new_versioned,
                byref(ptr),
                ctx._outside_callbacks("FlowTable()"),
                keyring._p(),
                S.FLOW_CALLBACKS_VERSION,
                cb,
                S.FLOW_SETTINGS_VERSION,
                settings,
                None,
            ),
            "flow_table_new",
        )
        self._own(ptr, C.sipflow_flow_table_del, (ctx, keyring, cb.on_flow_failed))
        self._depend_on(ctx)
        self._depend_on(keyring)

    def add(self, tuple: FlowTupleLike, handle: int = 0,
            now: Optional[int] = None) -> int:
        """Register a connection; returns its new flow id.

        :param tuple: a :class:`FlowTuple` (its generation is ignored).
        :param handle: an int of the host's own (a connection id).
        :raises ExistsError: a live flow has the same transport and
            addresses; the exception's ``flow_id`` names it.
        :raises LimitError: max_flows reached.
        """
        out = c_uint64()
        rv = self._ctx._invoke(
            C.sipflow_flow_add,
            self._p(),
            to_c_tuple(tuple),
            handle,
            self._ctx._now(now),
            byref(out),
        )
        if rv < 0:
            exc = error_for(rv, "flow add")
            if isinstance(exc, ExistsError):
                exc.flow_id = int(out.value)
            raise exc
        return int(out.value)

    def end(
        self,
        flow_id: int,
        reason: Union[FlowEndReason, int, str] = FlowEndReason.CLOSED,
        now: Optional[int] = None,
    ) -> None:
        """The connection ended: its tokens become stale, on_flow_failed runs.

        :param reason: a :class:`FlowEndReason` or its name ("reset").
        :raises NotFoundError: no live flow has this id.
        """
        why = enum_value(FlowEndReason, reason, "end reason")
        owner_call(self, C.sipflow_flow_end, self._p(), flow_id, int(why),
                   self._ctx._now(now), context="flow %d" % flow_id)

    def token(self, flow_id: int) -> str:
        """The token naming flow ``flow_id`` (minted under the current key)."""
        buf = ctypes.create_string_buffer(S.TOKEN_BUFLEN)
        n = c_size_t()
        owner_call(self, C.sipflow_flow_token, self._p(), flow_id, buf, len(buf),
                   byref(n), context="flow %d" % flow_id)
        return buf.raw[: n.value].decode()

    def lookup_result(self, token: TokenLike) -> Tuple[int, Optional[FlowInfo]]:
        """Look a token up without raising: ``(code, FlowInfo or None)``,
        code 0 or a negative code. The code is what
        :func:`sipflow.edge.decide` takes as ``token_result``."""
        raw = _token_bytes(token)
        out = S.flow_info()
        rv = self._ctx._invoke(C.sipflow_flow_lookup, self._p(), raw, len(raw), out)
        return rv, (FlowInfo.from_c(out) if rv == 0 else None)

    def lookup(self, token: TokenLike) -> FlowInfo:
        """The flow a token names, in O(1).

        :raises TamperedError: answer 403.
        :raises StaleError: the flow is gone or its key left the ring: 430.
        :raises MalformedError: not one of our tokens: 403.
        """
        rv, info = self.lookup_result(token)
        check(rv, "token")
        assert info is not None  # rv is 0
        return info

    def get(self, flow_id: int) -> FlowInfo:
        """The live flow ``flow_id``. :raises NotFoundError:"""
        out = S.flow_info()
        owner_call(self, C.sipflow_flow_get, self._p(), flow_id, out,
                   context="flow %d" % flow_id)
        return FlowInfo.from_c(out)

    def find(self, tuple: FlowTupleLike) -> Optional[int]:
        """The id of the live flow with this transport and these addresses,
        or None."""
        out = c_uint64()
        rv = self._ctx._invoke(C.sipflow_flow_find, self._p(), to_c_tuple(tuple),
                               byref(out))
        if rv == NOT_FOUND:
            return None
        check(rv, "flow find")
        return int(out.value)

    def __contains__(self, flow_id: object) -> bool:
        out = S.flow_info()
        return bool(C.sipflow_flow_get(self._p(), flow_id, out) == 0)

    def __iter__(self) -> Iterator[FlowInfo]:
        """The live flows, in slot order."""
        after = 0
        out = S.flow_info()
        while True:
            rv = C.sipflow_flow_next(self._p(), after, out)
            if rv == NOT_FOUND:
                return
            check(rv, "flow walk")
            after = out.id
            yield FlowInfo.from_c(out)

    def __len__(self) -> int:
        return int(C.sipflow_flow_count(self._p()))

    def __bool__(self) -> bool:
        return True
