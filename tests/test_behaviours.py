"""Behaviours (become / unbecome) and the stash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import PATIENCE, Collector, Drive, Driver
from zactor import (
    Actor,
    ActorDeadError,
    DeadLetter,
    InvalidStateError,
    Priority,
    ReceiveTimeout,
    StashOverflowError,
)
from zactor.testing import VirtualTime

# -- behaviours ------------------------------------------------------------------------


class Moody(Actor):
    """Answers with the name of the behaviour that handled the message.

    ``("push", name)`` becomes a behaviour called ``name``, ``("swap", name)``
    replaces the top one, "pop" goes back; every behaviour obeys the same commands.
    """

    def receive(self, message: Any) -> str:
        return self._handle("receive", message)

    def _behaviour(self, name: str) -> Callable[[Any], str]:
        def behaviour(message: Any) -> str:
            return self._handle(name, message)

        return behaviour

    def _handle(self, name: str, message: Any) -> str:
        if isinstance(message, tuple) and message[0] == "push":
            self.context.become(self._behaviour(message[1]))
        elif isinstance(message, tuple) and message[0] == "swap":
            self.context.become(self._behaviour(message[1]), replace=True)
        elif message == "pop":
            self.context.unbecome()
        elif message == "boom":
            raise RuntimeError(f"failed in {name}")
        return name


def test_become_and_unbecome_form_a_stack(drive: Drive) -> None:
    """become pushes a behaviour, unbecome pops back to the one before, to receive."""

    async def scenario(d: Driver) -> None:
        moody = d.spawn(Moody)

        steps = [("push", "a"), "who", ("push", "b"), "who", "pop", "who", "pop"]
        answers = [await d.ask(moody, step) for step in steps]
        last = await d.ask(moody, "who")

        assert answers == ["receive", "a", "a", "b", "b", "a", "a"]
        assert last == "receive"

    drive(scenario)


def test_become_with_replace_swaps_the_top_behaviour(drive: Drive) -> None:
    """replace=True swaps the top: one unbecome then goes back past both."""

    async def scenario(d: Driver) -> None:
        moody = d.spawn(Moody)

        await d.ask(moody, ("push", "a"))
        await d.ask(moody, ("push", "b"))
        await d.ask(moody, ("swap", "c"))
        swapped = await d.ask(moody, "who")
        await d.ask(moody, "pop")
        below = await d.ask(moody, "who")

        assert swapped == "c"
        assert below == "a"

    drive(scenario)


def test_replace_on_an_empty_stack_pushes(drive: Drive) -> None:
    """become(replace=True) with no behaviour yet pushes one over receive."""

    async def scenario(d: Driver) -> None:
        moody = d.spawn(Moody)

        await d.ask(moody, ("swap", "a"))
        swapped = await d.ask(moody, "who")
        await d.ask(moody, "pop")
        back = await d.ask(moody, "who")

        assert swapped == "a"
        assert back == "receive"

    drive(scenario)


def test_unbecome_with_no_behaviour_keeps_receive(drive: Drive) -> None:
    """unbecome with an empty stack is harmless: receive stays."""

    async def scenario(d: Driver) -> None:
        moody = d.spawn(Moody)

        await d.ask(moody, "pop")
        await d.ask(moody, "pop")
        answer = await d.ask(moody, "who")

        assert answer == "receive"

    drive(scenario)


class Switcher(Actor):
    """Logs which behaviour took each message; "switch" becomes ``other``."""

    def __init__(self, log: Callable[[Any], None]) -> None:
        self.log = log

    def receive(self, message: Any) -> Any:
        if message == "switch":
            self.context.become(self.other)
        self.log(("receive", message))
        return "receive"

    def other(self, message: Any) -> Any:
        self.log(("other", message))
        return "other"


class AsyncSwitcher(Actor):
    """Switcher with async handlers."""

    def __init__(self, log: Callable[[Any], None]) -> None:
        self.log = log

    async def receive(self, message: Any) -> Any:
        await asyncio.sleep(0)
        if message == "switch":
            self.context.become(self.other)
        self.log(("receive", message))
        return "receive"

    async def other(self, message: Any) -> Any:
        await asyncio.sleep(0)
        self.log(("other", message))
        return "other"


@pytest.mark.parametrize(
    ("actor_class", "dispatcher"),
    [(Switcher, "default"), (Switcher, "thread"), (AsyncSwitcher, "default")],
    ids=["sync", "thread", "async"],
)
def test_become_applies_from_the_very_next_message(
    drive: Drive, actor_class: type[Actor], dispatcher: str
) -> None:
    """Messages queued behind the one that calls become, in the same turn, see it."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(actor_class, log, dispatcher=dispatcher)

        for message in ("first", "switch", "a", "b", "c"):
            d.tell(ref, message)
        last = await d.ask(ref, "d")

        assert last == "other"
        assert log.items == [
            ("receive", "first"),
            ("receive", "switch"),
            ("other", "a"),
            ("other", "b"),
            ("other", "c"),
            ("other", "d"),
        ]

    drive(scenario)


