"""The zactor workloads of the feature rows, written against the public API only.

The rows are supervision, restarts, routers, timers and mailbox kinds.
Most of them are a variant of the plain tell of :mod:`.bench_zactor`: the same
sender, the same counting actor, one thing changed (a supervising parent, a router
in between, another mailbox), so that the bench can run each next to the plain tell
and print how they compare. Like the core workloads, each builds its own
:class:`~zactor.ActorSystem` and the actors stamp the clock themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from zactor import (
    RESTART,
    RESUME,
    Actor,
    ActorRef,
    ActorSystem,
    Backoff,
    Balancing,
    Bounded,
    Broadcast,
    ConsistentHashing,
    GetRoutees,
    MailboxSpec,
    OneForOne,
    Pool,
    Priority,
    Random,
    RoundRobin,
    Router,
    RoutingLogic,
    ScatterGatherFirstCompleted,
    SmallestMailbox,
)

from .bench_zactor import PATIENCE, Answer, Counter, Tally, check_count, timed_tells

# The logger that reports a handler failure on a tell, with its traceback (see the
# logging section of the user guide).
FAILURE_LOGGER = "zactor._cell"

# The routing logics of the router rows, by the name their lines carry.
ROUTING: dict[str, Callable[[], RoutingLogic]] = {
    "round-robin": RoundRobin,
    "random": Random,
    "broadcast": Broadcast,
    "consistent-hashing": ConsistentHashing,
    "smallest-mailbox": SmallestMailbox,
    "balancing": Balancing,
}

# Asks made before the timed asks, so that the first ones do not pay for warm-up.
ASK_WARMUP = 200


# -- supervision ------------------------------------------------------------------


class Supervising(Actor):
    """A parent with a strategy of its own; spawns a counter for each tally it gets.

    The strategy resumes on one exception type, restarts on the others, and spaces
    restarts out: nothing the no-failure path should ever pay for.
    """

    __slots__ = ()

    supervisor_strategy = OneForOne(
        {ValueError: RESUME},
        default=RESTART,
        backoff=Backoff(minimum=0.01, maximum=1.0),
    )

    def receive(self, message: Tally) -> ActorRef:
        return self.context.spawn(Counter, message)


async def supervised_tell_throughput(messages: int) -> float:
    """Seconds for ``messages`` tells to a child of a :class:`Supervising` parent.

    The tells and the counting are those of the plain tell workload; only the
    actor's place in the tree differs.
    """
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(messages, loop.create_future())
        parent = system.spawn(Supervising)
        child: ActorRef = await parent.ask(tally, PATIENCE)
        return await timed_tells(child.tell, messages, tally)


class PlannedFailure(Exception):
    """The failure the restart workload raises on purpose."""


class Fragile(Actor):
    """Raises on every message except None, which stamps the clock."""

    __slots__ = ("tally",)

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def receive(self, message: Any) -> None:
        if message is None:
            self.tally.done.set_result(time.perf_counter())
            return
        raise PlannedFailure(message)


class _DropPlanned(logging.Filter):
    """Drops the log records of planned failures, and counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, PlannedFailure):
            self.dropped += 1
            return False
        return True


@contextlib.contextmanager
def planned_failures_unlogged() -> Iterator[_DropPlanned]:
    """Keep the planned failures out of the log while the restart workload runs.

    The runtime still builds each record, as it does for any failed tell; the
    filter only spares the terminal thousands of tracebacks nobody asked for.
    """
    logger = logging.getLogger(FAILURE_LOGGER)
    drop = _DropPlanned()
    logger.addFilter(drop)
    try:
        yield drop
    finally:
        logger.removeFilter(drop)


@dataclass(frozen=True)
class RestartTimes:
    """Seconds for ``restarts`` failures, each followed by a restart."""

    restarts: int
    seconds: float
    logged: int


async def restart_time(restarts: int) -> RestartTimes:
    """Tell ``restarts`` messages to an actor that raises on each, then one more.

    The actor is restarted after every failure (one-for-one, no limit), and the
    last message reaches the instance made by the last restart, which stamps the
    clock: every failure has been handled by then, and every restart finished.

    Raises:
        RuntimeError: the system counted other failures or restarts than asked.
    """
    loop = asyncio.get_running_loop()
    with planned_failures_unlogged() as drop:
        async with ActorSystem() as system:
            tally = Tally(0, loop.create_future())
            strategy = OneForOne(max_restarts=None)
            tell = system.spawn(Fragile, tally, supervisor=strategy).tell
            before = system.statistics()

            start = time.perf_counter()
            for message in range(restarts):
                tell(message)
            tell(None)
            end = await asyncio.wait_for(tally.done, PATIENCE)

            after = system.statistics()
    check_count("failures", restarts, after.failures - before.failures)
    check_count("restarts", restarts, after.restarts - before.restarts)
    return RestartTimes(restarts, end - start, drop.dropped)


# -- routers ----------------------------------------------------------------------


