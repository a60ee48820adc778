"""Timers, receive timeouts and virtual time."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import PATIENCE, Collector, Drive, Driver, SharedCollector, SharedList
from zactor import Actor, ActorRef, Bounded, ReceiveTimeout
from zactor.testing import VirtualTime


@dataclass(frozen=True)
class Once:
    """Start ``timers.once(key, delay, message)``."""

    key: Hashable
    delay: float
    message: Any


@dataclass(frozen=True)
class Every:
    """Start ``timers.every(key, interval, message, ...)``."""

    key: Hashable
    interval: float
    message: Any
    fixed_rate: bool = False
    initial_delay: float | None = None


@dataclass(frozen=True)
class Cancel:
    """Cancel the timer ``key``; answers what ``cancel`` returned."""

    key: Hashable


@dataclass(frozen=True)
class Active:
    """Answers ``timers.is_active(key)``."""

    key: Hashable


@dataclass(frozen=True)
class Hold:
    """Block the pool thread until ``gate`` opens, then run ``then`` (a command)."""

    entered: threading.Event
    gate: threading.Event
    then: Any = None


@dataclass
class Ticks:
    """What a Ticker received, shared so that it outlives a restart.

    Both parts come from the driver, so that the scenario reads what the actor
    wrote wherever the actor runs.
    """

    got: Collector | SharedCollector
    senders: list[ActorRef | None] | SharedList


def _ticks(d: Driver) -> Ticks:
    """An empty record made of the driver's shared objects."""
    return Ticks(d.collector(), d.journal())


# VirtualTime replaces the clock of this process's timers; actors in worker
# processes keep theirs, so these scenarios hold for one process only.
VIRTUAL = pytest.mark.in_process(
    "VirtualTime drives this process's timers, not those of the worker processes"
)


class Ticker(Actor):
    """Runs timer commands and records every other message with its sender.

    "ticks" answers what was recorded; "boom" fails; "sync" only answers.
    """

    def __init__(self, ticks: Ticks) -> None:
        self.ticks = ticks

    def receive(self, message: Any) -> Any:
        if isinstance(message, Hold):
            message.entered.set()
            message.gate.wait(PATIENCE)
            return self._command(message.then)
        command = self._command(message)
        if command is not NotImplemented:
            return command
        if message == "ticks":
            return list(self.ticks.got.items)
        if message == "boom":
            raise RuntimeError("boom")
        if message == "sync":
            return None
        self.ticks.got(message)
        self.ticks.senders.append(self.context.sender)
        return None

    def _command(self, message: Any) -> Any:
        timers = self.context.timers
        if isinstance(message, Once):
            timers.once(message.key, message.delay, message.message)
        elif isinstance(message, Every):
            timers.every(
                message.key,
                message.interval,
                message.message,
                fixed_rate=message.fixed_rate,
                initial_delay=message.initial_delay,
            )
        elif isinstance(message, Cancel):
            return timers.cancel(message.key)
        elif isinstance(message, Active):
            return timers.is_active(message.key)
        elif message == "cancel all":
            timers.cancel_all()
        elif message == "count":
            return len(timers)
        else:
            return NotImplemented
        return None


async def _steps(
    d: Driver, clock: VirtualTime, ref: ActorRef, seconds: float, count: int
) -> None:
    """Advance ``count`` times by ``seconds``, letting ``ref`` catch up after each."""
    for _ in range(count):
        clock.advance(seconds)
        await d.ask(ref, "sync")


# -- virtual time: single and periodic timers ------------------------------------------


