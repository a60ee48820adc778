"""Death watch: one Terminated per watch, in order, with its cause, and no leaks."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PATIENCE, Drive, Driver
from zactor import (
    STOP,
    Actor,
    ActorRef,
    OneForOne,
    Terminated,
    handler,
)


class Boom(Exception):
    """The failure the test actors raise on request."""


class Watcher(Actor):
    """Watches on request and records everything else it receives, in order.

    ``("watch", ref)`` and ``("unwatch", ref)`` change what it watches; "seen"
    answers the record; "records" answers :func:`records`, ``("watchers of", ref)``
    :func:`local_watchers` in its process; ``arrived`` (an event from the driver) is
    set on every Terminated.
    """

    def __init__(self, arrived: Any = None) -> None:
        self.arrived = arrived
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "watch":
            return self.context.watch(message[1])
        if isinstance(message, tuple) and message[0] == "unwatch":
            self.context.unwatch(message[1])
            return True
        if message == "seen":
            return list(self.seen)
        if message == "records":
            return records(self)
        if isinstance(message, tuple) and message[0] == "watchers of":
            return local_watchers(message[1])
        if message == "ping":
            return "pong"
        self.seen.append(message)
        if isinstance(message, Terminated) and self.arrived is not None:
            self.arrived.set()
        return None


class Target(Actor):
    """Says ``count`` numbers to an actor and stops, or fails, on request.

    "records" answers :func:`records`; anything else comes back as the answer.
    """

    def receive(self, message: Any) -> Any:
        if message == "records":
            return records(self)
        if isinstance(message, tuple) and message[0] == "say":
            _, to, count = message
            for n in range(count):
                to.tell(n)
            self.context.stop()
            return None
        if message == "fail":
            raise Boom("target failed")
        return message


async def settle(d: Driver, ref: ActorRef) -> None:
    """Let ``ref`` take in every notice already sent to it.

    The first ask makes it process its queued system messages, which may put a
    Terminated into its mailbox; the second comes after any such Terminated.
    """
    await d.ask(ref, "ping")
    await d.ask(ref, "ping")


# A failure that crosses processes arrives as a copy, so the identity of the
# cause with the exception the handler raised holds in one process only.
SAME_EXCEPTION = pytest.mark.in_process(
    "the cause must be the very exception object the handler raised; "
    "from a worker process it arrives as a copy"
)


def terminations(seen: list[Any]) -> list[Terminated]:
    """The Terminated notices in a Watcher's record."""
    return [m for m in seen if isinstance(m, Terminated)]


def records(actor: Actor) -> tuple[int, int]:
    """How many actors the runtime keeps as watched by ``actor``, and as its watchers.

    Read by the actor itself, in its handler, so that the counts come from the
    process where the actor runs.
    """
    extra = actor.context.extra
    if extra is None:
        return 0, 0
    return len(extra.watching or ()), len(extra.watchers or ())


async def watched_records(d: Driver, ref: ActorRef) -> int:
    """How many actors the runtime keeps as watched by the actor of ``ref``."""
    watched, _ = await d.ask(ref, "records")
    return int(watched)


async def watcher_records(d: Driver, ref: ActorRef) -> int:
    """How many watchers the runtime keeps for the actor of ``ref``."""
    _, watchers = await d.ask(ref, "records")
    return int(watchers)


def local_watchers(ref: ActorRef) -> int:
    """How many watchers this process keeps for ``ref``, also once it has ended.

    An actor of this process keeps them on its cell; for an actor of another
    process, this process keeps the watchers that registered through it.
    """
    cell: Any = ref._cell
    if cell.is_remote:
        return len(cell.watchers or ())
    extra = cell.extra
    return 0 if extra is None else len(extra.watchers or ())


# -- delivery -----------------------------------------------------------------------


DISPATCHERS = ["default", "thread"]


