"""gort: Go's concurrency model for free-threaded Python.

Goroutines on a parallel pool of worker threads (plain functions, and M:N
``async def`` coroutines), channels with Go's semantics, select, the sync
primitives and atomics, context cancellation, timers, errgroup, the patterns
of the Go concurrency overview, and Go's diagnostics.  See README.md.

A tour of the API
-----------------

.. include:: ../README.md
   :start-after: ## A tour of the API
   :end-before: ## The benchmark suite
"""

from __future__ import annotations

from . import atomic as atomic
from . import net as net
from . import patterns as patterns
from . import synctest as synctest
from ._chan import Chan as Chan
from ._chan import ChanStatistics as ChanStatistics
from ._chan import RecvChan as RecvChan
from ._chan import SendChan as SendChan
from ._context import Canceled as Canceled
from ._context import Context as Context
from ._context import DeadlineExceeded as DeadlineExceeded
from ._context import background as background
from ._context import cause as cause
from ._context import context_after_func as context_after_func
from ._context import todo as todo
from ._context import with_cancel as with_cancel
from ._context import with_cancel_cause as with_cancel_cause
from ._context import with_deadline as with_deadline
from ._context import with_deadline_cause as with_deadline_cause
from ._context import with_timeout as with_timeout
from ._context import with_timeout_cause as with_timeout_cause
from ._context import with_value as with_value
from ._context import without_cancel as without_cancel
from ._deadlock import Deadlock as Deadlock
from ._diag import dump as dump
from ._diag import install_dump_signal as install_dump_signal
from ._diag import num_goroutine as num_goroutine
from ._errgroup import ErrGroup as ErrGroup
from ._errors import ChanClosed as ChanClosed
from ._goroutine import ExceptHookArgs as ExceptHookArgs
from ._goroutine import Goroutine as Goroutine
from ._goroutine import current_goroutine as current_goroutine
from ._goroutine import excepthook as excepthook
from ._goroutine import go as go
from ._goroutine import to_thread as to_thread
from ._netpoll import await_readable as await_readable
from ._netpoll import await_writable as await_writable
from ._netpoll import wait_readable as wait_readable
from ._netpoll import wait_writable as wait_writable
from ._once import once_func as once_func
from ._once import once_value as once_value
from ._once import once_values as once_values
from ._runtime import GState as GState
from ._runtime import SchedStatistics as SchedStatistics
from ._runtime import blocking as blocking
from ._runtime import free_threading as free_threading
from ._runtime import gosched as gosched
from ._runtime import max_procs as max_procs
from ._runtime import sched_statistics as sched_statistics
from ._runtime import set_max_procs as set_max_procs
from ._select import RecvCase as RecvCase
from ._select import Selected as Selected
from ._select import SendCase as SendCase
from ._select import aselect as aselect
from ._select import select as select
from ._sync import Cond as Cond
from ._sync import Mutex as Mutex
from ._sync import MutexStatistics as MutexStatistics
from ._sync import Once as Once
from ._sync import RWMutex as RWMutex
from ._sync import RWMutexStatistics as RWMutexStatistics
from ._sync import Semaphore as Semaphore
from ._sync import SemaphoreStatistics as SemaphoreStatistics
from ._sync import WaitGroup as WaitGroup
from ._syncmap import Map as Map
from ._time import Ticker as Ticker
from ._time import Timer as Timer
from ._time import after as after
from ._time import after_func as after_func
from ._time import asleep as asleep
from ._time import sleep as sleep
from ._time import tick as tick

__version__ = "0.1.0"

__all__ = (
    "Canceled",
    "Chan",
    "ChanClosed",
    "ChanStatistics",
    "Cond",
    "Context",
    "Deadlock",
    "DeadlineExceeded",
    "ErrGroup",
    "ExceptHookArgs",
    "GState",
    "Goroutine",
    "Map",
    "Mutex",
    "MutexStatistics",
    "Once",
    "RWMutex",
    "RWMutexStatistics",
    "RecvCase",
    "RecvChan",
    "SchedStatistics",
    "Selected",
    "SendCase",
    "SendChan",
    "Semaphore",
    "SemaphoreStatistics",
    "Ticker",
    "Timer",
    "WaitGroup",
    "after",
    "after_func",
    "aselect",
    "asleep",
    "atomic",
    "await_readable",
    "await_writable",
    "background",
    "blocking",
    "cause",
    "context_after_func",
    "current_goroutine",
    "dump",
    "excepthook",
    "free_threading",
    "go",
    "gosched",
    "install_dump_signal",
    "max_procs",
    "net",
    "num_goroutine",
    "once_func",
    "once_value",
    "once_values",
    "patterns",
    "sched_statistics",
    "select",
    "set_max_procs",
    "sleep",
    "synctest",
    "tick",
    "to_thread",
    "todo",
    "wait_readable",
    "wait_writable",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_deadline_cause",
    "with_timeout",
    "with_timeout_cause",
    "with_value",
    "without_cancel",
)


def _claim_public_exceptions() -> None:
    """gort's exceptions say they live in ``gort``, so tracebacks and reprs show
    ``gort.ChanClosed``, not the private module that defines it (Trio's
    ``fixup_module_metadata``); pickle finds them there too.

    Other classes and the functions keep their defining module: pdoc,
    ``typing.get_type_hints`` and ``inspect.getsource`` find their annotations
    and source through ``__module__`` (set to ``gort``, pdoc could not resolve
    61 of the API's annotations), and pdoc documents them under ``gort`` anyway,
    through ``__all__``."""
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if (isinstance(obj, type) and issubclass(obj, BaseException)
                and obj.__qualname__ == name and obj.__module__.startswith("gort._")):
            obj.__module__ = "gort"


_claim_public_exceptions()
del _claim_public_exceptions
