"""The worker-process workloads of ``zactor bench``, and their raw floors.

Each workload builds a fresh :class:`~zactor.ActorSystem` with worker processes,
measures, shuts it down and checks that no worker process is left. The actor
classes live at module level so that a worker imports them by name.

The floors of these rows are not the in-process deque loop: they are the same
work done with nothing but :mod:`multiprocessing` and :mod:`pickle`, a child
process started the same way as zactor's workers that reads length-prefixed
pickled frames from a pipe and calls a bound method per message. The ratio
zactor/floor then says what the framework adds to the cost of crossing
processes in Python at all.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zactor import Actor, ActorRef, ActorSystem, Balancing, Pool, Router

from .bench_zactor import PATIENCE, YIELD_EVERY, Answer, LoopName, check_count

# Frames of the raw floor: this many messages in one pickled list.
BATCH = 2_048
PROTOCOL = 5

# The start method of the workers and of the floors' child processes alike.
START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)

# What zactor's forkserver preloads, so that whichever starts the server first
# (a floor or a system) leaves it the same for the other.
PRELOAD = ["zactor._worker_main"]

# Routees of the CPU pool per worker: two, so that each worker has a second job
# in hand while it runs the first.
ROUTEES_PER_WORKER = 2

# A CPU job is sized to take about this long in this process.
JOB_SECONDS = 0.003

Connection = multiprocessing.connection.Connection
Batches = Callable[[int, int], list[Any]]


@dataclass(slots=True)
class Item:
    """A small message class, as programs send instead of bare ints."""

    value: int


def int_batch(first: int, end: int) -> list[Any]:
    """The int messages ``first`` to ``end - 1``."""
    return list(range(first, end))


def item_batch(first: int, end: int) -> list[Any]:
    """The :class:`Item` messages ``first`` to ``end - 1``, each a new object."""
    return [Item(value) for value in range(first, end)]


MESSAGES: dict[str, Batches] = {"int": int_batch, "dataclass": item_batch}


class Tally(Actor):
    """Counts every message it handles, asks included, and answers the count."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: Any) -> int:
        self.count += 1
        return self.count


class Cruncher(Actor):
    """Does a CPU job: the sum of squares below the number it is sent."""

    __slots__ = ()

    def receive(self, message: Any) -> int:
        return crunch(message)


def crunch(n: int) -> int:
    """Pure-Python CPU work: the sum of i * i for i below ``n``."""
    total = 0
    for i in range(n):
        total += i * i
    return total


@dataclass(frozen=True)
class LifeTimes:
    """Seconds from a system's start until each worker answered, and to stop it.

    Attributes:
        start: seconds from the start until every worker answered.
        stop: seconds to shut down until every worker process has exited.
        pids: the worker processes, gone by the time this is returned.
    """

    start: float
    stop: float
    pids: tuple[int, ...] = ()


# -- checks -----------------------------------------------------------------------


def check_gone(pids: Sequence[int]) -> None:
    """Fail a workload that left a worker process running after shutdown.

    Raises:
        RuntimeError: a process of ``pids`` still exists.
    """
    left = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        left.append(pid)
    if left:
        raise RuntimeError(f"worker processes left after shutdown: {left}")


def worker_pids(system: ActorSystem, workers: int) -> list[int]:
    """The system's worker pids, checked to be as many as it was started with.

    Raises:
        RuntimeError: another number of workers runs.
    """
    pids = system.worker_pids()
    check_count("worker processes", workers, len(pids))
    return pids


# -- zactor workloads ---------------------------------------------------------------


async def tell_across(messages: int, batch: Batches) -> float:
    """Seconds to tell ``messages`` to an actor in a worker, until it answers an ask.

    The sender is a coroutine in the head that yields every ``YIELD_EVERY``
    tells; the clock stops when the ask made after the last tell is answered,
    with the count of messages the actor handled.
    """
    async with ActorSystem(workers=1, start_method=START_METHOD) as system:
        pids = worker_pids(system, 1)
        ref = system.spawn(Tally, worker=0)
        await ref.ask(None, PATIENCE)
        tell = ref.tell

        start = time.perf_counter()
        for first in range(0, messages, YIELD_EVERY):
            for message in batch(first, min(first + YIELD_EVERY, messages)):
                tell(message)
            await asyncio.sleep(0)
        count = await ref.ask(None, PATIENCE)
        elapsed = time.perf_counter() - start

    check_gone(pids)
    check_count("messages handled", messages + 2, count)
    return elapsed


async def ask_across(asks: int, warmup: int) -> list[int]:
    """Nanoseconds of each of ``asks`` awaited asks to a worker's actor, sorted."""
    async with ActorSystem(workers=1, start_method=START_METHOD) as system:
        pids = worker_pids(system, 1)
        ask = system.spawn(Answer, worker=0).ask
        samples = await _timed_asks(ask, asks, warmup)
    check_gone(pids)
    return samples


