"""Dead letters and the event stream."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Collector, Drive, Driver
from zactor import (
    Actor,
    ActorDeadError,
    ActorRef,
    ActorStarted,
    ActorStopped,
    DeadLetter,
    Event,
)


class Echo(Actor):
    """Answers with the message."""

    def receive(self, message: Any) -> Any:
        return message


class Gate(Actor):
    """Blocks its thread on a gate in the first message; for dispatcher='thread'.

    ``entered`` and ``gate`` are events shared with the test (``d.event()``).
    """

    def __init__(self, entered: Any, gate: Any) -> None:
        self.entered = entered
        self.gate = gate

    def receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            self.gate.wait(5)
        return message


class Inbox(Actor):
    """An actor subscriber: keeps the events it is told."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "events":
            return list(self.events)
        self.events.append(message)
        return None


@dataclass(frozen=True)
class Crowd:
    """Asks a :class:`Crowder` to queue messages and a stop at a blocked target."""

    target: ActorRef
    gate: Any


class Crowder(Actor):
    """Queues three tells, a stop, two asks and four tells, then opens the gate.

    Spawned near a blocked target: within one process a tell, an ask or a stop is
    queued when it returns, so all of them wait behind the blocking message before
    the gate opens, which sends from another process cannot promise. Answers with
    the stop's outcome and, for each ask, what it raised (or its answer).
    """

    async def receive(self, message: Crowd) -> tuple[bool, list[Any]]:
        target = message.target
        for n in range(3):
            target.tell(f"before {n}")
        stop = target.stop()
        asks = [target.ask(f"ask {n}", timeout=5) for n in range(2)]
        for n in range(4):
            target.tell(f"after {n}")
        message.gate.set()
        stopped = await stop
        outcomes: list[Any] = []
        for reply in asks:
            try:
                outcomes.append(await reply)
            except ActorDeadError as error:
                outcomes.append(error)
        return stopped, outcomes


def test_messages_behind_a_stop_are_dead_letters_and_asks_fail(drive: Drive) -> None:
    """A stop reached while busy: queued tells are dead letters, queued asks fail."""

    async def scenario(d: Driver) -> None:
        entered, gate = d.event(), d.event()
        actor = d.spawn(Gate, entered, gate, dispatcher="thread")
        letters = Collector()
        d.system.events.subscribe(DeadLetter, letters)
        d.tell(actor, "block")
        assert await d.wait(entered)

        # Placement is for systems with workers; without, every actor is in this one.
        near = actor if d.system.worker_pids() else None
        crowder = d.spawn(Crowder, near=near)
        stopped, outcomes = await d.ask(crowder, Crowd(actor, gate))
        await d.blocking(letters.wait_for, 7)

        assert stopped is True
        assert [type(outcome) for outcome in outcomes] == [ActorDeadError] * 2
        told = [x.message for x in letters.items if not x.message.startswith("ask")]
        assert told == ["before 0", "before 1", "before 2"] + [
            f"after {n}" for n in range(4)
        ]
        assert all(x.recipient == actor for x in letters.items)
        assert all(x.reason == "actor stopped" for x in letters.items)

    drive(scenario)


def test_tell_after_termination_is_a_dead_letter(drive: Drive) -> None:
    """Each tell to a terminated actor counts one dead letter naming the actor."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Echo, name="gone")
        letters = Collector()
        d.system.events.subscribe(DeadLetter, letters)
        await d.stop(actor)

        for n in range(3):
            d.tell(actor, n)
        got = await d.blocking(letters.wait_for, 3)

        assert [(x.message, x.recipient, x.reason) for x in got] == [
            (0, actor, "actor stopped"),
            (1, actor, "actor stopped"),
            (2, actor, "actor stopped"),
        ]
        assert d.system.dead_letters.count == 3
        assert d.system.dead_letters.by_reason == {"actor stopped": 3}

    drive(scenario)


def test_ask_after_termination_fails_at_once(drive: Drive) -> None:
    """An ask to a terminated actor raises ActorDeadError well before its timeout."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Echo, name="gone")
        await d.stop(actor)

        started = time.monotonic()
        with pytest.raises(ActorDeadError, match="/user/gone"):
            await d.ask(actor, "anyone?", timeout=5)
        elapsed = time.monotonic() - started

        assert elapsed < 0.5

    drive(scenario)


