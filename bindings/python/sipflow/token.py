"""Flow tokens (RFC 5626 §5.2) and the key ring that signs them."""

import ctypes
from ctypes import byref, c_size_t, c_uint8, c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional, Union

from . import _structs as S
from ._live import Live, owner_call
from ._loader import C
from .errors import SipflowError, StaleError, check, error_for
from .types import FlowTuple, FlowTupleLike, to_c_tuple

if TYPE_CHECKING:
    from .context import Context

#: A token as text or as the bytes of a Route URI's user part.
TokenLike = Union[str, bytes]

KEY_LEN = S.TOKEN_KEY_LEN


def generate_key() -> bytes:
    """32 fresh random bytes from libsodium, for :meth:`KeyRing.add`.
    Store them yourself to share keys across a cluster or a restart."""
    buf = (c_uint8 * KEY_LEN)()
    check(C.sipflow_token_key_generate(buf, KEY_LEN), "key generation")
    return bytes(buf)


@dataclass(frozen=True)
class TokenInfo:
    """What a valid token says."""

    version: int
    key_id: int
    slot: int  # flow-table slot (1-based), 0 for a token naming no entry
    tuple: Optional[FlowTuple]  # None only in a StaleError's info

    @classmethod
    def from_c(cls, c: S.token_info) -> "TokenInfo":
        return cls(c.version, c.key_id, c.slot, FlowTuple.from_c(c.tuple))


def _token_bytes(token: TokenLike) -> bytes:
    return token.encode("utf-8", "surrogateescape") if isinstance(token, str) else bytes(token)


def sip_status(result: Union[int, SipflowError, None]) -> int:
    """The SIP status for a verification result (RFC 5626 §5.3.1): 0 to
    route, 430 for stale, 403 for tampered or malformed, 500 otherwise.

    :param result: 0/None (success), a negative code, or a SipflowError.
    """
    if result is None:
        result = 0
    elif isinstance(result, SipflowError):
        result = result.code
    return int(C.sipflow_token_sip_status(int(result)))


class KeyRing(Live):
    """A set of token keys under one-byte ids, one of them current.

    :param ctx: the :class:`~sipflow.Context`.
    :param keys: optional ``{key_id: 32 bytes}`` to add at once; the first
        one added becomes current.

    Python cannot wipe ``bytes``: keep key material in as few places as you
    can. The library keeps only a key derived from what it is given.
    """

    _ctx: "Context"

    def __init__(self, ctx: "Context",
                 keys: Optional[Mapping[int, bytes]] = None) -> None:
        self._ctx = ctx
        ptr = c_void_p()
        check(
            ctx._invoke(C.sipflow_keyring_new, byref(ptr),
                        ctx._outside_callbacks("KeyRing()")), "keyring_new"
        )
        self._own(ptr, C.sipflow_keyring_del, (ctx,))
        self._depend_on(ctx)
        for key_id, key in (keys or {}).items():
            self.add(key_id, key)

    def add(self, key_id: int, key: bytes) -> None:
        """Add a key under ``key_id`` (0-255). The first key becomes current.

        :raises ExistsError: the id is taken.
        :raises InvalidArgumentError: the key is not 32 bytes.
        """
        raw = bytes(key)
        buf = (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0"))
        try:
            owner_call(
                self,
                C.sipflow_keyring_add,
                self._p(),
                key_id,
                buf,
                len(raw),
                context="key %d" % key_id,
            )
        finally:
            ctypes.memset(buf, 0, ctypes.sizeof(buf))

    def new_key(self, key_id: int, make_current: bool = False) -> bytes:
        """Generate a key, add it under ``key_id`` and return its bytes (for
        the host to store or share)."""
        key = generate_key()
        self.add(key_id, key)
        if make_current:
            self.current = key_id
        return key

    def remove(self, key_id: int) -> None:
        """Remove and wipe a key: its tokens then verify as stale.

        :raises NotFoundError: no such key.
        :raises BadStateError: it is the current key.
        """
        owner_call(self, C.sipflow_keyring_remove, self._p(), key_id,
                   context="key %d" % key_id)

    @property
    def current(self) -> Optional[int]:
        """The id of the key new tokens are minted under, or None if the ring
        is empty. Assign an id in the ring to change it."""
        out = c_uint8()
        rv = C.sipflow_keyring_get_current(self._p(), byref(out))
        return None if rv < 0 else int(out.value)

    @current.setter
    def current(self, key_id: int) -> None:
        owner_call(self, C.sipflow_keyring_set_current, self._p(), key_id,
                   context="key %d" % key_id)

    def __contains__(self, key_id: object) -> bool:
        return bool(C.sipflow_keyring_has(self._p(), key_id))

    def mint(self, tuple: FlowTupleLike) -> str:
        """A token for a flow under the current key, naming no flow-table
        entry (UDP, or a host with its own connection table).

        :raises BadStateError: the ring has no key.
        """
        buf = ctypes.create_string_buffer(S.TOKEN_BUFLEN)
        n = c_size_t()
        owner_call(self, C.sipflow_token_mint, self._p(), to_c_tuple(tuple),
                   buf, len(buf), byref(n), context="mint")
        return buf.raw[: n.value].decode()

    def verify(self, token: TokenLike) -> TokenInfo:
        """Verify a token (the user part of a Route URI, %-escaped or not).

        :returns: :class:`TokenInfo`.
        :raises TamperedError: the MAC does not match (answer 403).
        :raises StaleError: its key left the ring (answer 430); the
            exception's ``info`` has the token's version and key id.
        :raises MalformedError: not a token this library reads (403).
        """
        raw = _token_bytes(token)
        out = S.token_info()
        rv = self._ctx._invoke(C.sipflow_token_verify, self._p(), raw, len(raw), out)
        if rv < 0:
            exc = error_for(rv, "token")
            if isinstance(exc, StaleError):
                exc.info = TokenInfo(out.version, out.key_id, 0, None)
            raise exc
        return TokenInfo.from_c(out)
