"""The zactor workloads of ``zactor bench``, written against the public API only.

Each workload builds its own :class:`~zactor.ActorSystem`, does a known amount of
work and returns what it measured. Actors stamp the clock themselves when the last
message is handled, so that the time a waiting coroutine takes to wake up is not
counted as the framework's.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from zactor import Actor, ActorRef, ActorSystem

T = TypeVar("T")

# The bound on any single wait: a runtime that loses a message fails the row
# instead of hanging the bench.
PATIENCE = 120.0

# The tell loops yield to the event loop this often, as a producer coroutine would.
YIELD_EVERY = 10_000

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
LoopName = Literal["auto", "asyncio", "uvloop"]


class Tally:
    """Work left for a group of actors, and the clock reading when it ran out."""

    __slots__ = ("done", "left")

    def __init__(self, left: int, done: asyncio.Future[float]) -> None:
        self.left = left
        self.done = done


class Counter(Actor):
    """Counts messages down and stamps the clock at the last one."""

    __slots__ = ("tally",)

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def receive(self, message: Any) -> None:
        tally = self.tally
        tally.left -= 1
        if not tally.left:
            tally.done.set_result(time.perf_counter())


class Echo(Actor):
    """Tells every message back to its sender."""

    __slots__ = ()

    def receive(self, message: Any) -> None:
        sender = self.context.sender
        assert sender is not None
        sender.tell(message)


class Pinger(Actor):
    """Tells its peer a message for each one it gets, until the round trips are done."""

    __slots__ = ("peer", "tally")

    def __init__(self, peer: ActorRef, tally: Tally) -> None:
        self.peer = peer
        self.tally = tally

    def receive(self, message: Any) -> None:
        tally = self.tally
        if tally.left:
            tally.left -= 1
            self.peer.tell(message)
        else:
            tally.done.set_result(time.perf_counter())


class Answer(Actor):
    """Answers every ask with the message itself."""

    __slots__ = ()

    def receive(self, message: Any) -> Any:
        return message


class Idle(Actor):
    """An actor with no state and no handler of its own, as small as one can be."""

    __slots__ = ()


class Parent(Actor):
    """Spawns the number of idle children it is asked for."""

    __slots__ = ()

    def receive(self, message: Any) -> None:
        spawn = self.context.spawn
        for _ in range(message):
            spawn(Idle)


@dataclass(frozen=True)
class LifeTimes:
    """Seconds to spawn ``actors`` children of one parent, and to stop them all."""

    actors: int
    spawn: float
    stop: float


def run_async(factory: LoopFactory, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a workload on a fresh event loop made by ``factory``."""
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


async def tell_throughput(messages: int) -> float:
    """Seconds from the first tell to the last message handled, one actor."""
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(messages, loop.create_future())
        tell = system.spawn(Counter, tally).tell
        return await timed_tells(tell, messages, tally)


async def timed_tells(
    tell: Callable[[Any], None], messages: int, tally: Tally
) -> float:
    """Seconds from the first of ``messages`` tells until ``tally`` runs out.

    The sender yields to the loop every ``YIELD_EVERY`` tells, as a producer
    coroutine would, so that the actors run while it sends.
    """
    sleep = asyncio.sleep
    every = YIELD_EVERY

    start = time.perf_counter()
    for first in range(0, messages, every):
        for message in range(first, min(first + every, messages)):
            tell(message)
        await sleep(0)
    end = await asyncio.wait_for(tally.done, PATIENCE)

    return end - start


