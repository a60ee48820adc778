"""Faults a user can provoke that must never freeze or silently break a system."""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from typing import Any

import pytest

from zactor import (
    Actor,
    ActorDeadError,
    ActorSystem,
    AskTimeout,
    Backoff,
    InvalidStateError,
    OneForOne,
    Reply,
    SystemShutDownError,
    handler,
)


class Echo(Actor):
    """Answers with the message."""

    def receive(self, message: Any) -> Any:
        return message


class Busy(Actor):
    """Spends half a millisecond per message."""

    def receive(self, message: Any) -> None:
        time.sleep(0.0005)


def test_a_busy_actor_lets_the_event_loop_run_every_few_milliseconds() -> None:
    """4,000 slow messages to one actor: a 10 ms heartbeat task keeps beating."""

    async def main() -> list[float]:
        async with ActorSystem() as system:
            gaps: list[float] = []
            stop = asyncio.Event()

            async def heartbeat() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            beat = asyncio.create_task(heartbeat())
            busy = system.spawn(Busy)
            for n in range(4000):
                busy.tell(n)
            await busy.ask("done?", timeout=30)
            stop.set()
            await beat
            return gaps

    gaps = asyncio.run(main())

    assert len(gaps) >= 50
    assert max(gaps) < 0.2


def test_an_idle_actor_answers_a_thread_while_another_works_through_a_backlog() -> None:
    """20,000 queued messages on one actor do not delay an ask to another."""
    with ActorSystem() as system:
        busy, echo = system.spawn(Busy), system.spawn(Echo)
        for n in range(20_000):
            busy.tell(n)

        answer = echo.ask("ping", timeout=1.0).result()

        assert answer == "ping"


class Quitter(Actor):
    """Raises what it is told to."""

    def receive(self, message: Any) -> Any:
        if message == "exit":
            sys.exit(2)
        if message == "base":
            raise Fatal("not an Exception subclass")
        return message


class Fatal(BaseException):
    """A BaseException that is not an Exception."""


@pytest.mark.parametrize("kind", ["exit", "base"])
def test_a_base_exception_in_a_handler_fails_only_that_actor(kind: str) -> None:
    """SystemExit or a custom BaseException: a supervised failure, the rest runs."""
    with ActorSystem(shutdown_timeout=1) as system:
        quitter, other = system.spawn(Quitter), system.spawn(Quitter)

        quitter.tell(kind)
        answer = other.ask("still alive?", timeout=2).result()
        again = quitter.ask("and you?", timeout=2).result()

        assert answer == "still alive?"
        assert again == "and you?"
        assert system.statistics().restarts == 1


def test_a_base_exception_on_the_thread_dispatcher_is_a_failure_too() -> None:
    """The pool thread survives and the actor is restarted."""
    with ActorSystem(shutdown_timeout=1) as system:
        quitter = system.spawn(Quitter, dispatcher="thread")

        quitter.tell("base")
        answer = quitter.ask("after", timeout=2).result()

        assert answer == "after"
        assert system.statistics().failures == 1


def test_a_strategy_refuses_a_backoff_that_is_not_a_backoff() -> None:
    """OneForOne(backoff=0.5) is refused when the strategy is built."""
    with pytest.raises(TypeError, match="backoff"):
        OneForOne(backoff=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reset_after"):
        Backoff(reset_after=-1)
    with pytest.raises(TypeError, match="minimum"):
        Backoff(minimum="1")  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0, -1, math.nan])
def test_a_receive_timeout_must_be_positive(seconds: float) -> None:
    """set_receive_timeout(0), negative or nan raises ValueError; nothing hangs."""

    class Idle(Actor):
        def receive(self, message: Any) -> Any:
            self.context.set_receive_timeout(seconds)

    with ActorSystem(shutdown_timeout=1.0) as system:
        idle, echo = system.spawn(Idle), system.spawn(Echo)

        with pytest.raises(ValueError, match="receive timeout"):
            idle.ask("set", timeout=2).result()
        assert echo.ask("ping", timeout=2).result() == "ping"


class Sink(Actor):
    """Takes everything."""

    def receive(self, message: Any) -> None:
        pass


def test_shutdown_ends_while_another_thread_keeps_telling() -> None:
    """A producer thread that never stops: shutdown still ends and says so."""
    system = ActorSystem().start()
    sink = system.spawn(Sink)
    sent = [0]
    refused = threading.Event()

    def produce() -> None:
        while True:
            try:
                sink.tell(sent[0])
            except SystemShutDownError:
                refused.set()
                return
            sent[0] += 1

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    threading.Event().wait(0.1)  # let the flood build up

    started = time.monotonic()
    system.shutdown(timeout=1.0)
    elapsed = time.monotonic() - started

    assert system.terminated is True
    assert elapsed < 2.5
    assert refused.wait(2.0)
    statistics = system.statistics()
    assert statistics.messages_handled + statistics.dead_letters == sent[0]


