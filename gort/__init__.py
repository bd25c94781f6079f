"""gort: Go's concurrency model for free-threaded Python.

Goroutines on a parallel pool of worker threads, channels with Go's semantics,
select, the sync primitives and atomics.  See README.md for a tour.
"""

from __future__ import annotations

from . import atomic as atomic
from ._chan import Chan as Chan
from ._chan import ChanStatistics as ChanStatistics
from ._chan import RecvChan as RecvChan
from ._chan import SendChan as SendChan
from ._errors import ChanClosed as ChanClosed
from ._runtime import ExceptHookArgs as ExceptHookArgs
from ._runtime import Goroutine as Goroutine
from ._runtime import GState as GState
from ._runtime import SchedStatistics as SchedStatistics
from ._runtime import current_goroutine as current_goroutine
from ._runtime import excepthook as excepthook
from ._runtime import free_threading as free_threading
from ._runtime import go as go
from ._runtime import gosched as gosched
from ._runtime import max_procs as max_procs
from ._runtime import sched_statistics as sched_statistics
from ._runtime import set_max_procs as set_max_procs
from ._select import RecvCase as RecvCase
from ._select import Selected as Selected
from ._select import SendCase as SendCase
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

__version__ = "0.1.0"

__all__ = (
    "Chan",
    "ChanClosed",
    "ChanStatistics",
    "Cond",
    "ExceptHookArgs",
    "GState",
    "Goroutine",
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
    "WaitGroup",
    "atomic",
    "current_goroutine",
    "excepthook",
    "free_threading",
    "go",
    "gosched",
    "max_procs",
    "sched_statistics",
    "select",
    "set_max_procs",
)