def test_a_restart_goes_back_to_receive(drive: Drive) -> None:
    """A failure in a behaviour restarts the actor, which handles with receive again."""

    async def scenario(d: Driver) -> None:
        moody = d.spawn(Moody)

        await d.ask(moody, ("push", "a"))
        await d.ask(moody, ("push", "b"))
        d.tell(moody, "boom")
        after = await d.ask(moody, "who")
        popped = await d.ask(moody, "pop")

        assert after == "receive"
        assert popped == "receive"

    drive(scenario)


class Slotted(Actor):
    """An actor class whose instances have no ``__dict__``."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: Any) -> Any:
        self.count += 1
        if message == "become":
            try:
                self.context.become(lambda m: "never")
            except TypeError as error:
                return f"TypeError: {error}"
        if message == "unbecome":
            try:
                self.context.unbecome()
            except TypeError as error:
                return f"TypeError: {error}"
        return self.count


def test_become_on_a_slotted_actor_raises_type_error(drive: Drive) -> None:
    """An actor class with __slots__ and no __dict__ cannot take a behaviour."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Slotted)

        refused = await d.ask(ref, "become")
        after = await d.ask(ref, "count")

        assert refused.startswith("TypeError:")
        assert "__slots__" in refused
        assert after == 2

    drive(scenario)


def test_a_refused_become_on_a_slotted_actor_leaves_no_behaviour(
    drive: Drive,
) -> None:
    """After become raised TypeError, unbecome has nothing to undo and is harmless."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Slotted)

        await d.ask(ref, "become")
        undone = await d.ask(ref, "unbecome")

        assert undone == 2

    drive(scenario)


class SlottedTimeout(Actor):
    """A slotted actor that tries to set a receive timeout, then counts messages."""

    __slots__ = ("got",)

    def __init__(self) -> None:
        self.got: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "set":
            try:
                self.context.set_receive_timeout(0.5)
            except TypeError:
                return "refused"
        if message == "got":
            return list(self.got)
        self.got.append(message)
        return None


@pytest.mark.in_process(
    "VirtualTime drives this process's clock; timers in a worker run on real time"
)
def test_a_refused_receive_timeout_on_a_slotted_actor_never_fires(
    drive: Drive,
) -> None:
    """set_receive_timeout raising TypeError leaves no timer behind."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(SlottedTimeout)

        refused = await d.ask(ref, "set")
        clock.advance(2.0)
        got = await d.ask(ref, "got")

        assert refused == "refused"
        assert not any(isinstance(m, ReceiveTimeout) for m in got)

    drive(scenario)


class SyncWithAsyncBehaviour(Actor):
    """A sync actor whose "async" command becomes an async behaviour.

    "sync" becomes a sync one; "pop" goes back. Each answers its own name, and
    a refused become answers "refused".
    """

    def receive(self, message: Any) -> str:
        return self._command(message) or "receive"

    def _command(self, message: Any) -> str | None:
        try:
            if message == "async":
                self.context.become(self.later)
            elif message == "sync":
                self.context.become(self.plain)
            elif message == "pop":
                self.context.unbecome()
        except TypeError:
            return "refused"
        return None

    async def later(self, message: Any) -> str:
        await asyncio.sleep(0)
        return self._command(message) or "async"

    def plain(self, message: Any) -> str:
        return self._command(message) or "plain"


def test_a_sync_actor_can_become_an_async_behaviour(drive: Drive) -> None:
    """On the loop, an async behaviour of a sync actor is awaited; pop goes back."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(SyncWithAsyncBehaviour)

        await d.ask(ref, "async")
        awaited = await d.ask(ref, "who")
        await d.ask(ref, "pop")
        back = await d.ask(ref, "who")

        assert awaited == "async"
        assert back == "receive"

    drive(scenario)


def test_a_refused_async_behaviour_leaves_the_stack_as_it_was(drive: Drive) -> None:
    """On dispatcher="thread" become(async) raises TypeError and changes nothing."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(SyncWithAsyncBehaviour, dispatcher="thread")

        refused = await d.ask(ref, "async")
        still = await d.ask(ref, "who")
        synced = await d.ask(ref, "sync")
        plain = await d.ask(ref, "who")

        assert refused == "refused"
        assert still == "receive"
        assert synced == "receive"
        assert plain == "plain"

    drive(scenario)


