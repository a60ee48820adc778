"""Lifecycle: start and stop hooks, stop semantics, statistics, system shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Drive, Driver
from zactor import (
    Actor,
    ActorDeadError,
    ActorRef,
    ActorSystem,
)


class SyncStart(Actor):
    """Answers whether on_start ran before the message."""

    def __init__(self) -> None:
        self.started = False

    def on_start(self) -> None:
        self.started = True

    def receive(self, message: Any) -> bool:
        return self.started


class AsyncStart(Actor):
    """An async on_start that awaits before it is done."""

    def __init__(self) -> None:
        self.started = False

    async def on_start(self) -> None:
        await asyncio.sleep(0.05)
        self.started = True

    def receive(self, message: Any) -> bool:
        return self.started


class Counted(Actor):
    """Counts its on_stop calls in a shared list."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops

    def receive(self, message: Any) -> Any:
        if message == "quit":
            self.context.stop()
            return "bye"
        if isinstance(message, tuple) and message[0] == "spawn":
            return self.context.spawn(Counted, self.stops, name=message[1])
        return message

    def on_stop(self) -> None:
        self.stops.append(self.context.path)


class Stopping(Counted):
    """A Counted that stops a child on request and answers with the stop's outcome.

    It awaits the stop reply itself, because a reply is bound to the process that
    made it and cannot be handed to a caller elsewhere.
    """

    async def receive(self, message: Any) -> Any:
        if isinstance(message, ActorRef):
            stopped: bool = await self.context.stop(message)
            return stopped
        return super().receive(message)


class BrokenStop(Actor):
    """An on_stop that raises."""

    def receive(self, message: Any) -> Any:
        return message

    def on_stop(self) -> None:
        raise RuntimeError("cleanup failed")


@dataclass(frozen=True)
class Nap:
    """Sleep this long in the handler."""

    seconds: float


class Napper(Actor):
    """An async handler that sleeps as long as it is told."""

    def __init__(self, entered: threading.Event) -> None:
        self.entered = entered

    async def receive(self, message: Nap) -> str:
        self.entered.set()
        await asyncio.sleep(message.seconds)
        return "rested"


def test_sync_on_start_runs_before_the_first_message(drive: Drive) -> None:
    """A sync on_start has run by the time the first message is handled."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(SyncStart)

        started = await d.ask(actor, "started?")

        assert started is True

    drive(scenario)


def test_async_on_start_finishes_before_the_first_message(drive: Drive) -> None:
    """Messages sent while an async on_start awaits are handled after it ends."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(AsyncStart)

        started = await d.ask(actor, "started?")

        assert started is True

    drive(scenario)


def test_stop_reports_true_once_and_false_after(drive: Drive) -> None:
    """Two stops at once: True then False; a stop after termination: False."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        actor = d.spawn(Counted, stops, name="counted")

        first, second = actor.stop(), actor.stop()
        outcomes = [await d.result(first, 2), await d.result(second, 2)]
        late = await d.stop(actor)

        assert outcomes == [True, False]
        assert late is False
        assert stops == ["/user/counted"]
        assert not actor.is_alive()

    drive(scenario)


def test_is_alive_until_the_actor_terminated(drive: Drive) -> None:
    """is_alive is True while running and False once the stop completed."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Counted, [])

        before = actor.is_alive()
        await d.stop(actor)

        assert before is True
        assert actor.is_alive() is False

    drive(scenario)


def test_context_stop_ends_the_actor_after_the_current_message(drive: Drive) -> None:
    """An actor that stops itself still answers the ask it was handling."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        actor = d.spawn(Counted, stops, name="quitter")

        answer = await d.ask(actor, "quit")
        again = await d.stop(actor)

        assert answer == "bye"
        assert again is False
        assert stops == ["/user/quitter"]
        assert not actor.is_alive()

    drive(scenario)


def test_context_stop_of_a_child_stops_only_the_child(drive: Drive) -> None:
    """context.stop(child) stops that child; the parent keeps running."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        parent = d.spawn(Stopping, stops, name="parent")
        child = await d.ask(parent, ("spawn", "child"))

        stopped = await d.ask(parent, child)

        assert stopped is True
        assert stops == ["/user/parent/child"]
        assert await d.ask(parent, "still here") == "still here"

    drive(scenario)


