"""Replies: deferred answers, unhandled messages, timeouts, late and failed answers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Collector, Drive, Driver
from zactor import (
    Actor,
    ActorRef,
    ActorSystem,
    AskTimeout,
    DeadLetter,
    Reply,
    UnhandledMessageError,
    handler,
)


@dataclass(frozen=True)
class Slowly:
    """Answer ``value`` after ``delay`` seconds of awaiting."""

    value: str
    delay: float = 0.0


class SlowEcho(Actor):
    """An async handler that sleeps, then echoes."""

    async def receive(self, message: Slowly) -> str:
        await asyncio.sleep(message.delay)
        return message.value


class OnlyInts(Actor):
    """Handles ints and nothing else."""

    @handler
    def number(self, message: int) -> int:
        return message + 1


class Clerk(Actor):
    """Takes the reply of each ask and hands it to a helper to answer."""

    def __init__(self, helper: ActorRef) -> None:
        self.helper = helper

    def receive(self, message: Any) -> str:
        self.helper.tell((self.context.defer_reply(), message))
        return "not this"


class Helper(Actor):
    """Answers deferred replies it is told about."""

    def receive(self, message: tuple[Reply[Any], Any]) -> None:
        reply, question = message
        reply.set_result(f"helper answers {question}")


class Parker(Actor):
    """Parks the reply of every message with a collector that the test answers."""

    def __init__(self, parked: Callable[[Any], None]) -> None:
        self.parked = parked

    def receive(self, message: Any) -> None:
        self.parked(self.context.defer_reply())


class UpstreamError(Exception):
    """A domain error raised by a handler."""


class Failing(Actor):
    """Raises what it is asked to raise; answers anything else."""

    def receive(self, message: Any) -> Any:
        if isinstance(message, BaseException):
            raise message
        return f"fine {message}"


class AsyncFailing(Actor):
    """The async twin of Failing."""

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0)
        if isinstance(message, BaseException):
            raise message
        return f"fine {message}"


# A deferred reply is answered in the process that made it: it cannot be sent to
# an actor in another process, nor parked in an object shared across processes.
DEFERRED_HERE = "a deferred reply is answered in the process of the actor that made it"


class Sleeper(Actor):
    """Blocks its thread; meant for dispatcher='thread'."""

    def receive(self, message: float) -> str:
        time.sleep(message)
        return "woke"


def test_unhandled_ask_fails_and_counts_a_dead_letter(drive: Drive) -> None:
    """An ask nobody handles raises UnhandledMessageError; one 'unhandled' letter."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(OnlyInts)
        letters = Collector()
        d.system.events.subscribe(DeadLetter, letters)

        with pytest.raises(UnhandledMessageError, match="str"):
            await d.ask(actor, "not a number")
        answer = await d.ask(actor, 41)

        assert answer == 42
        assert d.system.dead_letters.by_reason == {"unhandled": 1}
        assert [(x.message, x.recipient, x.reason) for x in letters.items] == [
            ("not a number", actor, "unhandled")
        ]

    drive(scenario)


