"""Failure sites and the failure cases other actor frameworks are known to get wrong."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import PATIENCE, Collector, Drive, Driver
from zactor import (
    DEFAULT_MAX_RESTARTS,
    ESCALATE,
    RESTART,
    RESUME,
    STOP,
    Actor,
    ActorDeadError,
    ActorFailed,
    ActorInitError,
    ActorRef,
    ActorRestarted,
    AskTimeout,
    DeadLetter,
    OneForOne,
    SupervisorStrategy,
    Terminated,
)

ALWAYS = 10**9


class Boom(Exception):
    """The failure the test actors raise on request."""


@dataclass
class Script:
    """What a Scripted actor should fail at, shared by all its instances.

    Each count is how many more times that site raises; constructions after the
    first are the ones ``init`` counts, so that spawn itself succeeds. The counts
    live with the actor's instances; the journal is read by the scenario, so a
    scenario passes one from its driver.
    """

    first_init: bool = False
    init: int = 0
    start: int = 0
    post_restart: int = 0
    stop: bool = False
    journal: Any = field(default_factory=list)
    raised: list[Exception] = field(default_factory=list)

    @property
    def built(self) -> int:
        """How many instances were constructed so far, failed ones included."""
        return sum(1 for entry in self.journal if entry.startswith("init#"))

    def take(self, site: str) -> bool:
        """Whether ``site`` fails this time; counts the failure down."""
        left: int = getattr(self, site)
        if left <= 0:
            return False
        setattr(self, site, left - 1)
        return True


class Scripted(Actor):
    """Journals each hook as ``hook#instance`` and fails where its Script says."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.number = script.built + 1
        script.journal.append(f"init#{self.number}")
        if self.number == 1 and script.first_init:
            script.raised.append(ValueError("no config"))
            raise script.raised[-1]
        if self.number > 1 and script.take("init"):
            raise ValueError("init failed")

    def note(self, hook: str) -> None:
        self.script.journal.append(f"{hook}#{self.number}")

    def on_start(self) -> Any:
        self.note("on_start")
        if self.script.take("start"):
            raise ValueError("start failed")

    def pre_restart(self, error: BaseException, message: Any) -> None:
        self.note("pre_restart")

    def post_restart(self, error: BaseException) -> Any:
        self.note("post_restart")
        if self.script.take("post_restart"):
            raise ValueError("post_restart failed")
        return super().post_restart(error)

    def on_stop(self) -> None:
        self.note("on_stop")
        if self.script.stop:
            raise RuntimeError("cleanup failed")

    def receive(self, message: Any) -> Any:
        if message == "fail":
            raise Boom("handler failed")
        if message == "restarts":
            return self.context.restarts
        return message


class AsyncScripted(Scripted):
    """The same, with an async on_start and an async handler."""

    async def on_start(self) -> None:
        await asyncio.sleep(0.005)
        Scripted.on_start(self)

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0)
        return Scripted.receive(self, message)


class Echo(Actor):
    """Answers every message with itself."""

    def receive(self, message: Any) -> Any:
        return message


class Watcher(Actor):
    """Watches the ref it is asked about; records every other message it receives."""

    def __init__(self, arrived: Any) -> None:
        self.arrived = arrived
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, ActorRef):
            return self.context.watch(message)
        if message == "seen":
            return list(self.seen)
        if message == "ping":
            return "pong"
        self.seen.append(message)
        if isinstance(message, Terminated):
            self.arrived.set()
        return None


def subscribe(d: Driver, event_type: type[Any]) -> Collector:
    """Collect every event of ``event_type`` from now on."""
    collector = Collector()
    d.system.events.subscribe(event_type, collector)
    return collector


def ended_by_start_failure(terminated: Terminated, message: str) -> bool:
    """Whether a Terminated names a failed start caused by ValueError(message)."""
    cause = terminated.cause
    return (
        isinstance(cause, ActorInitError)
        and isinstance(cause.__cause__, ValueError)
        and str(cause.__cause__) == message
    )


# -- failure sites that recover ---------------------------------------------------


RECOVERIES: dict[str, tuple[Script, type[Scripted], list[str]]] = {
    "on_start": (
        Script(start=1),
        Scripted,
        ["init#1", "on_start#1", "init#2", "post_restart#2", "on_start#2"],
    ),
    "async on_start": (
        Script(start=1),
        AsyncScripted,
        ["init#1", "on_start#1", "init#2", "post_restart#2", "on_start#2"],
    ),
}

