"""Bounded and priority mailboxes: overflow policies, backpressure, ordering."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import PATIENCE, Collector, Drive, Driver
from zactor import (
    Actor,
    ActorRef,
    ActorSystem,
    Bounded,
    DeadLetter,
    InvalidStateError,
    MailboxFull,
    Priority,
)


class Held(Actor):
    """Blocks its pool thread on ``gate`` while handling "hold"; records the rest.

    Spawned with ``dispatcher="thread"``, it keeps its mailbox from draining for as
    long as the test keeps the gate shut. ``entered`` and ``gate`` are events and
    ``seen`` a collector, shared with the test (``d.event()``, ``d.collector()``).
    """

    def __init__(self, entered: Any, gate: Any, seen: Any) -> None:
        self.entered = entered
        self.gate = gate
        self.seen = seen

    def receive(self, message: Any) -> Any:
        if message == "hold":
            self.entered.set()
            self.gate.wait(PATIENCE)
            return "held"
        if message == "seen":
            return list(self.seen.items)
        self.seen(message)
        return message


class Echo(Actor):
    """Answers with the message."""

    def receive(self, message: Any) -> Any:
        return message


@dataclass(frozen=True)
class Job:
    """A message with a priority (lower leaves first) and a send sequence number."""

    prio: int
    seq: int


@dataclass(frozen=True)
class Dump:
    """Asks for everything handled so far; the lowest priority of all."""

    prio: int = 99


class Sorter(Actor):
    """Records Jobs; answers a Dump with them; "hold" blocks like :class:`Held`."""

    def __init__(self, entered: Any, gate: Any, seen: Any) -> None:
        self.entered = entered
        self.gate = gate
        self.seen = seen
        self.handled: list[Job] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, Dump):
            return list(self.handled)
        if isinstance(message, Job):
            self.handled.append(message)
            self.seen(message)
            return None
        self.entered.set()
        self.gate.wait(PATIENCE)
        return None


@dataclass(frozen=True)
class Batch:
    """Messages for a :class:`Relay` to tell to ``target``, in order."""

    target: ActorRef
    messages: tuple[Any, ...]


@dataclass(frozen=True)
class Halt:
    """Asks a :class:`Relay` to stop ``target``, then to open ``gate``."""

    target: ActorRef
    gate: Any


class Relay(Actor):
    """Acts on an actor of its own process for a test in another one.

    Spawned near the target: a tell or a stop within one process is queued when it
    returns, which a tell from another process cannot promise. A Batch is answered
    with its size once all of it waits in the mailbox; a Halt opens the gate only
    after the stop is queued, and is answered with the stop's outcome.
    """

    async def receive(self, message: Batch | Halt) -> Any:
        if isinstance(message, Batch):
            for item in message.messages:
                message.target.tell(item)
            return len(message.messages)
        stop = message.target.stop()
        message.gate.set()
        return await stop


async def _queue(d: Driver, ref: ActorRef, messages: list[Any]) -> ActorRef:
    """Put ``messages`` in ``ref``'s mailbox, in order, and wait until they are.

    Returns the relay that queued them, which runs in ``ref``'s process.
    """
    # Placement is for systems with workers; without, every actor is in this one.
    relay = d.spawn(Relay, near=ref if d.system.worker_pids() else None)
    assert await d.ask(relay, Batch(ref, tuple(messages))) == len(messages)
    return relay


def _prio(message: Any) -> int:
    return int(message.prio) if hasattr(message, "prio") else -1


def _letters(system: ActorSystem) -> Collector:
    letters = Collector()
    system.events.subscribe(DeadLetter, letters)
    return letters


async def _refused(d: Driver, letters: Collector, count: int) -> None:
    """Wait until the mailbox has refused ``count`` messages, as dead letters.

    A tell to an actor of another process returns before the message is in the
    mailbox; the last refusal shows that every message sent before it got there,
    so that the test opens the gate on a mailbox that holds what it was sent.
    """
    refused = await d.blocking(letters.wait_for, count)
    assert len(refused) == count


async def _held(d: Driver, mailbox: Any) -> tuple[ActorRef, Any, Any]:
    """Spawn a Held actor with ``mailbox`` and wait until it is blocked."""
    entered, gate, seen = d.event(), d.event(), d.collector()
    ref = d.spawn(Held, entered, gate, seen, dispatcher="thread", mailbox=mailbox)
    d.tell(ref, "hold")
    assert await d.wait(entered)
    return ref, gate, seen


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -1, 2.5, True, "10"])
def test_bounded_rejects_a_capacity_that_is_not_a_positive_int(capacity: Any) -> None:
    """Bounded(capacity) needs an int >= 1."""
    with pytest.raises(ValueError, match="capacity"):
        Bounded(capacity)


def test_bounded_rejects_an_unknown_overflow_policy() -> None:
    """An overflow policy other than the four known ones is a ValueError."""
    with pytest.raises(ValueError, match="overflow"):
        Bounded(10, overflow="drop_everything")  # type: ignore[arg-type]


def test_priority_rejects_a_key_that_is_neither_function_nor_name() -> None:
    """Priority(key=...) takes a function or an attribute name."""
    with pytest.raises(TypeError, match="key"):
        Priority(key=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity"):
        Priority(key="prio", capacity=0)


def test_spawn_rejects_a_mailbox_that_is_not_a_mailbox_kind(drive: Drive) -> None:
    """spawn(mailbox=...) takes a Bounded or Priority, not a number."""

    async def scenario(d: Driver) -> None:
        with pytest.raises(TypeError, match="mailbox"):
            d.spawn(Echo, mailbox=100)

    drive(scenario)


# A tell raises MailboxFull only in the mailbox's own process: from another process
# the refused tell is a dead letter (docs/workers.md, "Known limits").
RAISES_IN_ITS_PROCESS = pytest.mark.in_process(
    "a full mailbox raises MailboxFull at a tell only in its own process"
)


# -- overflow policies -----------------------------------------------------------------


def test_drop_new_keeps_the_first_messages_and_drops_the_rest(drive: Drive) -> None:
    """drop_new: a full mailbox keeps what it has; each newcomer is a dead letter."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        ref, gate, seen = await _held(d, Bounded(5))

        for n in range(12):
            d.tell(ref, n)
        await _refused(d, letters, 7)
        gate.set()
        await d.blocking(seen.wait_for, 5)
        handled = await d.ask(ref, "seen")

        assert handled == [0, 1, 2, 3, 4]
        assert d.system.dead_letters.by_reason == {"mailbox full": 7}
        assert [x.message for x in letters.items] == [5, 6, 7, 8, 9, 10, 11]
        assert {x.recipient for x in letters.items} == {ref}

    drive(scenario)


