"""Timers: messages an actor schedules for itself, single or periodic.

All timers of a system live in one heap, fired by a single asyncio timer handle for
the earliest one, so that a hundred thousand timers cost a hundred thousand heap
entries and not as many event-loop handles. Each actor reaches its own timers as
``self.context.timers``; a timer is known by a key, and starting a timer under a
key that is in use replaces the old one.

A periodic timer never queues a tick while its previous tick is still waiting in
the mailbox, so a slow or paused actor gets no burst of catch-up ticks. Cancelling
a timer also withdraws a tick of it that is still queued, and every timer of an
actor is cancelled when it stops or restarts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ._errors import MailboxFull, SystemShutDownError
from ._reply import _CANCELLED, _DONE, _PENDING, Reply

if TYPE_CHECKING:
    from ._cell import Cell

_get_ident = threading.get_ident


class TimerTick(Reply[Any]):
    """Rides in the reply slot of a timer's envelope; nobody waits on it.

    Its state tells the timer whether the tick is still queued, and cancelling it
    makes the dispatcher drop the queued tick without a dead letter.
    """

    __slots__ = ()

    is_tick = True

    def _answer(self, value: object) -> None:
        self._state = _DONE
        self._handled()

    def _fail(self, error: BaseException) -> None:
        self._state = _DONE
        self._handled()

    def _handled(self) -> None:
        timer = self._about
        if isinstance(timer, Timer) and timer.mode == "once":
            timer.cell.timers._forget(timer)


class Timer:
    """One scheduled message of one actor."""

    __slots__ = (
        "cancelled",
        "cell",
        "due",
        "idle_since",
        "interval",
        "key",
        "message",
        "mode",
        "tick",
    )

    def __init__(
        self,
        cell: Cell,
        key: Hashable,
        message: Any,
        due: float,
        interval: float,
        mode: str,
    ) -> None:
        self.cell = cell
        self.key = key
        self.message = message
        self.due = due
        self.interval = interval
        # "once", "delay" (fixed delay), "rate" (fixed rate) or "idle" (receive
        # timeout: fires `interval` after the last message handled).
        self.mode = mode
        self.idle_since = due - interval
        self.cancelled = False
        self.tick: TimerTick | None = None

    def __lt__(self, other: Timer) -> bool:
        return self.due < other.due

    def cancel(self) -> None:
        """Stop the timer and withdraw its tick if it is still queued."""
        self.cancelled = True
        tick = self.tick
        if tick is not None and tick._state == _PENDING:
            tick._state = _CANCELLED


class TimerService:
    """The heap of every timer of one system, on the system's event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.loop = loop
        self.clock = clock or loop.time
        self.lock = threading.Lock()
        self.heap: list[tuple[float, int, Timer]] = []
        self.sequence = itertools.count()
        self.handle: asyncio.TimerHandle | None = None
        self.armed_for = math.inf
        self.fired = 0
        self.thread_id = 0
        self.rearm_pending = False
        # With a virtual clock nothing is armed on the loop: time moves only when
        # the owner of the clock calls fire_due.
        self.manual = clock is not None

    def now(self) -> float:
        """The service's clock, in seconds."""
        return self.clock()

    def add(self, timer: Timer) -> None:
        """Schedule ``timer`` at ``timer.due``; from any thread."""
        with self.lock:
            heapq.heappush(self.heap, (timer.due, next(self.sequence), timer))
            earlier = timer.due < self.armed_for and not self.rearm_pending
            if earlier:
                self.rearm_pending = True
        if earlier and not self.manual:
            # One re-arm per loop iteration, however many timers a handler starts.
            if self.thread_id == _get_ident():
                self.loop.call_soon(self._arm)
            else:
                self.loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        self.rearm_pending = False
        if self.manual:
            return
        with self.lock:
            while self.heap and self.heap[0][2].cancelled:
                heapq.heappop(self.heap)
            due = self.heap[0][0] if self.heap else math.inf
        if due >= self.armed_for:
            return
        if self.handle is not None:
            self.handle.cancel()
        self.armed_for = due
        self.handle = self.loop.call_at(due, self._fire) if due < math.inf else None

    def _fire(self) -> None:
        self.handle = None
        self.armed_for = math.inf
        self.fire_due(self.now())
        self._arm()

    def fire_due(self, now: float) -> int:
        """Deliver every timer due by ``now``; returns how many ticks were queued."""
        fired = 0
        heap = self.heap
        while True:
            due: list[Timer] = []
            with self.lock:  # one hold per batch, not per timer
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap)[2])
            if not due:
                break
            for timer in due:
                if not timer.cancelled:
                    fired += self._deliver(timer, now)
        self.fired += fired
        return fired

    def _deliver(self, timer: Timer, now: float) -> int:
        cell = timer.cell
        if timer.mode == "idle" and now < timer.idle_since + timer.interval:
            timer.due = timer.idle_since + timer.interval  # not silent long enough
            self.add(timer)
            return 0
        queued = 0
        tick = timer.tick
        if tick is None or tick._state != _PENDING:
            tick = timer.tick = TimerTick(None, "a timer tick")
            tick._about = timer
            envelope = (timer.message, None, tick)
            try:
                cell.dispatcher.post(cell, envelope)
                queued = 1
            except MailboxFull:
                cell.system._dead_letter(timer.message, None, cell.ref, "mailbox full")
            except SystemShutDownError:
                timer.cancelled = True
                return 0

        if timer.mode == "once":
            timer.cancelled = True
            cell.timers._expired(timer)
            return queued
        if timer.mode in ("delay", "idle"):
            timer.due = now + timer.interval
        else:
            missed = math.floor((now - timer.due) / timer.interval) + 1
            timer.due += max(missed, 1) * timer.interval
        self.add(timer)
        return queued

    def cancel_all(self) -> None:
        """Cancel every timer (the system is shutting down)."""
        with self.lock:
            timers = [entry[2] for entry in self.heap]
            self.heap.clear()
        for timer in timers:
            timer.cancel()
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.armed_for = math.inf


