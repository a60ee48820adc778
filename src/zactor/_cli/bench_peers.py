"""Other actor frameworks on the same workloads, for the extra columns of the table.

Each peer runs in a child process of its own (``python -m zactor._cli.bench_peers``)
so that its threads and global state cannot disturb zactor's rows or each other,
and so that a peer which hangs can be ended without ending the bench. The child
prints one JSON line per workload; the parent waits for each line with a bound and,
when one does not come, ends the child and goes on with the next workload in a new
one. A peer that is not importable is never installed: its cells stay empty and a
footnote says why.

Peers work at a smaller scale than zactor (a few thousand messages or actors) so
that the suite stays fast; every figure records how much work it is based on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, get_args

from .bench_zactor import LoopName, loop_factory, run_async

PEERS = ("pykka", "thespian", "xoscar", "ray")
WORKLOADS = ("tell", "fanout", "pingpong", "ask", "ask-thread", "spawn")

# The table lines each workload fills; "spawn" is the first spawn line.
FIGURES: dict[str, tuple[str, ...]] = {
    "tell": ("tell",),
    "fanout": ("fanout",),
    "pingpong": ("pingpong",),
    "ask": ("ask-median", "ask-p99"),
    "ask-thread": ("ask-thread-median",),
    "spawn": ("spawn",),
}

# The bound on one wait inside a peer's workload.
PATIENCE = 30.0


class Unsupported(Exception):
    """The peer has no way to run this workload."""


@dataclass(frozen=True)
class Sizes:
    """How much work each workload of a peer does."""

    tell: int
    fanout: int
    fanout_actors: int
    pingpong: int
    asks: int
    spawn: int


@dataclass
class Outcome:
    """A peer's result on one workload: figures by line key, or why there are none."""

    figures: dict[str, float] = field(default_factory=dict)
    n: int = 0
    reason: str | None = None


@dataclass
class PeerRun:
    """Everything one peer produced."""

    name: str
    available: bool
    version: str | None = None
    note: str = ""
    reason: str | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)


class Peer(Protocol):
    """What the child needs of a peer: its workloads, and a way to clean up after each.

    A workload the peer cannot run raises :class:`Unsupported`.
    """

    version: str
    note: str

    def cleanup(self) -> None:
        """Release what the last workload left behind."""

    def tell(self, messages: int) -> Outcome:
        """One sender, one actor; figure ``tell`` in messages per second."""

    def fanout(self, messages: int, actors: int) -> Outcome:
        """One sender round-robin over actors; figure ``fanout``."""

    def pingpong(self, round_trips: int) -> Outcome:
        """Two actors telling each other; figure ``pingpong``, round trips/s."""

    def ask(self, asks: int) -> Outcome:
        """Asks awaited from a coroutine; figures ``ask-median``, ``ask-p99`` (us)."""

    def ask_thread(self, asks: int) -> Outcome:
        """Asks blocking a thread; figure ``ask-thread-median`` (us)."""

    def spawn(self, actors: int) -> Outcome:
        """Creating actors; figure ``spawn`` in us per actor."""


