"""Actor refs: the handle through which everything talks to an actor."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ._cell import RUNNING, TERMINATED
from ._current import current_ref
from ._errors import AskCycleError
from ._messages import Stop
from ._reply import Reply, completed

if TYPE_CHECKING:
    from ._cell import Cell

_get_ident = threading.get_ident
_current = current_ref.get


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

    @property
    def path(self) -> str:
        """The actor's path, such as ``/user/shop/cart-42``."""
        return self._cell.path

    @property
    def name(self) -> str:
        """The last part of the path."""
        return self._cell.name

    def is_alive(self) -> bool:
        """True until the actor has terminated (it may be stopping)."""
        return self._cell.state != TERMINATED

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

    def ask(self, message: Any, timeout: float | None = None) -> Reply[Any]:
        """Send ``message`` and return the :class:`Reply` its handler answers.

        ``await ref.ask(msg, timeout=1)`` from a coroutine, or
        ``ref.ask(msg, timeout=1).result()`` from a thread. The handler's return
        value, or the exception it raises, is the outcome.

        Raises:
            ValueError: ``timeout`` is not a positive number of seconds.
            AskCycleError: an actor asks itself, which could never be answered.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"ask timeout must be a positive number of seconds or None, "
                f"got {timeout!r}"
            )
        cell = self._cell
        sender = _current()
        if sender is not None and sender is cell.ref:
            raise AskCycleError(
                f"actor {cell.path} asked itself for {type(message).__name__}; the "
                "ask could never be answered while its handler waits. Call the "
                "method directly or use tell."
            )

        dispatcher = cell.dispatcher
        reply: Reply[Any] = Reply(
            timeout,
            about=(self, message),
            loop_thread=dispatcher.thread_id,
            late=cell.system._late_reply,
        )
        if dispatcher.thread_id != _get_ident():
            dispatcher.post(cell, (message, sender, reply))
            return reply

        if (
            not cell.scheduled
            and dispatcher.inline_budget > 0
            and cell.state == RUNNING
            and not cell.is_async
        ):
            dispatcher.inline_budget -= 1
            _run_inline(cell, (message, sender, reply))
            return reply

        mailbox = cell.mailbox
        if mailbox is None:
            mailbox = cell.open_mailbox()
        mailbox.append((message, sender, reply))
        if not cell.scheduled:
            cell.scheduled = True
            dispatcher.schedule(cell)
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
        """
        cell = self._cell
        if cell.state == TERMINATED:
            return completed(False, about=f"stop of {cell.path}")
        own = _current() is cell.ref
        reply: Reply[bool] = Reply(
            about=f"stop of {cell.path}",
            loop_thread=_get_ident() if own else cell.dispatcher.thread_id,
        )
        cell.post_system(Stop(reply))
        return reply


def _run_inline(cell: Cell, envelope: tuple[Any, Any, Reply[Any]]) -> None:
    """Handle an ask on the caller's stack: the target is idle on this thread.

    Nothing else can run the cell meanwhile (it is marked scheduled), and nothing
    is queued before the message (an idle cell has an empty mailbox), so this is
    the same turn the dispatcher would run, minus two trips through the loop.
    """
    cell.scheduled = True
    cell.envelope = envelope
    message, _, reply = envelope
    actor = cell.actor
    assert actor is not None
    token = current_ref.set(cell.ref)
    try:
        result = actor.receive(message)
    except Exception as error:
        cell.failed(error, message, reply if cell.envelope is envelope else None)
    else:
        if cell.envelope is envelope:
            reply._answer(result)
    finally:
        current_ref.reset(token)
        dispatcher = cell.dispatcher
        dispatcher.handled += 1  # type: ignore[union-attr]
        dispatcher.turn_done(cell)
