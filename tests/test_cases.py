"""Scenarios from faults that users met in other actor frameworks."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Drive, Driver
from zactor import (
    Actor,
    ActorDeadError,
    AskTimeout,
    InvalidStateError,
    Reply,
)


class ThreadGate(Actor):
    """Blocks its thread on an event from the driver; for dispatcher='thread'."""

    def __init__(self, entered: Any, gate: Any) -> None:
        self.entered = entered
        self.gate = gate

    def receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            self.gate.wait(5)
        return message


class LoopGate(Actor):
    """Awaits an event from the driver in its handler; runs on the loop.

    The wait runs on a thread of the loop's executor, so that the handler stays
    suspended while the loop goes on.
    """

    def __init__(self, entered: Any, gate: Any) -> None:
        self.entered = entered
        self.gate = gate

    async def receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            await asyncio.to_thread(self.gate.wait, 5)
        return message


class SelfStopper(Actor):
    """Stops itself from on_start, and checks that it cannot block on that stop."""

    def __init__(self, record: Callable[[Any], None]) -> None:
        self.record = record

    def on_start(self) -> None:
        reply = self.context.stop()
        started = time.monotonic()
        try:
            reply.result(timeout=2)
        except InvalidStateError as error:
            self.record(("blocking wait refused", type(error).__name__))
        self.record(("waited", time.monotonic() - started))

    def on_stop(self) -> None:
        self.record(("on_stop", self.context.path))


class Crashy(Actor):
    """Looks up a missing key on a tell; answers asks."""

    def __init__(self) -> None:
        self.accounts: dict[str, int] = {}

    def receive(self, message: Any) -> Any:
        if message == "boom":
            return self.accounts["missing"]
        return f"still here: {message}"


@dataclass(frozen=True)
class Slowly:
    """Answer ``value`` after ``delay`` seconds of awaiting."""

    value: str
    delay: float = 0.0


class SlowEcho(Actor):
    """An async handler that sleeps, then echoes."""

    async def receive(self, message: Slowly) -> str:
        await asyncio.sleep(message.delay)
        return f"echo:{message.value}"


class WithHook(Actor):
    """An async on_stop that sleeps, then records."""

    def __init__(self, events: Any) -> None:
        self.events = events

    async def on_stop(self) -> None:
        await asyncio.sleep(0.05)
        self.events.append("stopped")


class Named(Actor):
    """Answers with a label given at spawn."""

    def __init__(self, label: str) -> None:
        self.label = label

    def receive(self, message: Any) -> str:
        return self.label


def test_reply_wakes_every_waiter_with_the_same_value() -> None:
    """C01: eight threads wait on one reply; all get its value; a second set fails."""
    reply: Reply[int] = Reply()
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(9)

    def waiter(timeout: float | None) -> None:
        barrier.wait(timeout=5)
        try:
            value = reply.result(timeout)
        except BaseException as error:
            errors.append(error)
            return
        with lock:
            results.append(value)

    threads = [
        threading.Thread(target=waiter, args=(2.0 if n % 2 else None,), daemon=True)
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=5)
    reply.set_result(42)
    for thread in threads:
        thread.join(timeout=1)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert results == [42] * 8
    started = time.monotonic()
    assert reply.result(timeout=0) == 42
    assert time.monotonic() - started < 0.05
    with pytest.raises(InvalidStateError):
        reply.set_result(99)
    with pytest.raises(InvalidStateError):
        reply.set_exception(RuntimeError("too late"))
    assert reply.result() == 42


def test_reply_waiters_on_an_actor_answer_all_get_it(drive: Drive) -> None:
    """C01 through an actor: threads and the scenario share one ask's reply."""

    async def scenario(d: Driver) -> None:
        echo = d.spawn(SlowEcho)
        reply = echo.ask(Slowly("shared", 0.1), timeout=5)
        results: list[str] = []

        def wait() -> None:
            results.append(reply.result(timeout=2))

        threads = [threading.Thread(target=wait) for _ in range(8)]
        for thread in threads:
            thread.start()
        mine = await d.result(reply)
        for thread in threads:
            await d.blocking(thread.join, 2)

        assert mine == "echo:shared"
        assert results == ["echo:shared"] * 8

    drive(scenario)