class BecomesAtBirth(Actor):
    """Calls become from its constructor."""

    def __init__(self) -> None:
        self.context.become(self.grown)

    def receive(self, message: Any) -> str:
        return "receive"

    def grown(self, message: Any) -> str:
        return "grown"


def test_become_in_the_constructor_applies_to_the_first_message(
    drive: Drive,
) -> None:
    """A behaviour chosen in __init__ handles the very first message."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(BecomesAtBirth)

        answer = await d.ask(ref, "hello")

        assert answer == "grown"

    drive(scenario)


# -- stash -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A message with a priority, for the priority-mailbox stash case."""

    value: int
    prio: int = 0


class Gatekeeper(Actor):
    """Stashes everything until "open"; then unstashes and handles in order.

    ``log`` records what was handled (shared, so that it outlives a restart);
    "close" goes back to stashing; "boom" fails. An instance made by a restart
    starts open unless ``closed_after_restart``.
    """

    def __init__(
        self, log: Callable[[Any], None], closed_after_restart: bool = False
    ) -> None:
        self.log = log
        self.closed = True
        self.closed_after_restart = closed_after_restart

    def post_restart(self, error: BaseException) -> None:
        self.closed = self.closed_after_restart

    def receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        if message == "open":
            self.closed = False
            return self.context.unstash_all()
        if message == "close":
            self.closed = True
            return None
        if self.closed:
            self.context.stash()
            return "stashed, not the answer"
        self.log(message)
        return f"answered {message}"


def test_unstash_all_puts_the_stash_first_and_in_order(drive: Drive) -> None:
    """Stashed messages are handled first, in their order, before later ones."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(Gatekeeper, log)

        for message in (1, 2, 3):
            d.tell(ref, message)
        unstashed = await d.ask(ref, "open")
        for message in (4, 5):
            d.tell(ref, message)
        await d.ask(ref, "sync")

        assert unstashed == 3
        assert log.items == [1, 2, 3, 4, 5, "sync"]

    drive(scenario)


def test_unstash_in_the_same_turn_goes_before_queued_messages(drive: Drive) -> None:
    """Messages already queued behind "open" wait for the unstashed ones."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(Gatekeeper, log)

        for message in (1, 2, 3, "open", 4, 5):
            d.tell(ref, message)
        await d.ask(ref, "sync")

        assert log.items == [1, 2, 3, 4, 5, "sync"]

    drive(scenario)


def test_unstash_all_with_nothing_stashed_returns_zero(drive: Drive) -> None:
    """unstash_all on an empty stash is harmless and says 0."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Gatekeeper, d.collector())

        first = await d.ask(ref, "open")
        second = await d.ask(ref, "open")

        assert (first, second) == (0, 0)

    drive(scenario)


def test_a_stashed_ask_is_answered_by_the_handler_that_takes_it_later(
    drive: Drive,
) -> None:
    """A stashed ask keeps its reply; the handler after unstash answers it."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Gatekeeper, d.collector())

        first = ref.ask("q1", timeout=PATIENCE)
        second = ref.ask("q2", timeout=PATIENCE)
        d.tell(ref, "open")
        answers = [await d.result(first), await d.result(second)]

        assert answers == ["answered q1", "answered q2"]

    drive(scenario)


