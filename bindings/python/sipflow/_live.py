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

from .errors import check


class Live:
    """Base of the objects that own a C pointer."""

    _ptr = None
    _finalizer = None

    def _own(self, ptr, del_fn, keep=()):
        """Take ownership of ``ptr``; ``keep`` stays alive until it is freed
        (the parent objects and the callback trampolines)."""
        self._ptr = ptr
        self._dependents = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _free, del_fn, ptr, keep)

    def _context(self):
        ctx = getattr(self, "_ctx", None)
        return self if ctx is None else ctx

    def _depend_on(self, parent):
        parent._dependents.add(self)

    @property
    def closed(self):
        return self._finalizer is None or not self._finalizer.alive

    def _p(self):
        if self.closed:
            raise ValueError("%s is closed" % type(self).__name__)
        return self._ptr

    def close(self):
        """Free the C object (and first every object that depends on it).
        Closing twice does nothing. Not allowed from inside a callback."""
        if self.closed:
            return
        if self._context()._depth:
            raise RuntimeError("close() is not allowed inside a sipflow callback")
        for dep in list(self._dependents):
            dep.close()
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _free(del_fn, ptr, keep):
    del_fn(ptr)


def trampoline(cfunctype, owner, fn, failure=None):
    """A C callback of type ``cfunctype`` that calls ``fn(owner, *args)``.

    ``owner`` (a Live object) is held weakly, so the trampoline, which the
    owner's finalizer keeps alive, does not keep the owner alive. No
    exception reaches C: it is stored on the owner's context and ``failure``
    is returned to C instead."""
    owner_ref = weakref.ref(owner)

    def call(*args):
        obj = owner_ref()
        if obj is None:  # being collected: nothing to tell
            return failure
        try:
            return fn(obj, *args)
        except BaseException as exc:  # even KeyboardInterrupt: never into C
            obj._context()._pending.append(exc)
            return failure

    return cfunctype(call)


def owner_call(obj, fn, *args, context=None):
    """Call ``fn(*args)`` through ``obj``'s context, re-raising callback
    exceptions, then raise for a negative return; returns the value."""
    return check(obj._ctx._invoke(fn, *args), context)
