"""Supervision: directives, strategy scopes, deciders, limits, backoff, hook order."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pytest

from conftest import PATIENCE, Collector, Drive, Driver
from zactor import (
    ESCALATE,
    RESTART,
    RESUME,
    STOP,
    Actor,
    ActorFailed,
    ActorRef,
    ActorRestarted,
    Backoff,
    Directive,
    OneForAll,
    OneForOne,
    RestForOne,
    SupervisorStrategy,
    SystemShutDownError,
)


class Boom(Exception):
    """The failure the test actors raise on request."""


@dataclass(frozen=True)
class Fail:
    """Raise ``error`` in the handler."""

    error: Exception


class Worker(Actor):
    """A counter that fails on request and journals its constructions and restarts."""

    def __init__(self, label: str, journal: list[str]) -> None:
        self.label = label
        self.journal = journal
        self.count = 0
        journal.append(f"{label}:init")

    def pre_restart(self, error: BaseException, message: Any) -> None:
        self.journal.append(f"{self.label}:pre_restart:{message!r}")

    def receive(self, message: Any) -> Any:
        if isinstance(message, Fail):
            raise message.error
        if message == "fail":
            raise Boom(self.label)
        if message == "inc":
            self.count += 1
            return self.count
        if message == "count":
            return self.count
        if message == "restarts":
            return self.context.restarts
        return message


class Parent(Actor):
    """Spawns one Worker per label in on_start, so that a restart re-creates them."""

    def __init__(
        self, journal: list[str], labels: tuple[str, ...] = ("a", "b", "c")
    ) -> None:
        self.journal = journal
        self.labels = labels
        journal.append("parent:init")

    def on_start(self) -> None:
        for label in self.labels:
            self.context.spawn(Worker, label, self.journal, name=label)

    def receive(self, message: Any) -> Any:
        if message == "children":
            return {ref.name: ref for ref in self.context.children}
        if message == "restarts":
            return self.context.restarts
        return message


STRATEGIES: dict[str, type[SupervisorStrategy]] = {
    "one-for-one": OneForOne,
    "one-for-all": OneForAll,
    "rest-for-one": RestForOne,
}

LIMITS = (0, 1, 3)


def _parent_class(name: str, strategy: SupervisorStrategy) -> type[Parent]:
    """A Parent subclass that applies ``strategy``, kept in this module as ``name``.

    A worker process imports an actor class by module and name, so every such
    subclass is made when the module loads and stored under its name.
    """
    attributes = {
        "supervisor_strategy": strategy,
        "__module__": __name__,
        "__qualname__": name,
    }
    subclass = cast(type[Parent], type(name, (Parent,), attributes))
    globals()[name] = subclass
    return subclass


SUPERVISING: dict[tuple[str, Directive], type[Parent]] = {
    (kind, directive): _parent_class(
        f"{strategy.__name__}{directive.name.title()}Parent",
        strategy(default=directive),
    )
    for kind, strategy in STRATEGIES.items()
    for directive in Directive
}

LIMITED: dict[int, type[Parent]] = {
    limit: _parent_class(
        f"Limit{limit}Parent", OneForOne(max_restarts=limit, within=60.0)
    )
    for limit in LIMITS
}


def supervising(kind: str, directive: Directive) -> type[Parent]:
    """The Parent subclass whose ``kind`` strategy applies ``directive`` to all."""
    return SUPERVISING[(kind, directive)]


# The children a restart or stop of "b" reaches, for each strategy.
SCOPES = {
    "one-for-one": ("b",),
    "one-for-all": ("a", "b", "c"),
    "rest-for-one": ("b", "c"),
}


def of(journal: list[str], label: str) -> list[str]:
    """The journal entries of one actor, in order."""
    return [entry for entry in journal if entry.split(":")[0] == label]


async def counts(d: Driver, children: Mapping[str, ActorRef], query: str) -> Any:
    """Ask every child ``query``; answers by child name."""
    return {name: await d.ask(ref, query) for name, ref in children.items()}


def subscribe(d: Driver, event_type: type[Any]) -> Collector:
    """Collect every event of ``event_type`` from now on."""
    collector = Collector()
    d.system.events.subscribe(event_type, collector)
    return collector


def same_failure(d: Driver, seen: BaseException | None, raised: BaseException) -> bool:
    """Whether ``seen`` (in an event or a Terminated) is the failure ``raised``.

    Within one process both are the very same object. A failure in a worker
    process reaches each of its observers in the head as a copy of its own, so
    there the copy has to match in class and arguments.
    """
    if seen is raised:
        return True
    return (
        d.mode == "workers"
        and type(seen) is type(raised)
        and seen is not None
        and seen.args == raised.args
    )


async def wait_until(d: Driver, condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; say whether it held."""
    tick = threading.Event()  # never set: each wait is a bounded pause between polls
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await d.wait(tick, 0.01)
    return True


