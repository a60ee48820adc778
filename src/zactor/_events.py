"""The event stream: lifecycle events and dead letters, published by event type.

Subscribers register for a class of event and receive every event that is an instance
of it (subscribe to :class:`Event` to see all of them). A subscriber is a callable,
run on the thread that publishes, or an actor ref, which is told the event.
Publishing checks first whether anyone listens, so unobserved events cost nothing
but that check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._ref import ActorRef

log = logging.getLogger(__name__)

E = TypeVar("E", bound="Event")


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of everything published on the event stream."""


@dataclass(frozen=True, slots=True)
class ActorStarted(Event):
    """An actor finished its start hook and handles messages from now on."""

    ref: ActorRef


@dataclass(frozen=True, slots=True)
class ActorStopped(Event):
    """An actor terminated; its stop hook has run and its children are gone."""

    ref: ActorRef


@dataclass(frozen=True, slots=True)
class ActorFailed(Event):
    """A handler or hook of an actor raised; ``message`` is what it was handling."""

    ref: ActorRef
    error: BaseException
    message: object = None


@dataclass(frozen=True, slots=True)
class ActorRestarted(Event):
    """An actor got a fresh instance after a failure; ``restarts`` counts them."""

    ref: ActorRef
    error: BaseException
    restarts: int


@dataclass(frozen=True, slots=True)
class DeadLetter(Event):
    """A message that could not be delivered, with the reason it was not."""

    message: object
    sender: ActorRef | None
    recipient: ActorRef | None
    reason: str = "actor stopped"


Subscriber = Callable[[Any], object]


@dataclass(slots=True)
class Subscription:
    """What :meth:`EventStream.subscribe` returns; pass it to ``unsubscribe``."""

    event_type: type[Event]
    subscriber: Any
    _stream: EventStream = field(repr=False)

    def cancel(self) -> None:
        """Stop receiving events."""
        self._stream.unsubscribe(self)


class EventStream:
    """Publishes events to the subscribers of their type.

    Callable subscribers run on the publishing thread, which is normally the
    dispatcher's: they must be quick. An exception from one is logged and does not
    reach the publisher or the other subscribers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        # Event types that have at least one subscriber; publish sites test this set
        # before they build an event, so that nobody pays for events nobody reads.
        self.active: frozenset[type[Event]] = frozenset()
        self._by_type: dict[type[Event], tuple[Subscription, ...]] = {}
        self._inactive: set[type[Event]] = set()
        # Told the new set of subscribed types after every change; a system with
        # workers uses it to have them forward those events here.
        self.on_change: Callable[[frozenset[type[Event]]], None] | None = None

    def subscribe(
        self, event_type: type[E], subscriber: Callable[[E], object] | ActorRef
    ) -> Subscription:
        """Deliver every event that is an instance of ``event_type`` to ``subscriber``.

        Raises:
            TypeError: ``event_type`` is not an :class:`Event` class, or the
                subscriber is neither callable nor an actor ref.
        """
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(
                f"event_type must be a subclass of zactor.Event, got {event_type!r}"
            )
        if not callable(subscriber) and not hasattr(subscriber, "tell"):
            raise TypeError(
                f"subscriber must be a callable or an ActorRef, got {subscriber!r}"
            )

        subscription = Subscription(event_type, subscriber, self)
        with self._lock:
            self._subscriptions.append(subscription)
            self._rebuild()
        if self.on_change is not None:
            self.on_change(self.active)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription; removing one twice is harmless."""
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            self._rebuild()
        if self.on_change is not None:
            self.on_change(self.active)

    def _rebuild(self) -> None:
        types: set[type[Event]] = set()
        for subscription in self._subscriptions:
            types.update(_subclasses(subscription.event_type))
        self._by_type = {}
        self._inactive = set()
        self.active = frozenset(types)

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its type or a base of it."""
        event_type = type(event)
        if event_type not in self.active:
            if event_type in self._inactive or not self._subscriptions:
                return
            if not any(isinstance(event, s.event_type) for s in self._subscriptions):
                self._inactive.add(event_type)
                return
            self.active = self.active | {event_type}  # a class defined later
        targets = self._by_type.get(event_type)
        if targets is None:
            targets = tuple(
                s for s in self._subscriptions if isinstance(event, s.event_type)
            )
            self._by_type[event_type] = targets

        for subscription in targets:
            subscriber = subscription.subscriber
            try:
                if hasattr(subscriber, "tell"):
                    if not subscriber.is_alive():
                        # A stopped actor would turn the event into a dead letter,
                        # which is an event again: drop the subscription instead.
                        self.unsubscribe(subscription)
                        continue
                    subscriber.tell(event)
                else:
                    subscriber(event)
            except Exception:
                log.exception(
                    "event subscriber %r failed on %r", subscriber, type(event).__name__
                )


def _subclasses(cls: type[Event]) -> set[type[Event]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


class DeadLetterLog:
    """Counts dead letters and logs them once per burst of the same kind.

    A burst is a run of dead letters with the same recipient, sender and message
    type; the first one is logged at once, the rest of the burst are counted and
    summed up in one line when the burst ends: when a different kind arrives, or
    one of the same kind arrives more than a second after the burst began.
    """

    window = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.by_reason: dict[str, int] = {}
        self._last_key: tuple[object, ...] | None = None
        self._last_time = 0.0
        self._suppressed = 0

    def record_many(self, count: int, reason: str) -> None:
        """Count ``count`` dead letters of one reason, logged as one line."""
        with self._lock:
            self.count += count
            self.by_reason[reason] = self.by_reason.get(reason, 0) + count
        log.info("%d dead letters (%s)", count, reason)

    def record(self, letter: DeadLetter) -> None:
        """Count one dead letter and log it unless it repeats the current burst."""
        key = (
            letter.recipient,
            letter.sender,
            type(letter.message),
            letter.reason,
        )
        now = time.monotonic()
        with self._lock:
            self.count += 1
            self.by_reason[letter.reason] = self.by_reason.get(letter.reason, 0) + 1
            repeat = key == self._last_key and now - self._last_time < self.window
            if repeat:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._last_key, self._last_time = key, now

        if not log.isEnabledFor(logging.INFO):
            return
        if suppressed:
            log.info("%d more dead letters like the previous one", suppressed)
        log.info(
            "dead letter to %s from %s: %s (%s)",
            letter.recipient,
            letter.sender if letter.sender is not None else "no sender",
            _short(letter.message),
            letter.reason,
        )


def _short(message: object) -> str:
    text = repr(message)
    return text if len(text) <= 120 else text[:117] + "..."