@pytest.mark.parametrize("target_on", DISPATCHERS)
@pytest.mark.parametrize("watcher_on", DISPATCHERS)
def test_terminated_comes_once_after_every_message_the_actor_sent(
    drive: Drive, target_on: str, watcher_on: str
) -> None:
    """The watcher gets the 500 messages the actor sent first, then one Terminated."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived, dispatcher=watcher_on)
        target = d.spawn(Target, dispatcher=target_on)
        await d.ask(watcher, ("watch", target))

        d.tell(target, ("say", watcher, 500))
        assert await d.wait(arrived)
        await settle(d, watcher)

        seen = await d.ask(watcher, "seen")
        assert seen == [*range(500), Terminated(target, None)]

    drive(scenario)


class Mourner(Actor):
    """Watches the refs it is sent and answers any string with those that ended."""

    def __init__(self, arrived: Any) -> None:
        self.arrived = arrived
        self.gone: list[ActorRef] = []

    @handler
    def watch(self, message: ActorRef) -> None:
        self.context.watch(message)

    @handler
    def mourn(self, message: Terminated) -> None:
        self.gone.append(message.ref)
        self.arrived.set()

    @handler
    def report(self, message: str) -> list[ActorRef]:
        return list(self.gone)


def test_terminated_reaches_a_handler_for_its_type(drive: Drive) -> None:
    """A @handler for Terminated receives the notice like any other message."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        mourner = d.spawn(Mourner, arrived)
        target = d.spawn(Target)
        await d.ask(mourner, target)

        await d.stop(target)
        assert await d.wait(arrived)

        assert await d.ask(mourner, "report") == [target]

    drive(scenario)


def test_watching_a_terminated_actor_sends_terminated_at_once(drive: Drive) -> None:
    """A watch of an actor that has already ended yields its Terminated anyway."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target)
        await d.stop(target)

        await d.ask(watcher, ("watch", target))
        assert await d.wait(arrived)
        await settle(d, watcher)

        assert await d.ask(watcher, "seen") == [Terminated(target, None)]

    drive(scenario)


@SAME_EXCEPTION
def test_watching_a_failed_actor_after_its_end_still_gives_the_cause(
    drive: Drive,
) -> None:
    """A late watch of an actor stopped by a failure carries that failure."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target, supervisor=OneForOne(default=STOP))
        with pytest.raises(Boom) as caught:
            await d.ask(target, "fail")
        await d.result(d.system.watch(target), PATIENCE)

        await d.ask(watcher, ("watch", target))
        assert await d.wait(arrived)

        [notice] = terminations(await d.ask(watcher, "seen"))
        assert notice.ref == target
        assert notice.cause is caught.value

    drive(scenario)


def test_watching_twice_sends_one_terminated(drive: Drive) -> None:
    """Two watches of the same actor still give exactly one notice."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))
        await d.ask(watcher, ("watch", target))

        await d.stop(target)
        assert await d.wait(arrived)
        await settle(d, watcher)

        assert await d.ask(watcher, "seen") == [Terminated(target, None)]

    drive(scenario)


def test_a_restart_of_the_watched_actor_sends_no_terminated(drive: Drive) -> None:
    """A restart is not an end: no notice, and the later stop still gives one."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))

        with pytest.raises(Boom):
            await d.ask(target, "fail")
        assert await d.ask(target, "back?") == "back?"
        await settle(d, watcher)
        after_restart = await d.ask(watcher, "seen")
        await d.stop(target)
        assert await d.wait(arrived)
        await settle(d, watcher)

        assert after_restart == []
        assert await d.ask(watcher, "seen") == [Terminated(target, None)]

    drive(scenario)


@SAME_EXCEPTION
def test_terminated_carries_the_failure_that_stopped_the_actor(drive: Drive) -> None:
    """Under STOP the notice's cause is the very exception the handler raised."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target, supervisor=OneForOne(default=STOP))
        await d.ask(watcher, ("watch", target))

        with pytest.raises(Boom) as caught:
            await d.ask(target, "fail")
        assert await d.wait(arrived)

        [notice] = terminations(await d.ask(watcher, "seen"))
        assert notice.ref == target
        assert notice.cause is caught.value

    drive(scenario)


# -- unwatch ------------------------------------------------------------------------


def test_unwatch_before_the_end_means_no_terminated(drive: Drive) -> None:
    """After unwatch the watcher hears nothing of the actor's end."""

    async def scenario(d: Driver) -> None:
        watcher = d.spawn(Watcher)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))
        await d.ask(watcher, ("unwatch", target))

        await d.stop(target)
        await d.result(d.system.watch(target), PATIENCE)
        await settle(d, watcher)

        assert await d.ask(watcher, "seen") == []

    drive(scenario)


