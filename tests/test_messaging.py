"""Tell, ask and forward: delivery, ordering per sender, senders, threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conftest import Drive, Driver
from zactor import Actor, ActorRef, handler


@dataclass(frozen=True)
class Get:
    """Ask a recorder for what it has seen."""


class Recorder(Actor):
    """Keeps every message it is told; answers Get with the list."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, Get):
            return list(self.seen)
        self.seen.append(message)
        return None


class SenderRecorder(Actor):
    """Puts the context.sender of every message it is told in ``senders``.

    ``senders`` is a collector shared with the test (``d.collector()``), so that
    the test can wait for messages that came through another actor.
    """

    def __init__(self, senders: Callable[[ActorRef | None], None]) -> None:
        self.senders = senders

    def receive(self, message: Any) -> None:
        self.senders(self.context.sender)


class Relay(Actor):
    """Tells its target whatever it is told, from inside its own handler."""

    def __init__(self, target: ActorRef) -> None:
        self.target = target

    def receive(self, message: Any) -> None:
        self.target.tell(message)


class Front(Actor):
    """Forwards everything to the back actor."""

    def __init__(self, back: ActorRef) -> None:
        self.back = back

    def receive(self, message: Any) -> str:
        self.back.forward(message)
        return "answered by the front"


class Back(Actor):
    """Answers with who it is and what it got; puts who sent it in ``senders``.

    ``senders`` is a collector shared with the test (``d.collector()``), which can
    wait on it for a message that came by a way the test does not see end.
    """

    def __init__(self, senders: Callable[[ActorRef | None], None]) -> None:
        self.senders = senders

    def receive(self, message: Any) -> Any:
        self.senders(self.context.sender)
        return ("back", message)


class Doubler(Actor):
    """A sync receive: answers twice the number."""

    def receive(self, message: int) -> int:
        return message * 2


class AsyncDoubler(Actor):
    """An async receive that awaits before it answers."""

    async def receive(self, message: int) -> int:
        await asyncio.sleep(0)
        return message * 2


class OneAtATime(Actor):
    """An async handler that awaits mid-way and tracks how many run at once."""

    def __init__(self) -> None:
        self.busy = 0
        self.most = 0

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Get):
            return self.most
        self.busy += 1
        self.most = max(self.most, self.busy)
        await asyncio.sleep(0.002)
        self.busy -= 1
        return message


class Shape:
    """Base of the message types below."""


@dataclass(frozen=True)
class Square(Shape):
    side: int


@dataclass(frozen=True)
class Circle(Shape):
    radius: int


@dataclass(frozen=True)
class Triangle(Shape):
    base: int


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class Resize:
    factor: int


class Geometry(Actor):
    """Handlers by annotation, by explicit type, by tuple, and a base fallback."""

    @handler
    def square(self, message: Square) -> str:
        return f"square {message.side}"

    @handler(Circle)
    async def circle(self, message: Circle) -> str:
        await asyncio.sleep(0)
        return f"circle {message.radius}"

    @handler((Rename, Resize))
    def edit(self, message: Rename | Resize) -> str:
        return f"edit {type(message).__name__}"

    @handler
    def shape(self, message: Shape) -> str:
        return f"some shape {type(message).__name__}"


class Slow(Actor):
    """A handler that blocks its thread; meant for dispatcher='thread'.

    It sets ``entered``, an event shared with the test (``d.event()``), first.
    """

    def __init__(self, entered: Any) -> None:
        self.entered = entered

    def receive(self, message: float) -> str:
        self.entered.set()
        time.sleep(message)
        return "slept"


def test_tells_from_one_sender_arrive_in_order(drive: Drive) -> None:
    """10,000 tells, then an ask: the actor saw every number, in the order sent."""

    async def scenario(d: Driver) -> None:
        recorder = d.spawn(Recorder)

        for number in range(10_000):
            d.tell(recorder, number)
        seen = await d.ask(recorder, Get())

        assert seen == list(range(10_000))

    drive(scenario)