def test_stash_order_holds_on_a_priority_mailbox(drive: Drive) -> None:
    """Unstashed messages of one priority keep their order in a priority mailbox."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        box = Priority(key="prio", default=0)
        ref = d.spawn(Gatekeeper, log, mailbox=box)

        for value in (1, 2, 3):
            d.tell(ref, Item(value))
        d.tell(ref, "open")
        await d.ask(ref, "sync")

        assert [item.value for item in log.items[:3]] == [1, 2, 3]

    drive(scenario)


class SmallStash(Gatekeeper):
    """A Gatekeeper whose stash holds three messages."""

    stash_capacity = 3

    def receive(self, message: Any) -> Any:
        try:
            return super().receive(message)
        except StashOverflowError as error:
            self.log(("overflow", message, str(error)))
            return "overflow"


def test_stashing_past_the_capacity_raises_stash_overflow(drive: Drive) -> None:
    """The fourth stash with stash_capacity = 3 raises StashOverflowError."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(SmallStash, log)

        for value in (1, 2, 3):
            d.tell(ref, value)
        fourth = await d.ask(ref, 4)
        unstashed = await d.ask(ref, "open")
        await d.ask(ref, "sync")

        assert fourth == "overflow"
        assert log.items[0][:2] == ("overflow", 4)
        assert "3" in log.items[0][2]
        assert unstashed == 3
        assert log.items[1:] == [1, 2, 3, "sync"]

    drive(scenario)


class TinyStash(Gatekeeper):
    """A Gatekeeper whose stash holds one message and lets overflow out."""

    stash_capacity = 1


def test_an_unhandled_stash_overflow_fails_the_ask(drive: Drive) -> None:
    """A handler that lets StashOverflowError out fails the ask with it."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(TinyStash, d.collector())

        d.tell(ref, 1)
        with pytest.raises(StashOverflowError):
            await d.ask(ref, 2)

    drive(scenario)


def test_stashed_messages_survive_a_restart(drive: Drive) -> None:
    """A restart puts the stash back in the mailbox, ahead of later messages."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(Gatekeeper, log)

        for message in (1, 2, 3, "boom", 4):
            d.tell(ref, message)
        await d.ask(ref, "sync")

        assert log.items == [1, 2, 3, 4, "sync"]

    drive(scenario)


def test_stashed_asks_survive_a_restart_and_are_answered(drive: Drive) -> None:
    """A stashed ask is still answered by the instance made by a restart."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Gatekeeper, d.collector())

        pending = ref.ask("q", timeout=PATIENCE)
        d.tell(ref, "boom")
        answer = await d.result(pending)

        assert answer == "answered q"

    drive(scenario)


def test_a_restart_that_stashes_again_keeps_the_stash(drive: Drive) -> None:
    """A new instance that also stashes gets the old stash back and can unstash it."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(Gatekeeper, log, True)

        for message in (1, 2, "boom", 3):
            d.tell(ref, message)
        await d.ask(ref, "open")
        await d.ask(ref, "sync")

        assert log.items == [1, 2, 3, "sync"]

    drive(scenario)


def test_stashed_messages_are_dead_letters_when_the_actor_stops(
    drive: Drive,
) -> None:
    """On stop, stashed tells are dead letters and stashed asks fail."""

    async def scenario(d: Driver) -> None:
        letters = Collector()  # the event stream feeds it in this process
        d.system.events.subscribe(DeadLetter, letters)
        ref = d.spawn(Gatekeeper, d.collector())

        d.tell(ref, 1)
        d.tell(ref, 2)
        pending = ref.ask("q", timeout=PATIENCE)
        await d.ask(ref, "close")
        stopped = await d.stop(ref)

        assert stopped is True
        with pytest.raises(ActorDeadError):
            await d.result(pending, PATIENCE)
        assert [x.message for x in letters.items] == [1, 2]
        assert d.system.dead_letters.by_reason == {"actor stopped": 2}

    drive(scenario)


class StashesInStart(Actor):
    """Tries to stash outside any handler."""

    def __init__(self, record: Callable[[Any], None]) -> None:
        self.record = record

    def on_start(self) -> None:
        try:
            self.context.stash()
        except InvalidStateError as error:
            self.record(type(error).__name__)

    def receive(self, message: Any) -> Any:
        return message


def test_stash_outside_a_handler_is_refused(drive: Drive) -> None:
    """stash() in on_start, with no current message, raises InvalidStateError."""

    async def scenario(d: Driver) -> None:
        record = d.collector()

        d.spawn(StashesInStart, record)
        seen = await d.blocking(record.wait_for, 1)

        assert seen == ["InvalidStateError"]

    drive(scenario)


def test_stash_from_a_pool_thread(drive: Drive) -> None:
    """Stash and unstash work the same on dispatcher="thread"."""

    async def scenario(d: Driver) -> None:
        log = d.collector()
        ref = d.spawn(Gatekeeper, log, dispatcher="thread")

        for message in (1, 2, 3, "open", 4):
            d.tell(ref, message)
        await d.ask(ref, "sync")

        assert log.items == [1, 2, 3, 4, "sync"]

    drive(scenario)
