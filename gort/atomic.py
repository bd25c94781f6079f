"""Atomic values (Go's ``sync/atomic`` types).

Every operation is linearizable under free threading.  Each object owns one
``threading.Lock`` that guards its value for every read-modify-write
(``store``, ``swap``, ``compare_and_swap``, ``add``); ``load`` reads the field
without it, which is safe because replacing an attribute's reference is atomic
and each stored value is immutable (ints, bools) or compared by identity.

The integer types wrap on overflow exactly like Go's fixed-width integers.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

__all__ = ("Bool", "Int32", "Int64", "Uint32", "Uint64", "Value")

T = TypeVar("T")


class _Int:
    __slots__ = ("_lock", "_v")
    _BITS = 64
    _SIGNED = True

    def __init__(self, value: int = 0) -> None:
        self._lock = threading.Lock()
        self._v = self._wrap(value)

    @classmethod
    def _wrap(cls, v: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{cls.__name__} needs an int, got {type(v).__name__}")
        mask = (1 << cls._BITS) - 1
        v &= mask
        if cls._SIGNED and v >> (cls._BITS - 1):
            v -= 1 << cls._BITS
        return v

    def load(self) -> int:
        """The current value (Go's ``Load``)."""
        return self._v

    def store(self, value: int) -> None:
        """Set the value, wrapped to the type's width (Go's ``Store``)."""
        value = self._wrap(value)
        with self._lock:
            self._v = value

    def swap(self, value: int) -> int:
        """Set the value and return the old one (Go's ``Swap``)."""
        value = self._wrap(value)
        with self._lock:
            old = self._v
            self._v = value
        return old

    def compare_and_swap(self, old: int, new: int) -> bool:
        """Set the value to ``new`` if it equals ``old``; True if it did (Go's
        ``CompareAndSwap``)."""
        old = self._wrap(old)
        new = self._wrap(new)
        with self._lock:
            if self._v != old:
                return False
            self._v = new
            return True

    def add(self, delta: int) -> int:
        """Add ``delta`` (wrapping on overflow) and return the new value."""
        raise NotImplementedError  # replaced per width by _make_add

    @classmethod
    def _coerce(cls, delta: object) -> int:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"{cls.__name__}.add needs an int, got {type(delta).__name__}")
        return int(delta)

    def __repr__(self) -> str:
        return f"<atomic.{type(self).__name__} {self._v}>"


def _make_add(bits: int, signed: bool) -> Any:
    """``add`` for one width, with its bounds in closure cells (the hot path)."""
    mask = (1 << bits) - 1
    off = 1 << (bits - 1) if signed else 0
    lo, hi = -off, mask - off

    def add(self: _Int, delta: int) -> int:
        """Add ``delta`` (wrapping on overflow) and return the new value."""
        if type(delta) is not int:
            delta = self._coerce(delta)
        with self._lock:
            v = self._v + delta
            if v > hi or v < lo:
                v = ((v + off) & mask) - off
            self._v = v
        return v

    return add


class Int64(_Int):
    """An atomic ``int64``."""

    __slots__ = ()
    _BITS, _SIGNED = 64, True
    add = _make_add(64, True)


class Int32(_Int):
    """An atomic ``int32``."""

    __slots__ = ()
    _BITS, _SIGNED = 32, True
    add = _make_add(32, True)


class Uint64(_Int):
    """An atomic ``uint64``."""

    __slots__ = ()
    _BITS, _SIGNED = 64, False
    add = _make_add(64, False)


class Uint32(_Int):
    """An atomic ``uint32``."""

    __slots__ = ()
    _BITS, _SIGNED = 32, False
    add = _make_add(32, False)


class Bool:
    """An atomic ``bool``."""

    __slots__ = ("_lock", "_v")

    def __init__(self, value: bool = False) -> None:
        self._lock = threading.Lock()
        self._v = bool(value)

    def load(self) -> bool:
        """The current value (Go's ``Load``)."""
        return self._v

    def store(self, value: bool) -> None:
        """Set the value (Go's ``Store``)."""
        with self._lock:
            self._v = bool(value)

    def swap(self, value: bool) -> bool:
        """Set the value and return the old one (Go's ``Swap``)."""
        with self._lock:
            old = self._v
            self._v = bool(value)
        return old

    def compare_and_swap(self, old: bool, new: bool) -> bool:
        """Set the value to ``new`` if it equals ``old``; True if it did (Go's
        ``CompareAndSwap``)."""
        with self._lock:
            if self._v != bool(old):
                return False
            self._v = bool(new)
            return True

    def __repr__(self) -> str:
        return f"<atomic.Bool {self._v}>"


class Value(Generic[T]):
    """An atomic reference; ``compare_and_swap`` compares by identity (``is``)."""

    __slots__ = ("_lock", "_v")

    def __init__(self, value: T | None = None) -> None:
        self._lock = threading.Lock()
        self._v: Any = value

    def load(self) -> T | None:
        """The current value; None if none was ever stored (Go's ``Load``)."""
        return self._v  # type: ignore[no-any-return]

    def store(self, value: T) -> None:
        """Set the value (Go's ``Store``)."""
        with self._lock:
            self._v = value

    def swap(self, value: T) -> T | None:
        """Set the value and return the old one (Go's ``Swap``)."""
        with self._lock:
            old = self._v
            self._v = value
        return old  # type: ignore[no-any-return]

    def compare_and_swap(self, old: T | None, new: T) -> bool:
        """Set the value to ``new`` if the current one *is* ``old`` (identity, not
        ``==``); True if it did (Go's ``CompareAndSwap``)."""
        with self._lock:
            if self._v is not old:
                return False
            self._v = new
            return True

    def __repr__(self) -> str:
        return f"<atomic.Value {self._v!r}>"