def test_drop_new_from_several_threads_counts_every_drop(drive: Drive) -> None:
    """drop_new under four sending threads: exactly capacity kept, the rest dead."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        ref, gate, seen = await _held(d, Bounded(10))

        def send(base: int) -> None:
            for n in range(25):
                ref.tell(base + n)

        threads = [threading.Thread(target=send, args=(k * 100,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            await d.blocking(thread.join, PATIENCE)
        await _refused(d, letters, 90)
        gate.set()
        await d.blocking(seen.wait_for, 10)
        handled = await d.ask(ref, "seen")

        assert len(handled) == 10
        assert len(set(handled)) == 10
        assert d.system.dead_letters.by_reason == {"mailbox full": 90}

    drive(scenario)


def test_drop_old_keeps_the_newest_messages(drive: Drive) -> None:
    """drop_old: each newcomer pushes out the oldest, which is a dead letter."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        ref, gate, seen = await _held(d, Bounded(3, overflow="drop_old"))

        for n in range(10):
            d.tell(ref, n)
        await _refused(d, letters, 7)
        gate.set()
        await d.blocking(seen.wait_for, 3)
        handled = await d.ask(ref, "seen")

        assert handled == [7, 8, 9]
        assert d.system.dead_letters.by_reason == {"mailbox full": 7}
        assert [x.message for x in letters.items] == [0, 1, 2, 3, 4, 5, 6]

    drive(scenario)


def test_drop_old_fails_the_ask_it_pushes_out(drive: Drive) -> None:
    """drop_old: a queued ask pushed out by a newer message fails with MailboxFull."""

    async def scenario(d: Driver) -> None:
        ref, gate, seen = await _held(d, Bounded(1, overflow="drop_old"))

        pushed_out = ref.ask("first", timeout=PATIENCE)
        d.tell(ref, "second")
        with pytest.raises(MailboxFull, match=re.escape(ref.path)):
            await d.result(pushed_out, 2)
        gate.set()
        await d.blocking(seen.wait_for, 1)

        assert seen.items == ["second"]
        assert d.system.dead_letters.by_reason == {"mailbox full": 1}

    drive(scenario)


