"""The netpoller: goroutines wait for a file descriptor to become readable or
writable without holding a processor (Go's ``netpoll.go`` and ``pollDesc``).

Each file descriptor that gort waits on has a ``PollDesc``: two wait queues
(readers, writers) of the parking layer, so a wait on a socket is one more
blocking operation with the same rules as a channel's: one body for every
world (a plain caller's thread sleeps with its P given away, a coroutine
goroutine is suspended and holds no thread, an asyncio task awaits a future),
timeouts and interruptions leave no waiter behind, and a wake-up is never lost.

The poller is one daemon thread, started with the first descriptor, asleep in
``epoll_wait`` (Linux).  Descriptors are registered once, edge-triggered for
both directions (Go's design): no system call per wait.  An edge that finds no
waiter sets the direction's *ready* flag, which the next waiter consumes
instead of parking, so an edge between a failed ``recv`` (EAGAIN) and the
waiter's queuing is not lost.  ``wait_readable``/``wait_writable`` are
level-triggered for their callers (like ``select``): they ask the kernel (a
zero-timeout ``poll``) before parking and ignore the flags, so a descriptor
that is readable never waits for an edge that has passed, and one whose data
was consumed does not return on a stale edge.  Where epoll is
missing, a portable backend (``selectors``, level-triggered) keeps each
descriptor's interest to the directions that have waiters; only the poller
thread touches it, so changes are sent to it through a queue and a self-pipe.

Locks and invariants (there is no GIL on 3.13t):

    PollDesc.lock  guards rq, wq, rready, wready, closed.  Readiness (the
                   poller), close, cancellation and every waiter take it; it
                   is never held while waking a waiter or calling out.
    _reg_lock      guards _pds (fd -> PollDesc) and the start of the poller.

    * a waiter is queued only while ``closed`` is False; ``close`` wakes every
      queued waiter with ``ClosedError`` (in ``w.elem``);
    * ``rready`` is set only while ``rq`` has no live waiter (an edge nobody
      took); the next reader consumes it instead of parking;
    * a waiter's outcome is in ``w.elem``: None when the descriptor became
      ready, else the exception to raise (closed, cancelled).
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import threading
import time
import types
from collections.abc import Awaitable, Callable, Generator
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from . import _context, _runtime
from ._ki import protect
from ._waitq import Waiter, WaitQueue, checked, enqueue, park, run


class ClosedError(ConnectionError):
    """The descriptor was closed while (or before) an operation waited on it
    (Go's ``net.ErrClosed``: "use of closed network connection")."""


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


FileLike = int | _HasFileno
"""A file descriptor, or an object with ``fileno()`` (a socket)."""


def _fileno(f: FileLike) -> int:
    if isinstance(f, bool):
        raise TypeError("a file descriptor must be an int or have fileno(), got bool")
    if isinstance(f, int):
        fd = f
    else:
        try:
            fileno = f.fileno
        except AttributeError:
            raise TypeError(f"a file descriptor must be an int or have fileno(), "
                            f"got {type(f).__name__}") from None
        fd = fileno()
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd} (closed?)")
    return fd


