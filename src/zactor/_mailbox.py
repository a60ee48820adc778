"""Mailbox kinds: what an actor's queue of user messages does when it fills up.

The default mailbox is a plain ``collections.deque``, created on the first message:
unbounded, FIFO, and the cheapest thing CPython offers. The kinds here are chosen
per actor at spawn (``spawn(..., mailbox=Bounded(1000))``) and are objects with the
deque's ``append`` / ``popleft`` / ``len`` interface, safe to use from any thread:

* :class:`Bounded`: at most ``capacity`` messages; what happens to one more is the
  overflow policy (drop the newest, drop the oldest, fail the sender, or make the
  sender wait with ``ActorRef.send``).
* :class:`Priority`: messages leave in order of a key, FIFO among equal keys; it
  may be bounded too.

System messages never enter these queues: they have their own, handled first.
Every message a mailbox drops is a dead letter with reason ``"mailbox full"``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from ._errors import MailboxFull
from ._loops import runs_here

if TYPE_CHECKING:
    from ._cell import Cell
    from ._messages import Envelope

Overflow = Literal["drop_new", "drop_old", "fail", "backpressure"]
OVERFLOW_POLICIES = ("drop_new", "drop_old", "fail", "backpressure")


class MailboxSpec:
    """Describes a mailbox kind; each actor spawned with it gets its own mailbox."""

    def create(self, cell: Cell) -> Mailbox:
        """A new, empty mailbox for ``cell``."""
        raise TypeError(f"{type(self).__name__} cannot create a mailbox")


class Bounded(MailboxSpec):
    """A FIFO mailbox that holds at most ``capacity`` messages.

    Args:
        capacity: the most messages the mailbox holds.
        overflow: what a send to a full mailbox does:

            * ``"drop_new"`` (default): the new message is a dead letter (an ask of
              it fails with :class:`~zactor.MailboxFull`). The sender never waits.
            * ``"drop_old"``: the oldest queued message is a dead letter instead.
            * ``"fail"``: ``tell`` raises :class:`~zactor.MailboxFull`; an ask fails.
            * ``"backpressure"``: ``tell`` raises MailboxFull like ``"fail"``, and
              ``await ref.send(msg)`` / ``ref.send_blocking(msg)`` wait for room,
              with a timeout: the sender is slowed to the consumer's pace.
    """

    def __init__(self, capacity: int, overflow: Overflow = "drop_new") -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(
                f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, "
                f"got {overflow!r}"
            )
        self.capacity = capacity
        self.overflow = overflow

    def __repr__(self) -> str:
        return f"Bounded({self.capacity}, overflow={self.overflow!r})"

    def create(self, cell: Cell) -> Mailbox:
        """A new, empty mailbox for ``cell``."""
        return Mailbox(cell, self.capacity, self.overflow, None)


class Priority(MailboxSpec):
    """A mailbox whose messages leave lowest key first, FIFO among equal keys.

    Args:
        key: the priority of a message: a function of it, or the name of an
            attribute that messages carry. Lower values leave first.
        default: the priority of messages the key cannot be read from (a function
            that raises, or a message without the attribute). None makes such a
            send fail with TypeError instead.
        capacity: None for unbounded, else the most messages held.
        overflow: as for :class:`Bounded`; ``"drop_old"`` drops the message that
            would leave last (the newest of the lowest priority).
    """

    def __init__(
        self,
        key: Callable[[Any], Any] | str,
        *,
        default: Any = None,
        capacity: int | None = None,
        overflow: Overflow = "drop_new",
    ) -> None:
        if not (callable(key) or isinstance(key, str)):
            raise TypeError(f"key must be a function or an attribute name, got {key!r}")
        if capacity is not None:
            Bounded(capacity, overflow)  # validates both
        elif overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}")
        self.key = key
        self.default = default
        self.capacity = capacity
        self.overflow = overflow

    def __repr__(self) -> str:
        return f"Priority(key={self.key!r}, capacity={self.capacity})"

    def create(self, cell: Cell) -> Mailbox:
        """A new, empty mailbox for ``cell``."""
        return Mailbox(cell, self.capacity, self.overflow, self)


class Mailbox:
    """A bounded and/or priority mailbox; see :class:`Bounded` and :class:`Priority`.

    The lock guards the queue and the room waiters, because senders on any thread
    append while the dispatcher pops.
    """

    __slots__ = (
        "capacity",
        "cell",
        "front",
        "lock",
        "overflow",
        "priority",
        "queue",
        "sequence",
        "waiters",
        "wake_pending",
    )

    def __init__(
        self,
        cell: Cell,
        capacity: int | None,
        overflow: Overflow,
        priority: Priority | None,
    ) -> None:
        self.cell = cell
        self.capacity = capacity
        self.overflow = overflow
        self.priority = priority
        self.lock = threading.Lock()
        self.queue: Any = [] if priority is not None else deque()
        self.sequence = itertools.count()
        self.front = 0
        # Senders waiting for room: asyncio futures and thread locks, FIFO.
        self.waiters: deque[Any] = deque()
        # True while a wake-up for this mailbox sits in its dispatcher's inbox.
        self.wake_pending = False

    def __len__(self) -> int:
        return len(self.queue)

    def __bool__(self) -> bool:
        return bool(self.queue)

    def __iter__(self) -> Iterator[Envelope]:
        with self.lock:
            if self.priority is None:
                items = list(self.queue)
            else:
                items = [entry[2] for entry in sorted(self.queue)]
        return iter(items)

    # -- adding -----------------------------------------------------------------

    def append(self, envelope: Envelope) -> None:
        """Add a message, applying the overflow policy when full."""
        rank = self._rank(envelope[0]) if self.priority is not None else None
        with self.lock:
            if self.capacity is None or len(self.queue) < self.capacity:
                self._push(envelope, rank)
                return
            policy = self.overflow
            if policy != "drop_old":
                dropped = envelope
            elif rank is None:
                dropped = self.queue.popleft()
                self._push(envelope, rank)
            else:
                last = max(self.queue)
                if rank >= last[0]:
                    dropped = envelope  # the newcomer is what would leave last
                else:
                    self.queue.remove(last)
                    heapq.heapify(self.queue)
                    dropped = last[2]
                    self._push(envelope, rank)
        if policy in ("fail", "backpressure"):
            self._refuse(envelope)
            return
        self._dropped(dropped)

    def try_append(self, envelope: Envelope) -> bool:
        """Add a message if there is room; never drops or raises for a full box."""
        rank = self._rank(envelope[0]) if self.priority is not None else None
        with self.lock:
            if self.capacity is not None and len(self.queue) >= self.capacity:
                return False
            self._push(envelope, rank)
            return True

    def prepend(self, envelopes: list[Envelope]) -> None:
        """Put messages back in front, in order, whatever the capacity (unstash)."""
        with self.lock:
            if self.priority is None:
                self.queue.extendleft(reversed(envelopes))
                return
            # Sequence numbers below every earlier one, rising in the given order,
            # so the messages come back first within their priority, in order.
            self.front -= len(envelopes)
            for offset, envelope in enumerate(envelopes):
                rank = self._rank(envelope[0])
                heapq.heappush(self.queue, (rank, self.front + offset, envelope))

    def remove(self, envelope: Envelope) -> None:
        """Take one queued message out (a Terminated withdrawn by unwatch)."""
        with self.lock:
            if self.priority is None:
                self.queue.remove(envelope)
                return
            for index, entry in enumerate(self.queue):
                if entry[2] is envelope:
                    del self.queue[index]
                    heapq.heapify(self.queue)
                    return

    def _push(self, envelope: Envelope, rank: Any) -> None:
        if rank is None and self.priority is None:
            self.queue.append(envelope)
        else:
            heapq.heappush(self.queue, (rank, next(self.sequence), envelope))

    def _rank(self, message: Any) -> Any:
        spec = self.priority
        assert spec is not None
        try:
            if isinstance(spec.key, str):
                return getattr(message, spec.key)
            return spec.key(message)
        except Exception as error:
            if spec.default is not None:
                return spec.default
            raise TypeError(
                f"the priority of {type(message).__name__} for {self.cell.path} "
                f"could not be read ({type(error).__name__}: {error}); give "
                "Priority(default=...) or send messages that have the key"
            ) from error

    def _refuse(self, envelope: Envelope) -> None:
        error = MailboxFull(
            f"the mailbox of {self.cell.path} is full ({self.capacity} messages, "
            f"overflow={self.overflow!r}); {type(envelope[0]).__name__} was not sent"
        )
        reply = envelope[2]
        if reply is not None:
            reply._fail(error)
            return
        raise error

    def _dropped(self, envelope: Envelope) -> None:
        cell = self.cell
        reply = envelope[2]
        if reply is not None:
            reply._fail(
                MailboxFull(
                    f"the mailbox of {cell.path} is full ({self.capacity} messages); "
                    f"{type(envelope[0]).__name__} was dropped"
                )
            )
        cell.system._dead_letter(envelope[0], envelope[1], cell.ref, "mailbox full")

    # -- taking -----------------------------------------------------------------

    def popleft(self) -> Envelope:
        """Take the next message and let one waiting sender in."""
        with self.lock:
            if self.priority is None:
                envelope: Envelope = self.queue.popleft()
            else:
                envelope = heapq.heappop(self.queue)[2]
            waiter = self.waiters.popleft() if self.waiters else None
        if waiter is not None:
            _release(waiter)
        return envelope

    # -- waiting for room -------------------------------------------------------

    def add_waiter(self, waiter: Any) -> bool:
        """Queue a sender waiting for room; False if there is room already."""
        with self.lock:
            if self.capacity is None or len(self.queue) < self.capacity:
                return False
            self.waiters.append(waiter)
            return True

    def remove_waiter(self, waiter: Any) -> None:
        """Forget a sender that gave up; pass its turn on if it was woken."""
        with self.lock:
            try:
                self.waiters.remove(waiter)
                return
            except ValueError:
                successor = self.waiters.popleft() if self.waiters else None
        if successor is not None:
            _release(successor)

    def release_all(self) -> None:
        """Wake every waiting sender (the actor terminated)."""
        with self.lock:
            waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            _release(waiter)


def _release(waiter: Any) -> None:
    if isinstance(waiter, asyncio.Future):
        loop = waiter.get_loop()
        if runs_here(loop):
            _settle(waiter)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_settle, waiter)
    else:
        waiter.release()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