# -- every handler failure goes to the supervisor ---------------------------------


class AsyncWorker(Actor):
    """An async handler that fails on request."""

    def __init__(self, label: str, journal: list[str]) -> None:
        journal.append(f"{label}:init")
        self.count = 0

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0)
        if message == "fail":
            raise Boom("async")
        if message == "inc":
            self.count += 1
            return self.count
        if message == "restarts":
            return self.context.restarts
        return message


HANDLER_KINDS: dict[str, tuple[type[Actor], str | None]] = {
    "sync": (Worker, None),
    "async": (AsyncWorker, None),
    "thread": (Worker, "thread"),
}


@pytest.mark.parametrize("kind", list(HANDLER_KINDS))
def test_failed_ask_gives_the_asker_the_exception_and_restarts_the_actor(
    drive: Drive, kind: str
) -> None:
    """An ask's handler exception reaches the asker and the supervisor, once each."""

    async def scenario(d: Driver) -> None:
        actor_class, dispatcher = HANDLER_KINDS[kind]
        failed = subscribe(d, ActorFailed)
        journal: list[str] = d.journal()
        actor = d.spawn(actor_class, "w", journal, dispatcher=dispatcher)
        await d.ask(actor, "inc")

        with pytest.raises(Boom) as caught:
            await d.ask(actor, "fail")

        assert await d.ask(actor, "inc") == 1
        assert await d.ask(actor, "restarts") == 1
        assert list(journal).count("w:init") == 2
        events = failed.of(ActorFailed)
        assert len(events) == 1
        assert same_failure(d, events[0].error, caught.value)
        assert events[0].message == "fail"
        assert d.system.statistics().failures == 1
        assert d.system.statistics().restarts == 1

    drive(scenario)


