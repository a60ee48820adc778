"""Cells: the runtime record of one actor, and the actor's view of the runtime.

A cell owns the actor instance, its mailbox, its queue of system messages, its
children and its place in the lifecycle. Only the cell's dispatcher runs its code,
one turn at a time, so nothing in a cell needs a lock; other threads reach a cell
through its dispatcher's ``post`` methods.

Lifecycle::

    STARTING -> RUNNING <-> SUSPENDED (failed: waiting for a decision or a backoff)
                   ^            |
                   +-- RESTARTING (pre_restart, children stop, on_stop, new
                                   instance, post_restart)
    any of them -> STOPPING (children stop) -> FINALIZING (on_stop) -> TERMINATED

A cell is terminated once: its mailbox is then closed, so that a later tell becomes
a dead letter and a later ask fails at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._current import current_ref
from ._errors import (
    ActorDeadError,
    ActorInitError,
    InvalidStateError,
    StashOverflowError,
    SystemShutDownError,
    UnhandledMessageError,
)
from ._events import ActorFailed, ActorRestarted, ActorStopped
from ._loops import interrupts as _interrupts
from ._mailbox import Mailbox, MailboxSpec
from ._messages import (
    STOP_REQUEST,
    ChildTerminated,
    DeathNotice,
    Envelope,
    Failed,
    PipeFailure,
    ReceiveTimeout,
    Refresh,
    Restart,
    Resume,
    Start,
    Stop,
    SystemMessage,
    Terminated,
    Unwatch,
    Watch,
)
from ._ref import ActorRef
from ._reply import Reply
from ._states import (
    FINALIZING,
    RESTARTING,
    RUNNING,
    STARTING,
    STATE_NAMES,
    STOPPING,
    SUSPENDED,
    TERMINATED,
)
from ._supervision import RESUME, STOP, Directive, SupervisorStrategy
from ._timers import Timer, Timers, _check_delay

if TYPE_CHECKING:
    from ._actor import Actor
    from ._dispatcher import Dispatcher
    from ._system import ActorSystem

log = logging.getLogger(__name__)

__all__ = [
    "FINALIZING",
    "RESTARTING",
    "RUNNING",
    "STARTING",
    "STOPPING",
    "SUSPENDED",
    "TERMINATED",
    "Cell",
    "ClosedMailbox",
]

_get_ident = threading.get_ident


class Extras:
    """The parts of a cell most actors never need, allocated on first use."""

    __slots__ = (
        "backoff_handle",
        "behaviours",
        "cause",
        "consecutive",
        "deferred",
        "last_failure",
        "pending_restart",
        "receive_timeout",
        "restart_phase",
        "restart_times",
        "restarts",
        "stash",
        "stop_replies",
        "supervisor",
        "timers",
        "unstarted",
        "watchers",
        "watching",
    )

    def __init__(self) -> None:
        self.stop_replies: list[tuple[Reply[bool], bool]] | None = None
        # Why the actor terminated: a failure, or an ActorInitError; None if asked.
        self.cause: BaseException | None = None
        self.watchers: dict[Cell | Reply[Any], None] | None = None
        self.watching: set[Cell] | None = None
        self.supervisor: SupervisorStrategy | None = None
        self.restart_times: deque[float] | None = None
        self.restarts = 0
        self.consecutive = 0
        self.last_failure = 0.0
        self.backoff_handle: asyncio.TimerHandle | None = None
        self.pending_restart: Restart | None = None
        self.restart_phase: str | None = None
        # True while the current instance has not finished starting: it then
        # gets no on_stop or pre_restart, and cannot resume.
        self.unstarted = False
        self.timers: Timers | None = None
        self.behaviours: list[Callable[[Any], Any]] | None = None
        self.stash: list[Envelope] | None = None
        self.receive_timeout: Timer | None = None
        # Replies taken with defer_reply(): failed if the actor ends first.
        self.deferred: list[Reply[Any]] | None = None


class Cell:
    """The runtime side of one actor; actors see it as ``self.context``.

    The public attributes and methods below are the actor's context: its own ref,
    parent, children, the sender of the current message, the system, and the ways
    to spawn children, watch other actors, stop, and answer an ask later. Call
    them only from the actor's own handlers and hooks.
    """

    __slots__ = (
        "_path",
        "actor",
        "actor_class",
        "args",
        "child_cells",
        "dispatcher",
        "envelope",
        "extra",
        "is_async",
        "kwargs",
        "mailbox",
        "name",
        "parent_cell",
        "ref",
        "scheduled",
        "state",
        "sysq",
        "system",
        "task",
        "uid",
    )

    is_remote = False

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
        self.extra: Extras | None = None
        self.task: asyncio.Task[None] | None = None
        self._path: str | None = None
        # Nonzero once another process may name this actor (see Node.export).
        self.uid = 0
        self.ref = ActorRef(self)

    def __repr__(self) -> str:
        return f"<Cell {self.path} {STATE_NAMES[self.state]}>"

    def extras(self) -> Extras:
        """The cell's rarely used records, created on first use."""
        extra = self.extra
        if extra is None:
            extra = self.extra = Extras()
        return extra

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
        if not cells:
            return ()
        return tuple(c.ref for c in tuple(cells.values()))  # snapshot first

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

    @property
    def restarts(self) -> int:
        """How many times this actor has been restarted."""
        extra = self.extra
        return 0 if extra is None else extra.restarts

    def spawn(
        self,
        actor_class: type[Actor],
        *args: Any,
        name: str | None = None,
        dispatcher: str | None = None,
        supervisor: SupervisorStrategy | None = None,
        mailbox: MailboxSpec | None = None,
        worker: int | str | None = None,
        near: ActorRef | None = None,
        **kwargs: Any,
    ) -> ActorRef:
        """Create a child of this actor; see :meth:`ActorSystem.spawn`.

        The child runs in this actor's process unless ``worker`` or ``near``
        places it elsewhere.
        """
        return self.system._spawn(
            self,
            actor_class,
            args,
            kwargs,
            name,
            dispatcher,
            supervisor,
            mailbox,
            worker,
            near,
        )

    def stop(self, ref: ActorRef | None = None) -> Reply[bool]:
        """Ask this actor (or ``ref``) to stop, without waiting.

        The stop runs after the current message. Returns a reply that becomes True
        when this request stopped the actor, False if it was stopping already;
        never block on it from the actor's own handlers.
        """
        if ref is not None:
            _cell_of(ref, "stop")
        target = self.ref if ref is None else ref
        return target.stop()

    def watch(self, ref: ActorRef) -> ActorRef:
        """Receive :class:`Terminated` once when ``ref`` terminates.

        The notice comes as a message to ``receive`` (or to a ``@handler`` for
        Terminated), after every message the watched actor sent before it ended.
        Watching an actor that has already terminated sends the notice at once;
        watching twice still sends one notice. Returns ``ref``.
        """
        target = _cell_of(ref, "watch")
        watching = self.extras().watching
        if watching is None:
            watching = self.extras().watching = set()
        if target not in watching:
            watching.add(target)
            target.post_system(Watch(self))
        return ref

    def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref``; no Terminated for it arrives after this call."""
        extra = self.extra
        target = _cell_of(ref, "unwatch")
        if extra is not None and extra.watching and target in extra.watching:
            extra.watching.discard(target)
            target.post_system(Unwatch(self))
            return
        self._withdraw_terminated(target)

    def hosted(self) -> bool:
        """True for an actor whose supervisor is in another process."""
        parent = self.parent_cell
        return parent is not None and parent.actor_class._zactor_host

    def _withdraw_terminated(self, target: Cell) -> None:
        """Take back a Terminated for ``target`` that is queued but not handled."""
        mailbox = self.mailbox
        if not mailbox or isinstance(mailbox, ClosedMailbox):
            return
        for envelope in list(mailbox):
            notice = envelope[0]
            if type(notice) is Terminated and notice.ref._cell is target:
                mailbox.remove(envelope)
                return

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
        extra = self.extras()
        deferred = extra.deferred
        if deferred is None:
            deferred = extra.deferred = []
        elif len(deferred) >= 64:
            deferred[:] = [r for r in deferred if not r.done()]
        deferred.append(reply)
        return reply

    def pipe(
        self, awaitable: Awaitable[Any], to: ActorRef | None = None
    ) -> asyncio.Future[Any]:
        """Tell the outcome of ``awaitable`` to ``to`` (this actor by default).

        The awaitable runs on the system's loop, outside the handler, so the
        actor goes on with its next messages meanwhile. Its result is told as
        is; an exception is told as :class:`PipeFailure`. Returns the task.
        """
        target = self.ref if to is None else to
        sender = self.ref
        loop = self.system.loop

        if not inspect.isawaitable(awaitable):
            raise TypeError(f"pipe needs an awaitable, got {awaitable!r}")

        async def forward() -> Any:
            try:
                outcome: Any = await awaitable
            except Exception as error:
                outcome = PipeFailure(error)
            try:
                target.tell(outcome, sender)
            except SystemShutDownError:
                pass  # the system ended while the awaitable ran: nobody to tell
            return outcome

        if self.dispatcher.thread_id == _get_ident():
            task = loop.create_task(forward())
            self.system._keep(task)
            return task
        return asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(forward(), loop), loop=loop
        )

    @property
    def timers(self) -> Timers:
        """This actor's timers: ``once``, ``every``, ``cancel``; see :class:`Timers`."""
        extra = self.extras()
        if extra.timers is None:
            extra.timers = Timers(self)
        return extra.timers

    def become(self, behaviour: Callable[[Any], Any], *, replace: bool = False) -> None:
        """Handle the next messages with ``behaviour(message)`` instead of receive.

        Behaviours form a stack: :meth:`unbecome` goes back to the one before;
        ``replace=True`` swaps the top instead of pushing. The change applies
        from the next message on, and a restart goes back to the class's receive.

        Raises:
            TypeError: the actor class declares ``__slots__`` without
                ``__dict__``, so its instances cannot take a behaviour.
        """
        if not callable(behaviour):
            raise TypeError(
                f"become needs a callable taking the message, got {behaviour!r}"
            )
        self._check_behaviour(asyncio.iscoroutinefunction(behaviour))
        extra = self.extras()
        stack = extra.behaviours
        if stack is None:
            stack = extra.behaviours = []
        if replace and stack:
            stack[-1] = behaviour
        else:
            stack.append(behaviour)
        self._apply_receive()

    def unbecome(self) -> None:
        """Go back to the behaviour before the last :meth:`become`."""
        extra = self.extra
        if extra is not None and extra.behaviours:
            extra.behaviours.pop()
            self._apply_receive()

    def stash(self) -> None:
        """Put the current message aside until :meth:`unstash_all`.

        A stashed ask keeps its reply: the handler that later takes the message
        answers it. Stashed messages survive a restart (they go back to the
        mailbox) and become dead letters when the actor stops.

        Raises:
            StashOverflowError: more than the class's ``stash_capacity``.
        """
        envelope = self.envelope
        if envelope is None:
            raise InvalidStateError("stash() is for use inside a handler")
        extra = self.extras()
        stash = extra.stash
        if stash is None:
            stash = extra.stash = []
        capacity = self.actor_class.stash_capacity
        if capacity is not None and len(stash) >= capacity:
            raise StashOverflowError(
                f"{self.path} cannot stash {type(envelope[0]).__name__}: its stash "
                f"already holds {capacity} messages (stash_capacity); unstash first"
            )
        stash.append(envelope)
        self.envelope = (envelope[0], envelope[1], None)

    def unstash_all(self) -> int:
        """Put every stashed message back in front of the mailbox, in order.

        Returns how many were unstashed.
        """
        extra = self.extra
        stash = None if extra is None else extra.stash
        if not stash:
            return 0
        assert extra is not None
        extra.stash = None
        mailbox = self.mailbox
        if mailbox is None:
            mailbox = self.open_mailbox()
        if isinstance(mailbox, Mailbox):
            mailbox.prepend(stash)
        else:
            mailbox.extendleft(reversed(stash))
        if not self.scheduled:
            self.scheduled = True
            self.dispatcher.schedule(self)
        return len(stash)

    def set_receive_timeout(self, seconds: float | None, message: Any = None) -> None:
        """Send ``message`` (a :class:`ReceiveTimeout` by default) after silence.

        The message comes when the actor has handled nothing for ``seconds``, and
        again after each further ``seconds`` of silence. None turns it off.
        """
        if seconds is not None:
            _check_delay("receive timeout", seconds, allow_zero=False)
            self._check_behaviour(False)
        extra = self.extras()
        if extra.receive_timeout is not None:
            self.timers.cancel(_RECEIVE_TIMEOUT)
            extra.receive_timeout = None
        if seconds is not None:
            notice = ReceiveTimeout() if message is None else message
            timer = self.timers._start_idle(_RECEIVE_TIMEOUT, notice, seconds)
            extra.receive_timeout = timer
        self._apply_receive()

    def _check_behaviour(self, is_async: bool) -> None:
        """Refuse a behaviour this actor cannot take, before anything changes."""
        actor = self.actor
        if actor is not None and not hasattr(actor, "__dict__"):
            raise TypeError(
                f"{self.actor_class.__name__} declares __slots__ without __dict__, so "
                "become() and receive timeouts cannot apply; add '__dict__' to them"
            )
        if is_async and self.dispatcher.thread_id == -1:
            raise TypeError(
                f"{self.path} runs on the thread dispatcher, which has no event loop "
                "for an async behaviour; become() a sync function instead"
            )

    def _apply_receive(self) -> None:
        """Point the instance's ``receive`` at the behaviour and timeout in force."""
        actor = self.actor
        if actor is None:
            return
        extra = self.extras()
        top: Callable[[Any], Any] | None = (
            extra.behaviours[-1] if extra.behaviours else None
        )
        timer = extra.receive_timeout
        if timer is not None:
            inner = top if top is not None else type(actor).receive.__get__(actor)
            top = _idle_tracking(inner, timer, self.system._timer_service().now)
        behaviours = extra.behaviours or ()
        self.is_async = self.actor_class._zactor_async or any(
            asyncio.iscoroutinefunction(b) for b in behaviours
        )
        try:
            if top is None:
                actor.__dict__.pop("receive", None)
            else:
                actor.receive = top  # type: ignore[method-assign,assignment]
        except AttributeError:
            raise TypeError(
                f"{self.actor_class.__name__} declares __slots__ without __dict__, so "
                "become() and receive timeouts cannot apply; add '__dict__' to them"
            ) from None
        self.post_system(Refresh())

    # -- system messages --------------------------------------------------------

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
        """Handle the system messages queued so far; runs at the start of a turn.

        Messages that this handling queues wait for the next turn, so that a cell
        that keeps failing and restarting still lets the dispatcher move on.
        """
        if self.sysq is not None:
            for message in self.dispatcher.take_system(self):
                if self.state == TERMINATED:
                    self._after_death(message)
                    continue
                kind = type(message)
                if kind is Stop:
                    self._begin_stop(message.reply)  # type: ignore[attr-defined]
                elif kind is ChildTerminated:
                    self._child_terminated()
                elif kind is Restart:
                    self._restart(message)  # type: ignore[arg-type]
                elif kind is Failed:
                    self._child_failed(message)  # type: ignore[arg-type]
                elif kind is Watch:
                    self._add_watcher(message.watcher)  # type: ignore[attr-defined]
                elif kind is Unwatch:
                    self._remove_watcher(message.watcher)  # type: ignore[attr-defined]
                elif kind is DeathNotice:
                    self._death_notice(message)  # type: ignore[arg-type]
                elif kind is Resume:
                    self._resume()
                elif kind is Start:
                    self._run_start()
                # Refresh only ends the turn, so the next message sees a new receive.

    def _resume(self) -> None:
        if self.state != SUSPENDED:
            return
        extra = self.extra
        if extra is not None and extra.unstarted:
            self._begin_stop(None)  # it never started: resuming means stopping
            return
        self.state = RUNNING

    def _after_death(self, message: SystemMessage) -> None:
        kind = type(message)
        if kind is Stop and message.reply is not None:  # type: ignore[attr-defined]
            message.reply._answer(False)  # type: ignore[attr-defined]
        elif kind is Watch:
            self._notify_watcher(message.watcher)  # type: ignore[attr-defined]

    # -- messages ---------------------------------------------------------------

    def open_mailbox(self) -> Any:
        """Create the mailbox on the first message."""
        mailbox = self.mailbox = deque()
        return mailbox

    def unhandled(self, message: object) -> None:
        """Record a message no handler accepts: a dead letter, and a failed ask."""
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

    # -- failures and supervision -----------------------------------------------

    def failed(
        self, error: BaseException, message: object, reply: Reply[Any] | None
    ) -> None:
        """A handler raised: tell the asker or log it, then ask the supervisor."""
        if reply is not None and not reply.is_tick:
            reply._fail(error)
        else:
            log.error(
                "actor %s failed handling %s",
                self.path,
                type(message).__name__,
                exc_info=error,
            )
        self.system._failures += 1
        if ActorFailed in self.system.events.active:
            self.system.events.publish(ActorFailed(self.ref, error, message))
        self._supervise(error, message)

    def _init_failed(self, error: BaseException) -> None:
        """The constructor, on_start or post_restart raised."""
        if self.state == TERMINATED:
            return  # forced off meanwhile (a shutdown): nothing left to supervise
        if not self.actor_class._zactor_proxy:  # else its own process told already
            log.error("actor %s failed to start", self.path, exc_info=error)
            self.system._failures += 1
            if ActorFailed in self.system.events.active:
                self.system.events.publish(ActorFailed(self.ref, error, None))
        extra = self.extras()
        extra.unstarted = True
        extra.cause = _init_error(self, error)
        self.state = SUSPENDED
        self._supervise(error, None, init=True)

    def _strategy(self) -> SupervisorStrategy:
        extra = self.extra
        if extra is not None and extra.supervisor is not None:
            return extra.supervisor
        parent = self.parent_cell
        strategy = None if parent is None else parent.actor_class.supervisor_strategy
        return strategy or self.system.supervisor

    def _supervise(
        self,
        error: BaseException,
        message: object,
        *,
        init: bool = False,
        escalated_from: Cell | None = None,
    ) -> None:
        """Apply the supervisor's directive for a failure of this actor."""
        if self.state >= STOPPING:
            return
        parent = self.parent_cell
        if parent is None:
            log.error("the root guardian failed", exc_info=error)
            return
        if parent.actor_class._zactor_host:
            # Its supervisor lives in another process, which decides.
            self.state = SUSPENDED
            self.system._node.report_failure(self, error, message, init, escalated_from)  # type: ignore[union-attr]
            return

        strategy = self._strategy()
        directive = _decide(strategy, error, self.path)
        if init and directive is RESUME:
            directive = STOP  # an instance that never started cannot go on

        if directive is RESUME:
            if escalated_from is not None:
                escalated_from.post_system(Resume())
            elif self.actor_class._zactor_proxy:
                self.actor.resumed()  # type: ignore[union-attr]
            return
        if directive is Directive.ESCALATE:
            self.state = SUSPENDED
            parent.post_system(Failed(self, error))
            return
        if directive is STOP:
            self._stop_for_failure(error, init, strategy)
            return

        if not self._may_restart(strategy):
            log.error(
                "actor %s failed again after %d restarts within %s s, the most its "
                "supervisor allows (%r); stopping it and escalating",
                self.path,
                strategy.max_restarts,
                strategy.within,
                strategy,
            )
            self._stop_for_failure(error, init, strategy)
            parent.post_system(Failed(self, error))
            return

        self.state = SUSPENDED
        for cell in self._scope(strategy):
            origin = cell is self
            cell.post_system(Restart(error, message if origin else None, origin))

    def _scope(self, strategy: SupervisorStrategy) -> Iterable[Cell]:
        """The actors a directive for this actor's failure applies to."""
        if strategy.scope == "one":
            return (self,)
        siblings = list((self.parent_cell.child_cells or {}).values())  # type: ignore[union-attr]
        if strategy.scope == "all":
            return siblings
        position = siblings.index(self) if self in siblings else 0
        return siblings[position:]

    def _may_restart(self, strategy: SupervisorStrategy) -> bool:
        limit = strategy.max_restarts
        if limit is None:
            return True
        extra = self.extras()
        times = extra.restart_times
        if times is None:
            times = extra.restart_times = deque()
        now = time.monotonic()
        while times and times[0] <= now - strategy.within:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True

    def _stop_for_failure(
        self, error: BaseException, init: bool, strategy: SupervisorStrategy
    ) -> None:
        self.extras().cause = _init_error(self, error) if init else error
        for cell in self._scope(strategy):
            cell.post_system(STOP_REQUEST)

    def _child_failed(self, failure: Failed) -> None:
        """A child escalated: fail with its error, or apply the system's policy."""
        parent = self.parent_cell
        if parent is None or parent.parent_cell is None:
            self.system._escalated(failure.child, failure.error)
            return
        self.system._failures += 1
        if ActorFailed in self.system.events.active:
            self.system.events.publish(ActorFailed(self.ref, failure.error, None))
        self._supervise(failure.error, None, escalated_from=failure.child)

    # -- restarting -------------------------------------------------------------

    def _restart(self, order: Restart) -> None:
        if self.state >= STOPPING:
            return
        extra = self.extras()
        backoff = self._strategy().backoff
        if order.origin and backoff is not None and not order.delayed:
            now = time.monotonic()
            # Quiet time is time spent running since the last restart ended, so
            # the backoff wait itself never counts as quiet.
            if now - extra.last_failure > backoff.quiet_period:
                extra.consecutive = 0
            delay = backoff.delay(extra.consecutive)
            extra.consecutive += 1
            self.state = SUSPENDED
            retry = Restart(order.error, order.message, True, delayed=True)
            extra.backoff_handle = self.system._call_later(
                delay, self.post_system, retry
            )
            return

        self.state = RESTARTING
        extra.pending_restart = order
        self._reset_instance_state(extra)
        actor = self.actor
        if actor is not None and not extra.unstarted:
            self.run_hook(
                lambda: actor.pre_restart(order.error, order.message),
                self._restart_children,
            )
        else:
            self._restart_children(None)

    def _reset_instance_state(self, extra: Extras) -> None:
        """Before a restart: timers off, stash back in the mailbox, behaviour reset."""
        if extra.timers is not None:
            extra.timers.cancel_all()
        extra.receive_timeout = None
        extra.behaviours = None
        if extra.stash:
            self.unstash_all()

    def _restart_children(self, error: BaseException | None) -> None:
        if error is not None:
            log.error("actor %s failed in pre_restart", self.path, exc_info=error)
        if self.state != RESTARTING:
            return
        children = self.child_cells
        if children:
            self.extras().restart_phase = "children"
            self._stop_children(children)
            return
        self._restart_stop_hook()

    def _restart_stop_hook(self) -> None:
        actor = self.actor
        extra = self.extras()
        if (
            actor is not None
            and not extra.unstarted
            and self.actor_class._zactor_on_stop
        ):
            self.run_hook(actor.on_stop, self._restart_create)
        else:
            self._restart_create(None)

    def _restart_create(self, error: BaseException | None) -> None:
        if error is not None:
            log.error("actor %s failed in on_stop", self.path, exc_info=error)
        extra = self.extras()
        order = extra.pending_restart
        assert order is not None

        actor_class = self.actor_class
        actor = actor_class.__new__(actor_class)
        actor.context = self
        self.actor = actor  # set first: the constructor may call become()
        extra.unstarted = True
        token = current_ref.set(self.ref)
        try:
            actor.__init__(*self.args, **(self.kwargs or {}))  # type: ignore[misc]
        except Exception as failure:
            current_ref.reset(token)
            self.actor = None
            self._init_failed(failure)
            return
        current_ref.reset(token)

        self.is_async = actor_class._zactor_async
        self.run_hook(lambda: actor.post_restart(order.error), self._restart_done)

    def _restart_done(self, error: BaseException | None) -> None:
        if error is not None:
            self._init_failed(error)
            return
        extra = self.extras()
        order = extra.pending_restart
        assert order is not None
        extra.pending_restart = None
        extra.unstarted = False
        extra.cause = None
        extra.last_failure = time.monotonic()  # the quiet period starts now
        extra.restarts += 1
        self.state = RUNNING
        if self.actor_class._zactor_proxy and not self.actor.relocated:  # type: ignore[union-attr]
            return  # restarted in its own process, which counted and announced it
        self.system._restarts += 1
        if ActorRestarted in self.system.events.active:
            self.system.events.publish(
                ActorRestarted(self.ref, order.error, extra.restarts)
            )
        if self.hosted():
            # Announced first, so that the event comes before any later answer.
            self.system._node.restarted(self)  # type: ignore[union-attr]

    # -- starting ---------------------------------------------------------------

    def start(self) -> None:
        """Run the start hook, or queue it if it is async or on another thread."""
        actor_class = self.actor_class
        if not actor_class._zactor_on_start:
            self._started()
        elif (
            self.dispatcher.thread_id == _get_ident()
            and not actor_class._zactor_on_start_async
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
        else:
            self._init_failed(error)

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
        extra = self.extra
        if extra is not None:
            if extra.backoff_handle is not None:
                extra.backoff_handle.cancel()
                extra.backoff_handle = None
            if extra.timers is not None:
                extra.timers.cancel_all()
        if reply is not None:
            self._add_stop_reply(reply, True)

        children = self.child_cells
        if children:
            self._stop_children(children)
        else:
            self._finalize()

    def _stop_children(self, children: dict[str, Cell]) -> None:
        """Stop every child; those on this very thread and idle stop right here."""
        dispatcher = self.dispatcher
        here = dispatcher.thread_id == _get_ident()
        for child in list(children.values()):
            if here and child.dispatcher is dispatcher and child.task is None:
                child._begin_stop(None)
            else:
                child.post_system(STOP_REQUEST)

    def _add_stop_reply(self, reply: Reply[bool], stopped_it: bool) -> None:
        extra = self.extras()
        if extra.stop_replies is None:
            extra.stop_replies = []
        extra.stop_replies.append((reply, stopped_it))

    def _child_terminated(self) -> None:
        if self.child_cells:
            return
        if self.state == STOPPING:
            self._finalize()
        elif self.state == RESTARTING and self.extras().restart_phase == "children":
            self.extras().restart_phase = None
            self._restart_stop_hook()

    def _finalize(self) -> None:
        self.state = FINALIZING
        actor = self.actor
        extra = self.extra
        # A proxy always ends its remote actor, even one that never started.
        started = extra is None or not extra.unstarted or self.actor_class._zactor_proxy
        if actor is not None and started and self.actor_class._zactor_on_stop:
            self.run_hook(actor.on_stop, self._stop_hook_done)
        else:
            self.terminate()

    def _stop_hook_done(self, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, asyncio.CancelledError):
            log.error("actor %s failed in on_stop", self.path, exc_info=error)
            self.system._failures += 1
            if ActorFailed in self.system.events.active:
                self.system.events.publish(ActorFailed(self.ref, error, None))
        self.terminate()

    def terminate(self) -> None:
        """End the actor: close the mailbox, fail what is left, tell the others."""
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self.scheduled = True

        current = self.envelope
        if current is not None and current[2] is not None and not current[2].done():
            current[2]._fail(self.dead_error())  # its handler was cut short
        leftover = self.mailbox
        self.mailbox = ClosedMailbox(self)
        extra = self.extra
        if extra is not None and extra.stash:
            stashed, extra.stash = extra.stash, None
            for envelope in stashed:
                self.mailbox.append(envelope)
        if leftover:
            for envelope in leftover:
                self.mailbox.append(envelope)
            if isinstance(leftover, Mailbox):
                leftover.release_all()
        # System messages that came too late for a turn (a watch or a stop
        # while an async stop hook ran) are answered as after the end.
        pending, self.sysq = self.sysq, None
        self.envelope = None

        parent = self.parent_cell
        if parent is not None:
            siblings = parent.child_cells
            key = self.path if parent.actor_class._zactor_host else self.name
            if siblings is not None and siblings.get(key) is self:
                del siblings[key]

        self.system._actor_terminated(self)
        if ActorStopped in self.system.events.active and not self.hosted():
            self.system.events.publish(ActorStopped(self.ref))
        if extra is not None:
            self._release(extra)
        self.actor = None
        for message in pending or ():
            self._after_death(message)

        # The parent learns last, so that its own end (which this may trigger)
        # comes after everything this actor announces.
        if parent is not None:
            dispatcher = parent.dispatcher
            if dispatcher is self.dispatcher and dispatcher.thread_id == _get_ident():
                parent._child_terminated()  # same thread: no message needed
            else:
                parent.post_system(ChildTerminated(self))

    def _release(self, extra: Extras) -> None:
        if extra.timers is not None:
            extra.timers.cancel_all()
        deferred, extra.deferred = extra.deferred, None
        for reply in deferred or ():
            if not reply.done():
                reply._fail(self.dead_error())
        if extra.backoff_handle is not None:
            extra.backoff_handle.cancel()
            extra.backoff_handle = None

        replies, extra.stop_replies = extra.stop_replies, None
        for reply, stopped_it in replies or ():
            reply._answer(stopped_it)

        watchers, extra.watchers = extra.watchers, None
        for watcher in watchers or ():
            self._notify_watcher(watcher)

        watching, extra.watching = extra.watching, None
        for target in watching or ():
            target.post_system(Unwatch(self))

    def dead_error(self) -> ActorDeadError:
        """The error that a message to this terminated actor fails with."""
        extra = self.extra
        cause = None if extra is None else extra.cause
        if isinstance(cause, ActorInitError):
            error = ActorInitError(str(cause))
            error.__cause__ = cause.__cause__
            return error
        return ActorDeadError(f"actor {self.path} has stopped")

    # -- death watch ------------------------------------------------------------

    def _add_watcher(self, watcher: Cell | Reply[Any]) -> None:
        extra = self.extras()
        if extra.watchers is None:
            extra.watchers = {}
        extra.watchers[watcher] = None

    def _remove_watcher(self, watcher: Cell | Reply[Any]) -> None:
        extra = self.extra
        if extra is not None and extra.watchers:
            extra.watchers.pop(watcher, None)

    def _notify_watcher(self, watcher: Cell | Reply[Any]) -> None:
        extra = self.extra
        cause = None if extra is None else extra.cause
        if isinstance(watcher, Reply):
            if not watcher.done():
                watcher._answer(Terminated(self.ref, cause))
        else:
            watcher.post_system(DeathNotice(self, cause))

    def _death_notice(self, notice: DeathNotice) -> None:
        extra = self.extra
        # A proxy announces the death of the remote cell it stands for.
        target = notice.cell.ref._cell
        if extra is None or not extra.watching or target not in extra.watching:
            return  # unwatched meanwhile: no notice after unwatch
        extra.watching.discard(target)
        mailbox = self.mailbox
        if mailbox is None:
            mailbox = self.open_mailbox()
        dead = notice.cell.ref
        mailbox.append((Terminated(dead, notice.cause), dead, None))

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
        except BaseException as error:
            current_ref.reset(token)
            then(error)
            if _interrupts(error):
                raise
            return
        current_ref.reset(token)

        if not asyncio.iscoroutine(outcome):
            then(None)
            return
        self.dispatcher.run_coroutine(self, outcome, then)


_RECEIVE_TIMEOUT = object()


def _cell_of(ref: object, what: str) -> Cell:
    if not isinstance(ref, ActorRef):
        raise TypeError(f"{what} needs an ActorRef, got {ref!r}")
    return ref._cell


def _idle_tracking(
    receive: Callable[[Any], Any], timer: Timer, now: Callable[[], float]
) -> Callable[[Any], Any]:
    """Wrap ``receive`` so that each message handled restarts the silence clock."""
    notice = timer.message

    def tracking(message: Any) -> Any:
        if message is not notice:
            timer.idle_since = now()
        return receive(message)

    return tracking


def _init_error(cell: Cell, error: BaseException) -> ActorInitError:
    actor_class = cell.actor_class
    if actor_class._zactor_proxy:
        actor_class = cell.args[1][0]  # the class of the remote actor it stands for
    init_error = ActorInitError(
        f"{actor_class.__name__} at {cell.path} failed to start: "
        f"{type(error).__name__}: {error}"
    )
    init_error.__cause__ = error
    return init_error


def _decide(strategy: SupervisorStrategy, error: BaseException, path: str) -> Directive:
    try:
        return strategy.decide(error)
    except Exception:
        log.exception(
            "the supervisor decider of %s failed on %s; stopping the actor",
            path,
            type(error).__name__,
        )
        return STOP


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
            reply._fail(cell.dead_error())  # the asker learns; no dead letter
            return
        system._dead_letter(message, sender, cell.ref, "actor stopped")