def test_failing_on_stop_is_logged_and_the_actor_still_stops(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in on_stop is logged at ERROR; the stop still completes."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(BrokenStop, name="broken")

        with caplog.at_level(logging.ERROR, logger="zactor"):
            stopped = await d.stop(actor)

        assert stopped is True
        assert not actor.is_alive()
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "/user/broken" in errors[0].getMessage()
        assert errors[0].exc_info is not None
        assert errors[0].exc_info[0] is RuntimeError

    drive(scenario)


def test_statistics_count_spawns_messages_and_stops(drive: Drive) -> None:
    """statistics() moves by exactly what the actors did."""

    async def scenario(d: Driver) -> None:
        before = d.system.statistics()
        actor = d.spawn(Counted, [])
        for n in range(5):
            d.tell(actor, n)
        await d.ask(actor, "last")
        during = d.system.statistics()

        assert during.spawned - before.spawned == 1
        assert during.actors - before.actors == 1
        assert during.messages_handled - before.messages_handled == 6
        assert during.dead_letters == before.dead_letters == 0

    drive(scenario)


def test_shutdown_stops_children_before_parents(drive: Drive) -> None:
    """Shutdown runs every on_stop once, each child's before its parent's."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        root = d.spawn(Counted, stops, name="root")
        a = await d.ask(root, ("spawn", "a"))
        await d.ask(root, ("spawn", "b"))
        await d.ask(a, ("spawn", "a1"))
        lone = d.spawn(Counted, stops, name="lone")

        await d.shutdown(timeout=2)
        order = list(stops)

        assert sorted(order) == [
            "/user/lone",
            "/user/root",
            "/user/root/a",
            "/user/root/a/a1",
            "/user/root/b",
        ]
        assert order.index("/user/root/a/a1") < order.index("/user/root/a")
        assert order.index("/user/root/a") < order.index("/user/root")
        assert order.index("/user/root/b") < order.index("/user/root")
        assert not root.is_alive()
        assert not lone.is_alive()
        assert d.system.terminated

    drive(scenario)


def test_shutdown_with_a_long_handler_returns_within_its_timeout(
    drive: Drive,
) -> None:
    """A handler sleeping 30 s and queued asks: shutdown(timeout=1) ends in 1.5 s."""

    async def scenario(d: Driver) -> None:
        entered = d.event()
        napper = d.spawn(Napper, entered, name="napper")
        bystanders = [d.spawn(Counted, []) for _ in range(3)]
        running = napper.ask(Nap(30), timeout=10)
        queued = [napper.ask(Nap(0), timeout=10) for _ in range(3)]
        d.tell(napper, Nap(0))
        assert await d.wait(entered)

        started = time.monotonic()
        await d.shutdown(timeout=1)
        elapsed = time.monotonic() - started

        assert elapsed < 1.5
        assert d.system.terminated
        assert not napper.is_alive()
        assert not any(ref.is_alive() for ref in bystanders)
        assert d.system.statistics().actors == 0
        for reply in queued:
            with pytest.raises(ActorDeadError):
                await d.result(reply, 1)
        running.cancel()

    drive(scenario)


def test_shutdown_fails_the_ask_whose_handler_it_cut_short(drive: Drive) -> None:
    """The ask being handled when shutdown gives up fails with ActorDeadError."""

    async def scenario(d: Driver) -> None:
        entered = d.event()
        napper = d.spawn(Napper, entered, name="napper")
        running = napper.ask(Nap(30), timeout=10)
        assert await d.wait(entered)

        await d.shutdown(timeout=0.5)

        with pytest.raises(ActorDeadError):
            await d.result(running, 1)

    drive(scenario)


def test_shutdown_twice_is_harmless(drive: Drive) -> None:
    """A second shutdown returns at once and changes nothing."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        d.spawn(Counted, stops, name="once")

        await d.shutdown(timeout=2)
        started = time.monotonic()
        await d.shutdown(timeout=2)
        elapsed = time.monotonic() - started

        assert stops == ["/user/once"]
        assert elapsed < 0.5
        assert d.system.terminated

    drive(scenario)


def test_async_with_runs_actors_on_the_running_loop() -> None:
    """Inside 'async with', the system's loop is the caller's loop."""

    async def main() -> tuple[bool, bool]:
        async with ActorSystem() as system:
            same = system.loop is asyncio.get_running_loop()
        return same, system.terminated

    same, terminated = asyncio.run(main())

    assert same is True
    assert terminated is True


def test_with_block_runs_a_loop_thread_and_joins_it_on_exit() -> None:
    """'with ActorSystem()' starts a loop thread, and leaving the block ends it."""
    name = "lifecycle-thread-check"

    with ActorSystem(name) as system:
        during = [t.name for t in threading.enumerate()]
        ref: ActorRef = system.spawn(Counted, [])
        answer = ref.ask("hello", timeout=2).result()

    after = [t.name for t in threading.enumerate()]
    assert f"zactor-{name}" in during
    assert f"zactor-{name}" not in after
    assert answer == "hello"
    assert system.terminated
    system.shutdown(timeout=1)