class Timers:
    """The timers of one actor, as ``self.context.timers``.

    Call these from the actor's own handlers and hooks. Delays are in seconds;
    the message arrives like a tell with no sender.
    """

    __slots__ = ("_active", "_cell", "_fired")

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        self._active: dict[Hashable, Timer] = {}
        # Single timers that fired but whose tick is not handled yet: cancel and
        # replace still withdraw that tick.
        self._fired: dict[Hashable, Timer] = {}

    def __len__(self) -> int:
        return len(self._active)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._active

    def once(self, key: Hashable, delay: float, message: Any) -> None:
        """Send ``message`` to this actor once, after ``delay`` seconds."""
        _check_delay("delay", delay, allow_zero=True)
        self._start(key, message, delay, 0.0, "once")

    def every(
        self,
        key: Hashable,
        interval: float,
        message: Any,
        *,
        fixed_rate: bool = False,
        initial_delay: float | None = None,
    ) -> None:
        """Send ``message`` to this actor every ``interval`` seconds.

        With the default fixed delay, each tick comes ``interval`` after the one
        before was sent; with ``fixed_rate=True`` ticks keep to the schedule
        ``start + k * interval``, and ticks missed while the process was paused
        are skipped, not sent in a burst.
        """
        _check_delay("interval", interval, allow_zero=False)
        first = interval if initial_delay is None else initial_delay
        _check_delay("initial_delay", first, allow_zero=True)
        self._start(key, message, first, interval, "rate" if fixed_rate else "delay")

    def cancel(self, key: Hashable) -> bool:
        """Cancel the timer ``key`` and withdraw its queued tick; True if it existed."""
        timer = self._active.pop(key, None)
        fired = self._fired.pop(key, None)
        if fired is not None:
            fired.cancel()
        if timer is None:
            return fired is not None
        timer.cancel()
        return True

    def cancel_all(self) -> None:
        """Cancel every timer of this actor."""
        active, self._active = self._active, {}
        fired, self._fired = self._fired, {}
        for timer in (*active.values(), *fired.values()):
            timer.cancel()

    def is_active(self, key: Hashable) -> bool:
        """True while the timer ``key`` will still fire."""
        return key in self._active

    def _start(
        self, key: Hashable, message: Any, delay: float, interval: float, mode: str
    ) -> None:
        self.cancel(key)
        service = self._cell.system._timer_service()
        timer = Timer(self._cell, key, message, service.now() + delay, interval, mode)
        self._active[key] = timer
        service.add(timer)

    def _start_idle(self, key: Hashable, message: Any, interval: float) -> Timer:
        self._start(key, message, interval, interval, "idle")
        return self._active[key]

    def _expired(self, timer: Timer) -> None:
        if self._active.get(timer.key) is timer:
            del self._active[timer.key]
            tick = timer.tick
            if tick is not None and tick._state == _PENDING:
                self._fired[timer.key] = timer

    def _forget(self, timer: Timer) -> None:
        if self._fired.get(timer.key) is timer:
            del self._fired[timer.key]


def _check_delay(name: str, value: object, *, allow_zero: bool) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or value < 0
        or (value == 0 and not allow_zero)
        or math.isnan(value)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"timer {name} must be a number of seconds {bound}, got {value!r}"
        )