def test_concurrent_threads_lose_nothing_and_keep_each_threads_order(
    drive: Drive,
) -> None:
    """Four threads tell 10,000 numbered messages at once: all arrive, each in order."""
    threads_count = 4
    per_thread = 10_000

    async def scenario(d: Driver) -> None:
        recorder = d.spawn(Recorder)
        start = threading.Barrier(threads_count)

        def send(worker: int) -> None:
            start.wait(timeout=5)
            for number in range(per_thread):
                recorder.tell((worker, number))

        threads = [
            threading.Thread(target=send, args=(w,)) for w in range(threads_count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            await d.blocking(thread.join, 10)
        seen = await d.ask(recorder, Get())

        assert len(seen) == threads_count * per_thread
        for worker in range(threads_count):
            mine = [number for who, number in seen if who == worker]
            assert mine == list(range(per_thread))

    drive(scenario)


def test_ask_is_answered_by_the_return_value_of_a_sync_receive(drive: Drive) -> None:
    """The value a sync receive returns is what the ask gets."""

    async def scenario(d: Driver) -> None:
        doubler = d.spawn(Doubler)

        answers = [await d.ask(doubler, n) for n in (1, 2, 21)]

        assert answers == [2, 4, 42]

    drive(scenario)


def test_ask_is_answered_by_the_return_value_of_an_async_receive(
    drive: Drive,
) -> None:
    """The value an async receive returns after awaiting is what the ask gets."""

    async def scenario(d: Driver) -> None:
        doubler = d.spawn(AsyncDoubler)

        answers = [await d.ask(doubler, n) for n in (1, 2, 21)]

        assert answers == [2, 4, 42]

    drive(scenario)


def test_handlers_are_chosen_by_message_type(drive: Drive) -> None:
    """A message goes to the handler of its type, else of its nearest base class."""

    async def scenario(d: Driver) -> None:
        geometry = d.spawn(Geometry)

        answers = [
            await d.ask(geometry, message)
            for message in (
                Square(3),
                Circle(5),
                Rename("x"),
                Resize(2),
                Triangle(4),
            )
        ]

        assert answers == [
            "square 3",
            "circle 5",
            "edit Rename",
            "edit Resize",
            "some shape Triangle",
        ]

    drive(scenario)


def test_sender_is_the_telling_actor_inside_a_handler_and_none_outside(
    drive: Drive,
) -> None:
    """context.sender: None for a tell from outside, the relay for a tell it made."""

    async def scenario(d: Driver) -> None:
        senders = d.collector()
        target = d.spawn(SenderRecorder, senders)
        relay = d.spawn(Relay, target)

        # Tells end at the target, which answers no one: the test waits for each
        # to arrive, since order holds only per sender.
        d.tell(target, "from outside")
        await d.blocking(senders.wait_for, 1)
        d.tell(relay, "through the relay")
        await d.ask(relay, "through the relay again")
        got = await d.blocking(senders.wait_for, 3)

        assert got == [None, relay, relay]

    drive(scenario)


def test_forward_keeps_the_original_sender_and_reply(drive: Drive) -> None:
    """The back actor answers the original ask and sees the original sender."""

    async def scenario(d: Driver) -> None:
        senders = d.collector()
        back = d.spawn(Back, senders)
        front = d.spawn(Front, back)
        relay = d.spawn(Relay, front)

        answer = await d.ask(front, "question")
        await d.ask(relay, "told via the relay")
        # The relay's tell goes on through the front; its end answers no one.
        await d.blocking(senders.wait_for, 2)
        await d.ask(front, "after it")

        assert answer == ("back", "question")
        assert senders.items == [None, relay, None]

    drive(scenario)


def test_async_handler_runs_one_message_at_a_time(drive: Drive) -> None:
    """Thirty asks queued at once at an awaiting handler never overlap, and all end."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(OneAtATime)

        replies = [actor.ask(n, timeout=5) for n in range(30)]
        answers = [await d.result(reply) for reply in replies]
        most = await d.ask(actor, Get())

        assert answers == list(range(30))
        assert most == 1

    drive(scenario)


def test_asks_from_many_threads_each_get_their_own_answer(drive: Drive) -> None:
    """Eight threads asking at once each get the answer to their own question."""

    async def scenario(d: Driver) -> None:
        doubler = d.spawn(Doubler)
        answers: dict[int, list[int]] = {}

        def ask_many(worker: int) -> None:
            base = worker * 1000
            answers[worker] = [
                doubler.ask(base + n, timeout=5).result() for n in range(200)
            ]

        threads = [threading.Thread(target=ask_many, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            await d.blocking(thread.join, 10)

        assert sorted(answers) == list(range(8))
        for worker, got in answers.items():
            assert got == [(worker * 1000 + n) * 2 for n in range(200)]

    drive(scenario)


def test_blocking_thread_actor_does_not_stall_loop_actors(drive: Drive) -> None:
    """While a thread-dispatcher handler sleeps 0.3 s, a loop actor answers in 0.1 s."""

    async def scenario(d: Driver) -> None:
        entered = d.event()
        slow = d.spawn(Slow, entered, dispatcher="thread")
        quick = d.spawn(Doubler)

        pending = slow.ask(0.3, timeout=5)
        assert await d.wait(entered)
        started = time.monotonic()
        answer = await d.ask(quick, 4)
        elapsed = time.monotonic() - started

        assert answer == 8
        assert elapsed < 0.1
        assert not pending.done()
        assert await d.result(pending) == "slept"

    drive(scenario)