@VIRTUAL
def test_once_fires_once_at_its_time(drive: Drive) -> None:
    """timers.once delivers its message at the delay, once, and is then inactive."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks)
        await d.ask(ref, Once("k", 0.5, "ping"))

        await _steps(d, clock, ref, 0.4, 1)
        before = await d.ask(ref, "ticks")
        active_before = await d.ask(ref, Active("k"))
        await _steps(d, clock, ref, 0.1, 1)
        at = await d.ask(ref, "ticks")
        await _steps(d, clock, ref, 10.0, 1)
        after = await d.ask(ref, "ticks")
        active_after = await d.ask(ref, Active("k"))

        assert before == []
        assert active_before is True
        assert at == ["ping"]
        assert after == ["ping"]
        assert active_after is False
        assert ticks.senders == [None]

    drive(scenario)


@pytest.mark.parametrize("fixed_rate", [False, True], ids=["fixed-delay", "fixed-rate"])
@VIRTUAL
def test_every_ticks_once_per_interval(drive: Drive, fixed_rate: bool) -> None:
    """every(0.1) over ten steps of 0.1 s: exactly ten ticks, still active."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Every("t", 0.1, "tick", fixed_rate=fixed_rate))

        await _steps(d, clock, ref, 0.1, 10)
        got = await d.ask(ref, "ticks")
        active = await d.ask(ref, Active("t"))

        assert got == ["tick"] * 10
        assert active is True

    drive(scenario)


@pytest.mark.parametrize("fixed_rate", [False, True], ids=["fixed-delay", "fixed-rate"])
@VIRTUAL
def test_one_long_advance_is_a_pause_with_no_burst_of_ticks(
    drive: Drive, fixed_rate: bool
) -> None:
    """advance(1.0) with every(0.1) and no turn in between: one tick, like a pause."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Every("t", 0.1, "tick", fixed_rate=fixed_rate))

        fired = clock.advance(1.0)
        got = await d.ask(ref, "ticks")
        fired_after = clock.advance(0.1)
        got_after = await d.ask(ref, "ticks")

        assert fired == 1
        assert got == ["tick"]
        assert fired_after == 1
        assert got_after == ["tick", "tick"]

    drive(scenario)


@VIRTUAL
def test_initial_delay_sets_the_first_tick(drive: Drive) -> None:
    """every(1.0, initial_delay=0.25): ticks at 0.25 s, then every second."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Every("t", 1.0, "tick", initial_delay=0.25))

        await _steps(d, clock, ref, 0.25, 1)
        first = await d.ask(ref, "ticks")
        await _steps(d, clock, ref, 0.5, 1)
        between = await d.ask(ref, "ticks")
        await _steps(d, clock, ref, 0.5, 1)
        second = await d.ask(ref, "ticks")

        assert first == ["tick"]
        assert between == ["tick"]
        assert second == ["tick", "tick"]

    drive(scenario)


@VIRTUAL
def test_a_zero_initial_delay_ticks_at_once(drive: Drive) -> None:
    """every(1.0, initial_delay=0) is due at the current instant."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Every("t", 1.0, "tick", initial_delay=0))

        fired = clock.advance(0)
        await d.ask(ref, "sync")
        got = await d.ask(ref, "ticks")

        assert fired == 1
        assert got == ["tick"]

    drive(scenario)


@VIRTUAL
def test_starting_a_timer_under_a_used_key_replaces_it(drive: Drive) -> None:
    """A second once under the same key replaces the first; so does once over every."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Once("k", 1.0, "first"))
        await d.ask(ref, Once("k", 2.0, "second"))
        await d.ask(ref, Every("p", 0.1, "periodic"))
        await d.ask(ref, Once("p", 0.5, "single"))

        await _steps(d, clock, ref, 0.5, 6)
        got = await d.ask(ref, "ticks")
        count = await d.ask(ref, "count")

        assert got == ["single", "second"]
        assert count == 0

    drive(scenario)