# -- workloads, run in the child --------------------------------------------------


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def _p99_us(samples: list[int]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def _ask_figures(samples: list[int], median_key: str, p99_key: str) -> Outcome:
    figures = {median_key: _median_us(samples)}
    if p99_key:
        figures[p99_key] = _p99_us(samples)
    return Outcome(figures, len(samples))


class Finish:
    """Where actors on other threads stamp the clock once their share is done."""

    def __init__(self, parts: int) -> None:
        self.parts = parts
        self.stamps: list[float] = []
        self.event = threading.Event()

    def part_done(self) -> None:
        """Record one finished part; the last one wakes the waiter."""
        self.stamps.append(time.perf_counter())
        if len(self.stamps) >= self.parts:
            self.event.set()

    def wait(self) -> float:
        """Wait for every part and return the clock reading of the last one.

        Raises:
            TimeoutError: the parts did not all finish within PATIENCE.
        """
        if not self.event.wait(PATIENCE):
            raise TimeoutError(f"{len(self.stamps)} of {self.parts} parts finished")
        return max(self.stamps)


def _on(base: Any, behaviour: type) -> Any:
    """A peer's actor class: the behaviour written here, on the peer's base class.

    The behaviours are plain classes so that they are type-checked whether the
    peer is installed or not; the peer's base joins them only at run time.
    """
    return type(behaviour.__name__.lstrip("_"), (behaviour, base), {})


class _PykkaCounter:
    actor_ref: Any

    def __init__(self, left: int, finish: Finish) -> None:
        super().__init__()
        self.left = left
        self.finish = finish

    def on_receive(self, message: Any) -> None:
        self.left -= 1
        if not self.left:
            self.finish.part_done()


class _PykkaEcho:
    def on_receive(self, message: Any) -> None:
        message.tell(message)


class _PykkaPinger:
    actor_ref: Any

    def __init__(self, peer: Any, left: int, finish: Finish) -> None:
        super().__init__()
        self.peer = peer
        self.left = left
        self.finish = finish

    def on_receive(self, message: Any) -> None:
        if self.left:
            self.left -= 1
            self.peer.tell(self.actor_ref)
        else:
            self.finish.part_done()


class _PykkaAnswer:
    def on_receive(self, message: Any) -> Any:
        return message


class PykkaPeer:
    """pykka's ThreadingActor: one thread per actor, tells and asks from outside."""

    note = (
        "ThreadingActor (a thread per actor); its 'await future' blocks the event "
        "loop until the answer comes"
    )

    def __init__(self, loop: LoopName) -> None:
        pykka = importlib.import_module("pykka")
        self.pykka = pykka
        self.version = _distribution_version("pykka")
        self.factory, _ = loop_factory(loop)

        base = pykka.ThreadingActor
        self.Counter = _on(base, _PykkaCounter)
        self.Echo = _on(base, _PykkaEcho)
        self.Pinger = _on(base, _PykkaPinger)
        self.Answer = _on(base, _PykkaAnswer)

    def cleanup(self) -> None:
        """Stop every actor the workload left running."""
        self.pykka.ActorRegistry.stop_all(timeout=PATIENCE)

    def tell(self, messages: int) -> Outcome:
        """Tells from the main thread to one actor, until the last is handled."""
        finish = Finish(1)
        tell = self.Counter.start(messages, finish).tell

        start = time.perf_counter()
        for message in range(messages):
            tell(message)
        end = finish.wait()

        return Outcome({"tell": messages / (end - start)}, messages)

    def fanout(self, messages: int, actors: int) -> Outcome:
        """Tells round-robin over ``actors`` actors."""
        rounds = max(1, messages // actors)
        finish = Finish(actors)
        tells = [self.Counter.start(rounds, finish).tell for _ in range(actors)]

        start = time.perf_counter()
        for round_ in range(rounds):
            for tell in tells:
                tell(round_)
        end = finish.wait()

        total = rounds * actors
        return Outcome({"fanout": total / (end - start)}, total)

    def pingpong(self, round_trips: int) -> Outcome:
        """An actor tells another its own ref, which tells it back."""
        finish = Finish(1)
        echo = self.Echo.start()
        pinger = self.Pinger.start(echo, round_trips, finish)

        start = time.perf_counter()
        pinger.tell(None)
        end = finish.wait()

        return Outcome({"pingpong": round_trips / (end - start)}, round_trips)

    def ask(self, asks: int) -> Outcome:
        """``await ref.ask(message, block=False)`` from a coroutine."""
        ref = self.Answer.start()

        async def asking() -> list[int]:
            clock = time.perf_counter_ns
            samples = []
            for index in range(asks):
                begin = clock()
                await ref.ask(index, block=False)
                samples.append(clock() - begin)
            return samples

        samples = run_async(self.factory, asking())
        return _ask_figures(samples, "ask-median", "ask-p99")

    def ask_thread(self, asks: int) -> Outcome:
        """``ref.ask(message, timeout=...)`` blocking the main thread."""
        ask = self.Answer.start().ask
        clock = time.perf_counter_ns
        samples = []

        for index in range(asks):
            begin = clock()
            ask(index, timeout=PATIENCE)
            samples.append(clock() - begin)

        return _ask_figures(samples, "ask-thread-median", "")

    def spawn(self, actors: int) -> Outcome:
        """``Actor.start()``, which starts the actor's thread."""
        start_actor = self.Answer.start

        begin = time.perf_counter()
        for _ in range(actors):
            start_actor()
        seconds = time.perf_counter() - begin

        return Outcome({"spawn": seconds / actors * 1e6}, actors)


class _ThespianCounter:
    send: Callable[[Any, Any], None]

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def receiveMessage(self, message: Any, sender: Any) -> None:  # noqa: N802
        if isinstance(message, int):
            self.count += 1
        elif message == "count":
            self.send(sender, self.count)


class _ThespianEcho:
    send: Callable[[Any, Any], None]

    def receiveMessage(self, message: Any, sender: Any) -> None:  # noqa: N802
        if isinstance(message, int):
            self.send(sender, message)


class _ThespianPinger:
    send: Callable[[Any, Any], None]

    def __init__(self) -> None:
        super().__init__()
        self.peer: Any = None
        self.left = 0

    def receiveMessage(self, message: Any, sender: Any) -> None:  # noqa: N802
        if isinstance(message, tuple):
            self.peer, self.left = message
            self.send(self.peer, 0)
        elif message == "left":
            self.send(sender, self.left)
        elif isinstance(message, int):
            self.left -= 1
            if self.left:
                self.send(self.peer, message)


class _ThespianAnswer(_ThespianEcho):
    """Answers an ask by sending the message back to the asker."""


class ThespianPeer:
    """thespian's in-process ``simpleSystemBase``."""

    note = (
        "ActorSystem('simpleSystemBase'), the in-process base, for a fair match "
        "with an in-process framework: every actor runs on the caller's thread "
        "inside tell/ask, so its 'ask from a thread' crosses no thread; it has no "
        "asyncio API"
    )

    def __init__(self, loop: LoopName) -> None:
        actors = importlib.import_module("thespian.actors")
        self.version = _distribution_version("thespian")
        self.actors = actors
        self._system: Any = None

        base = actors.Actor
        self.Counter = _on(base, _ThespianCounter)
        self.Echo = _on(base, _ThespianEcho)
        self.Pinger = _on(base, _ThespianPinger)
        self.Answer = _on(base, _ThespianAnswer)

    @property
    def system(self) -> Any:
        """The actor system of the running workload, started on first use."""
        if self._system is None:
            self._system = self.actors.ActorSystem(
                "simpleSystemBase", transientUnique=True
            )
        return self._system

    def cleanup(self) -> None:
        """Shut the workload's actor system down."""
        if self._system is not None:
            self._system.shutdown()
            self._system = None

    def _count(self, address: Any) -> int:
        count: int = self.system.ask(address, "count", PATIENCE)
        return count

    def tell(self, messages: int) -> Outcome:
        """``system.tell`` to one actor; each tell runs the actor before it returns."""
        system = self.system
        address = system.createActor(self.Counter)
        tell = system.tell

        start = time.perf_counter()
        for message in range(messages):
            tell(address, message)
        seconds = time.perf_counter() - start

        _expect("handled", messages, self._count(address))
        return Outcome({"tell": messages / seconds}, messages)

    def fanout(self, messages: int, actors: int) -> Outcome:
        """``system.tell`` round-robin over ``actors`` actors."""
        rounds = max(1, messages // actors)
        system = self.system
        addresses = [system.createActor(self.Counter) for _ in range(actors)]
        tell = system.tell

        start = time.perf_counter()
        for round_ in range(rounds):
            for address in addresses:
                tell(address, round_)
        seconds = time.perf_counter() - start

        handled = sum(self._count(address) for address in addresses)
        _expect("handled", rounds * actors, handled)
        return Outcome({"fanout": rounds * actors / seconds}, rounds * actors)

    def pingpong(self, round_trips: int) -> Outcome:
        """One actor sends to another, which sends back to its sender."""
        system = self.system
        echo = system.createActor(self.Echo)
        pinger = system.createActor(self.Pinger)

        start = time.perf_counter()
        system.tell(pinger, (echo, round_trips))
        seconds = time.perf_counter() - start

        _expect("round trips left", 0, system.ask(pinger, "left", PATIENCE))
        return Outcome({"pingpong": round_trips / seconds}, round_trips)

    def ask(self, asks: int) -> Outcome:
        """Not available: thespian has no asyncio API."""
        raise Unsupported("no asyncio API")

    def ask_thread(self, asks: int) -> Outcome:
        """``system.ask`` from the main thread."""
        system = self.system
        address = system.createActor(self.Answer)
        clock = time.perf_counter_ns
        samples = []

        for index in range(asks):
            begin = clock()
            system.ask(address, index, PATIENCE)
            samples.append(clock() - begin)

        return _ask_figures(samples, "ask-thread-median", "")

    def spawn(self, actors: int) -> Outcome:
        """``system.createActor``."""
        create = self.system.createActor
        actor_class = self.Answer

        begin = time.perf_counter()
        for _ in range(actors):
            create(actor_class)
        seconds = time.perf_counter() - begin

        return Outcome({"spawn": seconds / actors * 1e6}, actors)


class _XoscarCounter:
    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left
        self.end = 0.0

    def count(self, message: Any) -> None:
        self.left -= 1
        if not self.left:
            self.end = time.perf_counter()

    def finished(self) -> float:
        return self.end


class _XoscarEcho:
    async def pong(self, sender: Any, message: Any) -> None:
        await sender.ping.tell(message)


class _XoscarPinger:
    ref: Callable[[], Any]

    def __init__(self, peer: Any, left: int) -> None:
        super().__init__()
        self.peer = peer
        self.left = left
        self.end = 0.0

    async def ping(self, message: Any) -> None:
        if self.left:
            self.left -= 1
            await self.peer.pong.tell(self.ref(), message)
        else:
            self.end = time.perf_counter()

    def finished(self) -> float:
        return self.end


class _XoscarAnswer:
    def answer(self, message: Any) -> Any:
        return message


class XoscarPeer:
    """xoscar actors in one actor pool of this process, on a loopback address."""

    note = (
        "one actor pool in this process (create_actor_pool on 127.0.0.1, "
        "n_process=0); every call is a coroutine, so it has no thread API"
    )

    def __init__(self, loop: LoopName) -> None:
        xo = importlib.import_module("xoscar")
        self.xo = xo
        self.version = _distribution_version("xoscar")
        self.factory, _ = loop_factory(loop)
        self.Counter = _on(xo.Actor, _XoscarCounter)
        self.Echo = _on(xo.Actor, _XoscarEcho)
        self.Pinger = _on(xo.Actor, _XoscarPinger)
        self.Answer = _on(xo.Actor, _XoscarAnswer)

    def cleanup(self) -> None:
        """Nothing to do: each workload closes its own pool."""

    def _in_pool(self, work: Callable[[str], Coroutine[Any, Any, Outcome]]) -> Outcome:
        async def pooled() -> Outcome:
            pool = await self.xo.create_actor_pool(f"127.0.0.1:{_free_port()}", 0)
            async with pool:
                return await asyncio.wait_for(work(pool.external_address), PATIENCE)

        return run_async(self.factory, pooled())

    async def _finished(self, refs: Sequence[Any]) -> float:
        # Why poll: the actors sit behind the pool's channel, and a stamp read by a
        # call is the one signal that does not depend on how xoscar passes objects.
        ends = [0.0]
        for ref in refs:
            while not (end := await ref.finished()):  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            ends.append(end)
        return max(ends)

    def tell(self, messages: int) -> Outcome:
        """``await ref.count.tell(m)`` to one actor, until the last is handled."""

        async def work(address: str) -> Outcome:
            ref = await self.xo.create_actor(self.Counter, messages, address=address)
            tell = ref.count.tell
            start = time.perf_counter()
            for message in range(messages):
                await tell(message)
            end = await self._finished([ref])
            return Outcome({"tell": messages / (end - start)}, messages)

        return self._in_pool(work)

    def fanout(self, messages: int, actors: int) -> Outcome:
        """``await ref.count.tell(m)`` round-robin over ``actors`` actors."""
        rounds = max(1, messages // actors)

        async def work(address: str) -> Outcome:
            create = self.xo.create_actor
            refs = [await create(self.Counter, rounds, address=address)]
            refs += [await create(self.Counter, rounds, address=address)
                     for _ in range(actors - 1)]  # fmt: skip
            tells = [ref.count.tell for ref in refs]
            start = time.perf_counter()
            for round_ in range(rounds):
                for tell in tells:
                    await tell(round_)
            end = await self._finished(refs)
            return Outcome({"fanout": rounds * actors / (end - start)}, rounds * actors)

        return self._in_pool(work)

    def pingpong(self, round_trips: int) -> Outcome:
        """An actor tells another its own ref, which tells it back."""

        async def work(address: str) -> Outcome:
            echo = await self.xo.create_actor(self.Echo, address=address)
            pinger = await self.xo.create_actor(
                self.Pinger, echo, round_trips, address=address
            )
            start = time.perf_counter()
            await pinger.ping.tell(None)
            end = await self._finished([pinger])
            return Outcome({"pingpong": round_trips / (end - start)}, round_trips)

        return self._in_pool(work)

    def ask(self, asks: int) -> Outcome:
        """``await ref.answer(m)`` from a coroutine."""

        async def work(address: str) -> Outcome:
            answer = (await self.xo.create_actor(self.Answer, address=address)).answer
            clock = time.perf_counter_ns
            samples = []
            for index in range(asks):
                begin = clock()
                await answer(index)
                samples.append(clock() - begin)
            return _ask_figures(samples, "ask-median", "ask-p99")

        return self._in_pool(work)

    def ask_thread(self, asks: int) -> Outcome:
        """Not available: every xoscar call is a coroutine."""
        raise Unsupported("no blocking API: every call is a coroutine")

    def spawn(self, actors: int) -> Outcome:
        """``await xo.create_actor(...)``."""

        async def work(address: str) -> Outcome:
            create = self.xo.create_actor
            begin = time.perf_counter()
            for _ in range(actors):
                await create(self.Answer, address=address)
            seconds = time.perf_counter() - begin
            return Outcome({"spawn": seconds / actors * 1e6}, actors)

        return self._in_pool(work)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RayPeer:
    """Ray actors on a local ``ray.init``: one worker process per actor."""

    note = "local ray.init(); every actor is a worker process, calls cross processes"

    def __init__(self, loop: LoopName) -> None:
        ray = importlib.import_module("ray")
        self.ray = ray
        self.version = str(ray.__version__)
        self.factory, _ = loop_factory(loop)
        ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2)

        class Answer:
            def __init__(self) -> None:
                self.count = 0

            def tell(self, message: Any) -> None:
                self.count += 1

            def ask(self, message: Any) -> Any:
                return message

            def handled(self) -> int:
                return self.count

        self.Answer = ray.remote(Answer)

    def cleanup(self) -> None:
        """Leave the local cluster up for the next workload; the child ends it."""

    def tell(self, messages: int) -> Outcome:
        """``actor.tell.remote(m)`` without waiting, then one call to sync."""
        actor = self.Answer.remote()
        self.ray.get(actor.handled.remote(), timeout=PATIENCE)
        tell = actor.tell.remote

        start = time.perf_counter()
        for message in range(messages):
            tell(message)
        handled = self.ray.get(actor.handled.remote(), timeout=PATIENCE)
        seconds = time.perf_counter() - start

        _expect("handled", messages, handled)
        return Outcome({"tell": messages / seconds}, messages)

    def fanout(self, messages: int, actors: int) -> Outcome:
        """Not run: a worker process per actor makes 1,000 actors impractical."""
        raise Unsupported("a process per actor: 1,000 actors is not practical")

    def pingpong(self, round_trips: int) -> Outcome:
        """Not run: an actor calling back into its caller needs async actors."""
        raise Unsupported("needs async ray actors calling each other; not measured")

    def ask(self, asks: int) -> Outcome:
        """``await actor.ask.remote(m)`` from a coroutine."""
        actor = self.Answer.remote()
        self.ray.get(actor.handled.remote(), timeout=PATIENCE)

        async def asking() -> list[int]:
            clock = time.perf_counter_ns
            samples = []
            for index in range(asks):
                begin = clock()
                await actor.ask.remote(index)
                samples.append(clock() - begin)
            return samples

        samples = run_async(self.factory, asking())
        return _ask_figures(samples, "ask-median", "ask-p99")

    def ask_thread(self, asks: int) -> Outcome:
        """``ray.get(actor.ask.remote(m))`` from the main thread."""
        actor = self.Answer.remote()
        get = self.ray.get
        get(actor.handled.remote(), timeout=PATIENCE)
        clock = time.perf_counter_ns
        samples = []

        for index in range(asks):
            begin = clock()
            get(actor.ask.remote(index), timeout=PATIENCE)
            samples.append(clock() - begin)

        return _ask_figures(samples, "ask-thread-median", "")

    def spawn(self, actors: int) -> Outcome:
        """``Actor.remote()`` until each actor answers its first call."""
        begin = time.perf_counter()
        handles = [self.Answer.remote() for _ in range(actors)]
        self.ray.get([h.handled.remote() for h in handles], timeout=PATIENCE)
        seconds = time.perf_counter() - begin

        return Outcome({"spawn": seconds / actors * 1e6}, actors)


PEER_CLASSES: dict[str, Callable[[LoopName], Peer]] = {
    "pykka": PykkaPeer,
    "thespian": ThespianPeer,
    "xoscar": XoscarPeer,
    "ray": RayPeer,
}

# Per peer, the (full, quick) sizes: tell, fan-out messages, fan-out actors,
# ping-pong round trips, asks, spawned actors; each workload takes about a second.
SIZES = {
    "pykka": (Sizes(50_000, 20_000, 1_000, 20_000, 5_000, 1_000),
              Sizes(5_000, 2_000, 100, 2_000, 500, 100)),
    "thespian": (Sizes(100_000, 100_000, 1_000, 50_000, 20_000, 5_000),
                 Sizes(10_000, 10_000, 1_000, 5_000, 2_000, 1_000)),
    "xoscar": (Sizes(20_000, 20_000, 1_000, 5_000, 5_000, 1_000),
               Sizes(2_000, 2_000, 100, 500, 500, 100)),
    "ray": (Sizes(5_000, 0, 0, 0, 500, 8), Sizes(500, 0, 0, 0, 50, 2)),
}  # fmt: skip


def _expect(what: str, expected: int, counted: object) -> None:
    if counted != expected:
        raise RuntimeError(f"expected {expected:,} {what}, counted {counted!r}")


def _distribution_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _run_workload(peer: Peer, workload: str, sizes: Sizes) -> Outcome:
    try:
        if workload == "tell":
            return peer.tell(sizes.tell)
        if workload == "fanout":
            return peer.fanout(sizes.fanout, sizes.fanout_actors)
        if workload == "pingpong":
            return peer.pingpong(sizes.pingpong)
        if workload == "ask":
            return peer.ask(sizes.asks)
        if workload == "ask-thread":
            return peer.ask_thread(sizes.asks)
        if workload == "spawn":
            return peer.spawn(sizes.spawn)
        raise Unsupported(f"unknown workload {workload!r}")
    finally:
        peer.cleanup()


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def child_main(argv: Sequence[str] | None = None) -> int:
    """Run one peer's workloads and print a JSON line for each."""
    parser = argparse.ArgumentParser(description="run one peer's bench workloads")
    parser.add_argument("peer", choices=sorted(PEER_CLASSES))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loop", choices=get_args(LoopName), default="auto")
    args = parser.parse_args(argv)

    try:
        peer = PEER_CLASSES[args.peer](args.loop)
    except Exception as error:
        _emit({"unavailable": f"{type(error).__name__}: {error}"})
        return 0
    _emit({"version": peer.version, "note": peer.note})

    sizes = SIZES[args.peer][1 if args.quick else 0]
    for workload in args.workloads.split(","):
        try:
            outcome = _run_workload(peer, workload, sizes)
        except Unsupported as reason:
            _emit({"workload": workload, "reason": str(reason)})
        except Exception as error:
            _emit({"workload": workload, "reason": f"{type(error).__name__}: {error}"})
        else:
            _emit({"workload": workload, "figures": outcome.figures, "n": outcome.n})
    return 0


# -- the parent's side ------------------------------------------------------------

# What the reader queues when the child's output ends.
_ENDED: dict[str, Any] = {"ended": True}


def importable(name: str) -> bool:
    """Tell whether a peer could be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def run_peer(
    name: str,
    workloads: Sequence[str],
    *,
    quick: bool,
    loop: LoopName,
    timeout: float,
) -> PeerRun:
    """Run one peer's workloads in child processes; never raises for the peer's sake.

    Args:
        name: one of :data:`PEERS`.
        workloads: which of :data:`WORKLOADS` to run, in order.
        quick: use the small sizes.
        loop: the event loop for the workloads that run on one.
        timeout: seconds each workload (and the child's start) may take.
    """
    run = PeerRun(name, available=False)
    if not importable(name):
        run.reason = "not installed (the bench never installs peers)"
        return run
    if name not in PEER_CLASSES:
        run.reason = "installed, but the bench has no workloads for it yet"
        return run

    left = list(workloads)
    while left:
        _run_child(run, left, quick=quick, loop=loop, timeout=timeout)
        if not run.available:
            break
    return run


def _run_child(
    run: PeerRun, left: list[str], *, quick: bool, loop: LoopName, timeout: float
) -> None:
    """Run the workloads in ``left`` in one child, removing each one that ends."""
    command = [sys.executable, "-m", __name__, run.name, "--loop", loop]
    command += ["--workloads", ",".join(left)] + (["--quick"] if quick else [])
    with _child(command) as (lines, errors):
        header = _next_line(lines, timeout)
        if header is None or header is _ENDED or "unavailable" in header:
            what = "ended early" if header is _ENDED else "did not start in time"
            run.reason = _failure(header, errors, what)
            left.clear()
            return
        run.available = True
        run.version = header.get("version")
        run.note = header.get("note", "")

        while left:
            workload = left[0]
            record = _next_line(lines, timeout)
            if record is None or record is _ENDED:
                what = "ended early" if record is _ENDED else f"took over {timeout:g} s"
                run.outcomes[workload] = Outcome(reason=_failure(None, errors, what))
                left.pop(0)
                return
            run.outcomes[workload] = Outcome(
                figures=record.get("figures", {}),
                n=record.get("n", 0),
                reason=record.get("reason"),
            )
            left.pop(0)


@contextlib.contextmanager
def _child(
    command: list[str],
) -> Iterator[tuple[queue.Queue[dict[str, Any]], IO[str]]]:
    """Start a child whose JSON lines arrive on a queue; end it on the way out."""
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        assert process.stdout is not None
        reader = threading.Thread(
            target=_read_lines, args=(process.stdout, lines), daemon=True
        )
        reader.start()
        try:
            yield lines, errors
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            reader.join(5.0)
            process.stdout.close()


def _read_lines(stream: IO[str], lines: queue.Queue[dict[str, Any]]) -> None:
    for raw in stream:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            lines.put(record)
    lines.put(_ENDED)


def _next_line(
    lines: queue.Queue[dict[str, Any]], timeout: float
) -> dict[str, Any] | None:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _failure(header: dict[str, Any] | None, errors: IO[str], fallback: str) -> str:
    if header is not None and header is not _ENDED and "unavailable" in header:
        return str(header["unavailable"])
    errors.flush()
    errors.seek(0)
    tail = [line.strip() for line in errors.read().splitlines() if line.strip()]
    return f"{fallback}: {tail[-1]}" if tail else fallback


if __name__ == "__main__":
    sys.exit(child_main())
