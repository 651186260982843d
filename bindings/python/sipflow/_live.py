"""Live C objects and the callback trampolines.

A live object owns one pointer from a ``_new`` function and frees it with the
matching ``_del``, once: on :meth:`Live.close`, on ``with`` exit, or when it
is garbage-collected. Objects that others depend on (a context, a key ring, a
registrar) close their dependents first, so the C rule "delete the children
before the parent" holds whatever order Python frees things in: a child's
finalizer holds a strong reference to its parent, and a parent's close()
closes its children.

Callbacks: C calls Python through ctypes trampolines made by
:func:`trampoline`. An exception raised by the Python callable never
unwinds through C: the trampoline catches it, records it on the context,
and returns the failure value the C callback type allows. When the
outermost library call on that context returns, :meth:`Context._invoke`
re-raises the first recorded exception (later ones are attached as notes).
"""

import weakref
from ctypes import c_void_p
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Type, TypeVar

from .errors import check

if TYPE_CHECKING:
    from .context import Context

_L = TypeVar("_L", bound="Live")
_T = TypeVar("_T")


class Live:
    """Base of the objects that own a C pointer."""

    _ptr: Optional[c_void_p] = None
    _finalizer: Optional[weakref.finalize] = None
    _dependents: "weakref.WeakSet[Live]"
    #: The context the object lives on; None for a context itself and for
    #: objects outside any context (a framer).
    _ctx: Optional["Context"]
    #: Set by the objects that are their own context (see _context()).
    _depth: int
    _pending: List[BaseException]

    def _own(self, ptr: c_void_p, del_fn: Callable[[c_void_p], None],
             keep: Iterable[object] = ()) -> None:
        """Take ownership of ``ptr``; ``keep`` stays alive until it is freed
        (the parent objects and the callback trampolines)."""
        self._ptr = ptr
        self._dependents = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _free, del_fn, ptr, keep)

    def _context(self) -> "Live":
        ctx: Optional[Live] = getattr(self, "_ctx", None)
        return self if ctx is None else ctx

    def _depend_on(self, parent: "Live") -> None:
        parent._dependents.add(self)

    @property
    def closed(self) -> bool:
        return self._finalizer is None or not self._finalizer.alive

    def _p(self) -> c_void_p:
        ptr = self._ptr
        if self.closed or ptr is None:
            raise ValueError("%s is closed" % type(self).__name__)
        return ptr

    def close(self) -> None:
        """Free the C object (and first every object that depends on it).
        Closing twice does nothing. Not allowed from inside a callback."""
        if self.closed:
            return
        if self._context()._depth:
            raise RuntimeError("close() is not allowed inside a sipflow callback")
        for dep in list(self._dependents):
            dep.close()
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def _free(del_fn: Callable[[c_void_p], None], ptr: c_void_p,
          keep: Iterable[object]) -> None:
    del_fn(ptr)


def trampoline(
    cfunctype: Callable[[Callable[..., Any]], _T],
    owner: _L,
    fn: Callable[..., Any],
    failure: Optional[int] = None,
) -> _T:
    """A C callback of type ``cfunctype`` that calls ``fn(owner, *args)``.

    ``owner`` (a Live object) is held weakly, so the trampoline, which the
    owner's finalizer keeps alive, does not keep the owner alive. No
    exception reaches C: it is stored on the owner's context and ``failure``
    is returned to C instead."""
    owner_ref = weakref.ref(owner)

    def call(*args: Any) -> Any:
        obj = owner_ref()
        if obj is None:  # being collected: nothing to tell
            return failure
        try:
            return fn(obj, *args)
        except BaseException as exc:  # even KeyboardInterrupt: never into C
            obj._context()._pending.append(exc)
            return failure

    return cfunctype(call)


def owner_call(obj: Live, fn: Callable[..., int], *args: Any,
               context: Optional[str] = None) -> int:
    """Call ``fn(*args)`` through ``obj``'s context, re-raising callback
    exceptions, then raise for a negative return; returns the value."""
    ctx = obj._ctx
    if ctx is None:
        raise TypeError("%s lives on no context" % type(obj).__name__)
    return check(ctx._invoke(fn, *args), context)