@pytest.mark.parametrize("gate_kind", ["thread", "loop"])
def test_stops_and_asks_queued_behind_a_blocked_handler_all_complete(
    drive: Drive, gate_kind: str
) -> None:
    """C02: two stops and five asks behind a blocked handler all complete in 1 s."""

    async def scenario(d: Driver) -> None:
        entered, gate = d.event(), d.event()
        if gate_kind == "thread":
            actor = d.spawn(ThreadGate, entered, gate, dispatcher="thread")
        else:
            actor = d.spawn(LoopGate, entered, gate)

        d.tell(actor, "block")
        assert await d.wait(entered)
        first, second = actor.stop(), actor.stop()
        late = [actor.ask(f"ping {n}", timeout=10) for n in range(5)]

        gate.set()
        started = time.monotonic()
        stops = [await d.result(first, 1), await d.result(second, 1)]
        failures = []
        for reply in late:
            with pytest.raises(ActorDeadError) as caught:
                await d.result(reply, 1)
            failures.append(caught.value)
        elapsed = time.monotonic() - started
        shutdown_started = time.monotonic()
        await d.shutdown(timeout=1)
        shutdown_took = time.monotonic() - shutdown_started

        assert stops == [True, False]
        assert len(failures) == 5
        assert elapsed < 1.0
        assert shutdown_took < 1.0
        assert d.system.terminated

    drive(scenario)


@pytest.mark.parametrize("dispatcher", ["default", "thread"])
def test_self_stop_in_on_start_runs_on_stop_exactly_once(
    drive: Drive, dispatcher: str
) -> None:
    """C03: a stop from on_start ends the actor; on_stop runs once, whatever follows."""

    async def scenario(d: Driver) -> None:
        record = d.collector()

        actor = d.spawn(SelfStopper, record, name="self-stopper", dispatcher=dispatcher)
        await d.blocking(record.wait_for, 3)
        external = await d.stop(actor)
        await d.shutdown(timeout=2)

        assert external is False
        assert not actor.is_alive()
        entries = record.items
        assert entries[0] == ("blocking wait refused", "InvalidStateError")
        assert entries[1][0] == "waited"
        assert entries[1][1] < 0.5
        assert entries[2:] == [("on_stop", "/user/self-stopper")]

    drive(scenario)


def test_tell_failure_is_logged_and_the_actor_keeps_answering(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C04: a KeyError in a tell is logged at ERROR naming it; the next ask works."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Crashy, name="crashy")

        with caplog.at_level(logging.ERROR, logger="zactor"):
            d.tell(actor, "boom")
            answer = await d.ask(actor, "after")

        assert answer == "still here: after"
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert errors[0].exc_info is not None
        assert errors[0].exc_info[0] is KeyError
        assert "/user/crashy" in errors[0].getMessage()
        assert "KeyError" in caplog.text

    drive(scenario)


def test_ask_timeout_is_honoured_while_the_handler_still_runs(drive: Drive) -> None:
    """C05: ask(timeout=0.2) to a 0.5 s handler fails in 0.35 s; no stale answer."""

    async def scenario(d: Driver) -> None:
        echo = d.spawn(SlowEcho)

        started = time.monotonic()
        with pytest.raises(AskTimeout):
            await d.ask(echo, Slowly("a", 0.5), timeout=0.2)
        elapsed = time.monotonic() - started
        answer = await d.ask(echo, Slowly("b"), timeout=2)

        assert elapsed < 0.35
        assert answer == "echo:b"
        assert d.system.dead_letters.by_reason == {"late reply": 1}

    drive(scenario)


def test_async_on_stop_runs_before_stop_and_shutdown_return(drive: Drive) -> None:
    """C11: an async on_stop has run when stop() returns, and again under shutdown."""

    async def scenario(d: Driver) -> None:
        events = d.journal()
        first = d.spawn(WithHook, events)

        stopped = await d.stop(first)
        after_stop = list(events)
        second = d.spawn(WithHook, events)
        await d.shutdown(timeout=2)

        assert stopped is True
        assert after_stop == ["stopped"]
        assert events == ["stopped", "stopped"]
        assert not second.is_alive()

    drive(scenario)


def test_name_is_reusable_after_stop(drive: Drive) -> None:
    """A name freed by a completed stop can be spawned again at once."""

    async def scenario(d: Driver) -> None:
        old = d.spawn(Named, "old", name="worker")
        await d.stop(old)

        new = d.spawn(Named, "new", name="worker")
        answer = await d.ask(new, "who")

        assert answer == "new"
        assert new != old
        assert d.system.lookup("/user/worker") == new

    drive(scenario)