@pytest.mark.parametrize("kind", list(HANDLER_KINDS))
def test_failed_tell_is_logged_with_its_traceback_and_restarts_the_actor(
    drive: Drive, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A tell's handler exception is logged at ERROR with traceback and supervised."""

    async def scenario(d: Driver) -> None:
        actor_class, dispatcher = HANDLER_KINDS[kind]
        journal: list[str] = d.journal()
        actor = d.spawn(actor_class, "w", journal, dispatcher=dispatcher, name="w")

        with caplog.at_level(logging.ERROR, logger="zactor"):
            d.tell(actor, "fail")
            restarts = await d.ask(actor, "restarts")

        assert restarts == 1
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "/user/w" in errors[0].getMessage()
        assert errors[0].exc_info is not None
        assert errors[0].exc_info[0] is Boom
        assert errors[0].exc_info[2] is not None

    drive(scenario)


# -- what each directive does -----------------------------------------------------


def test_resume_keeps_the_instance_and_its_state(drive: Drive) -> None:
    """RESUME goes on with the same instance: its state survives, no restart."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        actor = d.spawn(Worker, "w", journal, supervisor=OneForOne(default=RESUME))
        await d.ask(actor, "inc")

        with pytest.raises(Boom):
            await d.ask(actor, "fail")

        assert await d.ask(actor, "inc") == 2
        assert await d.ask(actor, "restarts") == 0
        assert journal == ["w:init"]

    drive(scenario)


class Remembering(Actor):
    """Records its constructor arguments and every message it handles."""

    def __init__(self, seen: list[Any], tag: str, *, weight: int) -> None:
        self.seen = seen
        seen.append(("init", tag, weight))

    def receive(self, message: Any) -> Any:
        if message == "fail":
            raise Boom("fail")
        self.seen.append(message)
        return message


def test_restart_rebuilds_from_the_same_arguments_and_keeps_the_mailbox(
    drive: Drive,
) -> None:
    """RESTART: new instance, same args; failed message not retried; queue kept."""

    async def scenario(d: Driver) -> None:
        seen: list[Any] = d.journal()
        actor = d.spawn(Remembering, seen, "t", weight=3)

        for message in (1, "fail", 2, 3, 4):
            d.tell(actor, message)
        await d.ask(actor, "done")

        assert seen == [("init", "t", 3), 1, ("init", "t", 3), 2, 3, 4, "done"]

    drive(scenario)


def test_stop_ends_the_actor_with_the_failure_as_the_cause(drive: Drive) -> None:
    """STOP terminates the actor; its watchers see the exception as the cause."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Worker, "w", [], supervisor=OneForOne(default=STOP))
        notice = d.system.watch(actor)

        with pytest.raises(Boom) as caught:
            await d.ask(actor, "fail")
        terminated = await d.result(notice, PATIENCE)

        assert terminated.ref == actor
        assert same_failure(d, terminated.cause, caught.value)
        assert not actor.is_alive()

    drive(scenario)


# -- strategy x directive -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_resume_touches_only_the_failed_child_whatever_the_strategy(
    drive: Drive, kind: str
) -> None:
    """RESUME keeps every child's instance and state under every strategy."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        parent = d.spawn(supervising(kind, RESUME), journal)
        children = await d.ask(parent, "children")
        await counts(d, children, "inc")

        with pytest.raises(Boom):
            await d.ask(children["b"], "fail")

        assert await counts(d, children, "count") == {"a": 1, "b": 1, "c": 1}
        assert await counts(d, children, "restarts") == {"a": 0, "b": 0, "c": 0}
        assert journal == ["parent:init", "a:init", "b:init", "c:init"]

    drive(scenario)


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_restart_reaches_exactly_the_strategys_scope(drive: Drive, kind: str) -> None:
    """RESTART renews b alone, all three, or b and c (one, all, rest-for-one)."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        restarted = subscribe(d, ActorRestarted)
        parent = d.spawn(supervising(kind, RESTART), journal)
        children = await d.ask(parent, "children")
        await counts(d, children, "inc")

        with pytest.raises(Boom):
            await d.ask(children["b"], "fail")

        scope = SCOPES[kind]
        expected_counts = {n: 0 if n in scope else 1 for n in "abc"}
        assert await counts(d, children, "count") == expected_counts
        expected_restarts = {n: 1 if n in scope else 0 for n in "abc"}
        assert await counts(d, children, "restarts") == expected_restarts
        events = await d.blocking(restarted.wait_for, len(scope))
        assert sorted(e.ref.name for e in events) == list(scope)
        for label in "abc":
            message = "'fail'" if label == "b" else "None"
            renewed = [f"{label}:pre_restart:{message}", f"{label}:init"]
            assert of(journal, label) == [f"{label}:init"] + (
                renewed if label in scope else []
            )
        assert d.system.statistics().restarts == len(scope)

    drive(scenario)


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_stop_reaches_exactly_the_strategys_scope(drive: Drive, kind: str) -> None:
    """STOP ends b alone, all three, or b and c; the others and the parent go on."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        parent = d.spawn(supervising(kind, STOP), journal)
        children = await d.ask(parent, "children")
        await counts(d, children, "inc")
        notices = {name: d.system.watch(ref) for name, ref in children.items()}

        with pytest.raises(Boom) as caught:
            await d.ask(children["b"], "fail")

        scope = SCOPES[kind]
        for name in scope:
            await d.result(notices[name], PATIENCE)
        assert same_failure(
            d, (await d.result(notices["b"], PATIENCE)).cause, caught.value
        )
        survivors = {n: ref for n, ref in children.items() if n not in scope}
        assert await counts(d, survivors, "count") == dict.fromkeys(survivors, 1)
        alive = {n: ref.is_alive() for n, ref in children.items()}
        assert alive == {n: n not in scope for n in "abc"}
        assert sorted(await d.ask(parent, "children")) == sorted(survivors)
        assert d.system.statistics().restarts == 0

    drive(scenario)


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_escalate_fails_the_parent_and_its_restart_recreates_the_children(
    drive: Drive, kind: str
) -> None:
    """ESCALATE: the grandparent restarts the parent, which re-creates all children."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        restarted = subscribe(d, ActorRestarted)
        failed = subscribe(d, ActorFailed)
        parent = d.spawn(supervising(kind, ESCALATE), journal)
        old = await d.ask(parent, "children")

        with pytest.raises(Boom) as caught:
            await d.ask(old["b"], "fail")
        new = await d.ask(parent, "children")

        assert sorted(new) == ["a", "b", "c"]
        assert all(not ref.is_alive() for ref in old.values())
        assert all(new[n] != old[n] and new[n].is_alive() for n in "abc")
        assert await counts(d, new, "count") == {"a": 0, "b": 0, "c": 0}
        assert await d.ask(parent, "restarts") == 1
        events = restarted.of(ActorRestarted)
        assert [(e.ref, e.restarts) for e in events] == [(parent, 1)]
        assert same_failure(d, events[0].error, caught.value)
        assert [e.ref for e in failed.of(ActorFailed)] == [old["b"], parent]
        once = ["parent:init", "a:init", "b:init", "c:init"]
        assert journal == once + once

    drive(scenario)