class PollDesc:
    """The poller's state for one file descriptor (Go's ``pollDesc``)."""

    __slots__ = ("fd", "lock", "rq", "wq", "rready", "wready", "closed", "interest")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.rq = WaitQueue(self.lock, io=True)
        self.wq = WaitQueue(self.lock, io=True)
        self.rready = False
        self.wready = False
        self.closed = False
        self.interest = 0  # the portable backend's current interest (poller thread only)

    def notify(self, readable: bool, writable: bool) -> None:
        """An edge (from the poller): wake the waiters of each ready direction,
        or leave the direction's ready flag for the next waiter."""
        woken: list[Waiter] = []
        with self.lock:
            if readable:
                ws = self.rq.take_all()
                if ws:
                    woken += ws
                else:
                    self.rready = True
            if writable:
                ws = self.wq.take_all()
                if ws:
                    woken += ws
                else:
                    self.wready = True
            for w in woken:
                w.ok = True  # done: a cancellation arriving now finds it so
                w.elem = None
        _wake_all(woken)

    def close(self) -> None:
        """Close the descriptor's waits: every waiter (and every later one)
        raises ``ClosedError``.  The descriptor itself is the caller's to close."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            woken = self.rq.take_all() + self.wq.take_all()
            for w in woken:
                w.ok = True
                w.elem = ClosedError("use of closed file descriptor")
        _wake_all(woken)
        _backend.forget(self)

    def _cancel(self, w: Waiter, q: WaitQueue, ctx: _context.Context) -> None:
        """The context of ``w``'s wait is done: wake it with the context's error
        (before it is queued: leave the error for it to find)."""
        with self.lock:
            if w.ok:
                return  # it was woken by readiness or close first
            w.ok = True
            err = ctx.err()
            w.elem = err if err is not None else _context.Canceled()
            if not q.discard(w):
                return  # not queued yet: the waiter finds w.elem before queuing
        w.wake()

    @types.coroutine
    def wait(self, write: bool, timeout: float | None, ctx: _context.Context | None,
             sync: bool, level: bool) -> Generator[Any, Any]:
        """The one body of a wait for readiness, in every world.  Returns once
        the direction is ready; raises ``TimeoutError``, ``ClosedError``, or the
        context's error.  ``level``: ask the kernel first (``wait_readable``)."""
        if timeout is not None:
            timeout = checked(timeout)
        w = Waiter()
        q = self.wq if write else self.rq
        stop = None
        if ctx is not None:
            err = ctx.err()
            if err is not None:
                raise err
            stop = _context.context_after_func(ctx, lambda: self._cancel(w, q, ctx))
        try:
            lock = self.lock
            lock.acquire()
            queued = False
            try:
                if self.closed:
                    raise ClosedError("use of closed file descriptor")
                if w.ok:  # cancelled before it was queued
                    raise w.elem
                if level:  # the kernel's answer, not an edge that may be stale
                    ready = _ready_now(self.fd, write)
                elif write:
                    ready, self.wready = self.wready, False
                else:
                    ready, self.rready = self.rready, False
                if ready:
                    lock.release()
                    return
                if timeout == 0.0:
                    raise TimeoutError("wait for " + ("writable" if write else "readable")
                                       + " timed out")
                w.q = q
                req = enqueue(sync, w, (lock,), timeout,
                              "IO wait write" if write else "IO wait read")
                queued = True
                _backend.want(self)
            except BaseException:
                if queued:
                    q.discard(w)
                else:
                    w.q = None
                lock.release()
                raise
            if req is not None:
                yield req
            elif not (yield from park(sync, w, (lock,), timeout, _abort, w,
                                      "IO wait write" if write else "IO wait read")):
                raise TimeoutError("wait for " + ("writable" if write else "readable")
                                   + " timed out")
            if w.elem is not None:
                raise w.elem
        finally:
            if stop is not None:
                stop()


def _wake_all(woken: list[Waiter]) -> None:
    """Wake every dequeued waiter, whatever one wake raises (a waiter taken off
    its queue and not woken would hang)."""
    for w in woken:
        try:
            w.wake()
        except BaseException as e:  # pragma: no cover - a wake does not raise
            _runtime._internal_error("a netpoller wake-up", e)


def _abort(w: Waiter) -> bool:
    """The abort of a poll waiter (timeout, interruption): take it out under its
    descriptor's lock; False if readiness, close or cancellation took it first."""
    q = w.q
    if q is None:
        return False
    with q.lock:
        if q.discard(w):
            w.ok = True  # a cancellation arriving now finds it done
            return True
        return False


def _ready_now(fd: int, write: bool) -> bool:
    """Is fd readable (writable) right now?  A zero-timeout poll."""
    p = select.poll()
    p.register(fd, select.POLLOUT if write else select.POLLIN | select.POLLPRI)
    try:
        return bool(p.poll(0))
    except OSError:
        return True  # let the caller's own call report the error


# --------------------------------------------------------------------------- backends

_reg_lock = threading.Lock()
_pds: dict[int, PollDesc] = {}
_poller: threading.Thread | None = None


def _start_poller(loop: Callable[[], None]) -> None:
    """Start the poller thread once (with _reg_lock held)."""
    global _poller
    if _poller is None:
        t = threading.Thread(target=loop, name="gort-netpoll", daemon=True)
        t.start()
        _poller = t


def _poll_forever(poll_once: Callable[[], None]) -> None:
    """The poller thread's loop: it never dies."""
    while True:
        try:
            poll_once()
        except BaseException as e:  # pragma: no cover - a bug in gort: keep polling
            _runtime._internal_error("the netpoller", e)
            time.sleep(0.01)