@VIRTUAL
def test_cancel_stops_a_timer_and_says_whether_it_existed(drive: Drive) -> None:
    """cancel(key) is True for a live timer, False for an unknown one; no tick after."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Every("t", 0.1, "tick"))
        await _steps(d, clock, ref, 0.1, 2)

        cancelled = await d.ask(ref, Cancel("t"))
        again = await d.ask(ref, Cancel("t"))
        unknown = await d.ask(ref, Cancel("never started"))
        await _steps(d, clock, ref, 0.1, 5)
        got = await d.ask(ref, "ticks")

        assert (cancelled, again, unknown) == (True, False, False)
        assert got == ["tick", "tick"]

    drive(scenario)


@VIRTUAL
def test_cancel_all_stops_every_timer_of_the_actor(drive: Drive) -> None:
    """cancel_all leaves the actor with no timer; others' timers go on."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        mine, theirs = _ticks(d), _ticks(d)
        ref = d.spawn(Ticker, mine)
        other = d.spawn(Ticker, theirs)
        for key in ("a", "b", "c"):
            await d.ask(ref, Every(key, 0.1, key))
        await d.ask(other, Every("a", 0.1, "other"))

        await d.ask(ref, "cancel all")
        await _steps(d, clock, other, 0.1, 3)
        count = await d.ask(ref, "count")

        assert mine.got.items == []
        assert count == 0
        assert theirs.got.items == ["other"] * 3

    drive(scenario)


@VIRTUAL
def test_cancel_withdraws_a_tick_that_is_already_queued(drive: Drive) -> None:
    """A tick queued behind a busy handler is not delivered once cancelled."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread")
        await d.ask(ref, Every("t", 0.1, "tick"))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate, Cancel("t")))
        assert await d.wait(entered)

        fired = clock.advance(0.1)
        gate.set()
        await d.ask(ref, "sync")
        await _steps(d, clock, ref, 0.1, 3)

        assert fired == 1
        assert ticks.got.items == []
        assert d.system.dead_letters.count == 0

    drive(scenario)


@VIRTUAL
def test_cancel_withdraws_a_queued_tick_of_a_single_timer(drive: Drive) -> None:
    """A once tick queued behind a busy handler is not delivered once cancelled."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread")
        await d.ask(ref, Once("k", 0.1, "too late"))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate, Cancel("k")))
        assert await d.wait(entered)

        fired = clock.advance(0.1)
        gate.set()
        await d.ask(ref, "sync")

        assert fired == 1
        assert ticks.got.items == []

    drive(scenario)


@VIRTUAL
def test_replacing_a_timer_withdraws_its_queued_tick(drive: Drive) -> None:
    """Starting a timer under a key whose tick is queued drops that tick."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread")
        await d.ask(ref, Once("k", 0.1, "old"))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate, Once("k", 0.5, "new")))
        assert await d.wait(entered)

        clock.advance(0.1)
        gate.set()
        await d.ask(ref, "sync")
        await _steps(d, clock, ref, 0.5, 1)

        assert ticks.got.items == ["new"]

    drive(scenario)


@pytest.mark.parametrize("fixed_rate", [False, True], ids=["fixed-delay", "fixed-rate"])
@VIRTUAL
def test_a_long_pause_brings_no_burst_of_ticks(drive: Drive, fixed_rate: bool) -> None:
    """Ten intervals pass while the actor is busy: one tick waits, not ten."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread")
        await d.ask(ref, Every("t", 0.1, "tick", fixed_rate=fixed_rate))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate))
        assert await d.wait(entered)

        clock.advance(1.05)
        gate.set()
        await d.ask(ref, "sync")
        after_pause = list(ticks.got.items)
        await _steps(d, clock, ref, 0.1, 3)

        assert after_pause == ["tick"]
        assert ticks.got.items == ["tick"] * 4

    drive(scenario)


@VIRTUAL
def test_a_tick_to_a_full_mailbox_is_a_dead_letter(drive: Drive) -> None:
    """A tick that finds a full drop_new mailbox is dropped; the next one comes."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread", mailbox=Bounded(1))
        await d.ask(ref, Every("t", 0.1, "tick"))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate))
        assert await d.wait(entered)

        d.tell(ref, "queued")
        clock.advance(0.1)
        gate.set()
        await d.blocking(ticks.got.wait_for, 1)
        clock.advance(0.1)
        await d.blocking(ticks.got.wait_for, 2)

        assert ticks.got.items == ["queued", "tick"]
        assert d.system.dead_letters.by_reason == {"mailbox full": 1}

    drive(scenario)


# -- lifecycle -------------------------------------------------------------------------


@VIRTUAL
def test_timers_end_when_the_actor_stops(drive: Drive) -> None:
    """After stop, no timer of the actor fires: no tick, no dead letter."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks)
        await d.ask(ref, Every("t", 0.1, "tick"))
        await d.ask(ref, Once("o", 0.5, "once"))
        await _steps(d, clock, ref, 0.1, 2)

        await d.stop(ref)
        fired = clock.advance(1.0)

        assert fired == 0
        assert ticks.got.items == ["tick", "tick"]
        assert d.system.dead_letters.count == 0

    drive(scenario)


