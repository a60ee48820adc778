"""Cells: the runtime record of one actor, and the actor's view of the runtime.

A cell owns the actor instance, its mailbox, its queue of system messages, its
children and its place in the lifecycle. Only the cell's dispatcher runs its code,
one turn at a time, so nothing in a cell needs a lock; other threads reach a cell
through its dispatcher's ``post`` methods.

Lifecycle: STARTING (start hook pending) -> RUNNING -> STOPPING (waiting for the
children) -> FINALIZING (stop hook running) -> TERMINATED. A cell is terminated
once: its mailbox is then closed, so that a later tell becomes a dead letter and a
later ask fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._current import current_ref
from ._errors import ActorDeadError, ActorInitError, SystemShutDownError
from ._events import ActorFailed, ActorStopped
from ._messages import ChildTerminated, Envelope, Start, Stop, SystemMessage
from ._reply import Reply

if TYPE_CHECKING:
    from ._actor import Actor
    from ._dispatcher import Dispatcher
    from ._ref import ActorRef
    from ._system import ActorSystem

log = logging.getLogger(__name__)

STARTING = 0
RUNNING = 1
STOPPING = 2
FINALIZING = 3
TERMINATED = 4

_get_ident = threading.get_ident


class Cell:
    """The runtime side of one actor; actors see it as ``self.context``.

    The public attributes and methods below are the actor's context: its own ref,
    parent, children, the sender of the current message, the system, and the ways
    to spawn children, stop, and answer an ask later. Call them only from the
    actor's own handlers and hooks.
    """

    __slots__ = (
        "_path",
        "actor",
        "actor_class",
        "args",
        "cause",
        "child_cells",
        "dispatcher",
        "envelope",
        "is_async",
        "kwargs",
        "mailbox",
        "name",
        "parent_cell",
        "ref",
        "scheduled",
        "state",
        "stop_replies",
        "sysq",
        "system",
        "task",
    )

    def __init__(
        self,
        system: ActorSystem,
        dispatcher: Dispatcher,
        parent: Cell | None,
        name: str,
        actor_class: type[Actor],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
    ) -> None:
        from ._ref import ActorRef

        self.system = system
        self.dispatcher = dispatcher
        self.parent_cell = parent
        self.name = name
        self.actor_class = actor_class
        self.args = args
        self.kwargs = kwargs
        self.actor: Actor | None = None
        self.is_async = actor_class._zactor_async
        # Invariant: None until the first message, so that an idle actor carries no
        # deque; a ClosedMailbox once terminated.
        self.mailbox: Any = None
        self.sysq: list[SystemMessage] | None = None
        # Invariant: True while the cell is in its dispatcher's ready queue or in a
        # turn, and for ever once terminated; a tell schedules only when it is False.
        self.scheduled = False
        self.state = STARTING
        self.child_cells: dict[str, Cell] | None = None
        self.envelope: Envelope | None = None
        self.stop_replies: list[tuple[Reply[bool], bool]] | None = None
        self.cause: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self._path: str | None = None
        self.ref = ActorRef(self)

    def __repr__(self) -> str:
        return f"<Cell {self.path} {_STATE_NAMES[self.state]}>"

    # -- the actor's context ----------------------------------------------------

    @property
    def self(self) -> ActorRef:
        """This actor's own ref."""
        return self.ref

    @property
    def parent(self) -> ActorRef | None:
        """The parent's ref; None only for the root guardian."""
        parent = self.parent_cell
        return None if parent is None else parent.ref

    @property
    def path(self) -> str:
        """The actor's path, such as ``/user/shop/cart-42``."""
        path = self._path
        if path is None:
            parent = self.parent_cell
            if parent is None:
                path = "/"
            elif parent.parent_cell is None:
                path = "/" + self.name
            else:
                path = parent.path + "/" + self.name
            self._path = path
        return path

    @property
    def children(self) -> tuple[ActorRef, ...]:
        """The refs of the live children, in the order they were spawned."""
        cells = self.child_cells
        return () if not cells else tuple(c.ref for c in cells.values())

    def child(self, name: str) -> ActorRef | None:
        """The ref of the live child called ``name``, or None."""
        children = self.child_cells
        cell = None if children is None else children.get(name)
        return None if cell is None else cell.ref

    @property
    def sender(self) -> ActorRef | None:
        """The actor that sent the message being handled, or None if none did."""
        envelope = self.envelope
        return None if envelope is None else envelope[1]

    def spawn(
        self,
        actor_class: type[Actor],
        *args: Any,
        name: str | None = None,
        dispatcher: str | None = None,
        **kwargs: Any,
    ) -> ActorRef:
        """Create a child of this actor; see :meth:`ActorSystem.spawn`."""
        return self.system._spawn(self, actor_class, args, kwargs, name, dispatcher)

    def stop(self, ref: ActorRef | None = None) -> Reply[bool]:
        """Ask this actor (or ``ref``) to stop, without waiting.

        The stop runs after the current message. Returns a reply that becomes True
        when this request stopped the actor, False if it was stopping already;
        never block on it from the actor's own handlers.
        """
        target = self.ref if ref is None else ref
        return target.stop()

    def defer_reply(self) -> Reply[Any]:
        """Take the reply of the current ask, to answer it later.

        The handler's return value then no longer answers the ask; call
        ``set_result`` or ``set_exception`` on the returned reply instead, from any
        thread. For a tell, returns a reply that nobody waits on.
        """
        envelope = self.envelope
        if envelope is None or envelope[2] is None:
            return Reply(None, "a deferred reply to a tell")
        self.envelope = (envelope[0], envelope[1], None)
        reply: Reply[Any] = envelope[2]
        return reply

    # -- runtime internals ------------------------------------------------------

    def post_system(self, message: SystemMessage) -> None:
        """Queue a system message for this cell, from any thread."""
        self.dispatcher.post_system(self, message)

    def enqueue_system(self, message: SystemMessage) -> None:
        """Queue a system message; only under the cell's dispatcher."""
        if self.state == TERMINATED:
            self._after_death(message)
            return

        sysq = self.sysq
        if sysq is None:
            self.sysq = [message]
        else:
            sysq.append(message)
        if not self.scheduled:
            self.scheduled = True
            self.dispatcher.schedule(self)

    def process_system(self) -> None:
        """Handle every queued system message; runs at the start of a turn."""
        take = self.dispatcher.take_system
        while self.sysq is not None:
            for message in take(self):
                if self.state == TERMINATED:
                    self._after_death(message)
                elif type(message) is Stop:
                    self._begin_stop(message.reply)
                elif type(message) is ChildTerminated:
                    self._child_terminated()
                elif type(message) is Start:
                    self._run_start()

    def _after_death(self, message: SystemMessage) -> None:
        if type(message) is Stop and message.reply is not None:
            message.reply._answer(False)

    def open_mailbox(self) -> Any:
        """Create the mailbox on the first message."""
        mailbox = self.mailbox = deque()
        return mailbox

    def unhandled(self, message: object) -> None:
        """Record a message no handler accepts: a dead letter, and a failed ask."""
        from ._errors import UnhandledMessageError

        envelope = self.envelope
        sender = None if envelope is None else envelope[1]
        self.system._dead_letter(message, sender, self.ref, "unhandled")
        if envelope is not None and envelope[2] is not None:
            self.envelope = (envelope[0], envelope[1], None)
            envelope[2]._fail(
                UnhandledMessageError(
                    f"{self.actor_class.__name__} at {self.path} has no handler for "
                    f"{type(message).__name__}; define receive() or a @handler for it"
                )
            )

    _unhandled = unhandled

    def failed(
        self, error: Exception, message: object, reply: Reply[Any] | None
    ) -> None:
        """A handler raised: the asker gets the error, otherwise it is logged."""
        if reply is not None:
            reply._fail(error)
        else:
            log.error(
                "actor %s failed handling %s",
                self.path,
                type(message).__name__,
                exc_info=error,
            )
        if ActorFailed in self.system.events.active:
            self.system.events.publish(ActorFailed(self.ref, error, message))

    # -- starting ---------------------------------------------------------------

    def start(self) -> None:
        """Run the start hook, or queue it if it is async or on another thread."""
        from ._actor import overrides

        if not overrides(self.actor_class, "on_start"):
            self._started()
        elif self.dispatcher.thread_id == _get_ident() and not _is_async_hook(
            self.actor_class, "on_start"
        ):
            self.scheduled = True
            self._run_start()
            if self.task is None:
                self.dispatcher.turn_done(self)
        else:
            self.dispatcher.post_system(self, Start())

    def _run_start(self) -> None:
        actor = self.actor
        assert actor is not None
        self.run_hook(actor.on_start, self._start_done)

    def _start_done(self, error: BaseException | None) -> None:
        if error is None:
            self._started()
            return

        log.error("actor %s failed in on_start", self.path, exc_info=error)
        init_error = ActorInitError(
            f"{self.actor_class.__name__} at {self.path} failed to start: "
            f"{type(error).__name__}: {error}"
        )
        init_error.__cause__ = error
        self.cause = init_error
        if ActorFailed in self.system.events.active:
            self.system.events.publish(ActorFailed(self.ref, error, None))
        self.state = RUNNING
        self._begin_stop(None)

    def _started(self) -> None:
        if self.state == STARTING:
            self.state = RUNNING
        self.system._actor_started(self)

    # -- stopping ---------------------------------------------------------------

    def _begin_stop(self, reply: Reply[bool] | None) -> None:
        if self.state >= STOPPING:
            if reply is not None:
                self._add_stop_reply(reply, False)
            return

        self.state = STOPPING
        if reply is not None:
            self._add_stop_reply(reply, True)

        children = self.child_cells
        if children:
            for child in list(children.values()):
                child.post_system(Stop(None))
        else:
            self._finalize()

    def _add_stop_reply(self, reply: Reply[bool], stopped_it: bool) -> None:
        if self.stop_replies is None:
            self.stop_replies = []
        self.stop_replies.append((reply, stopped_it))

    def _child_terminated(self) -> None:
        if self.state == STOPPING and not self.child_cells:
            self._finalize()

    def _finalize(self) -> None:
        from ._actor import overrides

        self.state = FINALIZING
        actor = self.actor
        if actor is not None and overrides(self.actor_class, "on_stop"):
            self.run_hook(actor.on_stop, self._stop_hook_done)
        else:
            self.terminate()

    def _stop_hook_done(self, error: BaseException | None) -> None:
        if error is not None:
            log.error("actor %s failed in on_stop", self.path, exc_info=error)
            if ActorFailed in self.system.events.active:
                self.system.events.publish(ActorFailed(self.ref, error, None))
        self.terminate()

    def terminate(self) -> None:
        """End the actor: close the mailbox, fail what is left, tell the parent."""
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self.scheduled = True

        leftover = self.mailbox
        self.mailbox = ClosedMailbox(self)
        if leftover:
            for envelope in leftover:
                self.mailbox.append(envelope)
        self.sysq = None
        self.envelope = None

        parent = self.parent_cell
        if parent is not None:
            siblings = parent.child_cells
            if siblings is not None and siblings.get(self.name) is self:
                del siblings[self.name]
            parent.post_system(ChildTerminated(self))

        replies, self.stop_replies = self.stop_replies, None
        if replies:
            for reply, stopped_it in replies:
                reply._answer(stopped_it)

        self.system._actor_terminated(self)
        if ActorStopped in self.system.events.active:
            self.system.events.publish(ActorStopped(self.ref))
        self.actor = None

    def dead_error(self) -> ActorDeadError:
        """The error that a message to this terminated actor fails with."""
        cause = self.cause
        if isinstance(cause, ActorInitError):
            error = ActorInitError(str(cause))
            error.__cause__ = cause.__cause__
            return error
        return ActorDeadError(f"actor {self.path} has stopped")

    # -- hooks ------------------------------------------------------------------

    def run_hook(
        self,
        hook: Callable[[], Any],
        then: Callable[[BaseException | None], None],
    ) -> None:
        """Run a sync or async hook on this cell's dispatcher, then ``then(error)``."""
        token = current_ref.set(self.ref)
        try:
            outcome = hook()
        except Exception as error:
            current_ref.reset(token)
            then(error)
            return
        current_ref.reset(token)

        if not asyncio.iscoroutine(outcome):
            then(None)
            return
        self.dispatcher.run_coroutine(self, outcome, then)


def _is_async_hook(actor_class: type, name: str) -> bool:
    return asyncio.iscoroutinefunction(getattr(actor_class, name))


class ClosedMailbox:
    """The mailbox of a terminated actor: whatever arrives is failed or recorded."""

    __slots__ = ("cell",)

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    def __len__(self) -> int:
        return 0

    def append(self, envelope: Envelope) -> None:
        """Fail an ask at once; count a tell as a dead letter."""
        cell = self.cell
        system = cell.system
        message, sender, reply = envelope
        if system.terminated:
            error = SystemShutDownError(
                f"actor system {system.name!r} has shut down; cannot deliver "
                f"{type(message).__name__} to {cell.path}"
            )
            if reply is not None:
                reply._fail(error)
                return
            raise error
        if reply is not None:
            reply._fail(cell.dead_error())
        system._dead_letter(message, sender, cell.ref, "actor stopped")


_STATE_NAMES = ("starting", "running", "stopping", "finalizing", "terminated")
