"""Bad input and misuse: each fails at once with a named error."""

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
    ActorInitError,
    ActorRef,
    ActorSystem,
    AskCycleError,
    Event,
    InvalidNameError,
    InvalidStateError,
    NameTakenError,
    NotAnActorError,
    Reply,
    SystemShutDownError,
    handler,
)


class Echo(Actor):
    """Answers with the message."""

    def receive(self, message: Any) -> Any:
        return message


class AsyncEcho(Actor):
    """Answers with the message after a short await."""

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0.05)
        return message


class Plain:
    """Not an actor."""


class Narcissist(Actor):
    """Asks itself."""

    def receive(self, message: Any) -> Any:
        return self.context.self.ask(message, timeout=5)


class AsyncNarcissist(Actor):
    """Asks itself from an async handler."""

    async def receive(self, message: Any) -> Any:
        return await self.context.self.ask(message, timeout=5)


class Impatient(Actor):
    """Blocks on a reply from inside its handler, on the loop thread."""

    def __init__(self, other: ActorRef) -> None:
        self.other = other

    def receive(self, message: Any) -> Any:
        return self.other.ask(message, timeout=1).result()


class Terminator(Actor):
    """Calls the blocking system shutdown from inside a handler."""

    def receive(self, message: Any) -> str:
        self.context.system.shutdown(timeout=1)
        return "shutting down"

    def on_stop(self) -> None:
        self.context.system.events.publish(StoppedNote())


@dataclass(frozen=True)
class StoppedNote(Event):
    """Published by Terminator's on_stop."""


class BadConstructor(Actor):
    """Its constructor raises."""

    def __init__(self) -> None:
        raise ValueError("no config")


class BadStart(Actor):
    """Its on_start raises."""

    def on_start(self) -> None:
        raise ValueError("cannot open the ledger")

    def receive(self, message: Any) -> Any:
        return message


@pytest.mark.parametrize(
    "value",
    [Plain, object, 42, "Echo", Echo(), None],
    ids=["plain-class", "object", "int", "str", "actor-instance", "none"],
)
def test_spawning_a_non_actor_is_refused(drive: Drive, value: Any) -> None:
    """spawn raises NotAnActorError naming the value, for anything but Actor classes."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(NotAnActorError) as caught:
            d.spawn(value)

        assert repr(value) in str(caught.value)
        assert isinstance(caught.value, TypeError)

    drive(scenario)


@pytest.mark.parametrize(
    "name",
    ["shop/cart", "", "$1", "/", "tab\tname", "x" * 256, 42],
    ids=["slash", "empty", "dollar", "only-slash", "unprintable", "too-long", "int"],
)
def test_invalid_names_are_refused(drive: Drive, name: Any) -> None:
    """spawn raises InvalidNameError (a ValueError) for names paths cannot hold."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(InvalidNameError) as caught:
            d.spawn(Echo, name=name)

        assert isinstance(caught.value, ValueError)
        assert d.system.statistics().actors == 3

    drive(scenario)


def test_a_taken_name_is_refused(drive: Drive) -> None:
    """spawn raises NameTakenError for a live sibling's name."""

    async def scenario(d: Driver) -> None:
        first = d.spawn(Echo, name="taken")

        with pytest.raises(NameTakenError, match="taken"):
            d.spawn(Echo, name="taken")

        assert d.system.lookup("/user/taken") == first

    drive(scenario)


def test_spawn_after_shutdown_is_refused(drive: Drive) -> None:
    """spawn on a shut down system raises SystemShutDownError."""

    async def scenario(d: Driver) -> None:
        await d.shutdown(timeout=2)

        with pytest.raises(SystemShutDownError):
            d.spawn(Echo)

    drive(scenario)


def test_spawn_before_start_is_refused() -> None:
    """spawn on a system that never started raises SystemShutDownError."""
    system = ActorSystem()

    with pytest.raises(SystemShutDownError, match="not running"):
        system.spawn(Echo)