@VIRTUAL
def test_a_queued_tick_of_a_stopped_actor_is_no_dead_letter(drive: Drive) -> None:
    """A tick still queued when the actor stops is withdrawn, not a dead letter."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks, dispatcher="thread")
        await d.ask(ref, Every("t", 0.1, "tick"))
        entered, gate = d.event(), d.event()
        d.tell(ref, Hold(entered, gate))
        assert await d.wait(entered)

        fired = clock.advance(0.1)
        stop = ref.stop()
        gate.set()
        stopped = await d.result(stop, PATIENCE)

        assert fired == 1
        assert stopped is True
        assert ticks.got.items == []
        assert d.system.dead_letters.count == 0

    drive(scenario)


class Restartable(Ticker):
    """A Ticker that starts a periodic timer in on_start (so again on restart)."""

    def on_start(self) -> None:
        self.context.timers.every("start", 0.1, "tick")


@VIRTUAL
def test_a_restart_cancels_the_old_timers(drive: Drive) -> None:
    """After a restart only the new instance's timers run: one tick per interval."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Restartable, ticks)
        await d.ask(ref, Once("later", 0.5, "old once"))
        await _steps(d, clock, ref, 0.1, 2)

        d.tell(ref, "boom")
        await d.ask(ref, "sync")
        await _steps(d, clock, ref, 0.1, 5)

        assert ticks.got.items == ["tick"] * 7

    drive(scenario)


@VIRTUAL
def test_shutdown_cancels_every_timer(drive: Drive) -> None:
    """A system that shut down fires no timer; nothing becomes a dead letter."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks)
        await d.ask(ref, Every("t", 0.1, "tick"))
        await d.ask(ref, Once("o", 5.0, "once"))

        await d.shutdown()
        fired = clock.advance(10.0)

        assert fired == 0
        assert ticks.got.items == []
        assert d.system.dead_letters.count == 0

    drive(scenario)


# -- receive timeout -------------------------------------------------------------------


class Idle(Actor):
    """Records what it gets; "idle" / "idle off" / "custom" set the receive timeout."""

    def __init__(
        self, got: Collector | SharedCollector, seconds: float | None = None
    ) -> None:
        self.got = got
        self.seconds = seconds

    def on_start(self) -> None:
        if self.seconds is not None:
            self.context.set_receive_timeout(self.seconds)

    def receive(self, message: Any) -> Any:
        if message == "idle":
            self.context.set_receive_timeout(0.5)
        elif message == "idle off":
            self.context.set_receive_timeout(None)
        elif message == "custom":
            self.context.set_receive_timeout(0.5, "are you there?")
        elif message == "boom":
            raise RuntimeError("boom")
        elif message != "sync":
            self.got(message)
        return None


def _timeouts(got: Collector | SharedCollector) -> int:
    return sum(isinstance(m, ReceiveTimeout) for m in got.items)


@VIRTUAL
def test_receive_timeout_fires_after_silence_and_repeats(drive: Drive) -> None:
    """Half a second of silence brings a ReceiveTimeout, and each further half."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        d.spawn(Idle, got, 0.5)

        early = clock.advance(0.25)
        first = clock.advance(0.25)
        await d.blocking(got.wait_for, 1)
        second = clock.advance(0.5)
        await d.blocking(got.wait_for, 2)

        assert (early, first, second) == (0, 1, 1)
        assert got.items == [ReceiveTimeout(), ReceiveTimeout()]

    drive(scenario)