@RAISES_IN_ITS_PROCESS
def test_fail_raises_mailbox_full_naming_the_actor(drive: Drive) -> None:
    """fail: a tell to a full mailbox raises MailboxFull with the actor's path."""

    async def scenario(d: Driver) -> None:
        ref, gate, seen = await _held(d, Bounded(2, overflow="fail"))

        d.tell(ref, 0)
        d.tell(ref, 1)
        with pytest.raises(MailboxFull) as refused:
            d.tell(ref, 2)
        gate.set()
        await d.blocking(seen.wait_for, 2)
        d.tell(ref, 3)
        handled = await d.ask(ref, "seen")

        assert ref.path in str(refused.value)
        assert "fail" in str(refused.value)
        assert handled == [0, 1, 3]
        assert d.system.dead_letters.count == 0

    drive(scenario)


@RAISES_IN_ITS_PROCESS
def test_fail_raises_in_the_sending_thread(drive: Drive) -> None:
    """fail: a tell from a plain thread gets MailboxFull in that thread."""

    async def scenario(d: Driver) -> None:
        ref, gate, _ = await _held(d, Bounded(1, overflow="fail"))
        errors: list[BaseException] = []

        def send() -> None:
            for n in range(3):
                try:
                    ref.tell(n)
                except MailboxFull as error:
                    errors.append(error)

        thread = threading.Thread(target=send)
        thread.start()
        await d.blocking(thread.join, PATIENCE)
        gate.set()

        assert len(errors) == 2
        assert all(ref.path in str(error) for error in errors)

    drive(scenario)


@pytest.mark.parametrize("overflow", ["drop_new", "fail", "backpressure"])
def test_an_ask_to_a_full_mailbox_fails_with_mailbox_full(
    drive: Drive, overflow: Any
) -> None:
    """Whatever refuses the newcomer, an ask that does not get in fails at once."""

    async def scenario(d: Driver) -> None:
        ref, gate, seen = await _held(d, Bounded(1, overflow=overflow))
        d.tell(ref, "queued")

        started = time.monotonic()
        with pytest.raises(MailboxFull, match=re.escape(ref.path)):
            await d.ask(ref, "refused", timeout=PATIENCE)
        waited = time.monotonic() - started
        gate.set()
        await d.blocking(seen.wait_for, 1)
        handled = await d.ask(ref, "seen")

        assert waited < 1.0
        assert handled == ["queued"]

    drive(scenario)


def test_system_messages_pass_a_full_mailbox(drive: Drive) -> None:
    """A stop reaches an actor whose mailbox is full; the queued tells are dead."""

    async def scenario(d: Driver) -> None:
        ref, gate, _ = await _held(d, Bounded(2, overflow="fail"))
        relay = await _queue(d, ref, [0, 1])

        stopped = await d.ask(relay, Halt(ref, gate))

        assert stopped is True
        assert not ref.is_alive()
        assert d.system.dead_letters.by_reason == {"actor stopped": 2}

    drive(scenario)


