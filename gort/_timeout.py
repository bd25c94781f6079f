"""The one rule for every ``timeout=`` and duration argument in gort.

    None, +inf, or anything beyond ``threading.TIMEOUT_MAX``  -> wait forever
    a number <= 0 (including -inf)                            -> do not wait
    NaN                                                        -> ValueError
    anything that is not a real number (or a bool)             -> TypeError

The check runs before anything is queued, so a bad timeout can never leave a
waiter behind.  ``timeout`` returns ``None`` for "forever" and a finite,
non-negative float otherwise; ``delay`` is the same rule for a timer's
duration (``after``, ``Timer``, ``with_timeout``, ...), where "forever" means the
timer never fires.
"""

from __future__ import annotations

import threading

# A finite wait longer than this is a wait forever: no platform can sleep that
# long in one call (``threading.TIMEOUT_MAX`` is about 292 years on Linux), and
# no monotonic clock reaches that far in this process's life.
FOREVER = float(threading.TIMEOUT_MAX)


def timeout(t: float | None, what: str = "timeout") -> float | None:
    """Validate a ``timeout=`` argument: None (forever) or a finite float >= 0."""
    if t is None:
        return None
    if isinstance(t, bool):
        raise TypeError(f"{what} must be a number or None, got bool")
    if isinstance(t, (str, bytes, bytearray)):
        raise TypeError(f"{what} must be a number or None, got {type(t).__name__}")
    if not isinstance(t, (int, float)):
        try:
            t = float(t)  # Decimal, Fraction, numpy scalars: anything real
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a number or None, got {type(t).__name__}") \
                from None
    if isinstance(t, int):
        if t >= FOREVER:
            return None  # float() of a huge int would overflow
        if t <= 0:
            return 0.0
    t = float(t)
    if t != t:
        raise ValueError(f"{what} must not be NaN")
    if t >= FOREVER:
        return None
    if t <= 0.0:
        return 0.0
    return t


delay = timeout