class Grand(Actor):
    """Spawns a supervising parent and resumes it whatever it escalates."""

    supervisor_strategy = OneForOne(default=RESUME)

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    def on_start(self) -> None:
        escalating = supervising("one-for-one", ESCALATE)
        self.context.spawn(escalating, self.journal, ("w",), name="parent")

    def receive(self, message: Any) -> Any:
        return self.context.child("parent")


def test_escalate_then_resume_above_resumes_the_suspended_child(drive: Drive) -> None:
    """A grandparent's RESUME for an escalated failure lets the child go on as is."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        grand = d.spawn(Grand, journal)
        parent = await d.ask(grand, "parent")
        worker = (await d.ask(parent, "children"))["w"]
        await d.ask(worker, "inc")

        with pytest.raises(Boom):
            await d.ask(worker, "fail")

        assert await d.ask(worker, "inc") == 2
        assert await d.ask(worker, "restarts") == 0
        assert await d.ask(parent, "restarts") == 0
        assert journal == ["parent:init", "w:init"]

    drive(scenario)


# -- deciders -----------------------------------------------------------------------


def decide(error: BaseException) -> Directive:
    """A callable decider: resume KeyError, restart IndexError, stop the rest."""
    if isinstance(error, KeyError):
        return RESUME
    if isinstance(error, IndexError):
        return RESTART
    return STOP


DECIDERS: dict[str, Callable[[BaseException], Directive] | dict[Any, Directive]] = {
    "callable": decide,
    "mapping-general-first": {Exception: STOP, LookupError: RESTART, KeyError: RESUME},
    "mapping-specific-first": {KeyError: RESUME, LookupError: RESTART, Exception: STOP},
}


@pytest.mark.parametrize("which", list(DECIDERS))
def test_decider_picks_the_directive_of_the_most_specific_class(
    drive: Drive, which: str
) -> None:
    """KeyError resumes, IndexError restarts (via LookupError), ValueError stops."""

    async def scenario(d: Driver) -> None:
        strategy = OneForOne(DECIDERS[which], default=RESTART)
        actor = d.spawn(Worker, "w", [], supervisor=strategy)
        notice = d.system.watch(actor)
        await d.ask(actor, "inc")

        with pytest.raises(KeyError):
            await d.ask(actor, Fail(KeyError("k")))
        after_key = (await d.ask(actor, "count"), await d.ask(actor, "restarts"))
        with pytest.raises(IndexError):
            await d.ask(actor, Fail(IndexError("i")))
        after_index = (await d.ask(actor, "count"), await d.ask(actor, "restarts"))
        with pytest.raises(ValueError) as caught:
            await d.ask(actor, Fail(ValueError("v")))
        terminated = await d.result(notice, PATIENCE)

        assert after_key == (1, 0)
        assert after_index == (0, 1)
        assert same_failure(d, terminated.cause, caught.value)

    drive(scenario)


@pytest.mark.parametrize("default", [RESTART, STOP, RESUME])
def test_mapping_decider_applies_the_default_to_unlisted_exceptions(
    drive: Drive, default: Directive
) -> None:
    """An exception the mapping does not cover gets the strategy's default."""

    async def scenario(d: Driver) -> None:
        strategy = OneForOne({KeyError: ESCALATE}, default=default)
        actor = d.spawn(Worker, "w", [], supervisor=strategy)
        notice = d.system.watch(actor)
        await d.ask(actor, "inc")

        with pytest.raises(ValueError):
            await d.ask(actor, Fail(ValueError("v")))

        if default is STOP:
            await d.result(notice, PATIENCE)
            assert not actor.is_alive()
        else:
            count = 0 if default is RESTART else 1
            assert await d.ask(actor, "count") == count
            assert await d.ask(actor, "restarts") == (1 if default is RESTART else 0)

    drive(scenario)