async def routed_tells(deliveries: int, kind: str, routees: int) -> float:
    """Seconds for tells through a router of ``kind`` until ``deliveries`` are handled.

    The routees are a pool of counters sharing one tally. A broadcast router
    delivers each message to every routee, so it gets ``deliveries / routees``
    messages (rounded down); the other kinds get ``deliveries``.
    """
    logic = ROUTING[kind]()
    fan = routees if isinstance(logic, Broadcast) else 1
    messages = max(1, deliveries // fan)
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(messages * fan, loop.create_future())
        pool = Pool(Counter, routees, args=(tally,))
        router = system.spawn(Router, logic, pool=pool)
        await router.ask(GetRoutees(), PATIENCE)  # the routees have started
        return await timed_tells(router.tell, messages, tally)


async def direct_asks(asks: int) -> float:
    """Seconds for ``asks`` awaited asks to one actor, one after the other."""
    async with ActorSystem() as system:
        return await _timed_asks(system.spawn(Answer), asks)


async def scattered_asks(asks: int, routees: int) -> float:
    """Seconds for ``asks`` awaited asks through a scatter-gather router.

    Every ask goes to each of ``routees`` answering actors; the first answer
    completes it.
    """
    async with ActorSystem() as system:
        logic = ScatterGatherFirstCompleted(within=PATIENCE)
        router = system.spawn(Router, logic, pool=Pool(Answer, routees))
        return await _timed_asks(router, asks)


async def _timed_asks(ref: ActorRef, asks: int) -> float:
    ask = ref.ask
    for message in range(ASK_WARMUP):
        await ask(message, PATIENCE)

    start = time.perf_counter()
    for message in range(asks):
        await ask(message, PATIENCE)
    return time.perf_counter() - start


# -- timers -----------------------------------------------------------------------


class Scheduler(Actor):
    """Schedules a single timer per delay it was given; counts the ticks down.

    Each timer's key and message is its index, so every key is distinct.
    """

    __slots__ = ("delays", "tally")

    def __init__(self, delays: list[float], tally: Tally) -> None:
        self.delays = delays
        self.tally = tally

    def receive(self, message: Any) -> tuple[float, float] | None:
        if type(message) is int:
            tally = self.tally
            tally.left -= 1
            if not tally.left:
                tally.done.set_result(time.perf_counter())
            return None

        once = self.context.timers.once
        start = time.perf_counter()
        for key, delay in enumerate(self.delays):
            once(key, delay, key)
        return start, time.perf_counter()


@dataclass(frozen=True)
class TimerTimes:
    """What scheduling and firing ``timers`` single timers took, in seconds.

    Attributes:
        timers: how many timers were scheduled.
        spread: the delays lie between 0 and this.
        schedule: from the first ``once`` to the last, in one handler.
        fire: from the first ``once`` until the last tick was handled.
        after_due: from the latest delay's end (counted from the first ``once``)
            until the last tick was handled: how far firing fell behind.
    """

    timers: int
    spread: float
    schedule: float
    fire: float
    after_due: float


async def timer_times(timers: int, spread: float) -> TimerTimes:
    """Schedule ``timers`` single timers with delays spread over ``spread`` seconds.

    One actor schedules them all in one handler and handles every tick. The
    delays are drawn at random (seeded: the same every run), so they are
    scheduled in no particular order of due time.
    """
    draw = random.Random(timers).random
    delays = [draw() * spread for _ in range(timers)]
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(timers, loop.create_future())
        scheduler = system.spawn(Scheduler, delays, tally)
        start, scheduled = await scheduler.ask("schedule", PATIENCE)
        end = await asyncio.wait_for(tally.done, PATIENCE + spread)

    return TimerTimes(
        timers=timers,
        spread=spread,
        schedule=scheduled - start,
        fire=end - start,
        after_due=end - (start + max(delays)),
    )


# -- mailboxes --------------------------------------------------------------------


def four_levels(message: int) -> int:
    """The priority of a message: one of four levels, so that the heap has work."""
    return message & 3


MAILBOXES: dict[str, Callable[[], MailboxSpec]] = {
    # Large enough that the sender, who yields every 10,000 tells, never fills it.
    "bounded": lambda: Bounded(10_000_000),
    "priority": lambda: Priority(key=four_levels),
}


async def mailbox_tells(messages: int, kind: str) -> float:
    """Seconds for ``messages`` tells to one counter with a mailbox of ``kind``."""
    loop = asyncio.get_running_loop()
    async with ActorSystem() as system:
        tally = Tally(messages, loop.create_future())
        tell = system.spawn(Counter, tally, mailbox=MAILBOXES[kind]()).tell
        return await timed_tells(tell, messages, tally)


async def backpressure_sends(messages: int, capacity: int) -> float:
    """Seconds for ``messages`` awaited sends into a full-speed counter.

    The counter's mailbox holds ``capacity`` messages and makes the sender wait
    for room (``overflow="backpressure"``), so the sender goes at the counter's
    pace.
    """
    loop = asyncio.get_running_loop()
    mailbox = Bounded(capacity, overflow="backpressure")
    async with ActorSystem() as system:
        tally = Tally(messages, loop.create_future())
        send = system.spawn(Counter, tally, mailbox=mailbox).send

        start = time.perf_counter()
        for message in range(messages):
            await send(message, PATIENCE)
        end = await asyncio.wait_for(tally.done, PATIENCE)

    return end - start
