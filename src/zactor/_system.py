"""The actor system: guardians, spawn, lookup, events, dead letters, shutdown."""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _cluster
from . import _loops as loops
from ._actor import Actor
from ._cell import Cell
from ._current import current_ref
from ._dispatcher import LoopDispatcher, ThreadDispatcher
from ._errors import (
    ActorDeadError,
    InvalidStateError,
    NameTakenError,
    NotAnActorError,
    SystemShutDownError,
    UnhandledMessageError,
)
from ._events import ActorStarted, DeadLetter, DeadLetterLog, EventStream
from ._mailbox import MailboxSpec
from ._messages import STOP_REQUEST, Terminated, Watch
from ._names import check_name
from ._ref import ActorRef
from ._ref import _stop as stop_cell
from ._remote import remote_cell
from ._reply import Reply
from ._states import RUNNING, STOPPING, TERMINATED
from ._supervision import DEFAULT_STRATEGY, SupervisorStrategy
from ._timers import TimerService

if TYPE_CHECKING:
    from ._codecs import Codec
    from ._node import Node
    from ._workers import WorkerConfig, WorkerPool

log = logging.getLogger(__name__)

_get_ident = threading.get_ident
T = TypeVar("T")
_INFINITY = float("inf")

DispatcherName = Literal["default", "thread"]
EscalationPolicy = Literal["stop-subtree", "shutdown"]
LoopChoice = Literal["auto", "asyncio", "uvloop"]


class _Guardian(Actor):
    """The actor at the top of a subtree (``/``, ``/user``, ``/system``)."""

    def receive(self, message: Any) -> None:
        context = self.context
        context.system._dead_letter(
            message, context.sender, context.self, "sent to a guardian"
        )
        context.defer_reply().set_exception(
            UnhandledMessageError(
                f"{context.path} is a guardian and handles no messages; "
                f"{type(message).__name__} was not handled"
            )
        )


@dataclass(frozen=True, slots=True)
class SystemStatistics:
    """A snapshot of an actor system's counters."""

    actors: int
    spawned: int
    terminated: int
    messages_handled: int
    dead_letters: int
    failures: int
    restarts: int
    workers: int = 0
    """Worker processes running now."""
    remote_asks_pending: int = 0
    """Asks from this process that wait for an answer from another process."""
    bytes_sent: int = 0
    """Bytes this process wrote to other processes (shared memory not counted)."""
    bytes_received: int = 0
    """Bytes this process read from other processes."""