def test_c17_drop_new_never_blocks_the_sender(drive: Drive) -> None:
    """C17: 100 tells to a held 10-slot mailbox return at once; 90 are dead letters."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        ref, gate, seen = await _held(d, Bounded(10))
        other = d.spawn(Echo)

        started = time.monotonic()
        for n in range(100):
            d.tell(ref, n)
        telling = time.monotonic() - started
        asked = time.monotonic()
        answer = await d.ask(other, "still answering", timeout=1)
        asking = time.monotonic() - asked
        await _refused(d, letters, 90)
        full = d.system.dead_letters.by_reason.get("mailbox full")
        gate.set()
        await d.blocking(seen.wait_for, 10)
        handled = await d.ask(ref, "seen")

        assert telling < 0.1
        assert full == 90
        assert answer == "still answering"
        assert asking < 0.2
        assert handled == list(range(10))

    drive(scenario)


# -- backpressure ----------------------------------------------------------------------


@RAISES_IN_ITS_PROCESS
def test_backpressure_tell_to_a_full_mailbox_raises(drive: Drive) -> None:
    """backpressure: tell never waits, so a full mailbox refuses it like 'fail'."""

    async def scenario(d: Driver) -> None:
        ref, gate, _ = await _held(d, Bounded(1, overflow="backpressure"))
        d.tell(ref, 0)

        with pytest.raises(MailboxFull, match=re.escape(ref.path)):
            d.tell(ref, 1)
        gate.set()

    drive(scenario)


def test_send_waits_for_room_and_keeps_the_order() -> None:
    """await ref.send waits while the mailbox is full and goes in once there is room."""

    async def main() -> None:
        async with ActorSystem() as system:
            entered, gate, seen = threading.Event(), threading.Event(), Collector()
            box = Bounded(2, overflow="backpressure")
            ref = system.spawn(
                Held, entered, gate, seen, dispatcher="thread", mailbox=box
            )
            ref.tell("hold")
            assert await asyncio.to_thread(entered.wait, PATIENCE)
            await ref.send(0, timeout=1)
            await ref.send(1, timeout=1)

            waiting = asyncio.create_task(ref.send(2, timeout=PATIENCE))
            finished, _ = await asyncio.wait({waiting}, timeout=0.05)
            gate.set()
            await asyncio.wait_for(waiting, PATIENCE)
            handled = await asyncio.to_thread(seen.wait_for, 3)

            assert finished == set()
            assert handled == [0, 1, 2]
            assert system.dead_letters.count == 0

    asyncio.run(main())


def test_send_gives_up_with_mailbox_full_after_its_timeout() -> None:
    """await ref.send(timeout=0.1) to a mailbox that stays full raises MailboxFull."""

    async def main() -> None:
        async with ActorSystem() as system:
            entered, gate, seen = threading.Event(), threading.Event(), Collector()
            box = Bounded(1, overflow="backpressure")
            ref = system.spawn(
                Held, entered, gate, seen, dispatcher="thread", mailbox=box
            )
            ref.tell("hold")
            assert await asyncio.to_thread(entered.wait, PATIENCE)
            await ref.send("kept", timeout=1)

            started = time.monotonic()
            with pytest.raises(MailboxFull) as refused:
                await ref.send("given up", timeout=0.1)
            waited = time.monotonic() - started
            gate.set()
            await asyncio.to_thread(seen.wait_for, 1)
            handled = await ref.ask("seen", timeout=PATIENCE)

            assert 0.09 <= waited < 1.0
            assert ref.path in str(refused.value)
            assert handled == ["kept"]

    asyncio.run(main())


def test_a_sender_that_gives_up_passes_its_turn_on() -> None:
    """Of two waiting senders, the one that times out does not keep the other out."""

    async def main() -> None:
        async with ActorSystem() as system:
            entered, gate, seen = threading.Event(), threading.Event(), Collector()
            box = Bounded(1, overflow="backpressure")
            ref = system.spawn(
                Held, entered, gate, seen, dispatcher="thread", mailbox=box
            )
            ref.tell("hold")
            assert await asyncio.to_thread(entered.wait, PATIENCE)
            await ref.send("kept", timeout=1)

            impatient = asyncio.create_task(ref.send("impatient", timeout=0.05))
            patient = asyncio.create_task(ref.send("patient", timeout=PATIENCE))
            with pytest.raises(MailboxFull):
                await impatient
            gate.set()
            await asyncio.wait_for(patient, PATIENCE)
            handled = await asyncio.to_thread(seen.wait_for, 2)

            assert handled == ["kept", "patient"]

    asyncio.run(main())


def test_waiting_senders_get_in_first_come_first_served() -> None:
    """Senders waiting for room get in in the order they started waiting."""

    async def main() -> None:
        async with ActorSystem() as system:
            entered, gate, seen = threading.Event(), threading.Event(), Collector()
            box = Bounded(1, overflow="backpressure")
            ref = system.spawn(
                Held, entered, gate, seen, dispatcher="thread", mailbox=box
            )
            ref.tell("hold")
            assert await asyncio.to_thread(entered.wait, PATIENCE)
            await ref.send("kept", timeout=1)

            senders = [
                asyncio.create_task(ref.send(f"waiter {n}", timeout=PATIENCE))
                for n in range(5)
            ]
            await asyncio.sleep(0)  # every sender runs up to its wait for room
            gate.set()
            await asyncio.wait_for(asyncio.gather(*senders), PATIENCE)
            handled = await asyncio.to_thread(seen.wait_for, 6)

            assert handled == ["kept"] + [f"waiter {n}" for n in range(5)]

    asyncio.run(main())


def test_send_blocking_waits_in_a_plain_thread() -> None:
    """send_blocking from a thread waits for room; its timeout raises MailboxFull."""
    with ActorSystem() as system:
        entered, gate, seen = threading.Event(), threading.Event(), Collector()
        box = Bounded(1, overflow="backpressure")
        ref = system.spawn(Held, entered, gate, seen, dispatcher="thread", mailbox=box)
        ref.tell("hold")
        assert entered.wait(PATIENCE)
        ref.send_blocking("kept", timeout=1)

        started = time.monotonic()
        with pytest.raises(MailboxFull, match=re.escape(ref.path)):
            ref.send_blocking("given up", timeout=0.1)
        waited = time.monotonic() - started
        sender = threading.Thread(target=ref.send_blocking, args=("waited", PATIENCE))
        sender.start()
        gate.set()
        sender.join(PATIENCE)
        handled = seen.wait_for(2)

        assert 0.09 <= waited < 1.0
        assert not sender.is_alive()
        assert handled == ["kept", "waited"]


def test_send_blocking_on_the_actors_loop_is_refused() -> None:
    """send_blocking on the loop that drains the mailbox would deadlock: refused."""

    async def main() -> None:
        async with ActorSystem() as system:
            ref = system.spawn(Echo, mailbox=Bounded(1, overflow="backpressure"))

            with pytest.raises(InvalidStateError, match="send"):
                ref.send_blocking("x", timeout=1)

    asyncio.run(main())


def test_send_to_other_mailboxes_is_a_tell(drive: Drive) -> None:
    """send to a drop_new mailbox does not wait: the newcomer is a dead letter."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        ref, gate, seen = await _held(d, Bounded(1))
        d.tell(ref, "kept")

        started = time.monotonic()
        if d.mode == "loop":
            await ref.send("dropped", timeout=PATIENCE)
        else:
            ref.send_blocking("dropped", timeout=PATIENCE)
        waited = time.monotonic() - started
        await _refused(d, letters, 1)
        gate.set()
        await d.blocking(seen.wait_for, 1)

        assert waited < 0.5
        assert d.system.dead_letters.by_reason == {"mailbox full": 1}

    drive(scenario)