async def _timed_asks(ask: Callable[..., Any], asks: int, warmup: int) -> list[int]:
    for message in range(warmup):
        await ask(message, PATIENCE)
    clock = time.perf_counter_ns
    samples = [0] * asks

    for index in range(asks):
        start = clock()
        answer = await ask(index, PATIENCE)
        samples[index] = clock() - start
        if answer != index:
            raise RuntimeError(f"ask {index} was answered {answer!r}")

    samples.sort()
    return samples


def thread_ask_across(asks: int, warmup: int, loop: LoopName) -> list[int]:
    """Nanoseconds of each of ``asks`` blocking asks to a worker's actor, sorted.

    The head runs its loop on a background thread, so every ask crosses two
    threads and two processes.
    """
    system = ActorSystem(workers=1, loop=loop, start_method=START_METHOD)
    with system:
        pids = worker_pids(system, 1)
        ask = system.spawn(Answer, worker=0).ask
        for message in range(warmup):
            ask(message).result(PATIENCE)
        clock = time.perf_counter_ns
        samples = [0] * asks

        for index in range(asks):
            start = clock()
            answer = ask(index).result(PATIENCE)
            samples[index] = clock() - start
            if answer != index:
                raise RuntimeError(f"ask {index} was answered {answer!r}")

    check_gone(pids)
    samples.sort()
    return samples


def job_size(seconds: float = JOB_SECONDS, trials: int = 7) -> int:
    """The ``crunch`` argument that takes about ``seconds`` in this process.

    The quickest of a few trials sizes it: a trial that the machine interrupted
    would make every job too small.
    """
    trial = 20_000
    clock = time.perf_counter
    times = []
    for _ in range(trials):
        start = clock()
        crunch(trial)
        times.append(clock() - start)
    return max(1_000, int(trial * seconds / max(min(times), 1e-6)))


def in_process_jobs(jobs: int, size: int) -> float:
    """Seconds to run ``jobs`` CPU jobs one after another in this process."""
    start = time.perf_counter()
    for _ in range(jobs):
        crunch(size)
    return time.perf_counter() - start


async def pooled_jobs(jobs: int, size: int, workers: int) -> float:
    """Seconds for ``jobs`` CPU jobs asked of a Balancing pool over ``workers``.

    The router runs in the head; its routees are spread over the workers,
    ``ROUTEES_PER_WORKER`` on each. Every job is an ask made at once from a
    coroutine; the clock stops when the last is answered. Each answer is checked.
    """
    expected = crunch(size)
    pool = Pool(Cruncher, ROUTEES_PER_WORKER * workers, worker="spread")
    async with ActorSystem(workers=workers, start_method=START_METHOD) as system:
        pids = worker_pids(system, workers)
        router = system.spawn(Router, Balancing(), pool=pool, worker="local")
        await _ask_all(router, [1] * ROUTEES_PER_WORKER * workers)

        start = time.perf_counter()
        answers = await _ask_all(router, [size] * jobs)
        elapsed = time.perf_counter() - start

    check_gone(pids)
    check_count("right answers", jobs, answers.count(expected))
    return elapsed


async def _ask_all(ref: ActorRef, messages: list[int]) -> list[Any]:
    async def one(message: int) -> Any:
        return await ref.ask(message, PATIENCE)

    return list(await asyncio.gather(*(one(message) for message in messages)))


def start_and_stop(workers: int, loop: LoopName) -> LifeTimes:
    """Time a threaded system's start until an ask to each worker is answered.

    Then time its shutdown, and check that every worker process is gone.
    """
    start = time.perf_counter()
    system = ActorSystem(workers=workers, loop=loop, start_method=START_METHOD)
    system.start()
    try:
        replies = [system.spawn(Answer, worker=i).ask(i) for i in range(workers)]
        answers = [reply.result(PATIENCE) for reply in replies]
        started = time.perf_counter()
        pids = worker_pids(system, workers)
    finally:
        stopping = time.perf_counter()
        system.shutdown(PATIENCE)
    stopped = time.perf_counter()

    check_gone(pids)
    check_count("answers", workers, sum(a == i for i, a in enumerate(answers)))
    return LifeTimes(started - start, stopped - stopping, tuple(pids))


# -- raw floors ---------------------------------------------------------------------


class _Sink:
    """Stands in for the actor of the floor: the same handler body as Tally's."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: Any) -> int:
        self.count += 1
        return self.count


def _context() -> Any:
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


def _sink_main(pipe: Connection) -> None:
    """The floor child: handle every message of every batch; None asks the count."""
    handle = _Sink().receive
    loads = pickle.loads
    receive = pipe.recv_bytes
    pipe.send_bytes(b"")
    while True:
        try:
            batch = loads(receive())
        except EOFError:
            return
        if batch is None:
            pipe.send_bytes(pickle.dumps(handle(None), PROTOCOL))
            continue
        for message in batch:
            handle(message)


def _echo_main(pipe: Connection) -> None:
    """The floor child of round trips: answer each message with the handler's value."""
    handle = Answer().receive
    loads = pickle.loads
    dumps = pickle.dumps
    receive = pipe.recv_bytes
    send = pipe.send_bytes
    send(b"")
    while True:
        try:
            message = loads(receive())
        except EOFError:
            return
        send(dumps(handle(message), PROTOCOL))


