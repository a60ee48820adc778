"""Tools for testing actors: virtual time for timers.

:class:`VirtualTime` replaces the clock of a system's timers, so that a test moves
time forward itself and timers fire exactly when it says, in due order, without
waiting::

    async with ActorSystem() as system:
        clock = VirtualTime(system)
        ref = system.spawn(Ticker)
        clock.advance(1.0)          # fires every timer due within the second
"""

from __future__ import annotations

import heapq

from ._system import ActorSystem
from ._timers import TimerService

__all__ = ["VirtualTime"]


class VirtualTime:
    """A clock for a system's timers that only moves when :meth:`advance` says.

    Install it before the actors start timers. Ticks are delivered to the
    actors' mailboxes during ``advance``; a test then waits for the actors to
    handle them in the usual way (an ask, an event).

    Raises:
        RuntimeError: the system already runs timers on the real clock.
    """

    def __init__(self, system: ActorSystem, start: float = 0.0) -> None:
        if system._workers is not None or system._options.workers:
            raise RuntimeError(
                "VirtualTime drives the timers of one process; the actors of a "
                "system with workers=N time out on their workers' real clocks"
            )
        if system._timers is not None:
            raise RuntimeError(
                "the system's timers already run on the real clock; create "
                "VirtualTime before any actor starts a timer"
            )
        self._now = start
        service = TimerService(system.loop, clock=self.now)
        assert system._dispatcher is not None
        service.thread_id = system._dispatcher.thread_id
        system._timers = service
        self._service = service

    def now(self) -> float:
        """The virtual time, in seconds."""
        return self._now

    def advance(self, seconds: float) -> int:
        """Move time forward, firing each timer at its due time.

        Returns how many ticks were queued in mailboxes. The actors do not run
        during ``advance``, so it behaves like a process that was paused for
        ``seconds``: a periodic timer whose tick is still queued gets no second
        one (see ``Timers.every``). To see every tick of a periodic timer,
        advance one interval at a time and let the actors handle each tick in
        between (for example by awaiting an ask).
        """
        if seconds < 0:
            raise ValueError(f"time only moves forward; got {seconds!r}")
        target = self._now + seconds
        fired = 0
        while True:
            due = self._next_due()
            if due is None or due > target:
                break
            self._now = max(self._now, due)
            fired += self._service.fire_due(self._now)
        self._now = target
        return fired

    def _next_due(self) -> float | None:
        with self._service.lock:
            heap = self._service.heap
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            return heap[0][0] if heap else None