class Broker(Actor):
    """Defers every reply and never answers."""

    def __init__(self) -> None:
        self.waiting: list[Reply[Any]] = []

    def receive(self, message: Any) -> Any:
        if message == "how many?":
            return len(self.waiting)
        self.waiting.append(self.context.defer_reply())
        return None


def test_deferred_replies_fail_when_their_actor_stops() -> None:
    """A reply taken with defer_reply() and never answered fails at the stop."""
    with ActorSystem() as system:
        broker = system.spawn(Broker)
        reply = broker.ask("quote")
        assert broker.ask("how many?").result(timeout=1.0) == 1

        assert broker.stop().result(timeout=1.0) is True

        with pytest.raises(ActorDeadError):
            reply.result(timeout=1.0)


def test_a_blocking_shutdown_keeps_to_its_bound_when_a_handler_blocks_the_loop() -> (
    None
):
    """A sync handler sleeping 3 s on the loop: shutdown(1) returns within ~2 s."""

    class Blocker(Actor):
        def receive(self, message: Any) -> None:
            time.sleep(3)

    system = ActorSystem().start()
    system.spawn(Blocker).tell("go")
    threading.Event().wait(0.1)

    started = time.monotonic()
    system.shutdown(timeout=1.0)
    elapsed = time.monotonic() - started

    assert elapsed < 2.6


def test_watching_after_shutdown_answers_at_once() -> None:
    """system.watch(ref) after the system ended completes with Terminated."""
    system = ActorSystem().start()
    job = system.spawn(Echo)
    system.shutdown(timeout=1.0)

    notice = system.watch(job).result(timeout=1.0)

    assert notice.ref == job


def test_an_actor_forced_off_during_a_hung_start_is_dead_afterwards() -> None:
    """A start hook that never ends: after shutdown the actor is terminated."""

    class SlowStart(Actor):
        async def on_start(self) -> None:
            await asyncio.sleep(60)

    system = ActorSystem().start()
    ref = system.spawn(SlowStart)
    threading.Event().wait(0.05)

    system.shutdown(timeout=0.2)

    assert system.terminated is True
    assert ref.is_alive() is False
    assert system.statistics().failures == 0
    assert ref.stop().result(timeout=1.0) is False


def test_guardians_cannot_be_stopped_through_their_refs() -> None:
    """lookup('/user').stop() raises instead of leaving a half-dead system."""
    with ActorSystem() as system:
        user = system.lookup("/user")
        assert user is not None

        with pytest.raises(InvalidStateError, match="shutdown"):
            user.stop()
        assert system.spawn(Echo).ask("ok", timeout=1).result() == "ok"


def test_timeouts_and_senders_are_checked() -> None:
    """Infinite ask timeouts mean no bound; bad timeouts and senders are refused."""
    with pytest.raises(ValueError, match="timeout"):
        ActorSystem(shutdown_timeout=math.nan)
    with pytest.raises(ValueError, match="name"):
        ActorSystem(name="a/b")

    with ActorSystem() as system:
        echo = system.spawn(Echo)

        assert echo.ask("inf", timeout=math.inf).result() == "inf"
        with pytest.raises(ValueError, match="timeout"):
            echo.ask("x").result(timeout=math.nan)
        with pytest.raises(TypeError, match="sender"):
            echo.tell(1, sender="x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            system.shutdown(timeout=math.inf)
    assert repr(ActorSystem("never")) == "<ActorSystem 'never' not started>"


def test_two_handlers_for_one_type_in_one_class_are_refused() -> None:
    """A class with two @handler methods for the same type raises at definition."""
    with pytest.raises(TypeError, match="two handlers for int"):

        class Twice(Actor):
            @handler
            def first(self, message: int) -> None:
                pass

            @handler
            def second(self, message: int) -> None:
                pass


def test_ask_timeout_of_an_idle_wait_does_not_hang_the_caller() -> None:
    """An ask to an actor that never answers ends at its own timeout."""
    with ActorSystem() as system:
        broker = system.spawn(Broker)
        started = time.monotonic()

        with pytest.raises(AskTimeout):
            broker.ask("quote", timeout=0.2).result()

        assert time.monotonic() - started < 0.5