class _Epoll:
    """Linux: one epoll instance, every descriptor registered once, edge-triggered."""

    MASK = (select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
            if hasattr(select, "EPOLLIN") else 0)
    READ = (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
            | select.EPOLLPRI if hasattr(select, "EPOLLIN") else 0)
    WRITE = (select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
             if hasattr(select, "EPOLLIN") else 0)

    def __init__(self) -> None:
        self.ep = select.epoll()

    def attach(self, fd: int, fresh: bool) -> PollDesc:
        """The PollDesc of fd, registered.  ``fresh``: a new file (gort.net's own
        sockets); else it is checked with the kernel, since the caller's file
        may have been closed and its number reused behind gort's back.  A new
        PollDesc is in ``_pds`` before its fd is registered: the poller may
        report the fd's first edge at once."""
        with _reg_lock:
            _start_poller(self.loop)
            old = _pds.get(fd)
            if old is not None and not old.closed and not fresh:
                try:
                    self.ep.modify(fd, self.MASK)  # still the file old registered?
                    return old  # (a modify re-reports the current state: harmless)
                except FileNotFoundError:
                    pass  # a new file under the old number
            pd = _pds[fd] = PollDesc(fd)
            try:
                self.ep.register(fd, self.MASK)
            except FileExistsError:
                self.ep.modify(fd, self.MASK)
            except BaseException:
                del _pds[fd]
                raise
        if old is not None:
            old.close()  # its file is gone: its waiters must not hang
        return pd

    def adopt(self, pd: PollDesc) -> None:
        """Register an existing PollDesc (after a fork)."""
        with _reg_lock:
            _start_poller(self.loop)
            _pds[pd.fd] = pd
            try:
                self.ep.register(pd.fd, self.MASK)
            except FileExistsError:  # pragma: no cover - a new epoll has none
                self.ep.modify(pd.fd, self.MASK)

    def want(self, pd: PollDesc) -> None:
        """A waiter was queued (nothing to do: edges are always reported)."""

    def forget(self, pd: PollDesc) -> None:
        with _reg_lock:
            if _pds.get(pd.fd) is pd:
                del _pds[pd.fd]
                try:
                    self.ep.unregister(pd.fd)
                except OSError:
                    pass  # already closed: the kernel dropped it

    def loop(self) -> None:
        _poll_forever(self.poll_once)

    def poll_once(self) -> None:
        try:
            events = self.ep.poll(-1)
        except InterruptedError:  # pragma: no cover - retried by the loop
            return
        READ, WRITE = self.READ, self.WRITE
        for fd, ev in events:
            pd = _pds.get(fd)
            if pd is not None:
                try:
                    pd.notify(bool(ev & READ), bool(ev & WRITE))
                except BaseException as e:  # pragma: no cover - edges come once: go on
                    _runtime._internal_error("the netpoller", e)