def test_decider_that_fails_stops_the_actor_and_says_so(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """A decider returning a non-Directive stops the actor and logs the decider."""

    async def scenario(d: Driver) -> None:
        strategy = OneForOne(cast(Any, lambda error: "restart, please"))
        actor = d.spawn(Worker, "w", [], supervisor=strategy, name="w")
        notice = d.system.watch(actor)

        with caplog.at_level(logging.ERROR, logger="zactor"), pytest.raises(Boom):
            await d.ask(actor, "fail")
        terminated = await d.result(notice, PATIENCE)

        assert not actor.is_alive()
        assert isinstance(terminated.cause, Boom)
        assert any("decider" in r.getMessage() for r in caplog.records)

    drive(scenario)


# -- restart limits -----------------------------------------------------------------


@pytest.mark.parametrize("limit", LIMITS)
def test_failing_past_the_limit_stops_the_child_and_escalates(
    drive: Drive, limit: int
) -> None:
    """max_restarts restarts happen; the next failure stops the child and escalates."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        restarted = subscribe(d, ActorRestarted)
        parent = d.spawn(LIMITED[limit], journal, ("w",))
        first = (await d.ask(parent, "children"))["w"]
        notice = d.system.watch(first)

        for _ in range(limit):
            with pytest.raises(Boom):
                await d.ask(first, "fail")
        with pytest.raises(Boom) as caught:
            await d.ask(first, "fail")
        terminated = await d.result(notice, PATIENCE)
        second = (await d.ask(parent, "children"))["w"]

        assert same_failure(d, terminated.cause, caught.value)
        events = restarted.of(ActorRestarted)
        assert [e.restarts for e in events if e.ref == first] == list(
            range(1, limit + 1)
        )
        assert [e.ref for e in events if e.ref != first] == [parent]
        assert second != first
        assert await d.ask(second, "restarts") == 0
        assert journal == (
            ["parent:init", "w:init"]
            + [f"w:pre_restart:{'fail'!r}", "w:init"] * limit
            + ["parent:init", "w:init"]
        )

    drive(scenario)


def test_restarts_outside_the_window_do_not_count_against_the_limit(
    drive: Drive,
) -> None:
    """Failures further apart than ``within`` each get a restart under limit 1."""

    async def scenario(d: Driver) -> None:
        strategy = OneForOne(max_restarts=1, within=0.1)
        actor = d.spawn(Worker, "w", [], supervisor=strategy)

        for _ in range(3):
            with pytest.raises(Boom):
                await d.ask(actor, "fail")
            # Time must pass for the window to move; nothing is being waited for.
            await asyncio.sleep(0.15)

        assert await d.ask(actor, "restarts") == 3
        assert actor.is_alive()

    drive(scenario)


# -- backoff ------------------------------------------------------------------------


class Flaky(Actor):
    """Fails on every message but "ok"; records when instances start and fail."""

    def __init__(self, starts: list[float], failures: list[float]) -> None:
        starts.append(time.monotonic())
        self.failures = failures

    def receive(self, message: Any) -> Any:
        if message == "ok":
            return "ok"
        self.failures.append(time.monotonic())
        raise Boom("flaky")


async def restart_gaps(
    d: Driver, backoff: Backoff, failures: int
) -> tuple[list[float], ActorRef]:
    """Make a Flaky actor fail ``failures`` times; the delay before each restart."""
    starts: list[float] = d.journal()
    failed: list[float] = d.journal()
    restarted = subscribe(d, ActorRestarted)
    strategy = OneForOne(max_restarts=None, backoff=backoff)
    actor = d.spawn(Flaky, starts, failed, supervisor=strategy)

    for _ in range(failures):
        d.tell(actor, "fail")
    await d.blocking(restarted.wait_for, failures, 10.0)

    return [starts[i + 1] - failed[i] for i in range(failures)], actor


def test_backoff_delays_each_restart_between_minimum_and_maximum(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """Every delay lies in [minimum, maximum * (1 + random_factor)] plus a margin."""

    async def scenario(d: Driver) -> None:
        backoff = Backoff(minimum=0.05, maximum=0.2, random_factor=0.5)

        with caplog.at_level(logging.CRITICAL, logger="zactor"):
            gaps, actor = await restart_gaps(d, backoff, 5)

        assert len(gaps) == 5
        assert all(0.05 <= gap <= 0.2 * 1.5 + 0.25 for gap in gaps), gaps
        assert await d.ask(actor, "ok") == "ok"

    drive(scenario)


def test_backoff_doubles_the_delay_and_holds_it_at_the_maximum(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """An actor that fails at once after each restart waits 0.05, 0.1, 0.2, 0.2, 0.2."""

    async def scenario(d: Driver) -> None:
        backoff = Backoff(minimum=0.05, maximum=0.2, random_factor=0.2)

        with caplog.at_level(logging.CRITICAL, logger="zactor"):
            gaps, _ = await restart_gaps(d, backoff, 5)

        floors = [0.05, 0.1, 0.2, 0.2, 0.2]
        assert all(gap >= 0.9 * floor for gap, floor in zip(gaps, floors)), gaps
        assert all(gap <= floor * 1.2 + 0.25 for gap, floor in zip(gaps, floors))

    drive(scenario)


def test_backoff_starts_small_again_after_a_quiet_period(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """After reset_after seconds without failure the next delay is the minimum."""

    async def scenario(d: Driver) -> None:
        starts: list[float] = d.journal()
        failed: list[float] = d.journal()
        restarted = subscribe(d, ActorRestarted)
        backoff = Backoff(minimum=0.05, maximum=0.2, random_factor=0.0, reset_after=0.3)
        strategy = OneForOne(max_restarts=None, backoff=backoff)
        actor = d.spawn(Flaky, starts, failed, supervisor=strategy)

        with caplog.at_level(logging.CRITICAL, logger="zactor"):
            for _ in range(3):
                d.tell(actor, "fail")
            await d.blocking(restarted.wait_for, 3)
            await d.ask(actor, "ok")
            # The quiet period has to elapse; nothing is being waited for.
            await asyncio.sleep(0.35)
            d.tell(actor, "fail")
            await d.blocking(restarted.wait_for, 4)

        assert 0.045 <= starts[4] - failed[3] < 0.15

    drive(scenario)


def test_stop_during_a_backoff_wait_cancels_the_restart(drive: Drive) -> None:
    """A stop while a restart waits out its backoff ends the actor at once."""

    async def scenario(d: Driver) -> None:
        starts: list[float] = d.journal()
        failed = subscribe(d, ActorFailed)
        backoff = Backoff(minimum=5.0, maximum=5.0)
        actor = d.spawn(Flaky, starts, [], supervisor=OneForOne(backoff=backoff))
        d.tell(actor, "fail")
        await d.blocking(failed.wait_for, 1)

        began = time.monotonic()
        stopped = await d.stop(actor)

        assert stopped is True
        assert time.monotonic() - began < 1.0
        assert not actor.is_alive()
        assert len(starts) == 1

    drive(scenario)


# -- hook order ---------------------------------------------------------------------


class Leaf(Actor):
    """A child that journals its construction and its stop."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        journal.append("leaf:init")

    def on_stop(self) -> None:
        self.journal.append("leaf:on_stop")


class Hooked(Actor):
    """Journals every hook; spawns a Leaf in on_start."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        journal.append("init")

    def on_start(self) -> None:
        self.journal.append("on_start")
        self.context.spawn(Leaf, self.journal, name="leaf")

    def on_stop(self) -> None:
        self.journal.append("on_stop")

    def pre_restart(self, error: BaseException, message: Any) -> None:
        self.journal.append(f"pre_restart:{error}:{message}")

    def post_restart(self, error: BaseException) -> Any:
        self.journal.append(f"post_restart:{error}")
        return super().post_restart(error)

    def receive(self, message: Any) -> Any:
        if message == "fail":
            raise Boom("boom")
        return message


class AsyncLeaf(Actor):
    """A child whose async on_stop journals after awaiting."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        journal.append("leaf:init")

    async def on_stop(self) -> None:
        await asyncio.sleep(0.01)
        self.journal.append("leaf:on_stop")


class AsyncHooked(Actor):
    """Every hook async, each journaling only after an await."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        journal.append("init")

    async def on_start(self) -> None:
        await asyncio.sleep(0.01)
        self.journal.append("on_start")
        self.context.spawn(AsyncLeaf, self.journal, name="leaf")

    async def on_stop(self) -> None:
        await asyncio.sleep(0.01)
        self.journal.append("on_stop")

    async def pre_restart(self, error: BaseException, message: Any) -> None:
        await asyncio.sleep(0.01)
        self.journal.append(f"pre_restart:{error}:{message}")

    async def post_restart(self, error: BaseException) -> None:
        await asyncio.sleep(0.01)
        self.journal.append(f"post_restart:{error}")
        await super().post_restart(error)

    async def receive(self, message: Any) -> Any:
        if message == "fail":
            raise Boom("boom")
        return message


RESTART_ORDER = [
    "init",
    "on_start",
    "leaf:init",
    "pre_restart:boom:fail",
    "leaf:on_stop",
    "on_stop",
    "init",
    "post_restart:boom",
    "on_start",
    "leaf:init",
]


@pytest.mark.parametrize("actor_class", [Hooked, AsyncHooked], ids=["sync", "async"])
def test_restart_runs_the_hooks_in_order(
    drive: Drive, actor_class: type[Actor]
) -> None:
    """pre_restart, children stop, on_stop, constructor, post_restart (on_start)."""

    async def scenario(d: Driver) -> None:
        journal: list[str] = d.journal()
        actor = d.spawn(actor_class, journal)
        await d.ask(actor, "ping")

        with pytest.raises(Boom):
            await d.ask(actor, "fail")
        answer = await d.ask(actor, "ping")

        assert answer == "ping"
        assert journal == RESTART_ORDER

    drive(scenario)


# -- many failures ------------------------------------------------------------------


class EveryHundredth(Actor):
    """Fails on every message divisible by 100; journals the others it handled.

    Each instance journals its handled messages as one batch when it ends, so that
    the journal takes a write per instance rather than per message.
    """

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.handled: list[int] = []

    def pre_restart(self, error: BaseException, message: Any) -> None:
        self.batches.append(self.handled)

    def receive(self, message: Any) -> Any:
        if message == "done":
            self.batches.append(self.handled)
            return sum(len(batch) for batch in self.batches)
        if message == "restarts":
            return self.context.restarts
        if message % 100 == 0:
            raise Boom(message)
        self.handled.append(message)
        return None


def test_hundred_thousand_tells_with_a_failure_every_hundredth_lose_nothing(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """99,000 handled in order; 1,000 failures reported once and 1,000 restarts."""

    async def scenario(d: Driver) -> None:
        batches: list[list[int]] = d.journal()
        failed = subscribe(d, ActorFailed)
        restarted = subscribe(d, ActorRestarted)
        strategy = OneForOne(default=RESTART, max_restarts=None)
        actor = d.spawn(EveryHundredth, batches, supervisor=strategy)
        began = time.monotonic()

        with caplog.at_level(logging.ERROR, logger="zactor"):
            for n in range(1, 100_001):
                d.tell(actor, n)
            total = await d.ask(actor, "done", timeout=10.0)

        assert time.monotonic() - began < 10.0
        assert total == 99_000
        handled = [n for batch in batches for n in batch]
        assert handled == [n for n in range(1, 100_001) if n % 100]
        assert len(batches) == 1_001
        assert len(failed.of(ActorFailed)) == 1_000
        events = restarted.of(ActorRestarted)
        assert [e.restarts for e in events] == list(range(1, 1_001))
        assert d.system.statistics().restarts == 1_000
        assert d.system.statistics().failures == 1_000
        assert await d.ask(actor, "restarts") == 1_000
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1_000

    drive(scenario)


# -- the top of the tree ------------------------------------------------------------


class Echo(Actor):
    """Answers every message with itself."""

    def receive(self, message: Any) -> Any:
        return message


def test_stop_subtree_stops_the_top_level_actor_that_escalated(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """Under "stop-subtree" an escalation to /user stops that actor and nothing else."""

    async def scenario(d: Driver) -> None:
        bystander = d.spawn(Echo)
        actor = d.spawn(Worker, "w", [], supervisor=OneForOne(default=ESCALATE))
        notice = d.system.watch(actor)

        with caplog.at_level(logging.ERROR, logger="zactor"), pytest.raises(Boom):
            await d.ask(actor, "fail")
        await d.result(notice, PATIENCE)

        assert not actor.is_alive()
        assert await d.ask(bystander, "still here") == "still here"
        assert not d.system.terminated
        assert any("escalated" in r.getMessage() for r in caplog.records)

    drive(scenario)


def test_stop_subtree_reports_the_escalated_failure_as_the_cause(drive: Drive) -> None:
    """The top-level actor stopped by an escalation ends with that failure as cause."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Worker, "w", [], supervisor=OneForOne(default=ESCALATE))
        notice = d.system.watch(actor)

        with pytest.raises(Boom) as caught:
            await d.ask(actor, "fail")
        terminated = await d.result(notice, PATIENCE)

        assert same_failure(d, terminated.cause, caught.value)

    drive(scenario)


def test_stop_subtree_applies_to_a_top_level_actor_past_its_limit(
    drive: Drive,
) -> None:
    """A top-level actor past max_restarts is stopped; the system keeps running."""

    async def scenario(d: Driver) -> None:
        bystander = d.spawn(Echo)
        actor = d.spawn(Worker, "w", [], supervisor=OneForOne(max_restarts=1))
        notice = d.system.watch(actor)

        for _ in range(2):
            with pytest.raises(Boom):
                await d.ask(actor, "fail")
        terminated = await d.result(notice, PATIENCE)

        assert isinstance(terminated.cause, Boom)
        assert await d.ask(bystander, "ping") == "ping"
        assert not d.system.terminated

    drive(scenario)


@pytest.mark.parametrize(
    "strategy",
    [OneForOne(default=ESCALATE), OneForOne(max_restarts=0)],
    ids=["escalate", "past-the-limit"],
)
def test_shutdown_policy_shuts_the_system_down_on_escalation(
    drive: Drive, strategy: SupervisorStrategy, caplog: pytest.LogCaptureFixture
) -> None:
    """Under "shutdown" a failure that reaches /user shuts the whole system down."""

    async def scenario(d: Driver) -> None:
        bystander = d.spawn(Echo)
        actor = d.spawn(Worker, "w", [], supervisor=strategy)

        with caplog.at_level(logging.ERROR, logger="zactor"):
            with pytest.raises(Boom):
                await d.ask(actor, "fail")
            down = await wait_until(d, lambda: d.system.terminated, PATIENCE)

        assert down is True
        assert not bystander.is_alive()
        with pytest.raises(SystemShutDownError):
            await d.ask(bystander, "ping")
        assert any("shutting actor system" in r.getMessage() for r in caplog.records)

    drive(scenario, escalation="shutdown")


def test_system_supervisor_option_applies_to_top_level_actors(drive: Drive) -> None:
    """ActorSystem(supervisor=...) decides for top-level actors without their own."""

    async def scenario(d: Driver) -> None:
        actor = d.spawn(Worker, "w", [])
        await d.ask(actor, "inc")

        with pytest.raises(Boom):
            await d.ask(actor, "fail")

        assert await d.ask(actor, "count") == 1
        assert await d.ask(actor, "restarts") == 0

    drive(scenario, supervisor=OneForOne(default=RESUME))
