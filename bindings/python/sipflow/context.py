"""The context: allocator, log, randomness, and the host's one deadline."""

import ctypes
import enum
import os
import time
from ctypes import byref, c_void_p
from typing import Any, Callable, Optional, Union

from . import _structs as S
from ._live import Live, trampoline
from ._loader import C
from .errors import check


class LogLevel(enum.IntEnum):
    """sipflow_log_level, most severe first."""

    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3


#: ``clock() -> int``: monotonic time in nanoseconds.
Clock = Callable[[], int]
#: ``log(level, message)``.
LogFn = Callable[["LogLevel", str], None]
#: ``rand(n) -> bytes``: n random bytes.
RandFn = Callable[[int], bytes]


def _system_rand(n: int) -> bytes:
    return os.urandom(n)


class Context(Live):
    """A ``sipflow_ctx``: every other object lives on one.

    :param clock: a callable returning the time in integer nanoseconds on a
        monotonic clock; every method's omitted ``now`` is read from it.
        Default :func:`time.monotonic_ns`. Tests pass a fake clock.
    :param log: ``log(level: LogLevel, message: str)``, or None to discard.
    :param log_level: lines less severe than this are not produced.
    :param log_rate_per_second: most lines about bad network input per
        second (0 = no limit).
    :param rand: ``rand(n) -> bytes`` for jitter and STUN transaction ids;
        default :func:`os.urandom`. None makes every draw zero (deterministic
        tests: first probes at once, waits exactly 80% of the interval).
    :param hash_key: 16 bytes keying the hash tables; default 16 bytes from
        :func:`os.urandom` (hosts facing the network need a secret key).

    One thread at a time may use a context and its objects.
    """

    clock: Clock
    log: Optional[LogFn]
    rand: Optional[RandFn]

    def __init__(
        self,
        *,
        clock: Optional[Clock] = None,
        log: Optional[LogFn] = None,
        log_level: Union[LogLevel, int] = LogLevel.WARN,
        log_rate_per_second: int = 10,
        rand: Optional[RandFn] = _system_rand,
        hash_key: Optional[bytes] = None,
    ) -> None:
        self._pending = []
        self._depth = 0
        self._ctx = None
        self.clock = clock if clock is not None else time.monotonic_ns
        self.log = log
        self.rand = rand
        cb = S.ctx_callbacks()
        cb.log = trampoline(S.log_cb, self, Context._on_log)
        if rand is not None:
            cb.rand = trampoline(S.rand_cb, self, Context._on_rand)
        settings = S.ctx_settings()
        C.sipflow_ctx_settings_default_versioned(S.CTX_SETTINGS_VERSION, settings)
        settings.log_level = int(LogLevel(log_level))
        settings.log_rate_per_second = log_rate_per_second
        key = os.urandom(16) if hash_key is None else bytes(hash_key)
        if len(key) != 16:
            raise ValueError("hash_key must be 16 bytes")
        ctypes.memmove(settings.hash_key, key, 16)
        ptr = c_void_p()
        check(
            C.sipflow_ctx_new_versioned(
                byref(ptr),
                S.CTX_CALLBACKS_VERSION,
                cb,
                S.CTX_SETTINGS_VERSION,
                settings,
                None,
                None,
            ),
            "sipflow_ctx_new",
        )
        self._own(ptr, C.sipflow_ctx_del, (cb.log, cb.rand))

    # -- callbacks ----------------------------------------------------------

    def _on_log(self, level: int, msg: bytes, _ud: Optional[int]) -> None:
        if self.log is not None:
            self.log(LogLevel(level), msg.decode("utf-8", "replace"))

    def _on_rand(self, dest: Any, n: int, _ud: Optional[int]) -> None:
        # The C callback must not fail: whatever happens, n bytes are
        # written (zeros if the Python callable raised or came up short).
        ctypes.memset(dest, 0, n)
        if self.rand is None:  # set to None after the context was made
            return
        data = bytes(self.rand(n))[:n]
        ctypes.memmove(dest, data, len(data))
        if len(data) != n:
            raise ValueError("rand(%d) returned %d bytes" % (n, len(data)))

    # -- the calls ----------------------------------------------------------

    def _invoke(self, fn: Callable[..., int], *args: Any) -> int:
        """Call a library function that may run callbacks on this context;
        once the outermost such call returns, re-raise what a callback
        raised."""
        self._depth += 1
        try:
            rv = fn(*args)
        finally:
            self._depth -= 1
        if self._depth == 0 and self._pending:
            self._reraise()
        return rv

    def _outside_callbacks(self, what: str) -> c_void_p:
        """Refuse a call the C API marks not callback-safe when it is made
        from inside a callback of this context."""
        if self._depth:
            raise RuntimeError("%s is not allowed inside a sipflow callback" % what)
        return self._p()

    def _reraise(self) -> None:
        pending, self._pending = self._pending, []
        first = pending[0]
        for other in pending[1:]:
            add_note: Optional[Callable[[str], None]] = getattr(first, "add_note", None)
            if add_note is not None:  # Python 3.11 and later
                add_note("also raised in a callback: %r" % (other,))
        raise first

    def now(self) -> int:
        """The current time from the context's clock, in nanoseconds."""
        return int(self.clock())

    def _now(self, now: Optional[int]) -> int:
        return self.now() if now is None else int(now)

    @property
    def expiry(self) -> Optional[int]:
        """The earliest deadline of every object on the context, in
        nanoseconds, or None when there is nothing to wait for."""
        t: int = C.sipflow_ctx_get_expiry(self._p())
        return None if t == S.TSTAMP_NONE else t

    def get_expiry(self) -> Optional[int]:
        """Same as :attr:`expiry` (the C name)."""
        return self.expiry

    def handle_expiry(self, now: Optional[int] = None) -> None:
        """Process everything due at or before ``now``; afterwards the expiry
        is later than ``now``. Callbacks of the objects run inside.

        :raises TimeBackwardsError: ``now`` is earlier than a time already
            seen. Also whatever a callback raised.
        """
        ptr = self._outside_callbacks("handle_expiry()")
        check(
            self._invoke(C.sipflow_ctx_handle_expiry, ptr, self._now(now)),
            "handle_expiry",
        )

    def ms_until_expiry(self, now: Optional[int] = None) -> Optional[int]:
        """Milliseconds from ``now`` to the expiry, rounded up (0 if it has
        passed), or None when there is no deadline."""
        t = self.expiry
        if t is None:
            return None
        return int(C.sipflow_ms_until(t, self._now(now)))

    def timeout(self, now: Optional[int] = None) -> Optional[float]:
        """Seconds (float) to wait before :meth:`handle_expiry`, or None:
        what asyncio's ``call_later`` or ``select`` want."""
        ms = self.ms_until_expiry(now)
        return None if ms is None else ms / 1000.0

    def close(self) -> None:
        """Delete the context after closing every object made on it."""
        super().close()
