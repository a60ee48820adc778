"""Shared fixtures: one public-API suite, run against every way of hosting actors.

A test that must hold however the system runs takes the ``drive`` fixture and hands
it a scenario, a coroutine function that receives a :class:`Driver`. The fixture is
parametrised by ``mode``:

* ``"loop"``: ``async with ActorSystem()`` inside a running event loop; the scenario
  runs on the actors' own loop and awaits every reply.
* ``"thread"``: ``with ActorSystem()`` from plain threaded code; the system runs its
  loop on a background thread, and the scenario blocks on ``reply.result(timeout)``.
* ``"workers"``: like ``"thread"``, with ``ActorSystem(workers=2)``: every top-level
  actor runs in a worker process, so every ref the scenario holds is remote.

Objects that a scenario shares with its actors (a journal, an event, a collector)
come from the driver: ``d.journal()``, ``d.event()``, ``d.collector()``. Locally they
are a list, a threading.Event and a :class:`Collector`; in the workers mode they are
backed by a manager process, so that an actor in a worker writes what the scenario
reads, in the same order, before its reply arrives. A scenario about the internals
of one process is marked ``@pytest.mark.in_process("why")``.

The driver is the only place that knows the difference, so a new way of hosting
actors is a new driver class and one more entry in :data:`MODES`.
"""

from __future__ import annotations

import abc
import asyncio
import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from zactor import Actor, ActorRef, ActorSystem, Event, Reply

T = TypeVar("T")

MODES = ("loop", "thread", "workers")

# The bound on any single wait in a scenario, so that a broken runtime fails a test
# instead of hanging the suite.
PATIENCE = 5.0


class Driver(abc.ABC):
    """Talks to an actor system the way callers of one mode do.

    Every method that waits is a coroutine, so that one scenario serves all modes:
    in loop mode it awaits, in thread mode it blocks the scenario's own thread.
    """

    mode = ""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    def spawn(self, actor_class: type[Actor], *args: Any, **kwargs: Any) -> ActorRef:
        """Spawn an actor under ``/user``."""
        return self.system.spawn(actor_class, *args, **kwargs)

    def tell(self, ref: ActorRef, message: Any) -> None:
        """Send a message from outside any actor."""
        ref.tell(message)

    async def ask(self, ref: ActorRef, message: Any, timeout: float = PATIENCE) -> Any:
        """Ask and wait for the answer; the ask's own timeout bounds the wait."""
        return await self.result(ref.ask(message, timeout=timeout))

    async def stop(self, ref: ActorRef) -> bool:
        """Stop an actor and wait for the stop reply."""
        stopped: bool = await self.result(ref.stop(), timeout=PATIENCE)
        return stopped

    @abc.abstractmethod
    async def result(self, reply: Reply[T], timeout: float | None = None) -> T:
        """Wait for a reply; ``timeout`` None leaves the bound to the reply itself."""

    @abc.abstractmethod
    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (join a thread, wait on an Event) without stalling."""

    async def wait(self, event: Any, timeout: float = PATIENCE) -> bool:
        """Wait for an event (from :meth:`event`) that actors or threads set."""
        return bool(await self.blocking(event.wait, timeout))

    def event(self) -> Any:
        """An event that actors may set and the scenario may wait on."""
        return threading.Event()

    def journal(self) -> Any:
        """A list that actors append to and the scenario reads."""
        return []

    def collector(self) -> Any:
        """A callable sink that actors (or the event stream) feed."""
        return Collector()

    @abc.abstractmethod
    async def shutdown(self, timeout: float = PATIENCE) -> None:
        """Shut the system down the way this mode's callers do."""


class LoopDriver(Driver):
    """The scenario runs on the actors' event loop and awaits."""

    mode = "loop"

    async def result(self, reply: Reply[T], timeout: float | None = None) -> T:
        """Await the reply, bounded by ``timeout`` when one is given."""
        if timeout is None:
            return await reply
        return await asyncio.wait_for(_awaited(reply), timeout)

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run the call on a worker thread so that the loop keeps running."""
        return await asyncio.to_thread(function, *args)

    async def shutdown(self, timeout: float = PATIENCE) -> None:
        """Await ``ashutdown`` on the loop."""
        await self.system.ashutdown(timeout)


class ThreadDriver(Driver):
    """The scenario runs on a thread of its own and blocks."""

    mode = "thread"

    async def result(self, reply: Reply[T], timeout: float | None = None) -> T:
        """Block on ``reply.result``."""
        return reply.result(timeout)

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Call it right here: nothing else runs on the scenario's thread."""
        return function(*args)

    async def shutdown(self, timeout: float = PATIENCE) -> None:
        """Call the blocking ``shutdown``."""
        self.system.shutdown(timeout)