@VIRTUAL
def test_receive_timeout_counts_silence_from_the_last_message(drive: Drive) -> None:
    """Messages every 0.125 s for 2 s: no ReceiveTimeout; then 0.5 s silence: one."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(Idle, got, 0.5)

        for n in range(16):
            clock.advance(0.125)
            await d.ask(ref, n)
        busy = _timeouts(got)
        clock.advance(0.5)
        await d.blocking(got.wait_for, 17)

        assert busy == 0
        assert got.items == [*range(16), ReceiveTimeout()]

    drive(scenario)


@pytest.mark.timeout(5)
@VIRTUAL
def test_receive_timeout_after_a_few_short_steps(drive: Drive) -> None:
    """Two steps of 0.1 s with a message, then 0.5 s of silence: one timeout.

    The silence ends at 0.2 + 0.5, which in floating point is a hair less than
    0.5 after 0.2; the timeout must still fire, and advance must return.
    """

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(Idle, got, 0.5)

        for _ in range(2):
            clock.advance(0.1)
            await d.ask(ref, "ping")
        clock.advance(0.5)
        await d.blocking(got.wait_for, 3)

        assert got.items == ["ping", "ping", ReceiveTimeout()]

    drive(scenario)


@VIRTUAL
def test_advance_counts_a_receive_timeout_once(drive: Drive) -> None:
    """advance returns how many timers fired: a ReceiveTimeout counts once."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(Idle, got, 0.5)

        clock.advance(0.25)
        await d.ask(ref, "ping")
        fired = clock.advance(0.75)
        await d.blocking(got.wait_for, 2)

        assert got.items == ["ping", ReceiveTimeout()]
        assert fired == 1

    drive(scenario)


@VIRTUAL
def test_receive_timeout_can_carry_a_message_and_be_turned_off(drive: Drive) -> None:
    """set_receive_timeout(s, message) sends that message; None turns it off."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(Idle, got)

        await d.ask(ref, "custom")
        clock.advance(0.5)
        custom = await d.blocking(got.wait_for, 1)
        await d.ask(ref, "idle off")
        await _steps(d, clock, ref, 1.0, 3)

        assert custom == ["are you there?"]
        assert got.items == ["are you there?"]

    drive(scenario)


@VIRTUAL
def test_a_restart_turns_the_receive_timeout_off(drive: Drive) -> None:
    """A receive timeout set by a message does not survive a restart."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(Idle, got)
        await d.ask(ref, "idle")

        d.tell(ref, "boom")
        await d.ask(ref, "sync")
        await _steps(d, clock, ref, 1.0, 3)

        assert _timeouts(got) == 0

    drive(scenario)


class IdleFromBirth(Idle):
    """Sets its receive timeout in the constructor."""

    def __init__(self, got: Collector | SharedCollector) -> None:
        super().__init__(got)
        self.context.set_receive_timeout(0.5)


@VIRTUAL
def test_a_receive_timeout_set_in_the_constructor_is_reset_by_messages(
    drive: Drive,
) -> None:
    """A timeout set in __init__ counts silence like one set later."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        got = d.collector()
        ref = d.spawn(IdleFromBirth, got)

        for n in range(8):
            clock.advance(0.125)
            await d.ask(ref, n)

        assert got.items == list(range(8))

    drive(scenario)


# -- scale and real time ---------------------------------------------------------------


class Scheduler(Actor):
    """Schedules ``count`` one-shot timers at spread-out delays; records the ticks."""

    def __init__(self) -> None:
        self.got: list[int] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "schedule":
            timers = self.context.timers
            for n in range(message[1]):
                timers.once(n, _delay(n), n)
            return len(timers)
        if message == "got":
            return self.got
        self.got.append(message)
        return None


def _delay(n: int) -> float:
    return (n * 7919 % 1000) / 1000 + 0.001


@VIRTUAL
def test_a_hundred_thousand_timers_all_fire_in_due_order(drive: Drive) -> None:
    """100,000 one-shot timers: all fire, in order of due time then of start."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system)
        ref = d.spawn(Scheduler)
        scheduled = await d.ask(ref, ("schedule", 100_000))

        fired = clock.advance(1.0)
        got = await d.ask(ref, "got", timeout=30)
        left = await d.ask(ref, ("schedule", 0))

        assert scheduled == 100_000
        assert fired == 100_000
        assert len(got) == 100_000
        assert got == sorted(range(100_000), key=lambda n: (_delay(n), n))
        assert left == 0

    drive(scenario)


