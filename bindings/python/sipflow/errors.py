"""Exceptions carrying libsipflow's error codes.

Every failing call raises a :class:`SipflowError` (or a subclass) whose
``code`` is the library's negative code and whose ``name`` is what
``sipflow_err_name()`` gives ("SIPFLOW_ERR_NOT_FOUND"). Subclasses also
derive from the nearest built-in exception, so ``except LookupError`` or
``except ValueError`` work as a Python programmer expects.
"""

import typing
from typing import Dict, Optional, Type

from ._loader import C

if typing.TYPE_CHECKING:  # only for the annotations: no import cycle at run time
    from .stun import StunMessage
    from .token import TokenInfo

# The codes of common.h's SIPFLOW_ERRNO_MAP (the layout test checks them).
INVALID_ARGUMENT = -201
BUFFER_TOO_SMALL = -202
MALFORMED = -203
TOO_LARGE = -204
UNSUPPORTED = -205
NOT_FOUND = -206
EXISTS = -207
LIMIT = -208
TAMPERED = -209
STALE = -210
BAD_STATE = -211
TIME_BACKWARDS = -212
NOMEM = -501
CALLBACK_FAILURE = -502
INTERNAL = -503
FATAL = -500


class SipflowError(Exception):
    """A libsipflow call failed.

    :ivar code: the negative error code.
    :ivar name: its symbolic name, e.g. ``"SIPFLOW_ERR_STALE"``.
    :ivar message: ``sipflow_strerror(code)``.
    :ivar message_info: set by :func:`sipflow.stun.decode` only: the
        decoded message (or None), when it could decode one.
    """

    code: int
    name: str
    message: str
    message_info: Optional["StunMessage"]

    def __init__(self, code: int, context: Optional[str] = None) -> None:
        self.code = code
        self.name = err_name(code)
        self.message = strerror(code)
        text = "%s (%s)" % (self.message, self.name)
        if context:
            text = "%s: %s" % (context, text)
        super().__init__(text)

    @property
    def fatal(self) -> bool:
        """True for a code at or below SIPFLOW_ERR_FATAL (NOMEM,
        CALLBACK_FAILURE, INTERNAL): resource or programming trouble, not
        caused by the call's input, so other input would not avoid it. The
        object is left as it was before the call and stays usable, as after
        any failing call."""
        return bool(C.sipflow_err_is_fatal(self.code))


class InvalidArgumentError(SipflowError, ValueError):
    """SIPFLOW_ERR_INVALID_ARGUMENT."""


class BufferTooSmallError(SipflowError):
    """SIPFLOW_ERR_BUFFER_TOO_SMALL."""


class MalformedError(SipflowError, ValueError):
    """SIPFLOW_ERR_MALFORMED: bad input, typically from the network."""


class TooLargeError(SipflowError, ValueError):
    """SIPFLOW_ERR_TOO_LARGE."""


class UnsupportedError(SipflowError):
    """SIPFLOW_ERR_UNSUPPORTED."""


class NotFoundError(SipflowError, LookupError):
    """SIPFLOW_ERR_NOT_FOUND."""


class ExistsError(SipflowError):
    """SIPFLOW_ERR_EXISTS.

    :ivar flow_id: set by :meth:`sipflow.FlowTable.add` only: the flow
        that already has the tuple.
    """

    flow_id: int


class LimitError(SipflowError):
    """SIPFLOW_ERR_LIMIT: a configured limit was reached."""


class TamperedError(SipflowError):
    """SIPFLOW_ERR_TAMPERED: a token failed its MAC (answer 403)."""


class StaleError(SipflowError):
    """SIPFLOW_ERR_STALE: a token's flow or key is gone (answer 430).

    :ivar info: set by :meth:`sipflow.KeyRing.verify` only: the token's
        version and key id (its slot 0 and tuple None).
    """

    info: "TokenInfo"


class BadStateError(SipflowError):
    """SIPFLOW_ERR_BAD_STATE."""


class TimeBackwardsError(SipflowError, ValueError):
    """SIPFLOW_ERR_TIME_BACKWARDS: ``now`` went backwards."""


class NoMemoryError(SipflowError, MemoryError):
    """SIPFLOW_ERR_NOMEM."""


class CallbackFailureError(SipflowError):
    """SIPFLOW_ERR_CALLBACK_FAILURE."""


class InternalError(SipflowError):
    """SIPFLOW_ERR_INTERNAL."""


_BY_CODE: Dict[int, Type[SipflowError]] = {
    INVALID_ARGUMENT: InvalidArgumentError,
    BUFFER_TOO_SMALL: BufferTooSmallError,
    MALFORMED: MalformedError,
    TOO_LARGE: TooLargeError,
    UNSUPPORTED: UnsupportedError,
    NOT_FOUND: NotFoundError,
    EXISTS: ExistsError,
    LIMIT: LimitError,
    TAMPERED: TamperedError,
    STALE: StaleError,
    BAD_STATE: BadStateError,
    TIME_BACKWARDS: TimeBackwardsError,
    NOMEM: NoMemoryError,
    CALLBACK_FAILURE: CallbackFailureError,
    INTERNAL: InternalError,
}


def error_for(code: int, context: Optional[str] = None) -> SipflowError:
    """The exception (not raised) for a negative code."""
    return _BY_CODE.get(code, SipflowError)(code, context)


def check(rv: int, context: Optional[str] = None) -> int:
    """Raise the exception for ``rv`` if it is negative; return it otherwise."""
    if rv < 0:
        raise error_for(rv, context)
    return rv


def strerror(code: int) -> str:
    """``sipflow_strerror()``: the message for a code."""
    return _text(C.sipflow_strerror(code))


def err_name(code: int) -> str:
    """``sipflow_err_name()``: the symbolic name of a code."""
    return _text(C.sipflow_err_name(code))


def _text(raw: bytes) -> str:
    """A C string the library returned, as text."""
    return raw.decode()