async def fan_out(messages: int, actors: int) -> float:
    """Seconds to tell ``messages`` round-robin over ``actors`` until all are handled.

    ``messages`` is rounded down to whole rounds over the actors.
    """
    rounds = max(1, messages // actors)
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(rounds * actors, loop.create_future())
        tells = [system.spawn(Counter, tally).tell for _ in range(actors)]
        sleep = asyncio.sleep
        every = max(1, YIELD_EVERY // actors)

        start = time.perf_counter()
        for round_ in range(rounds):
            for tell in tells:
                tell(round_)
            if not round_ % every:
                await sleep(0)
        end = await asyncio.wait_for(tally.done, PATIENCE)

    return end - start


async def ping_pong(round_trips: int) -> float:
    """Seconds for ``round_trips`` tells from one actor to another and back."""
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(round_trips, loop.create_future())
        echo = system.spawn(Echo)
        pinger = system.spawn(Pinger, echo, tally)

        start = time.perf_counter()
        pinger.tell(0)
        end = await asyncio.wait_for(tally.done, PATIENCE)

    return end - start


async def ask_latencies(asks: int, warmup: int) -> list[int]:
    """Nanoseconds of each of ``asks`` awaited asks from a coroutine, sorted."""
    async with ActorSystem() as system:
        ask = system.spawn(Answer).ask
        for message in range(warmup):
            await ask(message, PATIENCE)
        clock = time.perf_counter_ns
        samples = [0] * asks

        for index in range(asks):
            start = clock()
            await ask(index, PATIENCE)
            samples[index] = clock() - start

    samples.sort()
    return samples


def thread_ask_latencies(asks: int, warmup: int, loop: LoopName) -> list[int]:
    """Nanoseconds of each of ``asks`` blocking asks from this thread, sorted.

    The system runs its own loop on a background thread (``with ActorSystem()``),
    so every ask crosses threads twice.
    """
    with ActorSystem(loop=loop) as system:
        ask = system.spawn(Answer).ask
        for message in range(warmup):
            ask(message).result(PATIENCE)
        clock = time.perf_counter_ns
        samples = [0] * asks

        for index in range(asks):
            start = clock()
            ask(index).result(PATIENCE)
            samples[index] = clock() - start

    samples.sort()
    return samples


async def spawn_and_stop(actors: int) -> LifeTimes:
    """Spawn ``actors`` idle children of one parent, then stop the parent.

    Spawning is one ask to the parent, whose handler spawns the children; stopping
    is ``parent.stop()`` awaited until its reply, which comes once every child and
    then the parent have terminated.

    Raises:
        RuntimeError: the system counted another number of actors than asked.
    """
    async with ActorSystem() as system:
        parent = system.spawn(Parent)
        before = system.statistics()

        start = time.perf_counter()
        await parent.ask(actors, PATIENCE)
        spawned = time.perf_counter()
        middle = system.statistics()
        await asyncio.wait_for(parent.stop(), PATIENCE)
        stopped = time.perf_counter()

        after = system.statistics()
    check_count("actors spawned", actors, middle.spawned - before.spawned)
    check_count("actors terminated", actors + 1, after.terminated - before.terminated)
    return LifeTimes(actors, spawned - start, stopped - spawned)


def check_count(what: str, expected: int, counted: int) -> None:
    """Fail a workload whose system counted other work than the workload did.

    Raises:
        RuntimeError: the counts differ.
    """
    if counted != expected:
        raise RuntimeError(f"expected {expected:,} {what}, counted {counted:,}")


def percentile(samples: list[int], fraction: float) -> int:
    """The sample below which ``fraction`` of the sorted ``samples`` lie."""
    index = min(len(samples) - 1, int(len(samples) * fraction))
    return samples[index]


def loop_factory(name: LoopName) -> tuple[LoopFactory, str]:
    """The event loop factory for ``--loop name`` and how to name it in reports.

    ``auto`` takes uvloop when it is installed, as the threaded system does.

    Raises:
        ValueError: ``uvloop`` was asked for and is not installed.
    """
    if name != "asyncio":
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            if name == "uvloop":
                raise ValueError(
                    "--loop uvloop needs the uvloop package: pip install uvloop"
                ) from None
        else:
            factory: LoopFactory = uvloop.new_event_loop
            return factory, f"uvloop {uvloop.__version__}"
    return asyncio.new_event_loop, "asyncio"