# A handler failure up to the construction of the second instance.
RESTARTED_ONCE = ["init#1", "on_start#1", "pre_restart#1", "on_stop#1", "init#2"]

AFTER_A_HANDLER_FAILURE: dict[str, tuple[Script, list[str]]] = {
    "constructor on restart": (
        Script(init=1),
        [*RESTARTED_ONCE, "init#3", "post_restart#3", "on_start#3"],
    ),
    "post_restart": (
        Script(post_restart=1),
        [*RESTARTED_ONCE, "post_restart#2", "init#3", "post_restart#3", "on_start#3"],
    ),
}


@pytest.mark.parametrize("site", list(RECOVERIES))
def test_a_start_that_fails_once_is_restarted_and_then_runs(
    drive: Drive, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed on_start is a failure: one restart, then the actor answers."""

    async def scenario(d: Driver) -> None:
        template, actor_class, expected = RECOVERIES[site]
        script = Script(start=template.start, journal=d.journal())
        failed = subscribe(d, ActorFailed)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            actor = d.spawn(actor_class, script)
            answer = await d.ask(actor, "hello")

        assert answer == "hello"
        assert await d.ask(actor, "restarts") == 1
        assert script.journal == expected
        [event] = failed.of(ActorFailed)
        assert isinstance(event.error, ValueError)
        assert event.message is None

    drive(scenario)


@pytest.mark.parametrize("site", list(AFTER_A_HANDLER_FAILURE))
def test_a_restart_that_fails_once_is_retried_and_then_runs(
    drive: Drive, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed constructor or post_restart during a restart is retried once."""

    async def scenario(d: Driver) -> None:
        template, expected = AFTER_A_HANDLER_FAILURE[site]
        script = Script(
            init=template.init,
            post_restart=template.post_restart,
            journal=d.journal(),
        )
        restarted = subscribe(d, ActorRestarted)
        actor = d.spawn(Scripted, script)

        with caplog.at_level(logging.ERROR, logger="zactor"), pytest.raises(Boom):
            await d.ask(actor, "fail")
        answer = await d.ask(actor, "hello")

        assert answer == "hello"
        assert await d.ask(actor, "restarts") == 1
        assert len(restarted.of(ActorRestarted)) == 1
        assert script.journal == expected

    drive(scenario)


def test_an_async_handler_failure_restarts_the_actor(drive: Drive) -> None:
    """An async handler's exception reaches the asker; the actor is restarted."""

    async def scenario(d: Driver) -> None:
        script = Script(journal=d.journal())
        actor = d.spawn(AsyncScripted, script)

        with pytest.raises(Boom, match="handler failed"):
            await d.ask(actor, "fail")

        assert await d.ask(actor, "restarts") == 1
        assert script.journal == [
            "init#1",
            "on_start#1",
            "pre_restart#1",
            "on_stop#1",
            "init#2",
            "post_restart#2",
            "on_start#2",
        ]

    drive(scenario)


# -- failure sites that end the actor ---------------------------------------------


def test_a_failing_constructor_fails_the_spawn_with_the_same_exception(
    drive: Drive,
) -> None:
    """C13: spawn raises the constructor's own exception; no actor takes the name."""

    async def scenario(d: Driver) -> None:
        script = Script(first_init=True, journal=d.journal())
        before = d.system.statistics()

        with pytest.raises(ValueError, match="no config") as caught:
            d.spawn(Scripted, script, name="broken")

        assert type(caught.value) is ValueError
        assert str(caught.value) == "no config"
        assert d.system.lookup("/user/broken") is None
        assert d.system.statistics().spawned == before.spawned
        assert script.journal == ["init#1"]

    drive(scenario)


@pytest.mark.in_process(
    "the very exception object the constructor raised; from another process, "
    "spawn raises an equal copy of it"
)
def test_a_failing_constructor_fails_the_spawn_with_the_very_exception_object(
    drive: Drive,
) -> None:
    """C13: what spawn raises is the object the constructor raised, not a wrapper."""

    async def scenario(d: Driver) -> None:
        script = Script(first_init=True)

        with pytest.raises(ValueError) as caught:
            d.spawn(Scripted, script)

        assert caught.value is script.raised[0]

    drive(scenario)


@pytest.mark.parametrize("directive", [STOP, RESUME], ids=["stop", "resume"])
def test_a_start_failure_under_stop_or_resume_ends_the_actor(
    drive: Drive, directive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An instance that never started cannot resume: RESUME there acts as STOP."""

    async def scenario(d: Driver) -> None:
        script = Script(start=ALWAYS, journal=d.journal())

        with caplog.at_level(logging.ERROR, logger="zactor"):
            actor = d.spawn(Scripted, script, supervisor=OneForOne(default=directive))
            terminated = await d.result(d.system.watch(actor), PATIENCE)
            with pytest.raises(ActorInitError) as caught:
                await d.ask(actor, "hello")

        assert ended_by_start_failure(terminated, "start failed")
        assert isinstance(caught.value.__cause__, ValueError)
        assert str(caught.value.__cause__) == "start failed"
        assert script.journal == ["init#1", "on_start#1"]

    drive(scenario)


def test_a_start_that_always_fails_stops_after_the_restart_limit(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """max_restarts=2: three starts, then stopped, with no on_stop or pre_restart."""

    async def scenario(d: Driver) -> None:
        script = Script(start=ALWAYS, journal=d.journal())

        with caplog.at_level(logging.ERROR, logger="zactor"):
            actor = d.spawn(Scripted, script, supervisor=OneForOne(max_restarts=2))
            terminated = await d.result(d.system.watch(actor), PATIENCE)

        assert ended_by_start_failure(terminated, "start failed")
        assert script.journal == [
            "init#1",
            "on_start#1",
            "init#2",
            "post_restart#2",
            "on_start#2",
            "init#3",
            "post_restart#3",
            "on_start#3",
        ]

    drive(scenario)


def test_an_always_failing_start_with_unlimited_restarts_does_not_hang_the_system(
    tmp_path: Path,
) -> None:
    """Unlimited restarts of a start that always fails leave the others running."""
    # A child process with a hard time bound: a runtime that retries in a loop of
    # its own never gives the event loop back, and would hang this process.
    program = textwrap.dedent(
        """
        import os

        from zactor import Actor, ActorSystem, AskTimeout, OneForOne

        class Bad(Actor):
            def on_start(self):
                raise ValueError("start failed")

        class Echo(Actor):
            def receive(self, message):
                return message

        with ActorSystem(shutdown_timeout=1.0) as system:
            echo = system.spawn(Echo)
            bad = system.spawn(Bad, supervisor=OneForOne(max_restarts=None))
            try:
                print(echo.ask("alive", timeout=1.0).result(), flush=True)
            except AskTimeout:
                print("starved", flush=True)
                os._exit(1)  # a starved loop would also stall the shutdown
            print(bad.stop().result(1.0), flush=True)
        """
    )
    script = tmp_path / "unlimited.py"
    script.write_text(program)

    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the actor system hung on an always-failing start")

    assert done.stdout.split() == ["alive", "True"]
    assert done.returncode == 0


# -- every failure is counted once --------------------------------------------------


@dataclass(frozen=True)
class Site:
    """How to provoke one failure of a Scripted actor."""

    script: Script
    actor_class: type[Scripted] = Scripted
    message: str | None = "fail"
    stop: bool = False


SITES: dict[str, Site] = {
    "tell": Site(Script()),
    "async tell": Site(Script(), AsyncScripted),
    "on_start": Site(Script(start=1), message=None),
    "constructor on restart": Site(Script(init=1)),
    "post_restart": Site(Script(post_restart=1)),
    "on_stop": Site(Script(stop=True), message=None, stop=True),
}

EXTRA_FAILURES = {"constructor on restart": 1, "post_restart": 1}


@pytest.mark.parametrize("site", list(SITES))
def test_every_failure_is_counted_once_in_statistics_and_events(
    drive: Drive, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    """statistics().failures and ActorFailed events agree for every failure site."""

    async def scenario(d: Driver) -> None:
        chosen = SITES[site]
        template = chosen.script
        script = Script(
            init=template.init,
            start=template.start,
            post_restart=template.post_restart,
            stop=template.stop,
            journal=d.journal(),
        )
        failed = subscribe(d, ActorFailed)
        before = d.system.statistics().failures

        with caplog.at_level(logging.CRITICAL, logger="zactor"):
            actor = d.spawn(chosen.actor_class, script)
            if chosen.message is not None:
                d.tell(actor, chosen.message)
            await d.ask(actor, "settled?")
            if chosen.stop:
                await d.stop(actor)

        expected = 1 + EXTRA_FAILURES.get(site, 0)
        assert len(failed.of(ActorFailed)) == expected
        assert d.system.statistics().failures - before == expected

    drive(scenario)


# -- cases from other frameworks ----------------------------------------------------


def test_constructor_failing_on_every_restart_ends_the_actor_with_init_error(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C13: a constructor failing on every restart: bounded attempts, then dead."""

    async def scenario(d: Driver) -> None:
        script = Script(init=ALWAYS, journal=d.journal())
        restarted = subscribe(d, ActorRestarted)
        actor = d.spawn(Scripted, script, supervisor=OneForOne(max_restarts=3))
        notice = d.system.watch(actor)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            with pytest.raises(Boom):
                await d.ask(actor, "fail")
            terminated = await d.result(notice, PATIENCE)
            with pytest.raises(ActorInitError) as caught:
                await d.ask(actor, "hello")

        assert isinstance(caught.value.__cause__, ValueError)
        assert str(caught.value.__cause__) == "init failed"
        assert ended_by_start_failure(terminated, "init failed")
        assert not actor.is_alive()
        assert script.built == 1 + 3
        assert d.system.statistics().restarts <= 3
        assert restarted.of(ActorRestarted) == []

    drive(scenario)


def test_always_failing_on_start_gives_up_under_the_default_supervisor(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C18: ended within 3 s after at most 11 starts, and no attempt after that.

    The bounded wait on an Event nobody sets is the interval in which nothing
    may happen; the ask to another actor then marks a later, unrelated event.
    """

    async def scenario(d: Driver) -> None:
        script = Script(start=ALWAYS, journal=d.journal())
        bystander = d.spawn(Echo)
        began = time.monotonic()

        with caplog.at_level(logging.ERROR, logger="zactor"):
            actor = d.spawn(Scripted, script)
            terminated = await d.result(d.system.watch(actor), 3.0)
        elapsed = time.monotonic() - began
        attempts = len([e for e in script.journal if e.startswith("on_start")])
        await d.wait(threading.Event(), 0.2)
        await d.ask(bystander, "later")

        assert elapsed < 3.0
        assert attempts == DEFAULT_MAX_RESTARTS + 1
        assert len([e for e in script.journal if e.startswith("on_start")]) == attempts
        assert ended_by_start_failure(terminated, "start failed")
        assert not actor.is_alive()

    drive(scenario)


class Grandparent(Actor):
    """Restarts its child on any failure; spawns one Middle."""

    supervisor_strategy = OneForOne(default=RESTART)

    def __init__(self, journal: Any, flaky: list[int]) -> None:
        self.journal = journal
        self.flaky = flaky

    def on_start(self) -> None:
        self.context.spawn(Middle, self.journal, self.flaky, name="parent")

    def receive(self, message: Any) -> Any:
        return self.context.child("parent")


class Middle(Actor):
    """Escalates every failure of its child; spawns one Youngest in on_start."""

    supervisor_strategy = OneForOne(default=ESCALATE)

    def __init__(self, journal: Any, flaky: list[int]) -> None:
        self.journal = journal
        self.flaky = flaky

    def on_start(self) -> None:
        # Kept, not looked up: a child that cannot start may be gone by the ask.
        self.child = self.context.spawn(
            Youngest, self.journal, self.flaky, name="child"
        )

    def post_restart(self, error: BaseException) -> Any:
        self.journal.append("parent:restarted")
        return super().post_restart(error)

    def receive(self, message: Any) -> Any:
        if message == "restarts":
            return self.context.restarts
        return self.child


class Youngest(Actor):
    """Fails in on_start while ``flaky[0]`` is above zero, counting it down."""

    def __init__(self, journal: Any, flaky: list[int]) -> None:
        self.journal = journal
        self.flaky = flaky

    def on_start(self) -> None:
        self.journal.append("child:started")
        if self.flaky[0] > 0:
            self.flaky[0] -= 1
            raise ValueError("child start failed")

    def post_restart(self, error: BaseException) -> Any:
        self.journal.append("child:restarted")
        return super().post_restart(error)

    def receive(self, message: Any) -> Any:
        if message == "restarts":
            return self.context.restarts
        return message


def test_escalated_start_failure_restarts_the_parent_once(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C21: RESTART > ESCALATE > child failing on_start once: one parent restart."""

    async def scenario(d: Driver) -> None:
        journal = d.journal()
        restarted = subscribe(d, ActorRestarted)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            grand = d.spawn(Grandparent, journal, [1])
            parent = await d.ask(grand, "parent")
            child = await d.ask(parent, "child")

        assert await d.ask(child, "hello") == "hello"
        assert list(journal).count("parent:restarted") == 1
        assert list(journal).count("child:restarted") == 0
        assert journal == ["child:started", "parent:restarted", "child:started"]
        assert await d.ask(parent, "restarts") == 1
        assert await d.ask(child, "restarts") == 0
        assert [e.ref for e in restarted.of(ActorRestarted)] == [parent]

    drive(scenario)


class Lenient(Actor):
    """Resumes whatever its child escalates; spawns one Middle."""

    supervisor_strategy = OneForOne(default=RESUME)

    def __init__(self, journal: Any, flaky: list[int]) -> None:
        self.journal = journal
        self.flaky = flaky

    def on_start(self) -> None:
        self.context.spawn(Middle, self.journal, self.flaky, name="parent")

    def receive(self, message: Any) -> Any:
        return self.context.child("parent")


def test_escalated_start_failure_resumed_above_still_stops_the_unstarted_child(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """A child whose on_start failed cannot resume, even if RESUME comes from above."""

    async def scenario(d: Driver) -> None:
        journal = d.journal()

        with caplog.at_level(logging.ERROR, logger="zactor"):
            grand = d.spawn(Lenient, journal, [ALWAYS])
            parent = await d.ask(grand, "parent")
            child = await d.ask(parent, "child")
            with pytest.raises(ActorInitError):
                await d.ask(child, "hello")

        assert journal == ["child:started"]

    drive(scenario)


def test_failing_on_stop_is_logged_and_the_actor_ends_once(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C22: on_stop raising: stopped, no restart, ERROR log, one Terminated."""

    async def scenario(d: Driver) -> None:
        script = Script(stop=True, journal=d.journal())
        arrived = d.event()
        restarted = subscribe(d, ActorRestarted)
        watcher = d.spawn(Watcher, arrived)
        actor = d.spawn(Scripted, script, name="tidy")
        await d.ask(watcher, actor)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            stopped = await d.stop(actor)
        assert await d.wait(arrived)
        await d.ask(watcher, "ping")
        await d.ask(watcher, "ping")

        assert stopped is True
        assert not actor.is_alive()
        assert restarted.of(ActorRestarted) == []
        assert script.journal == ["init#1", "on_start#1", "on_stop#1"]
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "/user/tidy" in errors[0].getMessage()
        assert "cleanup failed" in caplog.text
        assert await d.ask(watcher, "seen") == [Terminated(actor, None)]

    drive(scenario)


class Upstream(Actor):
    """An async handler that raises the builtin TimeoutError when asked to."""

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0.01)
        if message == "call":
            raise TimeoutError("upstream slow")
        return message


def test_builtin_timeout_from_an_async_handler_reaches_the_asker_as_is(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C23: the asker gets TimeoutError("upstream slow") fast, not AskTimeout."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Upstream)
        cpu = time.process_time()
        began = time.monotonic()

        with caplog.at_level(logging.ERROR, logger="zactor"):
            with pytest.raises(TimeoutError) as caught:
                await d.ask(actor, "call", timeout=5.0)
            elapsed = time.monotonic() - began
            answer = await d.ask(actor, "next")

        assert elapsed < 0.5
        assert type(caught.value) is TimeoutError
        assert not isinstance(caught.value, AskTimeout)
        assert str(caught.value) == "upstream slow"
        assert answer == "next"
        assert time.process_time() - cpu < 0.5

    drive(scenario)


class Lookup(Actor):
    """Raises KeyError for any key it does not have."""

    def receive(self, message: Any) -> Any:
        return {"known": 1}[message]


def test_stop_supervisor_ends_the_actor_on_a_failed_tell(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """C04: spawn supervisor STOP: ended, logged, then dead letters and dead asks."""

    async def scenario(d: Driver) -> None:
        letters = subscribe(d, DeadLetter)
        strategy: SupervisorStrategy = OneForOne(default=STOP)
        actor = d.spawn(Lookup, supervisor=strategy, name="lookup")
        notice = d.system.watch(actor)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            d.tell(actor, "missing")
            terminated = await d.result(notice, 1.0)
        d.tell(actor, "known")
        with pytest.raises(ActorDeadError) as caught:
            await d.ask(actor, "known")

        assert isinstance(terminated.cause, KeyError)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert any(r.exc_info is not None and r.exc_info[0] is KeyError for r in errors)
        assert "KeyError" in caplog.text
        assert [(x.message, x.reason) for x in letters.of(DeadLetter)] == [
            ("known", "actor stopped")
        ]
        assert type(caught.value) is ActorDeadError

    drive(scenario)