def test_once_on_the_real_clock_arrives(drive: Drive) -> None:
    """Without virtual time, once(0.05) arrives well within a second."""

    async def scenario(d: Driver) -> None:
        ticks = _ticks(d)
        ref = d.spawn(Ticker, ticks)

        started = time.monotonic()
        await d.ask(ref, Once("k", 0.05, "ping"))
        got = await d.blocking(ticks.got.wait_for, 1)
        elapsed = time.monotonic() - started

        assert got == ["ping"]
        assert 0.04 <= elapsed < 1.0

    drive(scenario)


@pytest.mark.parametrize(
    "bad", [Every("t", 0, "x"), Every("t", -1, "x"), Once("t", -0.5, "x")]
)
def test_bad_delays_are_refused(drive: Drive, bad: Any) -> None:
    """A zero or negative interval, or a negative delay, raises ValueError."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Ticker, _ticks(d))

        with pytest.raises(ValueError, match="timer"):
            await d.ask(ref, bad)

    drive(scenario)


@pytest.mark.parametrize("bad", [math.nan, True, "1"])
def test_delays_that_are_not_numbers_are_refused(drive: Drive, bad: Any) -> None:
    """NaN, a bool or a string as a delay raises ValueError."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Ticker, _ticks(d))

        with pytest.raises(ValueError, match="timer"):
            await d.ask(ref, Once("t", bad, "x"))

    drive(scenario)


@VIRTUAL
def test_virtual_time_must_come_before_real_timers(drive: Drive) -> None:
    """VirtualTime on a system whose timers already run raises RuntimeError."""

    async def scenario(d: Driver) -> None:
        ref = d.spawn(Ticker, _ticks(d))
        await d.ask(ref, Once("k", 10.0, "x"))

        with pytest.raises(RuntimeError, match="VirtualTime"):
            VirtualTime(d.system)

    drive(scenario)


@pytest.mark.in_process("VirtualTime drives one process's timers; it refuses workers")
def test_virtual_time_only_moves_forward(drive: Drive) -> None:
    """advance with a negative number of seconds raises ValueError."""

    async def scenario(d: Driver) -> None:
        clock = VirtualTime(d.system, start=100.0)

        with pytest.raises(ValueError, match="forward"):
            clock.advance(-1.0)
        clock.advance(2.5)

        assert clock.now() == 102.5

    drive(scenario)


class Flooder(Actor):
    """Tells ``worker`` on every tick of a 0.01 s timer; sets ``flooded`` at 100."""

    def __init__(self, worker: ActorRef, flooded: Any) -> None:
        self.worker = worker
        self.flooded = flooded
        self.ticks = 0

    def on_start(self) -> None:
        self.context.timers.every("flood", 0.01, "tick")

    def receive(self, message: Any) -> None:
        self.ticks += 1
        self.worker.tell(self.ticks)
        if self.ticks == 100:
            self.flooded.set()


class SlowWorker(Actor):
    """Takes 0.05 s per message, awaiting."""

    async def receive(self, message: Any) -> None:
        await asyncio.sleep(0.05)


def test_c06_shutdown_under_a_timer_flood_is_prompt(drive: Drive) -> None:
    """C06: 1 s of ticks into a slow worker; shutdown(2) ends in 2.5 s, no threads."""

    async def scenario(d: Driver) -> None:
        flooded = d.event()
        worker = d.spawn(SlowWorker)
        flooder = d.spawn(Flooder, worker, flooded, dispatcher="thread")
        assert await d.wait(flooded)

        started = time.monotonic()
        await d.shutdown(timeout=2)
        took = time.monotonic() - started
        survivors = [
            thread.name
            for thread in threading.enumerate()
            if thread.name.startswith("zactor-")
        ]

        assert took < 2.5
        assert not worker.is_alive()
        assert not flooder.is_alive()
        assert survivors == []

    drive(scenario)