class ActorSystem:
    """A tree of actors and the dispatchers that run them.

    Two ways to run one:

    * ``async with ActorSystem() as system:`` inside a running event loop: actors
      run on that loop.
    * ``with ActorSystem() as system:`` (or ``system.start()``) from plain threaded
      code: the system runs its own loop on a background thread, and ``ask(...)``
      replies are waited on with ``.result(timeout)``.

    Args:
        name: names the system in logs and errors.
        throughput: how many messages an actor handles per turn before the next
            ready actor gets the dispatcher; higher is faster, lower is fairer.
        threads: the size of the thread pool behind ``dispatcher="thread"``.
        loop: the event loop of the background thread: ``"uvloop"`` when it is
            installed under ``"auto"``, else asyncio's own.
        shutdown_timeout: the bound used when the system shuts down on exit.
        supervisor: the strategy for top-level actors and for actors whose
            parent class sets none; by default one-for-one restart, at most 10
            restarts within 60 s.
        escalation: what happens to a failure escalated to the top of the tree:
            ``"stop-subtree"`` (the default) logs it and stops the top-level actor
            it came from; ``"shutdown"`` logs it and shuts the system down.
        workers: how many worker processes to start (``"auto"``: one per core).
            Top-level actors are then placed on the least loaded worker unless
            ``spawn`` says otherwise; see ``docs/workers.md``.
        start_method: how workers start: ``"forkserver"`` (the default where it
            exists), ``"spawn"`` or ``"fork"``.
        codec: how messages cross processes: ``"pickle"`` (the default; large
            buffers go through shared memory), ``"msgpack"`` or ``"json"``, or a
            Codec instance.
        codec_types: the message classes (dataclasses, NamedTuples) that the
            msgpack and JSON codecs may build.
        type_codecs: a codec per message type, overriding ``codec`` for it.
        allow_pickle: False makes every node refuse pickled bytes, so that no
            peer can make it run code; it needs a msgpack or JSON codec.
        cookie: the shared secret nodes prove before anything is decoded;
            random per system unless given (at least 16 bytes).
        max_message_size: the most bytes one encoded message may take; larger
            ones fail at send with MessageTooLarge.
        transport: ``"unix"`` sockets (the default) or ``"tcp"`` on ``host``
            (127.0.0.1 unless given).
        cpu_affinity: True pins worker i to CPU i (modulo the CPUs available);
            a list of CPU sets pins worker i to ``cpu_affinity[i % len]``.
        worker_init: a function each worker calls before it joins (logging,
            loading a model); if it raises, the system's start raises.
        worker_restarts: (count, seconds): a crashed worker is replaced unless
            ``count`` replacements already happened within ``seconds``.
    """

    def __init__(
        self,
        name: str = "zactor",
        *,
        throughput: int = 64,
        threads: int = 8,
        loop: LoopChoice = "auto",
        shutdown_timeout: float = 10.0,
        supervisor: SupervisorStrategy | None = None,
        escalation: EscalationPolicy = "stop-subtree",
        workers: int | Literal["auto"] = 0,
        start_method: str | None = None,
        codec: str | Codec = "pickle",
        codec_types: Iterable[type] | None = None,
        type_codecs: Mapping[type, str | Codec] | None = None,
        allow_pickle: bool = True,
        cookie: bytes | None = None,
        max_message_size: int = _cluster.DEFAULT_MAX_MESSAGE,
        transport: Literal["unix", "tcp"] = "unix",
        host: str = "127.0.0.1",
        cpu_affinity: bool | list[Iterable[int]] | None = None,
        worker_init: Callable[[], Any] | None = None,
        worker_restarts: tuple[int, float] = (10, 60.0),
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"the system name must be a non-empty str without '/', got {name!r}"
            )
        if not isinstance(throughput, int) or throughput < 1:
            raise ValueError(f"throughput must be an int >= 1, got {throughput!r}")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        if loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(
                f"loop must be 'auto', 'asyncio' or 'uvloop', got {loop!r}"
            )
        _check_timeout("shutdown_timeout", shutdown_timeout)
        if supervisor is not None and not isinstance(supervisor, SupervisorStrategy):
            raise TypeError(
                f"supervisor must be a SupervisorStrategy such as OneForOne(), "
                f"got {supervisor!r}"
            )
        if escalation not in ("stop-subtree", "shutdown"):
            raise ValueError(
                f"escalation must be 'stop-subtree' or 'shutdown', got {escalation!r}"
            )

        options = _cluster.NodeOptions(
            workers=_cluster.worker_count(workers),
            start_method=start_method,
            codec=codec,
            codec_types=_cluster.codec_types(codec_types),
            type_codecs=_cluster.type_codecs(type_codecs),
            allow_pickle=allow_pickle,
            cookie=cookie,
            max_message_size=max_message_size,
            transport=transport,
            host=host,
            cpu_affinity=cpu_affinity,
            worker_init=worker_init,
            worker_restarts=worker_restarts,
        )
        options.check()

        self.name = name
        self.throughput = throughput
        self.threads = threads
        self.loop_choice = loop
        self.shutdown_timeout = shutdown_timeout
        self.supervisor = supervisor or DEFAULT_STRATEGY
        self.escalation = escalation
        self.events = EventStream()
        self.dead_letters = DeadLetterLog()
        self.terminated = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._dispatcher: LoopDispatcher | None = None
        self._thread_dispatcher: ThreadDispatcher | None = None
        self._root: Cell | None = None
        self._user: Cell | None = None
        self._system_guardian: Cell | None = None
        self._names = 0
        self._guardians = 0
        self._spawned = 0
        self._terminated = 0
        self._failures = 0
        self._restarts = 0
        self._stopping = False
        self._shutdown_done: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._timers: TimerService | None = None
        self._options = options
        self._node: Node | None = None
        self._workers: WorkerPool | None = None
        # Set in a worker process before it starts: how it joins the head.
        self._worker_config: WorkerConfig | None = None

    def __repr__(self) -> str:
        if self.terminated:
            state = "terminated"
        elif self._loop is None:
            state = "not started"
        else:
            state = "running"
        return f"<ActorSystem {self.name!r} {state}>"

    # -- running ----------------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        self._bind(asyncio.get_running_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.ashutdown(self.shutdown_timeout)

    def __enter__(self) -> ActorSystem:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown(self.shutdown_timeout)

    def start(self) -> ActorSystem:
        """Run the system on an event loop of its own, on a background thread.

        The system is also shut down when the program exits, if it is still
        running then. Returns the system.
        """
        if self.terminated:
            raise SystemShutDownError(
                f"actor system {self.name!r} has shut down; create a new one"
            )
        if self._loop is not None:
            raise InvalidStateError(f"actor system {self.name!r} is already running")

        loop = _new_loop(self.loop_choice)
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run_loop,
            args=(loop, ready, failure),
            name=f"zactor-{self.name}",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        atexit.register(self._exit_hook)
        return self

    def _run_loop(
        self,
        loop: asyncio.AbstractEventLoop,
        ready: threading.Event,
        failure: list[BaseException],
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            self._bind(loop)
        except BaseException as error:
            failure.append(error)
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            _cancel_leftover_tasks(loop)
            if self._dispatcher is not None:
                self._dispatcher._refuse_inbox()
            loop.close()

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.terminated:
            raise SystemShutDownError(
                f"actor system {self.name!r} has shut down; create a new one"
            )
        if self._loop is not None and self._thread is None:
            raise InvalidStateError(f"actor system {self.name!r} is already running")

        self._loop = loop
        dispatcher = LoopDispatcher(loop, self.throughput)
        dispatcher.bind_thread()
        self._dispatcher = dispatcher

        root = Cell(self, dispatcher, None, "", _Guardian, (), None)
        self._root = root
        self._user = self._guardian(root, "user")
        self._system_guardian = self._guardian(root, "system")
        self._start_cell(root, _Guardian())
        if self._options.workers or self._worker_config is not None:
            try:
                _cluster.start(self, loop)
            except BaseException:
                self.terminated = True
                loops.unregister(loop)
                raise

    def _guardian(self, root: Cell, name: str) -> Cell:
        cell = Cell(self, root.dispatcher, root, name, _Guardian, (), None)
        if root.child_cells is None:
            root.child_cells = {}
        root.child_cells[name] = cell
        self._start_cell(cell, _Guardian())
        return cell

    def _start_cell(self, cell: Cell, actor: Actor) -> None:
        actor.context = cell  # already set by spawn; guardians need it here
        cell.actor = actor
        self._spawned += 1
        self._guardians += 1
        cell.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the system's actors run on."""
        if self._loop is None:
            raise SystemShutDownError(
                f"actor system {self.name!r} is not running; use 'async with', "
                "'with' or start()"
            )
        return self._loop

    # -- spawning and finding ---------------------------------------------------

    def spawn(
        self,
        actor_class: type[Actor],
        *args: Any,
        name: str | None = None,
        dispatcher: DispatcherName | None = None,
        supervisor: SupervisorStrategy | None = None,
        mailbox: MailboxSpec | None = None,
        worker: int | Literal["auto", "local"] | None = None,
        near: ActorRef | None = None,
        **kwargs: Any,
    ) -> ActorRef:
        """Create an actor under ``/user`` and return its ref.

        ``args`` and ``kwargs`` go to the actor's constructor, which runs before
        spawn returns: if it raises, spawn raises the same exception and no actor
        exists. The keyword names ``name``, ``dispatcher``, ``supervisor``,
        ``mailbox``, ``worker`` and ``near`` belong to spawn.

        Args:
            actor_class: a subclass of :class:`Actor`.
            name: unique among the parent's live children; generated if omitted.
            dispatcher: ``"default"`` (the event loop) or ``"thread"`` (a thread
                pool, for handlers that block).
            supervisor: the strategy for this actor's own failures, instead of
                its parent's.
            mailbox: a :class:`Bounded` or :class:`Priority` mailbox; unbounded
                FIFO if omitted.
            worker: in a system with workers, where the actor runs: a worker
                number, ``"auto"`` (the least loaded worker; the default for
                top-level actors) or ``"local"`` (this process).
            near: run the actor in the same process as this ref's actor.

        Raises:
            NotAnActorError: ``actor_class`` is not an Actor subclass.
            InvalidNameError: the name is empty or contains ``/``.
            NameTakenError: a live child already has that name.
            SystemShutDownError: the system is not running.
        """
        if self._user is None:
            raise SystemShutDownError(
                f"actor system {self.name!r} is not running; use 'async with', "
                "'with' or start() before spawning"
            )
        return self._spawn(
            self._user,
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

    def _spawn(
        self,
        parent: Cell,
        actor_class: type[Actor],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        dispatcher: str | None,
        supervisor: SupervisorStrategy | None = None,
        mailbox: MailboxSpec | None = None,
        worker: Any = None,
        near: ActorRef | None = None,
    ) -> ActorRef:
        if not (isinstance(actor_class, type) and issubclass(actor_class, Actor)):
            raise NotAnActorError(
                f"spawn needs a subclass of zactor.Actor, got {actor_class!r}; "
                "define 'class MyActor(zactor.Actor)' and pass the class itself"
            )
        if name is not None:
            check_name(name)
        if supervisor is not None or mailbox is not None:
            _check_options(supervisor, mailbox)
        loop_dispatcher = self._dispatcher
        if self.terminated or loop_dispatcher is None:
            raise SystemShutDownError(
                f"actor system {self.name!r} has shut down; cannot spawn "
                f"{actor_class.__name__}"
            )
        if worker is not None or near is not None or self._node is not None:
            if near is not None and not isinstance(near, ActorRef):
                raise TypeError(f"near must be an ActorRef, got {near!r}")
            node_id = _cluster.placement(self, parent, worker, near)
            if node_id is not None:
                if dispatcher not in (None, "default", "thread"):
                    self._pick_dispatcher(actor_class, dispatcher)  # raises
                return _cluster.spawn_remote(
                    self,
                    parent,
                    node_id,
                    actor_class,
                    args,
                    kwargs,
                    name,
                    dispatcher,
                    supervisor,
                    mailbox,
                )
        target: LoopDispatcher | ThreadDispatcher = loop_dispatcher
        if dispatcher is not None:
            target = self._pick_dispatcher(actor_class, dispatcher)

        if loop_dispatcher.thread_id == _get_ident():  # the common case: no closure
            return self._spawn_here(
                parent, actor_class, args, kwargs, name, target, supervisor, mailbox
            )
        return self._on_loop(
            actor_class,
            lambda: self._spawn_here(
                parent, actor_class, args, kwargs, name, target, supervisor, mailbox
            ),
        )

    def _on_loop(self, actor_class: type[Actor], create: Callable[[], T]) -> T:
        """Run ``create`` on the loop thread, from whichever thread spawns."""
        assert self._dispatcher is not None
        if self._dispatcher.thread_id == _get_ident():
            return create()

        reply: Reply[T] = Reply(None, f"spawn of {actor_class.__name__}")

        def spawn_on_loop() -> None:
            try:
                reply.set_result(create())
            except BaseException as error:
                reply.set_exception(error)

        try:
            self.loop.call_soon_threadsafe(spawn_on_loop)
        except RuntimeError:
            raise SystemShutDownError(
                f"actor system {self.name!r} has shut down; cannot spawn "
                f"{actor_class.__name__}"
            ) from None
        return reply.result()

    def _pick_dispatcher(
        self, actor_class: type[Actor], dispatcher: str
    ) -> LoopDispatcher | ThreadDispatcher:
        assert self._dispatcher is not None
        if dispatcher == "default":
            return self._dispatcher
        if dispatcher != "thread":
            raise ValueError(
                f"dispatcher must be 'default' or 'thread', got {dispatcher!r}"
            )
        if actor_class._zactor_async:
            raise ValueError(
                f"{actor_class.__name__} has async handlers, which run on the event "
                "loop; dispatcher='thread' is for actors whose sync handlers block"
            )
        if self._thread_dispatcher is None:
            self._thread_dispatcher = ThreadDispatcher(
                self.loop, self.throughput, self.threads, f"zactor-{self.name}"
            )
        return self._thread_dispatcher

    def _spawn_here(
        self,
        parent: Cell,
        actor_class: type[Actor],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        dispatcher: LoopDispatcher | ThreadDispatcher,
        supervisor: SupervisorStrategy | None,
        mailbox: MailboxSpec | None,
        uid: int = 0,
        path: str | None = None,
    ) -> ActorRef:
        if parent.state >= STOPPING or (self._stopping and parent is self._user):
            raise ActorDeadError(
                f"cannot spawn {actor_class.__name__} under {parent.path}: "
                "it is stopping"
            )
        children = parent.child_cells
        if children is None:
            children = parent.child_cells = {}
        if name is None:
            number = self._names = self._names + 1
            name = f"${number:x}"  # what generated_name() returns, without the call
        elif (path or name) in children:
            raise NameTakenError(
                f"{parent.path} already has a child named {name!r} "
                f"({children[name].actor_class.__name__}); choose another name or "
                "stop that actor first"
            )

        cell = Cell(self, dispatcher, parent, name, actor_class, args, kwargs or None)
        if uid:
            cell.uid = uid
            cell._path = path
        if supervisor is not None:
            cell.extras().supervisor = supervisor
        if mailbox is not None:
            cell.mailbox = mailbox.create(cell)
        actor = actor_class.__new__(actor_class)
        actor.context = cell
        cell.actor = actor  # set first: the constructor may call become()
        if actor_class._zactor_has_init:
            token = current_ref.set(cell.ref)  # tells from __init__ come from it
            try:
                actor.__init__(*args, **kwargs)  # type: ignore[misc]
            finally:
                current_ref.reset(token)
        elif args or kwargs:
            actor.__init__(*args, **kwargs)  # type: ignore[misc]  # raises TypeError
        # A hosted actor's host holds actors of many parents: it keys them by path.
        children[path or name] = cell

        if not uid:
            self._spawned += 1  # a hosted actor is counted where its proxy is
        if actor_class._zactor_on_start:
            cell.start()
        else:
            cell.state = RUNNING
            if ActorStarted in self.events.active and not uid:
                self.events.publish(ActorStarted(cell.ref))
        return cell.ref

    def _spawn_hosted(
        self,
        host: Cell,
        actor_class: type[Actor],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        uid: int,
        path: str,
        dispatcher: str | None,
        mailbox: MailboxSpec | None,
    ) -> Cell:
        """Create an actor that a parent in another process supervises."""
        target: LoopDispatcher | ThreadDispatcher | None = self._dispatcher
        if dispatcher is not None:
            target = self._pick_dispatcher(actor_class, dispatcher)
        assert target is not None
        ref = self._spawn_here(
            host,
            actor_class,
            args,
            kwargs,
            path.rsplit("/", 1)[-1],
            target,
            None,
            mailbox,
            uid,
            path,
        )
        return ref._cell

    def _host_guardian(self) -> Cell:
        assert self._root is not None
        cell = Cell(
            self,
            self._root.dispatcher,
            self._root,
            "remote",
            _cluster.HostGuardian,
            (),
            None,
        )
        assert self._root.child_cells is not None
        self._root.child_cells["remote"] = cell
        self._start_cell(cell, _cluster.HostGuardian())
        return cell

    def lookup(self, path: str) -> ActorRef | None:
        """Return the ref of the live actor at ``path`` (``/user/a/b``), or None.

        In a system with workers this finds actors in every process.
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"an actor path starts with '/', got {path!r}")
        cell = self._root
        parts = path.strip("/").split("/") if path != "/" else []
        for index, part in enumerate(parts):
            children = None if cell is None else cell.child_cells
            cell = None if children is None else children.get(part)
            if (
                cell is not None
                and cell.actor_class._zactor_proxy
                and parts[index + 1 :]
            ):
                return self._lookup_remote(remote_cell(cell.ref).node_id, path)
        if cell is None and self._node is not None:
            hosted = _cluster.lookup_hosted(self._node, path)
            if hosted is not None:
                cell = hosted
            elif self._node.node_id != 0:
                return self._lookup_remote(0, path)
        if cell is None or cell.state == TERMINATED:
            return None
        return cell.ref

    def _lookup_remote(self, node_id: int, path: str) -> ActorRef | None:
        assert self._node is not None
        try:
            found: ActorRef | None = self._node.rpc(node_id).call(
                ("lookup", path), 10.0
            )
        except (OSError, ConnectionError, ActorDeadError):
            return None
        return found

    def watch(self, ref: ActorRef) -> Reply[Terminated]:
        """Return a reply that completes with :class:`Terminated` when ``ref`` ends.

        For code outside actors; inside an actor use ``self.context.watch``.
        Await it or call ``.result(timeout)``; it completes at once if the actor
        has already terminated.
        """
        reply: Reply[Terminated] = Reply(None, f"watch of {ref.path}")
        ref._cell.post_system(Watch(reply))
        return reply

    # -- supervision at the top -------------------------------------------------

    def _escalated(self, child: Cell, error: BaseException) -> None:
        """A failure reached a guardian: apply the system's escalation policy."""
        if self.escalation == "shutdown":
            log.error(
                "actor %s escalated %s: %s; shutting actor system %s down",
                child.path,
                type(error).__name__,
                error,
                self.name,
            )
            self.loop.call_soon_threadsafe(self._shutdown_in_background)
            return
        log.error(
            "actor %s escalated %s: %s; stopping it",
            child.path,
            type(error).__name__,
            error,
        )
        extra = child.extras()
        if extra.cause is None:
            extra.cause = error
        child.post_system(STOP_REQUEST)

    def _shutdown_in_background(self, timeout: float | None = None) -> None:
        if not self.terminated and self._shutdown_done is None:
            task = self.loop.create_task(self._shutdown_outside_actors(timeout))
            self._keep(task)

    async def _shutdown_outside_actors(self, timeout: float | None) -> None:
        current_ref.set(None)  # this task is no actor's, whoever created it
        await self.ashutdown(timeout)

    def _begin_shutdown_soon(self, timeout: float | None = None) -> None:
        """Start the shutdown on the loop without waiting for it, from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._shutdown_in_background, timeout)

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers, in worker-number order.

        A worker that crashed is missing from the list until its replacement runs.
        """
        return [] if self._workers is None else self._workers.pids()

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a background task until it ends."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _timer_service(self) -> TimerService:
        """The heap of every timer of this system, created on first use."""
        service = self._timers
        if service is None:
            service = self._timers = TimerService(self.loop)
            assert self._dispatcher is not None
            service.thread_id = self._dispatcher.thread_id
        return service

    def _call_later(
        self, delay: float, callback: Callable[..., None], *args: Any
    ) -> asyncio.TimerHandle | None:
        """Run ``callback(*args)`` on the loop after ``delay`` s, from any thread."""
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.thread_id == _get_ident():
            return self.loop.call_later(delay, callback, *args)
        self.loop.call_soon_threadsafe(self.loop.call_later, delay, callback, *args)
        return None

    # -- events, dead letters, statistics ---------------------------------------

    def _actor_started(self, cell: Cell) -> None:
        if (
            ActorStarted in self.events.active
            and not cell.hosted()
            and not cell.actor_class._zactor_host
        ):
            self.events.publish(ActorStarted(cell.ref))

    def _actor_terminated(self, cell: Cell) -> None:
        node = self._node
        if node is not None:
            if cell.uid:
                hosted = cell.uid in node.hosted
                node.unexport(cell)
                if hosted:
                    return  # counted where its proxy is
            elif cell.actor_class._zactor_proxy:
                _cluster.proxy_terminated(self, cell)
        self._terminated += 1

    def _dead_letter(
        self,
        message: object,
        sender: ActorRef | None,
        recipient: ActorRef | None,
        reason: str,
    ) -> None:
        letter = DeadLetter(message, sender, recipient, reason)
        self.dead_letters.record(letter)
        if DeadLetter in self.events.active:
            self.events.publish(letter)
        node = self._node
        if node is not None and node.node_id != 0:
            node.forward_dead_letter(message, sender, recipient, reason)

    def _dead_letters_at_shutdown(
        self, refused: list[tuple[Cell, tuple[Any, Any, Any]]]
    ) -> None:
        """Count tells that other threads sent as the system ended, in one go."""
        if DeadLetter in self.events.active:
            for cell, envelope in refused:
                self._dead_letter(
                    envelope[0], envelope[1], cell.ref, "system shut down"
                )
            return
        self.dead_letters.record_many(len(refused), "system shut down")

    def _late_reply(self, target: ActorRef, value: object) -> None:
        self._dead_letter(value, target, None, "late reply")

    def statistics(self) -> SystemStatistics:
        """A snapshot of the system's counters."""
        handled = 0
        for dispatcher in (self._dispatcher, self._thread_dispatcher):
            if dispatcher is not None:
                handled += dispatcher.handled
        counts = {
            "spawned": self._spawned,
            "terminated": self._terminated,
            "messages_handled": handled,
            "failures": self._failures,
            "restarts": self._restarts,
        }
        for worker in _cluster.worker_statistics(self):
            for key, value in worker.items():
                counts[key] += value
        return SystemStatistics(
            actors=counts["spawned"] - counts["terminated"],
            dead_letters=self.dead_letters.count,
            **counts,
            **_cluster.statistics(self),
        )

    # -- shutting down ----------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop every actor, children before parents, within ``timeout`` seconds.

        Blocks the calling thread for at most about ``timeout`` + 1 seconds; from
        a coroutine use :meth:`ashutdown`. Actors still running when the time is
        up are terminated without their stop hook (a warning names them).
        Called from inside an actor's handler, it starts the shutdown and returns
        at once: the calling actor stops when its handler has returned. Calling
        it again is harmless.

        Raises:
            InvalidStateError: called on the system's own event loop thread
                outside any actor.
        """
        timeout = self.shutdown_timeout if timeout is None else timeout
        _check_timeout("timeout", timeout)
        if self._loop is None or (self.terminated and self._thread is None):
            self.terminated = True
            return
        if current_ref.get() is not None:
            self._begin_shutdown_soon(timeout)
            return
        if self._dispatcher is not None and self._dispatcher.thread_id == _get_ident():
            raise InvalidStateError(
                "shutdown() would block the event loop the actors run on; "
                "use 'await system.ashutdown()' there"
            )

        deadline = time.monotonic() + timeout
        if not self.terminated:
            future = asyncio.run_coroutine_threadsafe(
                self.ashutdown(timeout), self._loop
            )
            try:
                future.result(timeout + 0.5)
            except TimeoutError:
                log.warning(
                    "actor system %s did not finish shutting down within %s s: a "
                    "handler may block its event loop",
                    self.name,
                    timeout,
                )
        self._stop_thread(max(0.1, deadline + 1.0 - time.monotonic()))

    def _stop_thread(self, timeout: float) -> None:
        thread = self._thread
        if thread is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        atexit.unregister(self._exit_hook)

    def _exit_hook(self) -> None:
        try:
            self.shutdown(self.shutdown_timeout)
        except Exception:
            log.exception("actor system %s failed to shut down at exit", self.name)

    async def ashutdown(self, timeout: float | None = None) -> None:
        """Stop every actor, children before parents, within ``timeout`` seconds.

        The coroutine twin of :meth:`shutdown`; run it on the system's loop.
        """
        timeout = self.shutdown_timeout if timeout is None else timeout
        _check_timeout("timeout", timeout)
        root = self._root
        if self.terminated or root is None:
            return
        if current_ref.get() is not None:
            # Awaited from a handler: that handler would wait for its own actor
            # to stop, which waits for the handler. Start it and return instead.
            self._begin_shutdown_soon(timeout)
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            future = asyncio.run_coroutine_threadsafe(
                self.ashutdown(timeout), self.loop
            )
            await asyncio.wrap_future(future)
            return

        if self._shutdown_done is None:
            self._shutdown_done = loop.create_future()
            self._stopping = True
            if self._timers is not None:
                self._timers.cancel_all()
            deadline = time.monotonic() + timeout
            actors_by = _cluster.tree_deadline(self, deadline, timeout)
            assert self._user is not None
            assert self._system_guardian is not None
            await self._stop_subtree(self._user, actors_by)
            await self._stop_subtree(self._system_guardian, actors_by)
            await self._stop_subtree(root, actors_by)
            await self._close_threads(deadline)
            await _cluster.stop(self, deadline)
            self._finish_shutdown()
        else:
            await asyncio.shield(self._shutdown_done)

    async def _stop_subtree(self, cell: Cell, deadline: float) -> None:
        if cell.state != TERMINATED:
            reply = stop_cell(cell)
            remaining = deadline - time.monotonic()
            if remaining > 0:
                await _wait_reply(reply, remaining)
        if cell.state != TERMINATED:
            self._force(cell)

    def _force(self, cell: Cell) -> None:
        """Terminate a subtree that did not stop in time, leaves first."""
        forced: list[str] = []

        def visit(node: Cell) -> None:
            for child in list((node.child_cells or {}).values()):
                visit(child)
            if node.state != TERMINATED:
                if node.parent_cell is not None and node.parent_cell.parent_cell:
                    forced.append(node.path)
                task = node.task
                if task is not None:
                    task.cancel()
                    node.task = None
                node.terminate()

        visit(cell)
        if not forced:
            return
        log.warning(
            "actor system %s: %d actor(s) did not stop within the shutdown timeout "
            "and were terminated without their stop hook: %s",
            self.name,
            len(forced),
            ", ".join(forced[:10]) + (" ..." if len(forced) > 10 else ""),
        )

    async def _close_threads(self, deadline: float) -> None:
        """Close the thread pool and wait, within the deadline, for its threads."""
        pool = self._thread_dispatcher
        if pool is None:
            return
        pool.close()
        while pool.threads_alive() and time.monotonic() < deadline:  # noqa: ASYNC110 - threads have no awaitable join
            await asyncio.sleep(0.005)
        if pool.threads_alive():
            log.warning(
                "actor system %s: a thread-dispatcher handler still runs after the "
                "shutdown timeout; its thread ends when the handler returns",
                self.name,
            )

    def _finish_shutdown(self) -> None:
        self.terminated = True
        if self._dispatcher is not None:
            self._dispatcher._refuse_inbox()  # what other threads sent too late
        if self._loop is not None:
            loops.unregister(self._loop)
        if self._shutdown_done is not None and not self._shutdown_done.done():
            self._shutdown_done.set_result(None)
        log.info("actor system %s shut down", self.name)


async def _wait_reply(reply: Reply[Any], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def wake(_: Reply[Any]) -> None:
        loop.call_soon_threadsafe(_settle, future)

    reply.add_done_callback(wake)
    try:
        await asyncio.wait_for(future, timeout)
    except TimeoutError:
        pass


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _check_options(
    supervisor: SupervisorStrategy | None, mailbox: MailboxSpec | None
) -> None:
    if supervisor is not None and not isinstance(supervisor, SupervisorStrategy):
        raise TypeError(
            f"supervisor must be a SupervisorStrategy such as OneForOne(), "
            f"got {supervisor!r}"
        )
    if mailbox is not None and not isinstance(mailbox, MailboxSpec):
        raise TypeError(
            f"mailbox must be a mailbox kind such as Bounded(100) or "
            f"Priority(key=...), got {mailbox!r}"
        )


def _check_timeout(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 < value < _INFINITY  # refuses nan and inf too
    ):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _new_loop(choice: LoopChoice) -> asyncio.AbstractEventLoop:
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ValueError(
                    "loop='uvloop' needs the uvloop package: pip install zactor[uvloop]"
                ) from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
