"""Actor refs: the handle through which everything talks to an actor."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

from ._current import current_ref
from ._errors import AskCycleError, InvalidStateError, MailboxFull
from ._loops import interrupts as _interrupts
from ._loops import running_loop
from ._mailbox import Mailbox
from ._messages import Stop
from ._reply import _DONE, Reply, completed
from ._states import RUNNING, TERMINATED

if TYPE_CHECKING:
    from ._cell import Cell

_get_ident = threading.get_ident
_INFINITY = float("inf")
_current = current_ref.get
_set_current = current_ref.set
_reset_current = current_ref.reset


class ActorRef:
    """A handle to one actor: send it messages, ask it, stop it.

    Refs are cheap, hashable and compare equal when they point at the same actor
    incarnation: an actor spawned again under the same name gets a new ref that is
    not equal to the old one. Every method may be called from any thread and from
    any coroutine.
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.path}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell) >> 4

    def __reduce__(self) -> tuple[Any, tuple[int, int, str]]:
        from ._remote import rebuild_ref, ref_to_wire

        return rebuild_ref, ref_to_wire(self)

    @property
    def path(self) -> str:
        """The actor's path, such as ``/user/shop/cart-42``."""
        return self._cell.path

    @property
    def name(self) -> str:
        """The last part of the path."""
        return self._cell.name

    def is_alive(self) -> bool:
        """True until the actor has terminated (it may be stopping).

        For an actor in another process this may ask that process.
        """
        cell = self._cell
        if cell.state == TERMINATED:
            return False
        if cell.is_remote:
            return cell.system._node.alive(cell)  # type: ignore[union-attr,arg-type]
        return True

    # -- sending ----------------------------------------------------------------

    def tell(self, message: Any, sender: ActorRef | None = None) -> None:
        """Send ``message`` without waiting for anything.

        ``sender`` defaults to the actor whose handler is running, if any; the
        receiver sees it as ``context.sender``. Messages from one sender arrive in
        the order they were sent. A tell to a stopped actor becomes a dead letter.

        Raises:
            SystemShutDownError: the actor's system has shut down.
        """
        cell = self._cell
        if sender is None:
            sender = _current()
        elif not isinstance(sender, ActorRef):
            raise TypeError(f"sender must be an ActorRef or None, got {sender!r}")
        dispatcher = cell.dispatcher
        if dispatcher.thread_id == _get_ident():
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            mailbox.append((message, sender, None))
            if not cell.scheduled:
                cell.scheduled = True
                dispatcher.schedule(cell)
        else:
            dispatcher.post(cell, (message, sender, None))

    async def send(self, message: Any, timeout: float | None = None) -> None:
        """Tell ``message``, waiting for room in a full backpressure mailbox.

        For every other mailbox this is :meth:`tell`. With
        ``Bounded(..., overflow="backpressure")`` a full mailbox makes the caller
        wait, up to ``timeout`` seconds, until the actor has taken a message:
        the sender slows down to the consumer's pace and memory stays bounded.

        Raises:
            MailboxFull: still no room after ``timeout`` seconds.
        """
        cell = self._cell
        mailbox = cell.mailbox
        if type(mailbox) is not Mailbox or mailbox.overflow != "backpressure":
            self.tell(message)
            return

        envelope = (message, _current(), None)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not mailbox.try_append(envelope):
            loop = running_loop()
            waiter = loop.create_future()
            if not mailbox.add_waiter(waiter):
                continue
            try:
                async with asyncio.timeout_at(
                    None
                    if deadline is None
                    else loop.time() + deadline - time.monotonic()
                ):
                    await waiter
            except TimeoutError:
                mailbox.remove_waiter(waiter)
                raise _full(cell, message, timeout) from None
            except BaseException:
                mailbox.remove_waiter(waiter)
                raise
            mailbox = cell.mailbox
            if type(mailbox) is not Mailbox:  # terminated meanwhile
                self.tell(message)
                return
        cell.dispatcher.notify(cell)

    def send_blocking(self, message: Any, timeout: float | None = None) -> None:
        """Like :meth:`send`, blocking the calling thread (not the actors' loop)."""
        cell = self._cell
        mailbox = cell.mailbox
        if type(mailbox) is not Mailbox or mailbox.overflow != "backpressure":
            self.tell(message)
            return
        if cell.dispatcher.thread_id == _get_ident():
            raise InvalidStateError(
                f"send_blocking to {cell.path} would block the event loop that "
                "drains the mailbox; use 'await ref.send(...)' there"
            )

        envelope = (message, _current(), None)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not mailbox.try_append(envelope):
            waiter = threading.Lock()
            waiter.acquire()
            if not mailbox.add_waiter(waiter):
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            wait = -1.0 if remaining is None else max(remaining, 0.0)
            if not waiter.acquire(timeout=wait):
                mailbox.remove_waiter(waiter)
                raise _full(cell, message, timeout)
            mailbox = cell.mailbox
            if type(mailbox) is not Mailbox:
                self.tell(message)
                return
        cell.dispatcher.notify(cell)

    def ask(self, message: Any, timeout: float | None = None) -> Reply[Any]:
        """Send ``message`` and return the :class:`Reply` its handler answers.

        ``await ref.ask(msg, timeout=1)`` from a coroutine, or
        ``ref.ask(msg, timeout=1).result()`` from a thread. The handler's return
        value, or the exception it raises, is the outcome.

        Raises:
            ValueError: ``timeout`` is not a positive number of seconds.
            AskCycleError: an actor asks itself, which could never be answered.
        """
        if timeout is not None and (
            type(timeout) not in (int, float) or not timeout > 0
        ):
            raise ValueError(
                f"ask timeout must be a positive number of seconds or None, "
                f"got {timeout!r}"
            )
        if timeout == _INFINITY:
            timeout = None  # waits as long as it takes
        cell = self._cell
        sender = _current()
        if sender is not None and sender is cell.ref:
            raise AskCycleError(
                f"actor {cell.path} asked itself for {type(message).__name__}; the "
                "ask could never be answered while its handler waits. Call the "
                "method directly or use tell."
            )

        dispatcher = cell.dispatcher
        reply = AskReply(timeout, (self, message), dispatcher.thread_id)
        envelope = (message, sender, reply)
        if dispatcher.thread_id != _get_ident():
            dispatcher.post(cell, envelope)
            return reply

        if (
            cell.scheduled
            or cell.is_async
            or cell.state != RUNNING
            or dispatcher.inline_budget <= 0
            or type(cell.mailbox) is Mailbox  # its policy and key apply to asks too
        ):
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            mailbox.append(envelope)
            if not cell.scheduled:
                cell.scheduled = True
                dispatcher.schedule(cell)
            return reply

        # The target is idle on this very thread: nothing is queued before the
        # message and nothing else can run the cell while it is marked scheduled,
        # so handling the ask here is the turn the dispatcher would run, minus two
        # trips through the event loop. The budget makes every `throughput`-th ask
        # go through the loop, so that a coroutine asking in a loop still yields.
        dispatcher.inline_budget -= 1
        cell.scheduled = True
        cell.envelope = envelope
        token = _set_current(cell.ref)
        try:
            result = cell.actor.receive(message)  # type: ignore[union-attr]
        except BaseException as error:
            cell.failed(error, message, reply if cell.envelope is envelope else None)
            if _interrupts(error):
                raise  # Ctrl-C still interrupts; the finally puts the cell right
        else:
            if cell.envelope is envelope:
                # Nobody else holds the reply yet: complete it without the lock.
                reply._state = _DONE
                reply._value = result
        finally:
            _reset_current(token)
            dispatcher.handled += 1
            if cell.mailbox or cell.sysq is not None:
                dispatcher.turn_done(cell)
            elif cell.state != TERMINATED:
                cell.scheduled = False
        return reply

    def forward(self, message: Any) -> None:
        """Send ``message`` on behalf of the sender of the message being handled.

        Inside a handler, the receiver sees the original sender, and its return
        value answers the original ask; the current handler's return value then
        answers nothing. Outside a handler it is a plain tell.
        """
        current = _current()
        if current is None:
            self.tell(message)
            return
        source = current._cell
        envelope = source.envelope
        if envelope is None:
            self.tell(message)
            return
        source.envelope = (envelope[0], envelope[1], None)
        self._cell.dispatcher.post(self._cell, (message, envelope[1], envelope[2]))

    def stop(self) -> Reply[bool]:
        """Stop the actor: its children first, then its ``on_stop``.

        Returns at once with a reply that becomes True for the request that
        stopped the actor and False for any later one. Messages still queued are
        then dead letters, and asks among them fail with ActorDeadError.

        Raises:
            InvalidStateError: the ref is a guardian (``/``, ``/user``,
                ``/system``), which only the system's shutdown stops.
        """
        cell = self._cell
        if cell.is_remote:
            return _stop(cell)
        parent = cell.parent_cell
        if parent is None or parent.parent_cell is None:
            raise InvalidStateError(
                f"{cell.path} is a guardian of the actor system; stop it with "
                "system.shutdown() (or ashutdown()), which stops every actor"
            )
        return _stop(cell)


def _stop(cell: Cell) -> Reply[bool]:
    """Post a stop to ``cell`` and return the reply that tells how it went."""
    if cell.state == TERMINATED:
        return completed(False, about=f"stop of {cell.path}")
    own = _current() is cell.ref
    reply: Reply[bool] = Reply(
        None,
        f"stop of {cell.path}",
        _get_ident() if own else cell.dispatcher.thread_id,
    )
    cell.post_system(Stop(reply))
    return reply


def _full(cell: Cell, message: Any, timeout: float | None) -> MailboxFull:
    return MailboxFull(
        f"the mailbox of {cell.path} had no room for {type(message).__name__} "
        f"within {timeout} s"
    )


class AskReply(Reply[Any]):
    """The reply of an ask; an answer that arrives too late is a dead letter."""

    __slots__ = ()

    def _late(self, value: object) -> None:
        ref = self._about[0]  # type: ignore[index]
        ref._cell.system._late_reply(ref, value)
