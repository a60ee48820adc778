"""Balancing: routees take work from one shared queue as they become free."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zactor._errors import ActorDeadError
from zactor._ref import ActorRef

from .delivery import (
    dead_letter,
    fail,
    outcome,
    pass_on,
    relay,
    routable,
    succeeded,
    take_envelope,
)
from .logic import RoutingLogic

if TYPE_CHECKING:
    from zactor._messages import Envelope
    from zactor._reply import Reply

    from .router import Router

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkDone:
    """A routee of a balancing router finished one message."""

    routee: ActorRef


class Balancing(RoutingLogic):
    """One queue for all routees: each message goes to a routee that is free.

    The router keeps the messages and hands one to a routee only while that
    routee has fewer than ``prefetch`` messages in progress; the routee's answer
    (its return value, or the reply it deferred) marks the message done. So an
    idle routee never waits while another has a backlog, and a slow routee holds
    at most ``prefetch`` messages.

    Use it with a pool of interchangeable routees for work of uneven cost. The
    routees should get their work only from this router, and messages start in
    the order they arrived but may finish in any order.

    Args:
        prefetch: messages in progress per routee; 1 balances best, more saves
            the routee waiting for its next message.
    """

    def __init__(self, prefetch: int = 1) -> None:
        if type(prefetch) is not int or prefetch < 1:
            raise ValueError(f"prefetch must be an int >= 1, got {prefetch!r}")
        self.prefetch = prefetch
        self._queue: deque[Envelope] = deque()
        # Free slots per routee, and one token per free slot in the order the
        # slots became free; a token whose routee has no free slot left is stale.
        self._slots: dict[ActorRef, int] = {}
        self._free: deque[ActorRef] = deque()
        self._pumping = False

    def __repr__(self) -> str:
        return f"Balancing(prefetch={self.prefetch})"

    @property
    def queued(self) -> int:
        """How many messages wait for a free routee."""
        return len(self._queue)

    def _route(self, router: Router, message: Any) -> None:
        if not router._routees:
            router._no_routees(message)
            return
        self._queue.append(take_envelope(router.context))
        self._pump(router)

    def _routees_changed(self, router: Router) -> None:
        routees = router._routees
        current = set(routees)
        for ref in [ref for ref in self._slots if ref not in current]:
            del self._slots[ref]
        for ref in routees:
            if ref not in self._slots:
                self._slots[ref] = self.prefetch
                self._free.extend([ref] * self.prefetch)
        if not routees:
            self._flush(router)
        else:
            self._pump(router)

    def _work_done(self, router: Router, routee: ActorRef) -> None:
        slots = self._slots.get(routee)
        if slots is not None:
            self._slots[routee] = slots + 1
            self._free.append(routee)
        self._pump(router)

    def _stopped(self, router: Router) -> None:
        queue = self._queue
        while queue:
            message, sender, reply = queue.popleft()
            if reply is not None:
                fail(
                    reply,
                    ActorDeadError(
                        f"router {router.context.path} stopped before a routee "
                        f"was free for {type(message).__name__}"
                    ),
                )
            else:
                router._dead_letter(message, sender, "actor stopped")
        self._slots.clear()
        self._free.clear()

    def _flush(self, router: Router) -> None:
        queue = self._queue
        while queue:
            message, sender, reply = queue.popleft()
            router._undeliverable(message, sender, reply)

    def _pump(self, router: Router) -> None:
        """Hand queued messages to routees with a free slot."""
        if self._pumping:
            return  # a routee dropped while pumping: the outer loop goes on
        self._pumping = True
        try:
            self._hand_out(router)
        finally:
            self._pumping = False

    def _hand_out(self, router: Router) -> None:
        queue, free, slots = self._queue, self._free, self._slots
        while queue and free:
            routee = free.popleft()
            left = slots.get(routee, 0)
            if left <= 0:
                continue
            if not routable(routee):
                router._discard(routee)
                continue

            message, sender, reply = queue.popleft()
            if reply is not None and reply.done():
                free.appendleft(routee)
                router._dead_letter(message, sender, "ask expired")
                continue

            slots[routee] = left - 1
            job = _Job(router.context.self, routee, message, sender, reply)
            relay(routee, message, sender, job)


class _Job:
    """One message in progress at a routee; called with the routee's answer."""

    __slots__ = ("message", "reply", "routee", "router", "sender")

    def __init__(
        self,
        router: ActorRef,
        routee: ActorRef,
        message: Any,
        sender: Any,
        reply: Reply[Any] | None,
    ) -> None:
        self.router = router
        self.routee = routee
        self.message = message
        self.sender = sender
        self.reply = reply

    def __call__(self, done: Reply[Any]) -> None:
        if self.reply is not None:
            pass_on(done, self.reply)
        elif not succeeded(done):
            self._tell_failed(outcome(done))
        if routable(self.router):
            self.router.tell(WorkDone(self.routee), self.routee)

    def _tell_failed(self, error: BaseException) -> None:
        # The runtime leaves errors of asks to the asker; for a tell nobody
        # else will ever see this one.
        if isinstance(error, ActorDeadError):
            dead_letter(
                self.router, self.message, self.sender, self.routee, "actor stopped"
            )
            return
        log.error(
            "routee %s failed handling %s",
            self.routee.path,
            type(self.message).__name__,
            exc_info=error,
        )
