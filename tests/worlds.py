"""One test body, every world it applies to.

A *world* is where a blocking gort operation runs:

* ``goroutine``: a plain goroutine (``gort.go(fn)``) calling the blocking forms
  (``ch.recv()``, ``mu.lock()``, ``wg.wait()``);
* ``coroutine``: a coroutine goroutine (``gort.go(async_fn)``) awaiting the
  coroutine forms (``await ch.arecv()``, ``await mu.alock()``, ``await wg.await_()``);
* ``asyncio``: an ordinary asyncio task on an event loop (one loop per test, on
  its own thread) awaiting the same coroutine forms;
* ``thread``: a foreign ``threading.Thread`` calling the blocking forms.

Like CPython's ``test_queue`` mixin run against both queue implementations, a
test body is written once, as an ``async def`` over a ``World``: ``await
w.recv(ch)``, ``async with w.locked(mu):``, ``async for v in w.iter(ch):``.
In the coroutine and asyncio worlds those await the real coroutine forms; in
the goroutine and thread worlds they call the real blocking forms and never
suspend, so ``drive`` runs the body to its end with one ``send(None)``.  Each
world's semantics are the real ones: nothing in a blocking world is awaited,
nothing in an awaiting world blocks.

``w.go(body, *args)`` starts a body in the world and returns a handle whose
``result(timeout)`` joins it (re-raising its exception) and fails the test if it
does not finish in time; the test itself orders bodies by the runtime's state
(``wait_recv_waiting``, lock statistics), never by sleeping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import pytest

import gort
from gort import Cond, RWMutex, Semaphore, WaitGroup

JOIN = 10.0
WORLDS = ("goroutine", "coroutine", "asyncio", "thread")
AWAITING = frozenset({"coroutine", "asyncio"})  # the worlds that await coroutine forms

Body = Callable[..., Coroutine[Any, Any, Any]]


class Handle(Protocol):
    def result(self, timeout: float | None = JOIN) -> Any: ...
    def done(self) -> bool: ...


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a body of a blocking world: it never suspends, so one step finishes it."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    coro.close()
    raise AssertionError("a body in a blocking world suspended: it awaited a coroutine form")


class _ThreadHandle:
    """A body on a thread of its own, run by ``runner`` (``drive``, or ``asyncio.run``)."""

    def __init__(self, coro: Coroutine[Any, Any, Any],
                 runner: Callable[[Coroutine[Any, Any, Any]], Any] = drive) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(coro, runner), daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, Any],
             runner: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        try:
            self._value = runner(coro)
        except BaseException as e:
            self._error = e

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float | None = JOIN) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"a thread-world body did not finish within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value


class _TaskHandle:
    def __init__(self, fut: concurrent.futures.Future[Any]) -> None:
        self._fut = fut

    def done(self) -> bool:
        return self._fut.done()

    def result(self, timeout: float | None = JOIN) -> Any:
        done, _ = concurrent.futures.wait([self._fut], timeout)
        if not done:
            pytest.fail(f"an asyncio task did not finish within {timeout}s")
        return self._fut.result()


class World:
    """Start bodies in one world and run blocking operations in its style."""

    name: str

    def __repr__(self) -> str:
        return f"<World {self.name}>"

    @property
    def awaits(self) -> bool:
        """Whether bodies here await the coroutine forms (else they block)."""
        return self.name in AWAITING

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        """Start ``body(*args, **kwargs)`` in this world."""
        raise NotImplementedError

    def run(self, body: Body, *args: Any, **kwargs: Any) -> Any:
        """Run one body in this world and return its result (joined within JOIN)."""
        return self.go(body, *args, **kwargs).result(JOIN)

    def close(self) -> None:
        pass

    # The operations, in this world's style (blocking call or await).  A body
    # awaits each of them whatever the world: ``await w.recv(ch)``.

    async def send(self, ch: Any, v: Any, timeout: float | None = None) -> None:
        raise NotImplementedError

    async def recv(self, ch: Any, timeout: float | None = None) -> Any:
        raise NotImplementedError

    async def recv_ok(self, ch: Any, timeout: float | None = None) -> tuple[Any, bool]:
        raise NotImplementedError

    def iter(self, ch: Any) -> AsyncIterator[Any]:
        """``async for v in w.iter(ch)``: ``for v in ch`` or ``async for v in ch``."""
        raise NotImplementedError

    async def select(self, *cases: Any, **kw: Any) -> Any:
        raise NotImplementedError

    async def lock(self, mu: Any) -> None:
        """Mutex, RWMutex or RLocker: ``lock()`` or ``await alock()``."""
        raise NotImplementedError

    async def rlock(self, rw: RWMutex) -> None:
        raise NotImplementedError

    def locked(self, mu: Any) -> AbstractAsyncContextManager[Any]:
        """``async with w.locked(mu)``: ``with mu`` or ``async with mu``."""
        raise NotImplementedError

    async def wait(self, wg: WaitGroup, timeout: float | None = None) -> bool:
        raise NotImplementedError

    async def acquire(self, sem: Semaphore, n: int = 1, timeout: float | None = None) -> bool:
        raise NotImplementedError

    async def cond_wait(self, cond: Cond, timeout: float | None = None) -> bool:
        raise NotImplementedError

    async def sleep(self, d: float) -> None:
        raise NotImplementedError


class _Blocking(World):
    """The goroutine and thread worlds: the blocking forms."""

    async def send(self, ch: Any, v: Any, timeout: float | None = None) -> None:
        ch.send(v, timeout=timeout)

    async def recv(self, ch: Any, timeout: float | None = None) -> Any:
        return ch.recv(timeout=timeout)

    async def recv_ok(self, ch: Any, timeout: float | None = None) -> tuple[Any, bool]:
        return ch.recv_ok(timeout=timeout)  # type: ignore[no-any-return]

    def iter(self, ch: Any) -> AsyncIterator[Any]:
        async def each() -> AsyncIterator[Any]:
            for v in ch:
                yield v

        return each()

    async def select(self, *cases: Any, **kw: Any) -> Any:
        return gort.select(*cases, **kw)

    async def lock(self, mu: Any) -> None:
        mu.lock()

    async def rlock(self, rw: RWMutex) -> None:
        rw.rlock()

    def locked(self, mu: Any) -> AbstractAsyncContextManager[Any]:
        @asynccontextmanager
        async def held() -> AsyncIterator[None]:
            with mu:
                yield

        return held()

    async def wait(self, wg: WaitGroup, timeout: float | None = None) -> bool:
        return wg.wait(timeout)

    async def acquire(self, sem: Semaphore, n: int = 1, timeout: float | None = None) -> bool:
        return sem.acquire(n, timeout)

    async def cond_wait(self, cond: Cond, timeout: float | None = None) -> bool:
        return cond.wait(timeout)

    async def sleep(self, d: float) -> None:
        gort.sleep(d)


class _Awaiting(World):
    """The coroutine and asyncio worlds: the coroutine forms."""

    async def send(self, ch: Any, v: Any, timeout: float | None = None) -> None:
        await ch.asend(v, timeout=timeout)

    async def recv(self, ch: Any, timeout: float | None = None) -> Any:
        return await ch.arecv(timeout=timeout)

    async def recv_ok(self, ch: Any, timeout: float | None = None) -> tuple[Any, bool]:
        return await ch.arecv_ok(timeout=timeout)  # type: ignore[no-any-return]

    def iter(self, ch: Any) -> AsyncIterator[Any]:
        return ch  # type: ignore[no-any-return]  # Chan's own __aiter__

    async def select(self, *cases: Any, **kw: Any) -> Any:
        return await gort.aselect(*cases, **kw)

    async def lock(self, mu: Any) -> None:
        await mu.alock()

    async def rlock(self, rw: RWMutex) -> None:
        await rw.arlock()

    def locked(self, mu: Any) -> AbstractAsyncContextManager[Any]:
        return mu  # type: ignore[no-any-return]  # its own __aenter__/__aexit__

    async def wait(self, wg: WaitGroup, timeout: float | None = None) -> bool:
        if timeout is None:
            return await wg  # the bare ``await wg`` form
        return await wg.await_(timeout)

    async def acquire(self, sem: Semaphore, n: int = 1, timeout: float | None = None) -> bool:
        return await sem.aacquire(n, timeout)

    async def cond_wait(self, cond: Cond, timeout: float | None = None) -> bool:
        return await cond.await_(timeout)

    async def sleep(self, d: float) -> None:
        await gort.asleep(d)


class GoroutineWorld(_Blocking):
    name = "goroutine"

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        return gort.go(drive, body(*args, **kwargs))


class ThreadWorld(_Blocking):
    name = "thread"

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        return _ThreadHandle(body(*args, **kwargs))


class CoroutineWorld(_Awaiting):
    name = "coroutine"

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        return gort.go(body, *args, **kwargs)


class AsyncioWorld(_Awaiting):
    """Bodies are tasks on one event loop that runs on its own thread."""

    name = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="asyncio-world")
        self._thread.start()

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        return _TaskHandle(asyncio.run_coroutine_threadsafe(body(*args, **kwargs), self.loop))

    def close(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(JOIN)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(JOIN)
        assert not self._thread.is_alive(), "the asyncio world's loop did not stop"
        self.loop.close()


class LoopPerBodyWorld(_Awaiting):
    """The asyncio world without a shared loop: each body is ``asyncio.run`` on a
    thread of its own (nothing to close; for workers started from helpers that
    outlive no test)."""

    name = "asyncio"

    def go(self, body: Body, *args: Any, **kwargs: Any) -> Handle:
        return _ThreadHandle(body(*args, **kwargs), asyncio.run)


_KINDS: dict[str, Callable[[], World]] = {
    "goroutine": GoroutineWorld, "coroutine": CoroutineWorld,
    "asyncio": AsyncioWorld, "thread": ThreadWorld,
}


def make_world(name: str) -> Iterator[World]:
    """The world fixture's body: a fresh world, closed after the test."""
    w = _KINDS[name]()
    try:
        yield w
    finally:
        w.close()