class Hasty(Actor):
    """Stops the actor it watches, waits for its end, then unwatches it.

    The unwatch goes through its own mailbox, so the Terminated notice for the
    stopped actor is already queued behind it when the unwatch runs.
    """

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "watch":
            self.context.watch(message[1])
            return True
        if isinstance(message, tuple) and message[0] == "stop and unwatch":
            target = message[1]
            target.stop()
            await self.context.system.watch(target)
            self.context.self.tell(("unwatch", target))
            return True
        if isinstance(message, tuple) and message[0] == "unwatch":
            self.context.unwatch(message[1])
            return True
        if message == "seen":
            return list(self.seen)
        if message == "ping":
            return "pong"
        self.seen.append(message)
        return None


def test_unwatch_drops_a_terminated_that_is_already_queued(drive: Drive) -> None:
    """No Terminated is handled after unwatch, even one already in the mailbox."""

    async def scenario(d: Driver) -> None:
        watcher = d.spawn(Hasty)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))

        await d.ask(watcher, ("stop and unwatch", target))
        await settle(d, watcher)

        assert not target.is_alive()
        assert await d.ask(watcher, "seen") == []

    drive(scenario)


# -- no leaks -----------------------------------------------------------------------


def test_a_stopped_watcher_leaves_no_record_at_the_watched_actor(drive: Drive) -> None:
    """When the watcher ends, the watched actor forgets it."""

    async def scenario(d: Driver) -> None:
        watcher = d.spawn(Watcher)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))
        await d.ask(target, "registered?")
        before = await watcher_records(d, target)

        await d.stop(watcher)
        await d.ask(target, "ping")
        await d.ask(target, "ping")

        assert before == 1
        assert await watcher_records(d, target) == 0
        assert target.is_alive()

    drive(scenario)


def test_a_stopped_target_leaves_no_record_at_its_watcher(drive: Drive) -> None:
    """When the watched actor ends, neither side keeps a watch record."""

    async def scenario(d: Driver) -> None:
        arrived = d.event()
        watcher = d.spawn(Watcher, arrived)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))
        before = await watched_records(d, watcher)

        await d.stop(target)
        assert await d.wait(arrived)
        await settle(d, watcher)

        assert before == 1
        assert await watched_records(d, watcher) == 0
        assert await d.ask(watcher, ("watchers of", target)) == 0

    drive(scenario)


def test_unwatch_leaves_no_record_on_either_side(drive: Drive) -> None:
    """After unwatch, neither the watcher nor the target keeps the watch."""

    async def scenario(d: Driver) -> None:
        watcher = d.spawn(Watcher)
        target = d.spawn(Target)
        await d.ask(watcher, ("watch", target))
        await d.ask(target, "registered?")
        before = (
            await watched_records(d, watcher),
            await watcher_records(d, target),
        )

        await d.ask(watcher, ("unwatch", target))
        await d.ask(target, "ping")
        await d.ask(target, "ping")

        after = (
            await watched_records(d, watcher),
            await watcher_records(d, target),
        )

        assert before == (1, 1)
        assert after == (0, 0)

    drive(scenario)


def test_many_watch_and_unwatch_rounds_leave_no_records(drive: Drive) -> None:
    """A hundred watch/unwatch rounds end with no record on either side."""

    async def scenario(d: Driver) -> None:
        watcher = d.spawn(Watcher)
        target = d.spawn(Target)

        for _ in range(100):
            await d.ask(watcher, ("watch", target))
            await d.ask(watcher, ("unwatch", target))
        await d.ask(target, "ping")
        await d.ask(target, "ping")

        after = (
            await watched_records(d, watcher),
            await watcher_records(d, target),
        )

        assert after == (0, 0)

    drive(scenario)


# -- system.watch -------------------------------------------------------------------


def test_system_watch_completes_with_terminated_when_the_actor_ends(
    drive: Drive,
) -> None:
    """The reply of system.watch completes with Terminated(ref, None) on a stop."""

    async def scenario(d: Driver) -> None:
        target = d.spawn(Target)
        notice = d.system.watch(target)
        pending = notice.done()

        await d.stop(target)
        terminated = await d.result(notice, PATIENCE)

        assert pending is False
        assert terminated == Terminated(target, None)
        assert local_watchers(target) == 0

    drive(scenario)


def test_system_watch_of_a_terminated_actor_completes_at_once(drive: Drive) -> None:
    """A system.watch after the end completes without waiting for anything."""

    async def scenario(d: Driver) -> None:
        target = d.spawn(Target)
        await d.stop(target)

        terminated = await d.result(d.system.watch(target), 1.0)

        assert terminated == Terminated(target, None)

    drive(scenario)
