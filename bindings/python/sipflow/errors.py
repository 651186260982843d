"""Exceptions carrying libsipflow's error codes.

Every failing call raises a :class:`SipflowError` (or a subclass) whose
``code`` is the library's negative code and whose ``name`` is what
``sipflow_err_name()`` gives ("SIPFLOW_ERR_NOT_FOUND"). Subclasses also
derive from the nearest built-in exception, so ``except LookupError`` or
``except ValueError`` work as a Python programmer expects.
"""

from ._loader import C

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
    """

    def __init__(self, code, context=None):
        self.code = code
        self.name = C.sipflow_err_name(code).decode()
        self.message = C.sipflow_strerror(code).decode()
        text = "%s (%s)" % (self.message, self.name)
        if context:
            text = "%s: %s" % (context, text)
        super().__init__(text)

    @property
    def fatal(self):
        """True when the object that failed may only be closed."""
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
    """SIPFLOW_ERR_EXISTS."""


class LimitError(SipflowError):
    """SIPFLOW_ERR_LIMIT: a configured limit was reached."""


class TamperedError(SipflowError):
    """SIPFLOW_ERR_TAMPERED: a token failed its MAC (answer 403)."""


class StaleError(SipflowError):
    """SIPFLOW_ERR_STALE: a token's flow or key is gone (answer 430)."""


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


_BY_CODE = {
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


def error_for(code, context=None):
    """The exception (not raised) for a negative code."""
    return _BY_CODE.get(code, SipflowError)(code, context)


def check(rv, context=None):
    """Raise the exception for ``rv`` if it is negative; return it otherwise."""
    if rv < 0:
        raise error_for(rv, context)
    return rv


def strerror(code):
    """``sipflow_strerror()``: the message for a code."""
    return C.sipflow_strerror(code).decode()


def err_name(code):
    """``sipflow_err_name()``: the symbolic name of a code."""
    return C.sipflow_err_name(code).decode()
