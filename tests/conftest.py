"""Shared fixtures: one public-API suite, run against every way of hosting actors.

A test that must hold however the system runs takes the ``drive`` fixture and hands
it a scenario, a coroutine function that receives a :class:`Driver`. The fixture is
parametrised by ``mode``:

* ``"loop"``: ``async with ActorSystem()`` inside a running event loop; the scenario
  runs on the actors' own loop and awaits every reply.
* ``"thread"``: ``with ActorSystem()`` from plain threaded code; the system runs its
  loop on a background thread, and the scenario blocks on ``reply.result(timeout)``.

The driver is the only place that knows the difference, so a new way of hosting
actors is a new driver class and one more entry in :data:`MODES`.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from zactor import Actor, ActorRef, ActorSystem, Event, Reply

T = TypeVar("T")

MODES = ("loop", "thread")

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

    async def wait(self, event: threading.Event, timeout: float = PATIENCE) -> bool:
        """Wait for a threading.Event that actors or threads set."""
        return await self.blocking(event.wait, timeout)

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


RUNNERS: dict[str, Callable[[Scenario, dict[str, Any]], None]] = {
    "loop": _run_loop_mode,
    "thread": _run_thread_mode,
}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The way the actor system is hosted."""
    return str(request.param)


@pytest.fixture
def drive(mode: str) -> Drive:
    """Run a scenario against a fresh, running actor system of the current mode.

    Call it as ``drive(scenario, **options)``; the options go to ActorSystem.
    """

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