def test_tell_after_system_shutdown_raises(drive: Drive) -> None:
    """A tell to an actor of a shut down system raises SystemShutDownError."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Echo)
        await d.shutdown(timeout=2)

        with pytest.raises(SystemShutDownError):
            d.tell(actor, "anyone?")

    drive(scenario)


def test_ask_after_system_shutdown_fails_at_once(drive: Drive) -> None:
    """An ask to an actor of a shut down system fails with SystemShutDownError."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Echo)
        await d.shutdown(timeout=2)

        started = time.monotonic()
        with pytest.raises(SystemShutDownError):
            await d.ask(actor, "anyone?", timeout=5)
        elapsed = time.monotonic() - started

        assert elapsed < 0.5

    drive(scenario)


@pytest.mark.parametrize(
    ("actor_class", "dispatcher"),
    [(Narcissist, "default"), (AsyncNarcissist, "default"), (Narcissist, "thread")],
    ids=["sync", "async", "thread-dispatcher"],
)
def test_an_actor_asking_itself_fails_at_once(
    drive: Drive, actor_class: type[Actor], dispatcher: str
) -> None:
    """An ask of an actor to itself raises AskCycleError instead of hanging."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(actor_class, dispatcher=dispatcher)

        started = time.monotonic()
        with pytest.raises(AskCycleError, match="asked itself"):
            await d.ask(actor, "me?", timeout=5)
        elapsed = time.monotonic() - started

        assert elapsed < 0.5

    drive(scenario)


def test_blocking_on_a_reply_on_the_loop_thread_raises() -> None:
    """Reply.result() on the loop that must answer it raises InvalidStateError."""

    async def main() -> str:
        async with ActorSystem() as system:
            actor = system.spawn(AsyncEcho)
            reply = actor.ask("later", timeout=5)

            started = time.monotonic()
            with pytest.raises(InvalidStateError, match="await"):
                reply.result(timeout=2)
            elapsed = time.monotonic() - started

            assert elapsed < 0.5
            answer: str = await reply
            return answer

    assert asyncio.run(main()) == "later"


def test_blocking_on_a_reply_inside_a_handler_raises(drive: Drive) -> None:
    """A loop actor's handler blocking on a pending reply gets InvalidStateError."""

    async def scenario(d: Driver) -> None:
        impatient = d.spawn(Impatient, d.spawn(AsyncEcho))

        started = time.monotonic()
        with pytest.raises(InvalidStateError):
            await d.ask(impatient, "now")
        elapsed = time.monotonic() - started

        assert elapsed < 0.5

    drive(scenario)


def test_blocking_shutdown_on_the_loop_thread_raises() -> None:
    """system.shutdown() on the system's own loop raises InvalidStateError."""

    async def main() -> bool:
        async with ActorSystem() as system:
            with pytest.raises(InvalidStateError, match="ashutdown"):
                system.shutdown(timeout=1)
            return system.terminated

    assert asyncio.run(main()) is False


def test_shutdown_inside_a_handler_starts_it_and_returns() -> None:
    """A handler calling system.shutdown() returns at once; the system then ends.

    The handler's actor stops once its handler has returned, so its on_stop runs
    and the shutdown ends long before its timeout.
    """
    notes: list[StoppedNote] = []
    system = ActorSystem().start()
    system.events.subscribe(StoppedNote, notes.append)
    terminator = system.spawn(Terminator)

    started = time.monotonic()
    answer = terminator.ask("end it all").result(timeout=2)
    ended = system.watch(terminator).result(timeout=2)
    while not system.terminated and time.monotonic() - started < 2:
        threading.Event().wait(0.01)
    elapsed = time.monotonic() - started
    system.shutdown(timeout=1)

    assert answer == "shutting down"
    assert ended.ref == terminator
    assert system.terminated is True
    assert elapsed < 0.9
    assert len(notes) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"throughput": 0},
        {"throughput": 1.5},
        {"threads": 0},
        {"loop": "trio"},
        {"shutdown_timeout": 0},
        {"shutdown_timeout": "soon"},
    ],
    ids=["throughput-zero", "throughput-float", "threads", "loop", "timeout", "str"],
)
def test_system_options_are_checked(options: dict[str, Any]) -> None:
    """ActorSystem(...) raises ValueError naming the bad option's value."""
    with pytest.raises(ValueError) as caught:
        ActorSystem(**options)

    assert repr(next(iter(options.values()))) in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, "soon"], ids=["zero", "negative", "str"])