def test_event_stream_delivers_lifecycle_events_by_type(drive: Drive) -> None:
    """Subscribers get ActorStarted, ActorStopped and DeadLetter by their type."""

    async def scenario(d: Driver) -> None:
        started, stopped, letters, everything = (Collector() for _ in range(4))
        events = d.system.events
        events.subscribe(ActorStarted, started)
        events.subscribe(ActorStopped, stopped)
        events.subscribe(DeadLetter, letters)
        events.subscribe(Event, everything)

        actor = d.spawn(Echo, name="watched")
        await d.stop(actor)
        d.tell(actor, "too late")
        await d.blocking(letters.wait_for, 1)
        await d.blocking(stopped.wait_for, 1)

        assert started.items == [ActorStarted(actor)]
        assert stopped.items == [ActorStopped(actor)]
        assert [(x.message, x.recipient) for x in letters.items] == [
            ("too late", actor)
        ]
        assert [type(x) for x in everything.items] == [
            ActorStarted,
            ActorStopped,
            DeadLetter,
        ]

    drive(scenario)


def test_an_actor_can_subscribe_to_events(drive: Drive) -> None:
    """An actor ref subscriber is told every event of its type."""

    async def scenario(d: Driver) -> None:
        inbox = d.spawn(Inbox)
        d.system.events.subscribe(DeadLetter, inbox)
        target = d.spawn(Echo)
        await d.stop(target)

        d.tell(target, "first")
        d.tell(target, "second")
        witness = Collector()
        d.system.events.subscribe(DeadLetter, witness)
        d.tell(target, "third")
        await d.blocking(witness.wait_for, 1)
        got = await d.ask(inbox, "events")

        assert [(x.message, x.recipient) for x in got] == [
            ("first", target),
            ("second", target),
            ("third", target),
        ]

    drive(scenario)


def test_unsubscribe_stops_delivery(drive: Drive) -> None:
    """After cancel or unsubscribe, a subscriber gets nothing more."""

    async def scenario(d: Driver) -> None:
        target = d.spawn(Echo)
        await d.stop(target)
        cancelled, removed, witness = Collector(), Collector(), Collector()
        events = d.system.events
        by_cancel = events.subscribe(DeadLetter, cancelled)
        by_unsubscribe = events.subscribe(DeadLetter, removed)
        events.subscribe(DeadLetter, witness)

        d.tell(target, "seen by all")
        await d.blocking(witness.wait_for, 1)
        by_cancel.cancel()
        events.unsubscribe(by_unsubscribe)
        events.unsubscribe(by_unsubscribe)
        d.tell(target, "seen by the witness only")
        got = await d.blocking(witness.wait_for, 2)

        assert [x.message for x in got] == ["seen by all", "seen by the witness only"]
        assert [x.message for x in cancelled.items] == ["seen by all"]
        assert [x.message for x in removed.items] == ["seen by all"]

    drive(scenario)


def test_a_failing_subscriber_does_not_stop_the_others(drive: Drive) -> None:
    """A subscriber that raises is logged; the next subscriber still gets the event."""

    def broken(event: DeadLetter) -> None:
        raise RuntimeError("subscriber bug")

    async def scenario(d: Driver) -> None:
        target = d.spawn(Echo)
        await d.stop(target)
        witness = Collector()
        d.system.events.subscribe(DeadLetter, broken)
        d.system.events.subscribe(DeadLetter, witness)

        d.tell(target, "letter")
        got = await d.blocking(witness.wait_for, 1)

        assert [x.message for x in got] == ["letter"]

    drive(scenario)


def test_subscribe_rejects_what_is_not_an_event_type_or_subscriber(
    drive: Drive,
) -> None:
    """subscribe raises TypeError for a non-event type or a non-callable."""

    async def scenario(d: Driver) -> None:
        events = d.system.events

        with pytest.raises(TypeError, match="int"):
            events.subscribe(int, print)  # type: ignore[type-var]
        with pytest.raises(TypeError, match="42"):
            events.subscribe(DeadLetter, 42)  # type: ignore[arg-type]

    drive(scenario)