def test_unhandled_tell_counts_a_dead_letter(drive: Drive) -> None:
    """A tell nobody handles is a dead letter with reason 'unhandled'."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(OnlyInts)

        d.tell(actor, "not a number")
        d.tell(actor, b"nor this")
        await d.ask(actor, 1)

        assert d.system.dead_letters.by_reason == {"unhandled": 2}
        assert d.system.statistics().dead_letters == 2

    drive(scenario)


@pytest.mark.in_process(DEFERRED_HERE)
def test_deferred_reply_is_answered_by_another_actor(drive: Drive) -> None:
    """defer_reply: the handler's return value is ignored; the helper's answer wins."""

    async def scenario(d: Driver) -> None:
        helper = d.spawn(Helper)
        clerk = d.spawn(Clerk, helper)

        answers = [await d.ask(clerk, n) for n in range(3)]

        assert answers == ["helper answers 0", "helper answers 1", "helper answers 2"]

    drive(scenario)


@pytest.mark.in_process(DEFERRED_HERE)
def test_deferred_reply_is_answered_from_another_thread(drive: Drive) -> None:
    """A deferred reply completed from a plain thread reaches the asker."""

    async def scenario(d: Driver) -> None:
        parked = d.collector()
        parker = d.spawn(Parker, parked)

        pending = parker.ask("question", timeout=5)
        (deferred,) = await d.blocking(parked.wait_for, 1)
        answerer = threading.Thread(target=deferred.set_result, args=("later",))
        answerer.start()
        answer = await d.result(pending)
        await d.blocking(answerer.join, 5)

        assert answer == "later"

    drive(scenario)


@pytest.mark.in_process(DEFERRED_HERE)
def test_deferred_reply_of_a_tell_is_harmless(drive: Drive) -> None:
    """defer_reply in a tell returns a reply nobody waits on; setting it is fine."""

    async def scenario(d: Driver) -> None:
        parked = d.collector()
        parker = d.spawn(Parker, parked)

        d.tell(parker, "no answer wanted")
        pending = parker.ask("now one", timeout=5)
        for_tell, for_ask = await d.blocking(parked.wait_for, 2)
        for_tell.set_result("ignored")
        for_ask.set_result("answered")

        assert await d.result(pending) == "answered"
        assert for_tell.result(timeout=0) == "ignored"

    drive(scenario)


def test_late_answer_never_reaches_a_later_ask(drive: Drive) -> None:
    """After a timed-out ask, the next ask gets its own answer; the late one is dead."""

    async def scenario(d: Driver) -> None:
        echo = d.spawn(SlowEcho)
        letters = Collector()
        d.system.events.subscribe(DeadLetter, letters)

        with pytest.raises(AskTimeout):
            await d.ask(echo, Slowly("stale", 0.5), timeout=0.2)
        answer = await d.ask(echo, Slowly("fresh"), timeout=2)

        assert answer == "fresh"
        assert d.system.dead_letters.by_reason == {"late reply": 1}
        assert [(x.message, x.reason) for x in letters.items] == [
            ("stale", "late reply")
        ]

    drive(scenario)


@pytest.mark.parametrize(
    "timeout",
    [0, -1, -0.5, float("nan"), "1", [1]],
    ids=["zero", "negative", "negative-float", "nan", "str", "list"],
)
def test_ask_rejects_a_timeout_that_is_not_a_positive_number(
    drive: Drive, timeout: Any
) -> None:
    """ask(timeout=...) raises ValueError naming the value for bad timeouts."""

    async def scenario(d: Driver) -> None:
        echo = d.spawn(SlowEcho)

        with pytest.raises(ValueError) as caught:
            echo.ask(Slowly("x"), timeout=timeout)

        assert repr(timeout) in str(caught.value)

    drive(scenario)


def test_ask_error_reaches_the_caller_with_type_and_message(drive: Drive) -> None:
    """A handler's exception is raised to the asker, sync and async handlers alike."""

    async def scenario(d: Driver) -> None:
        sync_actor = d.spawn(Failing)
        async_actor = d.spawn(AsyncFailing)

        for actor in (sync_actor, async_actor):
            with pytest.raises(UpstreamError, match=r"^ledger closed$"):
                await d.ask(actor, UpstreamError("ledger closed"))
            with pytest.raises(KeyError, match="missing"):
                await d.ask(actor, KeyError("missing"))

        assert await d.ask(sync_actor, 1) == "fine 1"
        assert await d.ask(async_actor, 2) == "fine 2"

    drive(scenario)


def test_user_timeout_error_is_not_an_ask_timeout(drive: Drive) -> None:
    """A handler's own TimeoutError arrives as itself, at once; the actor goes on."""

    async def scenario(d: Driver) -> None:
        for actor in (d.spawn(Failing), d.spawn(AsyncFailing)):
            started = time.monotonic()
            with pytest.raises(TimeoutError) as caught:
                await d.ask(actor, TimeoutError("upstream slow"), timeout=5)
            elapsed = time.monotonic() - started

            assert type(caught.value) is TimeoutError
            assert not isinstance(caught.value, AskTimeout)
            assert str(caught.value) == "upstream slow"
            assert elapsed < 1.0
            assert await d.ask(actor, "next") == "fine next"

    drive(scenario)


def test_tell_error_is_logged_with_traceback_and_actor_keeps_running(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """A tell's exception is logged at ERROR with the path; the next ask is answered."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Failing, name="ledger")

        with caplog.at_level(logging.ERROR, logger="zactor"):
            d.tell(actor, UpstreamError("ledger closed"))
            answer = await d.ask(actor, "next")

        assert answer == "fine next"
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "/user/ledger" in errors[0].getMessage()
        assert errors[0].exc_info is not None
        assert errors[0].exc_info[0] is UpstreamError
        assert "Traceback" in caplog.text
        assert "ledger closed" in caplog.text

    drive(scenario)


def test_blocking_handler_on_thread_dispatcher_times_out_for_a_thread_caller() -> None:
    """A thread caller's ask to a time.sleep(0.5) handler fails within 0.2 + 0.15 s."""
    with ActorSystem() as system:
        sleeper = system.spawn(Sleeper, dispatcher="thread")

        started = time.monotonic()
        with pytest.raises(AskTimeout):
            sleeper.ask(0.5, timeout=0.2).result()
        elapsed = time.monotonic() - started
        answer = sleeper.ask(0.0, timeout=2).result()

        assert elapsed < 0.35
        assert answer == "woke"
        assert system.dead_letters.by_reason == {"late reply": 1}


def test_result_timeout_overrides_the_ask_timeout_for_one_wait() -> None:
    """reply.result(timeout) bounds that one wait; the reply itself stays pending."""
    with ActorSystem() as system:
        echo = system.spawn(SlowEcho)
        reply = echo.ask(Slowly("late", 0.5), timeout=10)

        started = time.monotonic()
        with pytest.raises(AskTimeout):
            reply.result(timeout=0.1)
        elapsed = time.monotonic() - started

        assert elapsed < 0.25
        assert not reply.done()
        assert reply.result(timeout=5) == "late"
        assert system.dead_letters.count == 0