def test_shutdown_timeout_is_checked(timeout: Any) -> None:
    """shutdown(timeout=...) raises ValueError for a non-positive or non-number."""
    with ActorSystem() as system:
        with pytest.raises(ValueError, match=repr(timeout)):
            system.shutdown(timeout)

        assert system.terminated is False


def test_lookup_needs_an_absolute_path(drive: Drive) -> None:
    """lookup raises ValueError for a path that does not start with '/'."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(ValueError, match="user/x"):
            d.system.lookup("user/x")

    drive(scenario)


def test_unknown_dispatcher_is_refused(drive: Drive) -> None:
    """spawn raises ValueError for an unknown dispatcher name."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(ValueError, match="fast"):
            d.spawn(Echo, dispatcher="fast")

    drive(scenario)


def test_async_actor_on_the_thread_dispatcher_is_refused(drive: Drive) -> None:
    """An actor with async handlers cannot use dispatcher='thread'."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(ValueError, match="AsyncEcho"):
            d.spawn(AsyncEcho, dispatcher="thread")

    drive(scenario)


def test_handler_without_a_type_is_refused() -> None:
    """@handler needs a type from its argument or the annotation."""
    with pytest.raises(TypeError, match="annotation"):

        class NoAnnotation(Actor):
            @handler
            def anything(self, message):  # type: ignore[no-untyped-def]
                return message

    with pytest.raises(TypeError, match="42"):
        handler(42)  # type: ignore[call-overload]


def test_actor_created_directly_has_no_context() -> None:
    """An actor instantiated without spawn says so when it uses its context."""
    actor = Echo()

    with pytest.raises(RuntimeError, match="spawn"):
        _ = actor.context.self


def test_failing_constructor_fails_the_spawn(drive: Drive) -> None:
    """spawn raises the constructor's exception, and no actor takes the name."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(ValueError, match="no config"):
            d.spawn(BadConstructor, name="bad")

        assert d.system.lookup("/user/bad") is None
        assert d.spawn(Echo, name="bad").path == "/user/bad"

    drive(scenario)


def test_failing_on_start_fails_every_ask_with_actor_init_error(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """An actor whose on_start raised is dead; asks raise ActorInitError with cause."""

    async def scenario(d: Driver) -> None:
        with caplog.at_level(logging.ERROR, logger="zactor"):
            actor = d.spawn(BadStart, name="bad")
            with pytest.raises(ActorInitError) as caught:
                await d.ask(actor, "hello")

        assert isinstance(caught.value.__cause__, ValueError)
        assert str(caught.value.__cause__) == "cannot open the ledger"
        assert not actor.is_alive()
        assert any("/user/bad" in r.getMessage() for r in caplog.records)

    drive(scenario)


def test_starting_a_running_system_again_is_refused() -> None:
    """start() on a running system raises InvalidStateError."""
    with ActorSystem() as system, pytest.raises(InvalidStateError):
        system.start()


def test_starting_a_shut_down_system_is_refused() -> None:
    """A system cannot be started again once it shut down."""
    system = ActorSystem().start()
    system.shutdown(timeout=2)

    with pytest.raises(SystemShutDownError):
        system.start()


def test_reply_result_rejects_a_negative_timeout() -> None:
    """Reply.result(timeout=-1) raises ValueError naming the value."""
    reply: Reply[int] = Reply()

    with pytest.raises(ValueError, match="-1"):
        reply.result(timeout=-1)