def test_waiting_senders_are_released_when_the_actor_stops() -> None:
    """A sender waiting on an actor that stops returns; its message is a dead letter."""

    async def main() -> None:
        async with ActorSystem() as system:
            entered, gate, seen = threading.Event(), threading.Event(), Collector()
            box = Bounded(1, overflow="backpressure")
            ref = system.spawn(
                Held, entered, gate, seen, dispatcher="thread", mailbox=box
            )
            ref.tell("hold")
            assert await asyncio.to_thread(entered.wait, PATIENCE)
            await ref.send("queued", timeout=1)
            waiting = asyncio.create_task(ref.send("waiting", timeout=PATIENCE))
            await asyncio.sleep(0)  # the sender runs up to its wait for room

            stop = ref.stop()
            gate.set()
            stopped = await asyncio.wait_for(stop, PATIENCE)
            await asyncio.wait_for(waiting, PATIENCE)

            assert stopped is True
            assert system.dead_letters.by_reason == {"actor stopped": 2}

    asyncio.run(main())


@dataclass
class Tally:
    """What a Consumer has counted, readable while it runs."""

    count: int = 0
    longest: int = 0


class Consumer(Actor):
    """Counts messages at a pace of at most one per ``pace`` seconds.

    Spawned with ``dispatcher="thread"``, it sleeps off its lead over that pace,
    like a handler waiting on a slow device, so that the producer runs meanwhile.
    The message None sets ``done``. It notes the longest its mailbox has been, to
    show that the producer ran ahead as far as the mailbox lets it: seen right
    after the consumer took a message, a full mailbox of 1,000 holds 999, or
    1,000 if the producer has already filled the gap.
    """

    def __init__(self, pace: float, tally: Tally, done: threading.Event) -> None:
        self.pace = pace
        self.tally = tally
        self.done = done
        self.started = 0.0

    def receive(self, message: Any) -> None:
        if message is None:
            self.done.set()
            return
        tally = self.tally
        if not tally.count:
            self.started = time.perf_counter()
        tally.count += 1
        waiting = len(self.context.mailbox)
        if waiting > tally.longest:
            tally.longest = waiting
        lead = self.started + tally.count * self.pace - time.perf_counter()
        if lead > 0.001:
            time.sleep(lead)