@dataclass
class _Child:
    process: Any
    pipe: Connection


def _start_child(target: Callable[[Connection], None]) -> _Child:
    context = _context()
    parent_end, child_end = context.Pipe(duplex=True)
    process = context.Process(target=target, args=(child_end,), daemon=True)
    process.start()
    child_end.close()
    return _Child(process, parent_end)


def _ready(child: _Child) -> None:
    if not child.pipe.poll(PATIENCE):
        raise RuntimeError("the floor's child process did not answer in time")
    child.pipe.recv_bytes()


def _end(child: _Child) -> None:
    child.pipe.close()
    child.process.join(PATIENCE)
    if child.process.exitcode is None:
        child.process.kill()
        child.process.join(PATIENCE)


def raw_tell_seconds(messages: int, batch: Batches) -> float:
    """Seconds for the raw floor to pass ``messages`` to a child and hear its count.

    The parent pickles batches of ``BATCH`` messages (protocol 5) and writes
    each as one length-prefixed frame; the child unpickles each and calls a
    bound method per message. The clock stops when the child answers the count
    asked after the last batch.
    """
    child = _start_child(_sink_main)
    try:
        _ready(child)
        send = child.pipe.send_bytes
        dumps = pickle.dumps

        start = time.perf_counter()
        for first in range(0, messages, BATCH):
            send(dumps(batch(first, min(first + BATCH, messages)), PROTOCOL))
        send(dumps(None, PROTOCOL))
        count = _answer(child)
        elapsed = time.perf_counter() - start
    finally:
        _end(child)

    check_count("floor messages handled", messages + 1, count)
    return elapsed


def raw_ask_latencies(asks: int, warmup: int) -> list[int]:
    """Nanoseconds of each raw round trip to a child process, sorted.

    One message at a time: pickle, write a frame, the child unpickles, calls a
    bound method, pickles its value and writes it back, the parent unpickles.
    """
    child = _start_child(_echo_main)
    try:
        _ready(child)
        send = child.pipe.send_bytes
        receive = child.pipe.recv_bytes
        dumps = pickle.dumps
        loads = pickle.loads
        for message in range(warmup):
            send(dumps(message, PROTOCOL))
            loads(receive())
        clock = time.perf_counter_ns
        samples = [0] * asks

        for index in range(asks):
            begin = clock()
            send(dumps(index, PROTOCOL))
            loads(receive())
            samples[index] = clock() - begin
    finally:
        _end(child)

    samples.sort()
    return samples


def _crunch_main(pipe: Connection) -> None:
    """The floor child of CPU jobs: run each (count, size) asked, answer the count."""
    send = pipe.send_bytes
    send(b"")
    while True:
        try:
            count, size = pickle.loads(pipe.recv_bytes())
        except EOFError:
            return
        for _ in range(count):
            crunch(size)
        send(pickle.dumps(count, PROTOCOL))


def raw_parallel_jobs(jobs: int, size: int, processes: int) -> float:
    """Seconds for bare child processes to run ``jobs`` CPU jobs split evenly.

    No messages per job and no balancing: each child is given its share at once,
    so this is what the machine gives in parallel, the ideal a pool can approach.
    """
    children = [_start_child(_crunch_main) for _ in range(processes)]
    try:
        for child in children:
            _ready(child)
        shares = [len(range(i, jobs, processes)) for i in range(processes)]

        start = time.perf_counter()
        for child, share in zip(children, shares, strict=True):
            child.pipe.send_bytes(pickle.dumps((share, size), PROTOCOL))
        done = sum(_answer(child) for child in children)
        elapsed = time.perf_counter() - start
    finally:
        for child in children:
            _end(child)

    check_count("floor jobs done", jobs, done)
    return elapsed


def _answer(child: _Child) -> Any:
    if not child.pipe.poll(PATIENCE):
        raise RuntimeError("the floor's child process did not answer in time")
    return pickle.loads(child.pipe.recv_bytes())


def raw_start_and_stop(children: int) -> LifeTimes:
    """Seconds to start bare child processes until each answers, and to end them."""
    start = time.perf_counter()
    started = [_start_child(_echo_main) for _ in range(children)]
    for child in started:
        _ready(child)
        child.pipe.send_bytes(pickle.dumps(0, PROTOCOL))
        child.pipe.recv_bytes()
    ready = time.perf_counter()
    for child in started:
        child.pipe.close()
    for child in started:
        _end(child)
    ended = time.perf_counter()

    pids = tuple(child.process.pid for child in started)
    check_gone(pids)
    return LifeTimes(ready - start, ended - ready, pids)