class _Selector:
    """The portable backend: a level-triggered ``selectors`` selector owned by
    the poller thread; interest follows the queued waiters."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.changes: SimpleQueue[PollDesc] = SimpleQueue()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)

    def attach(self, fd: int, fresh: bool) -> PollDesc:
        """The PollDesc of fd (a closed and reused number cannot be told apart
        here, except for gort.net's own sockets: ``fresh``)."""
        with _reg_lock:
            _start_poller(self.loop)
            old = _pds.get(fd)
            if old is not None and not old.closed and not fresh:
                return old
            pd = _pds[fd] = PollDesc(fd)
        if old is not None:
            old.close()
        return pd

    def adopt(self, pd: PollDesc) -> None:
        """Take over an existing PollDesc (after a fork)."""
        with _reg_lock:
            _start_poller(self.loop)
            _pds[pd.fd] = pd

    def want(self, pd: PollDesc) -> None:
        self.changes.put(pd)
        try:
            self.wake_w.send(b"\0")
        except BlockingIOError:
            pass  # the poller has wake-ups pending already

    def forget(self, pd: PollDesc) -> None:
        with _reg_lock:
            if _pds.get(pd.fd) is pd:
                del _pds[pd.fd]
        self.want(pd)

    def loop(self) -> None:
        _poll_forever(self.poll_once)

    def _update(self, pd: PollDesc) -> None:
        with pd.lock:
            want = 0 if pd.closed else ((selectors.EVENT_READ if pd.rq.live() else 0)
                                        | (selectors.EVENT_WRITE if pd.wq.live() else 0))
        if want == pd.interest:
            return
        try:
            if pd.interest == 0:
                self.sel.register(pd.fd, want, pd)
            elif want == 0:
                self.sel.unregister(pd.fd)
            else:
                self.sel.modify(pd.fd, want, pd)
            pd.interest = want
        except (KeyError, ValueError, OSError):
            # A closed or reused descriptor: drop what the selector knew of it.
            try:
                self.sel.unregister(pd.fd)
            except (KeyError, ValueError, OSError):
                pass
            pd.interest = 0
            if want:
                pd.notify(True, True)  # let the waiters' own calls report it

    def poll_once(self) -> None:
        while True:
            try:
                self._update(self.changes.get_nowait())
            except Empty:
                break
        for key, ev in self.sel.select(None):
            if key.data is None:
                try:
                    while self.wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            pd = key.data
            pd.notify(bool(ev & selectors.EVENT_READ), bool(ev & selectors.EVENT_WRITE))
            self._update(pd)  # level-triggered: no interest without waiters


def _new_backend() -> _Epoll | _Selector:
    if hasattr(select, "epoll") and os.environ.get("GORT_NETPOLL", "") != "selectors":
        return _Epoll()
    return _Selector()


_backend = _new_backend()


def poll_desc(f: FileLike, fresh: bool = False) -> PollDesc:
    """The PollDesc of a descriptor, registered with the poller (made on first
    use; ``fresh`` for a descriptor gort just created)."""
    return _backend.attach(_fileno(f), fresh)


def _reset_after_fork() -> None:
    """A forked child has no poller thread and shares the parent's epoll
    instance: it makes its own, and registers again the descriptors it inherited
    (a pre-fork server's listener), each with a fresh lock and no waiters (the
    parent's waiting threads do not exist here)."""
    global _reg_lock, _pds, _poller, _backend
    inherited = [pd for pd in _pds.values() if not pd.closed]
    _reg_lock = threading.Lock()
    _pds = {}
    _poller = None
    _backend = _new_backend()
    for pd in inherited:
        pd.lock = threading.Lock()
        pd.rq = WaitQueue(pd.lock, io=True)
        pd.wq = WaitQueue(pd.lock, io=True)
        pd.rready = pd.wready = True  # a waiter retries its call once first
        pd.interest = 0
        try:
            _backend.adopt(pd)
        except OSError:
            pd.closed = True  # its descriptor is gone: waits raise ClosedError


_runtime._at_fork_child_hooks.append(_reset_after_fork)


# --------------------------------------------------------------------------- public waits

def wait_readable(f: FileLike, timeout: float | None = None,
                  ctx: _context.Context | None = None) -> None:
    """Block until ``f`` (a socket, or a file descriptor) is readable.

    Level-triggered, like ``select``: returns at once if it is readable now.  A
    plain goroutine gives its processor away while it waits; a coroutine
    goroutine uses ``await gort.await_readable(f)``.  Raises ``TimeoutError``
    when ``timeout`` passes first, ``ClosedError`` if the descriptor is closed
    through gort meanwhile (``gort.net``), and ``ctx``'s error once it is done.
    """
    if not _ready_first(f, False, ctx):
        run(poll_desc(f).wait(False, timeout, ctx, True, True))


def wait_writable(f: FileLike, timeout: float | None = None,
                  ctx: _context.Context | None = None) -> None:
    """Block until ``f`` is writable; see ``wait_readable``."""
    if not _ready_first(f, True, ctx):
        run(poll_desc(f).wait(True, timeout, ctx, True, True))


def _ready_first(f: FileLike, write: bool, ctx: _context.Context | None) -> bool:
    """The level check before anything is registered: ready now (and ctx not
    done)?  Also what makes a regular file (which epoll refuses) always ready."""
    return (ctx is None or ctx.err() is None) and _ready_now(_fileno(f), write)


def await_readable(f: FileLike, timeout: float | None = None,
                   ctx: _context.Context | None = None) -> Awaitable[None]:
    """Coroutine form of ``wait_readable``: ``await gort.await_readable(sock)``
    (in a coroutine goroutine it holds no thread while it waits)."""
    return poll_desc(f).wait(False, timeout, ctx, False, True)


def await_writable(f: FileLike, timeout: float | None = None,
                   ctx: _context.Context | None = None) -> Awaitable[None]:
    """Coroutine form of ``wait_writable``."""
    return poll_desc(f).wait(True, timeout, ctx, False, True)


def _eagain(e: OSError) -> bool:
    return e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)


for _fn in (PollDesc.notify, PollDesc.close, PollDesc._cancel, PollDesc.wait, _abort,
            wait_readable, wait_writable):
    protect(_fn)