async def _send_cost(samples: int = 20_000) -> float:
    """Seconds per ``await ref.send`` when there is room: the producer's pace."""
    async with ActorSystem() as system:
        box = Bounded(samples + 1, overflow="backpressure")
        sink = system.spawn(Consumer, 0.0, Tally(), threading.Event(), mailbox=box)
        started = time.perf_counter()
        for n in range(samples):
            await sink.send(n)
        return (time.perf_counter() - started) / samples


async def _run_backpressure(total: int) -> tuple[Tally, int]:
    """A producer ten times faster than its consumer sends ``total`` messages.

    The ratio is set from the producer's untraced pace; the run itself is traced,
    which slows the producer but not the sleeping consumer, so the producer's lead
    is smaller there, yet it still keeps the mailbox full (``Tally.longest``).
    Returns the consumer's tally and the peak traced memory in bytes.
    """
    pace = 10 * await _send_cost()
    async with ActorSystem() as system:
        tally, done = Tally(), threading.Event()
        box = Bounded(1000, overflow="backpressure")
        consumer = system.spawn(
            Consumer, pace, tally, done, dispatcher="thread", mailbox=box
        )

        tracemalloc.start()
        try:
            for n in range(total):
                await consumer.send(n, timeout=PATIENCE)
            await consumer.send(None, timeout=PATIENCE)
            assert await asyncio.to_thread(done.wait, PATIENCE)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return tally, peak


def _run_drop_new(total: int) -> tuple[int, int]:
    """The same producer, a plain thread, tells into a drop_new mailbox.

    Returns how many messages were handled and how many were dead letters for
    a full mailbox.
    """
    pace = 10 * asyncio.run(_send_cost())
    with ActorSystem() as system:
        tally = Tally()
        consumer = system.spawn(
            Consumer,
            pace,
            tally,
            threading.Event(),
            dispatcher="thread",
            mailbox=Bounded(1000),
        )

        for n in range(total):
            consumer.tell(n)
        deadline = time.monotonic() + PATIENCE
        while tally.count + system.dead_letters.count < total:
            assert time.monotonic() < deadline, "the consumer did not drain"
            time.sleep(0.01)  # poll the drain, bounded by the deadline
        return tally.count, system.dead_letters.by_reason.get("mailbox full", 0)


# Measured peak of the traced run: about 0.06 MB, for 200,000 messages as for
# 1,000,000. The same run with a mailbox too large to fill peaked at 4.2 MB for
# 200,000 messages, so the bound catches a mailbox that grows, with a wide margin
# over the measured value.
MEMORY_BOUND = 1024 * 1024


def test_backpressure_a_million_messages() -> None:
    """1,000,000 sends from a 10x faster producer: all arrive, memory stays bounded."""
    tally, peak = asyncio.run(_run_backpressure(1_000_000))

    assert tally.count == 1_000_000
    assert 999 <= tally.longest <= 1000
    assert peak < MEMORY_BOUND


def test_drop_new_a_million_messages() -> None:
    """1,000,000 tells from a 10x faster producer: handled + dead letters == sent."""
    handled, dead = _run_drop_new(1_000_000)

    assert handled + dead == 1_000_000
    assert dead > 0


# -- priority --------------------------------------------------------------------------


async def _sorted_run(d: Driver, mailbox: Any, count: int) -> tuple[list[Job], int]:
    """C16 setup: ``count`` Jobs sent to a held Sorter; returns what it handled."""
    entered, gate = d.event(), d.event()
    ref = d.spawn(
        Sorter, entered, gate, d.collector(), dispatcher="thread", mailbox=mailbox
    )
    d.tell(ref, "hold")
    assert await d.wait(entered)

    await _queue(d, ref, [Job(seq % 3, seq) for seq in range(count)])
    dump = ref.ask(Dump(), timeout=PATIENCE)
    gate.set()
    handled: list[Job] = await d.result(dump)
    return handled, d.system.dead_letters.count


def test_c16_priority_mailbox_is_stable(drive: Drive) -> None:
    """C16: 300 jobs of priority i % 3 leave sorted by (priority, send order)."""

    async def scenario(d: Driver) -> None:
        handled, dead = await _sorted_run(d, Priority(key=_prio), 300)

        assert handled == sorted(handled, key=lambda job: (job.prio, job.seq))
        assert [job.seq for job in handled[:3]] == [0, 3, 6]
        assert len(handled) == 300
        assert dead == 0

    drive(scenario)


