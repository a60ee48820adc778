"""Scatter-gather: ask every routee, answer with the first reply."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from zactor._errors import AskTimeout

from .delivery import answer, fail, outcome, post, relay, succeeded, take_envelope
from .logic import RoutingLogic

if TYPE_CHECKING:
    import asyncio

    from zactor._reply import Reply

    from .router import Router


class ScatterGatherFirstCompleted(RoutingLogic):
    """Ask every routee; the first answer answers the original ask.

    A routee that raises does not win: the ask fails only if every routee
    raises (with the first error), or with :class:`~zactor.AskTimeout` when no
    routee answers within ``within`` seconds. Answers after the first are
    dropped silently. A tell goes to every routee, like :class:`Broadcast`.

    Use it for replicated services where the fastest answer is good enough,
    trading extra work for lower latency.

    Args:
        within: seconds to wait for the first answer.
    """

    def __init__(self, within: float) -> None:
        if type(within) not in (int, float) or not within > 0:
            raise ValueError(
                f"within must be a positive number of seconds, got {within!r}"
            )
        self.within = float(within)

    def __repr__(self) -> str:
        return f"ScatterGatherFirstCompleted(within={self.within})"

    def _route(self, router: Router, message: Any) -> None:
        targets = router._live_routees()
        if not targets:
            router._no_routees(message)
            return

        _, sender, reply = take_envelope(router.context)
        if reply is None:
            for target in targets:
                post(target, message, sender, None)
            return

        gather = _Gather(reply, len(targets), router.context.path, message, self)
        for target in targets:
            relay(target, message, sender, gather.arrived)
        if not gather.done:
            gather.start_timer(router)


class _Gather:
    """The answers of the routees to one scattered ask; completed once."""

    __slots__ = (
        "_failures",
        "_first_error",
        "_lock",
        "_timer",
        "_timer_thread",
        "count",
        "done",
        "logic",
        "message",
        "path",
        "reply",
    )

    def __init__(
        self,
        reply: Reply[Any],
        count: int,
        path: str,
        message: Any,
        logic: ScatterGatherFirstCompleted,
    ) -> None:
        self.reply = reply
        self.count = count
        self.path = path
        self.message = message
        self.logic = logic
        self.done = False
        self._failures = 0
        self._first_error: Any = None
        # Answers come from the dispatchers of the routees, maybe several threads.
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_thread = 0

    def start_timer(self, router: Router) -> None:
        """Fail the ask when no answer has come within the logic's bound."""
        timer = router.context.system._call_later(self.logic.within, self.expire)
        with self._lock:
            if self.done:
                if timer is not None:
                    timer.cancel()
                return
            self._timer = timer
            self._timer_thread = threading.get_ident()

    def arrived(self, reply: Reply[Any]) -> None:
        """One routee answered or failed."""
        with self._lock:
            if self.done:
                return
            if not succeeded(reply):
                self._failures += 1
                if self._first_error is None:
                    self._first_error = outcome(reply)
                if self._failures < self.count:
                    return
            self.done = True
            timer = self._timer
            self._timer = None

        if timer is not None and self._timer_thread == threading.get_ident():
            timer.cancel()  # a timer may only be cancelled on its loop's thread
        if succeeded(reply):
            answer(self.reply, outcome(reply))
        else:
            fail(self.reply, self._first_error)

    def expire(self) -> None:
        """No routee answered in time."""
        with self._lock:
            if self.done:
                return
            self.done = True
            self._timer = None
        fail(
            self.reply,
            AskTimeout(
                f"no routee of router {self.path} answered "
                f"{type(self.message).__name__} within {self.logic.within} s"
            ),
        )
