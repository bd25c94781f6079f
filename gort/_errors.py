"""gort's exception classes.  Each docstring says when it is raised."""

from __future__ import annotations


class ChanClosed(Exception):
    """Raised by an operation that a closed channel cannot perform.

    A send or close on a closed channel (``"send on closed channel"``,
    ``"close of closed channel"``), and a receive from a channel that is closed
    and drained (``"receive from closed channel"``).  ``recv_ok``, ``select``
    receive cases and ``for v in ch`` report a closed channel without raising.
    """