def test_c16_bounded_priority_mailbox_keeps_the_rule(drive: Drive) -> None:
    """C16 with Priority("prio", capacity=301): the same stable order."""

    async def scenario(d: Driver) -> None:
        box = Priority(key="prio", default=-1, capacity=301)
        handled, dead = await _sorted_run(d, box, 300)

        assert handled == sorted(handled, key=lambda job: (job.prio, job.seq))
        assert len(handled) == 300
        assert dead == 0

    drive(scenario)


def test_full_priority_mailbox_drops_newcomers_and_sorts_the_rest(
    drive: Drive,
) -> None:
    """Priority(capacity=100): the first 100 stay, sorted; 200 are dead letters."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        entered, gate, seen = d.event(), d.event(), d.collector()
        box = Priority(key=_prio, capacity=100)
        ref = d.spawn(Sorter, entered, gate, seen, dispatcher="thread", mailbox=box)
        d.tell(ref, "hold")
        assert await d.wait(entered)

        for seq in range(300):
            d.tell(ref, Job(seq % 3, seq))
        await _refused(d, letters, 200)
        gate.set()
        await d.blocking(seen.wait_for, 100)
        handled = await d.ask(ref, Dump())

        expected = sorted((Job(s % 3, s) for s in range(100)), key=_by_prio_seq)
        assert handled == expected
        assert d.system.dead_letters.by_reason.get("mailbox full") == 200

    drive(scenario)


def _by_prio_seq(job: Job) -> tuple[int, int]:
    return (job.prio, job.seq)


def test_priority_drop_old_drops_the_message_that_would_leave_last(
    drive: Drive,
) -> None:
    """drop_old on a priority mailbox drops whatever would leave last, newcomer too."""

    async def scenario(d: Driver) -> None:
        letters = _letters(d.system)
        box = Priority(key=_prio, capacity=3, overflow="drop_old")
        ref, gate, seen = await _held(d, box)

        for job in (Job(0, 0), Job(0, 1), Job(0, 2), Job(5, 3), Job(1, 4), Job(-1, 5)):
            d.tell(ref, job)
        await _refused(d, letters, 3)
        gate.set()
        await d.blocking(seen.wait_for, 3)
        handled = await d.ask(ref, "seen")

        assert [x.message for x in letters.items] == [Job(5, 3), Job(1, 4), Job(0, 2)]
        assert handled == [Job(-1, 5), Job(0, 0), Job(0, 1)]

    drive(scenario)


def test_priority_by_attribute_name_with_a_default(drive: Drive) -> None:
    """Priority("prio", default=...) ranks messages without the attribute by it."""

    async def scenario(d: Driver) -> None:
        box = Priority(key="prio", default=1)
        ref, gate, seen = await _held(d, box)

        await _queue(d, ref, [Job(2, 0), "plain", Job(0, 1)])
        gate.set()
        await d.blocking(seen.wait_for, 3)

        assert seen.items == [Job(0, 1), "plain", Job(2, 0)]

    drive(scenario)


@pytest.mark.in_process(
    "a tell raises at the sender only in the mailbox's own process; from another "
    "process the refused tell is a dead letter (docs/workers.md)"
)
def test_priority_without_default_refuses_a_message_without_the_key(
    drive: Drive,
) -> None:
    """Priority("prio") with no default: a tell lacking the attribute is a TypeError."""

    async def scenario(d: Driver) -> None:
        strict = d.spawn(Echo, mailbox=Priority(key="prio"))

        with pytest.raises(TypeError, match="prio"):
            d.tell(strict, "no priority")

    drive(scenario)


def test_priority_ask_without_the_key_is_refused_even_when_idle(
    drive: Drive,
) -> None:
    """An ask lacking the key fails with TypeError, idle receiver or busy."""

    async def scenario(d: Driver) -> None:
        strict = d.spawn(Echo, mailbox=Priority(key="prio"))
        await d.ask(d.spawn(Echo), "the dispatcher has run a turn")

        with pytest.raises(TypeError, match="prio"):
            await d.result(strict.ask("no priority", timeout=PATIENCE), PATIENCE)

    drive(scenario)