class WorkersDriver(ThreadDriver):
    """Like the thread driver, with every top-level actor in a worker process."""

    mode = "workers"

    def event(self) -> Any:
        """An event in the manager process: set in a worker, seen here."""
        return _manager().Event()

    def journal(self) -> Any:
        """A list in the manager process."""
        return SharedList(_manager().list())

    def collector(self) -> Any:
        """A collector whose items live in the manager process."""
        return SharedCollector(SharedList(_manager().list()))


_MANAGER: Any = None


def _manager() -> Any:
    """The manager process behind shared objects, started on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = multiprocessing.get_context("spawn").Manager()
    return _MANAGER


# The system whose node decodes refs read back from shared objects.
_HEAD: list[ActorSystem] = []


class SharedList:
    """A list kept in the manager process, holding items pickled by their writer.

    Items are pickled where they are appended, so that refs in them are encoded by
    that process's node, and unpickled by the scenario's system, so that they come
    back as the scenario's own refs.
    """

    def __init__(self, store: Any) -> None:
        self._store = store

    def append(self, item: Any) -> None:
        """Add ``item`` at the end (a round trip to the manager)."""
        self._store.append(pickle.dumps(item, 5))

    def extend(self, items: Any) -> None:
        """Add every item of ``items``."""
        for item in items:
            self.append(item)

    def snapshot(self) -> list[Any]:
        """The items so far, decoded here."""
        from zactor._remote import decoding

        raw = self._store[:]
        node = _HEAD[-1]._node if _HEAD else None
        token = decoding.set(node)
        try:
            return [pickle.loads(item) for item in raw]
        finally:
            decoding.reset(token)

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.snapshot())

    def __getitem__(self, index: Any) -> Any:
        return self.snapshot()[index]

    def __eq__(self, other: object) -> bool:
        return self.snapshot() == (
            other.snapshot() if isinstance(other, SharedList) else other
        )

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"SharedList({self.snapshot()!r})"


class SharedCollector:
    """:class:`Collector`'s interface over a :class:`SharedList`."""

    def __init__(self, store: SharedList) -> None:
        self._store = store

    def __call__(self, item: Any) -> None:
        self._store.append(item)

    @property
    def items(self) -> list[Any]:
        """What was collected so far."""
        return self._store.snapshot()

    def wait_for(self, count: int, timeout: float = PATIENCE) -> list[Any]:
        """Wait until ``count`` items arrived (or the timeout); return them."""
        deadline = time.monotonic() + timeout
        while len(self._store) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.items

    def of(self, event_type: type[Event]) -> list[Any]:
        """The items that are instances of ``event_type``."""
        return [item for item in self.items if isinstance(item, event_type)]


async def _awaited(reply: Reply[T]) -> T:
    return await reply


Scenario = Callable[[Driver], Coroutine[Any, Any, None]]
Drive = Callable[..., None]


def _run_loop_mode(scenario: Scenario, options: dict[str, Any]) -> None:
    async def main() -> None:
        async with ActorSystem(**options) as system:
            await scenario(LoopDriver(system))

    asyncio.run(main())


def _run_thread_mode(scenario: Scenario, options: dict[str, Any]) -> None:
    with ActorSystem(**options) as system:
        asyncio.run(scenario(ThreadDriver(system)))


def _run_workers_mode(scenario: Scenario, options: dict[str, Any]) -> None:
    with ActorSystem(workers=2, **options) as system:
        _HEAD.append(system)
        try:
            asyncio.run(scenario(WorkersDriver(system)))
        finally:
            _HEAD.remove(system)


RUNNERS: dict[str, Callable[[Scenario, dict[str, Any]], None]] = {
    "loop": _run_loop_mode,
    "thread": _run_thread_mode,
    "workers": _run_workers_mode,
}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The way the actor system is hosted."""
    return str(request.param)


@pytest.fixture
def drive(mode: str, request: pytest.FixtureRequest) -> Drive:
    """Run a scenario against a fresh, running actor system of the current mode.

    Call it as ``drive(scenario, **options)``; the options go to ActorSystem.
    """
    marker = request.node.get_closest_marker("in_process")
    if mode == "workers" and marker is not None:
        pytest.skip(f"about one process: {marker.args[0]}")

    def run(scenario: Scenario, **options: Any) -> None:
        RUNNERS[mode](scenario, options)

    return run


class Collector:
    """An event-stream subscriber that keeps what it gets and can wait for it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, item: Any) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = PATIENCE) -> list[Any]:
        """Block until ``count`` items arrived; return a copy of them."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)

    def of(self, event_type: type[Event]) -> list[Any]:
        """The items that are instances of ``event_type``."""
        with self._changed:
            return [item for item in self.items if isinstance(item, event_type)]
