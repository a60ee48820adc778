"""The router actor, its pool of routees, and what it does with its own messages."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zactor._actor import Actor
from zactor._cluster import spread_slot
from zactor._errors import NoRouteesError, NotAnActorError, UnhandledMessageError
from zactor._messages import Terminated
from zactor._ref import ActorRef
from zactor._reply import Reply
from zactor._supervision import SupervisorStrategy
from zactor._system import DispatcherName

from .balancing import WorkDone
from .delivery import answer, fail, has_async_handlers, routable, take_envelope
from .logic import RoutingLogic, broadcast
from .messages import AddRoutee, GetRoutees, RemoveRoutee, Resize, ToAllRoutees

log = logging.getLogger(__name__)

Routees = tuple[ActorRef, ...]


@dataclass(frozen=True, slots=True)
class Pool:
    """The routees a pool router spawns and supervises as its own children.

    Args:
        actor_class: the class of every routee.
        size: how many routees to start with; :class:`Resize` changes it.
        args: positional arguments of each routee's constructor.
        kwargs: keyword arguments of each routee's constructor.
        dispatcher: where the routees run, as in ``spawn``: ``"thread"`` for
            handlers that block.
        supervisor: the strategy for each routee's own failures; None leaves
            them to the router's ``supervisor_strategy`` (by default the
            system's: restart).
        worker: where the routees run in a system with workers, as in
            ``spawn``; ``"spread"`` puts routee i on worker i modulo the number
            of workers, so that the pool uses every core.

    Raises:
        NotAnActorError: ``actor_class`` is not an Actor subclass.
        ValueError: ``size`` is not an int >= 0, ``dispatcher`` is not
            ``"default"``, ``"thread"`` or None (or ``"thread"`` for an actor
            with async handlers), or ``kwargs`` holds a keyword of spawn.
        TypeError: ``args`` is not a tuple, ``kwargs`` not a mapping, or
            ``supervisor`` not a SupervisorStrategy.
    """

    actor_class: type[Actor]
    size: int
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] | None = None
    dispatcher: DispatcherName | None = None
    supervisor: SupervisorStrategy | None = None
    worker: int | str | None = None

    def __post_init__(self) -> None:
        """Refuse arguments that would only fail later, when routees are spawned."""
        if not (
            isinstance(self.actor_class, type) and issubclass(self.actor_class, Actor)
        ):
            raise NotAnActorError(
                f"Pool needs a subclass of zactor.Actor, got {self.actor_class!r}"
            )
        if type(self.size) is not int or self.size < 0:
            raise ValueError(f"Pool size must be an int >= 0, got {self.size!r}")
        if not isinstance(self.args, tuple):
            raise TypeError(f"Pool args must be a tuple, got {self.args!r}")
        _check_kwargs(self.kwargs)
        _check_dispatcher(self.actor_class, self.dispatcher)
        if self.supervisor is not None and not isinstance(
            self.supervisor, SupervisorStrategy
        ):
            raise TypeError(
                "Pool supervisor must be a SupervisorStrategy such as OneForOne(), "
                f"or None, got {self.supervisor!r}"
            )
        if self.worker not in (None, "auto", "local", "spread") and (
            type(self.worker) is not int or self.worker < 0
        ):
            raise ValueError(
                "Pool worker must be a worker number, 'auto', 'local', 'spread' or "
                f"None, got {self.worker!r}"
            )


# The keywords that spawn keeps for itself: a routee's constructor never sees them.
_SPAWN_KEYWORDS = ("name", "dispatcher", "supervisor", "mailbox", "worker", "near")


def _check_kwargs(kwargs: Mapping[str, Any] | None) -> None:
    if kwargs is None:
        return
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"Pool kwargs must be a mapping or None, got {kwargs!r}")
    taken = [key for key in _SPAWN_KEYWORDS if key in kwargs]
    if taken:
        raise ValueError(
            f"Pool kwargs cannot hold {', '.join(taken)}: spawn keeps those "
            "keywords; use the Pool's own dispatcher= and supervisor="
        )


def _check_dispatcher(actor_class: type[Actor], dispatcher: object) -> None:
    if dispatcher is None or dispatcher == "default":
        return
    if dispatcher != "thread":
        raise ValueError(
            f"Pool dispatcher must be 'default', 'thread' or None, got {dispatcher!r}"
        )
    if has_async_handlers(actor_class):
        raise ValueError(
            f"{actor_class.__name__} has async handlers, which run on the event "
            "loop; dispatcher='thread' is for routees whose sync handlers block"
        )


class Router(Actor):
    """An actor that passes each message on to its routees, chosen by a logic.

    Spawn it like any actor, with a pool (routees it spawns and supervises as
    its children) or a group (existing actors it is given)::

        workers = system.spawn(Router, RoundRobin(), pool=Pool(Worker, 4))
        replicas = system.spawn(Router, Broadcast(), routees=[a, b, c])

    A routed message reaches its routee in one extra hop: the routee sees the
    original sender, and its return value answers the original ask. The router
    watches its routees and drops those that stop; with none left, a message is
    a dead letter (reason ``"no routees"``) and an ask fails with
    :class:`NoRouteesError`. :class:`AddRoutee`, :class:`RemoveRoutee`,
    :class:`GetRoutees`, :class:`Resize` and :class:`ToAllRoutees` are handled by
    the router itself; so is :class:`~zactor.Terminated`, which is never routed.

    Args:
        logic: picks the routee of each message; one instance per router.
        pool: spawn these routees as children.
        routees: route to these existing actors instead.
        stop_when_empty: stop the router when its last routee leaves.

    Raises:
        TypeError: ``logic`` is not a RoutingLogic, or a routee not an ActorRef.
        ValueError: both ``pool`` and ``routees`` are given, a routee is given
            twice, or the logic already serves another live router.

    A subclass may set ``supervisor_strategy`` for the pool's routees; one that
    overrides ``on_start`` or ``on_stop`` must call the base method.
    """

    def __init__(
        self,
        logic: RoutingLogic,
        *,
        pool: Pool | None = None,
        routees: Iterable[ActorRef] = (),
        stop_when_empty: bool = False,
    ) -> None:
        if not isinstance(logic, RoutingLogic):
            raise TypeError(
                f"Router needs a RoutingLogic such as RoundRobin(), got {logic!r}"
            )
        if pool is not None and not isinstance(pool, Pool):
            raise TypeError(f"pool must be a Pool(...), got {pool!r}")
        group = _check_group(routees)
        if pool is not None and group:
            raise ValueError(
                "a router takes either pool= (routees it spawns) or routees= "
                "(existing actors), not both; add actors to a pool with AddRoutee"
            )

        logic._claim(self.context.self)
        self._logic = logic
        self._pool = pool
        self._group = group
        self._stop_when_empty = stop_when_empty
        # Invariant: replaced, never mutated, so that a logic may cache by identity.
        self._routees: Routees = ()
        # The same refs as a set: membership tests stay O(1) in large pools.
        self._members: set[ActorRef] = set()
        self._retiring: dict[ActorRef, _Retirement] = {}
        self._spawned = 0

    def __repr__(self) -> str:
        return f"<Router {self._logic!r} with {len(self._routees)} routees>"

    # -- lifecycle --------------------------------------------------------------

    def on_start(self) -> None:
        """Watch the group's routees or spawn the pool's."""
        self._admit(self._group)
        if self._pool is not None:
            self._grow(self._pool.size)
        self._changed()

    def on_stop(self) -> None:
        """Give up held messages and answer the resizes still waiting."""
        self._logic._stopped(self)
        retiring, self._retiring = self._retiring, {}
        for retirement in dict.fromkeys(retiring.values()):
            retirement.finish(self._routees)

    # -- messages ---------------------------------------------------------------

    def receive(self, message: Any) -> Any:
        """Handle a management message, or route any other message."""
        manage = _MANAGEMENT.get(type(message))
        if manage is not None:
            return manage(self, message)
        try:
            self._logic._route(self, message)
        except Exception as error:
            self._routing_failed(message, error)
        return None

    def _get_routees(self, message: GetRoutees) -> Routees:
        # A routee may have stopped with its Terminated still queued behind this.
        return self._live_routees()

    def _add_routee(self, message: AddRoutee) -> Routees | None:
        ref = message.ref
        if ref == self.context.self:
            self._reject_routee(
                message,
                f"router {self.context.path} refused AddRoutee({ref!r}): a router "
                "cannot be its own routee, every message would come back to it",
            )
            return None
        if ref not in self._members:
            self._admit((ref,))
            self._changed()
        return self._live_routees()

    def _remove_routee(self, message: RemoveRoutee) -> Routees | None:
        if message.ref not in self._members:
            return self._live_routees()
        return self._retire((message.ref,))

    def _resize(self, message: Resize) -> Routees | None:
        if self._pool is None:
            self._refuse(
                message,
                f"router {self.context.path} routes to a group of existing actors "
                "and cannot be resized; send AddRoutee or RemoveRoutee instead",
            )
            return None
        own = [ref for ref in self._live_routees() if self._is_own(ref)]
        if message.size <= len(own):
            return self._retire(tuple(own[message.size :]))
        try:
            self._grow(message.size - len(own))
        except Exception as error:
            self._changed()
            self._report(message, error)
            return None
        self._changed()
        return self._live_routees()

    def _to_all(self, message: ToAllRoutees) -> None:
        broadcast(self, message.message)

    def _terminated(self, message: Terminated) -> None:
        retirement = self._retiring.pop(message.ref, None)
        if retirement is not None:
            # The routees only when the last one is done: a scan per notice
            # would make a shrink by N cost N**2.
            if retirement.one_done():
                answer(retirement.reply, self._live_routees())
            return
        if self._discard(message.ref):
            log.debug(
                "router %s dropped terminated routee %s",
                self.context.path,
                message.ref.path,
            )

    def _work_done(self, message: WorkDone) -> None:
        self._logic._work_done(self, message.routee)

    # -- routees ----------------------------------------------------------------

    def _admit(self, refs: Iterable[ActorRef]) -> None:
        """Watch ``refs`` and put them at the end of the rotation.

        One new tuple for the whole batch: a tuple per routee would make building
        a pool of N routees cost N**2.
        """
        added = tuple(refs)
        watch = self.context.watch
        for ref in added:
            watch(ref)
        if added:
            self._members.update(added)
            self._routees = (*self._routees, *added)

    def _grow(self, count: int) -> None:
        """Spawn ``count`` routees; those spawned before a failure stay admitted."""
        pool = self._pool
        assert pool is not None
        spawned: list[ActorRef] = []
        try:
            # A loop, not extend(): what was spawned before a failure must be kept.
            for _ in range(count):
                spawned.append(self._spawn_routee(pool))  # noqa: PERF401
        finally:
            self._admit(spawned)

    def _spawn_routee(self, pool: Pool) -> ActorRef:
        self._spawned += 1
        worker = pool.worker
        if worker == "spread":
            worker = spread_slot(self.context.system, self._spawned - 1)
        return self.context.spawn(
            pool.actor_class,
            *pool.args,
            name=f"routee-{self._spawned}",
            dispatcher=pool.dispatcher,
            supervisor=pool.supervisor,
            worker=worker,
            **(pool.kwargs or {}),
        )

    def _is_own(self, ref: ActorRef) -> bool:
        return self.context.child(ref.name) == ref

    def _retire(self, refs: Routees) -> Routees | None:
        """Take routees out of the rotation; stop those the pool spawned."""
        leaving = set(refs)
        self._keep(tuple(r for r in self._routees if r not in leaving))
        children = [ref for ref in refs if self._is_own(ref)]
        own = set(children)
        for ref in refs:
            if ref not in own:
                self.context.unwatch(ref)
        for ref in children:
            self.context.stop(ref)
        self._changed()

        reply = take_envelope(self.context)[2] if children else None
        if reply is not None:
            retirement = _Retirement(reply, len(children))
            for ref in children:
                self._retiring[ref] = retirement
        self._stop_if_empty()
        return None if children else self._live_routees()

    def _discard(self, ref: ActorRef) -> bool:
        """Drop a routee that stopped; False if it was not a routee."""
        if ref not in self._members:
            return False
        # The others that stopped go in the same pass, so that routees stopping
        # together cost one pass rather than one each.
        self._keep(tuple(r for r in self._routees if routable(r) and r != ref))
        self._changed()
        self._stop_if_empty()
        return True

    def _live_routees(self) -> Routees:
        """The routees, without those found stopping or stopped."""
        routees = self._routees
        for ref in routees:
            if not routable(ref):
                break
        else:
            return routees
        # Dropped in one pass: one by one would cost N**2 when many stopped.
        self._keep(tuple(ref for ref in routees if routable(ref)))
        self._changed()
        self._stop_if_empty()
        return self._routees

    def _keep(self, routees: Routees) -> None:
        """Make ``routees``, a subset of the current ones, the rotation."""
        self._routees = routees
        self._members = set(routees)

    def _changed(self) -> None:
        self._logic._routees_changed(self)

    def _stop_if_empty(self) -> None:
        if not self._routees and self._stop_when_empty:
            log.debug("router %s has no routees left; stopping", self.context.path)
            self.context.stop()

    # -- what cannot be routed --------------------------------------------------

    def _no_routees(self, message: Any) -> None:
        _, sender, reply = take_envelope(self.context)
        self._undeliverable(message, sender, reply)

    def _undeliverable(self, message: Any, sender: Any, reply: Any) -> None:
        self._dead_letter(message, sender, "no routees")
        if reply is not None:
            fail(
                reply,
                NoRouteesError(
                    f"router {self.context.path} has no routees for "
                    f"{type(message).__name__}; add some with AddRoutee or Resize, "
                    "or find out why they stopped"
                ),
            )

    def _dead_letter(self, message: Any, sender: Any, reason: str) -> None:
        self.context.system._dead_letter(message, sender, self.context.self, reason)

    def _routing_failed(self, message: Any, error: Exception) -> None:
        # The router itself must not fail: a restart would stop the whole pool.
        envelope = self.context.envelope
        reply = None if envelope is None else envelope[2]
        self._dead_letter(message, self.context.sender, "routing failed")
        if reply is not None:
            take_envelope(self.context)
            fail(reply, error)
            return
        log.error(
            "router %s could not route %s",
            self.context.path,
            type(message).__name__,
            exc_info=error,
        )

    def _report(self, message: Any, error: Exception) -> None:
        reply = take_envelope(self.context)[2]
        if reply is not None:
            fail(reply, error)
            return
        log.error(
            "router %s failed handling %s",
            self.context.path,
            type(message).__name__,
            exc_info=error,
        )

    def _reject_routee(self, message: AddRoutee, text: str) -> None:
        _, sender, reply = take_envelope(self.context)
        self._dead_letter(message, sender, "invalid routee")
        if reply is not None:
            fail(reply, ValueError(text))
        else:
            log.warning("%s", text)

    def _refuse(self, message: Any, text: str) -> None:
        _, sender, reply = take_envelope(self.context)
        self._dead_letter(message, sender, "unhandled")
        if reply is not None:
            fail(reply, UnhandledMessageError(text))
        else:
            log.warning("%s", text)


def _check_group(routees: Iterable[ActorRef]) -> Routees:
    """The routees of a group, refused unless each is an ActorRef given once."""
    group = tuple(routees)
    for ref in group:
        if not isinstance(ref, ActorRef):
            raise TypeError(f"routees must be ActorRefs, got {ref!r}")
    if len(set(group)) < len(group):
        twice = Counter(group).most_common(1)[0][0]
        raise ValueError(
            f"routees must each be given once, got {twice!r} more than once"
        )
    return group


class _Retirement:
    """An ask waiting for the routees it took out of the rotation to terminate."""

    __slots__ = ("remaining", "reply")

    def __init__(self, reply: Reply[Any], remaining: int) -> None:
        self.reply = reply
        self.remaining = remaining

    def one_done(self) -> bool:
        """One of them terminated; True once all have, when the ask is due."""
        self.remaining -= 1
        return self.remaining == 0

    def finish(self, routees: Routees) -> None:
        """The router stops: answer now."""
        if not self.reply.done():
            answer(self.reply, routees)


_MANAGEMENT: dict[type, Callable[[Router, Any], Any]] = {
    GetRoutees: Router._get_routees,
    AddRoutee: Router._add_routee,
    RemoveRoutee: Router._remove_routee,
    Resize: Router._resize,
    ToAllRoutees: Router._to_all,
    Terminated: Router._terminated,
    WorkDone: Router._work_done,
}
