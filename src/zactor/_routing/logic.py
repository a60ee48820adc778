"""Routing logics: how a router picks the routee (or routees) of each message.

A logic that sends each message to one routee only defines :meth:`select`; the
router then forwards the message there, so that the routee sees the original
sender and its return value answers the original ask. Logics that send one
message to several routees (:class:`Broadcast`, scatter-gather) or hold messages
back (balancing) deliver by themselves.

A logic instance keeps the state of one router (its position, its random
generator, its hash ring): give each router its own.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .delivery import depth, post, routable

if TYPE_CHECKING:
    from zactor._ref import ActorRef

    from .router import Router


class RoutingLogic:
    """Base class of routing logics; subclass it and define :meth:`select`.

    ``select`` runs in the router's handler, one message at a time, so a logic
    may keep state without locks. It must be quick: every message through the
    router pays for it.
    """

    # The router that uses this instance; set once the router is built.
    _owner: ActorRef | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A logic picks a routee (select) or routes by itself (_route); one that
        # does neither could never route, so it is refused when it is defined.
        if cls.select is RoutingLogic.select and cls._route is RoutingLogic._route:
            raise TypeError(
                f"{cls.__qualname__} must define select(message, routees) to "
                "return one of the routees"
            )

    def select(self, message: Any, routees: Sequence[ActorRef]) -> ActorRef:
        """Return the routee of ``message``, one of ``routees`` (never empty).

        ``routees`` is an immutable sequence in rotation order; the router passes
        a new one whenever its routees change. The base class picks nothing: use
        one of the logics, or a subclass that defines this method.
        """
        raise TypeError(
            f"{type(self).__name__} routes by itself and picks no single routee; "
            "use a logic that defines select(message, routees)"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- what the router calls ---------------------------------------------------

    def _claim(self, router: ActorRef) -> None:
        owner = self._owner
        if owner is not None and owner != router and owner.is_alive():
            raise ValueError(
                f"{self!r} already routes for {owner.path}; give each router its "
                "own RoutingLogic instance"
            )
        self._owner = router

    def _route(self, router: Router, message: Any) -> None:
        """Forward ``message`` to the routee that :meth:`select` picks."""
        select = self.select
        while True:
            routees = router._routees
            if not routees:
                router._no_routees(message)
                return
            target = select(message, routees)
            if routable(target) or not router._discard(target):
                target.forward(message)
                return

    def _routees_changed(self, router: Router) -> None:
        """The router's routees changed (added, removed, terminated)."""

    def _work_done(self, router: Router, routee: ActorRef) -> None:
        """A routee finished a message this logic holds count of."""

    def _stopped(self, router: Router) -> None:
        """The router is stopping or restarting: give up what is still held."""


class RoundRobin(RoutingLogic):
    """Each routee in turn: with N routees, each gets every N-th message.

    Use it for routees that are alike and messages that cost about the same.
    """

    def __init__(self) -> None:
        self._next = 0

    def select(self, message: Any, routees: Sequence[ActorRef]) -> ActorRef:
        """The routee after the one that got the previous message."""
        index = self._next % len(routees)
        self._next = index + 1
        return routees[index]


class Random(RoutingLogic):
    """A routee picked at random for each message.

    Args:
        seed: makes the sequence of picks reproducible; None seeds from the OS.
    """

    def __init__(self, seed: int | str | bytes | None = None) -> None:
        self._seed = seed
        self._random = random.Random(seed)

    def __repr__(self) -> str:
        return f"Random(seed={self._seed!r})"

    def select(self, message: Any, routees: Sequence[ActorRef]) -> ActorRef:
        """A routee drawn uniformly from the logic's own generator."""
        return routees[self._random.randrange(len(routees))]


class Broadcast(RoutingLogic):
    """Every message to every routee.

    An ask is answered by the first routee in rotation order; the others get the
    message with the same sender, and their return values answer nothing.
    """

    def _route(self, router: Router, message: Any) -> None:
        broadcast(router, message)


class SmallestMailbox(RoutingLogic):
    """The routee with the smallest backlog: an idle one if any.

    The backlog is the number of queued messages, plus one while the routee is
    busy with a message. Ties go round in turn. Use it when messages cost very
    different amounts and routees should not queue behind a slow one; unlike a
    balancing pool, a message already queued at a routee stays there.
    """

    def __init__(self) -> None:
        self._next = 0

    def select(self, message: Any, routees: Sequence[ActorRef]) -> ActorRef:
        """The first routee, from a rotating start, with the smallest backlog."""
        count = len(routees)
        start = self._next % count
        self._next = start + 1
        best = routees[start]
        least = -1
        for offset in range(count):
            ref = routees[(start + offset) % count]
            if not routable(ref):
                continue
            backlog = depth(ref)
            if backlog == 0:
                return ref
            if least < 0 or backlog < least:
                best, least = ref, backlog
        return best


class ConsistentHashing(RoutingLogic):
    """Messages with the same key to the same routee, on a hash ring.

    Each routee owns ``virtual_nodes`` points on a ring of 64-bit hashes of its
    path; a message goes to the owner of the first point at or after the hash of
    its key. Adding or removing one of N routees therefore moves only about 1/N
    of the keys. The hash is stable across processes and runs (BLAKE2b of the
    key's bytes, its UTF-8 text, or its ``repr``), unlike the built-in ``hash``.

    Args:
        key: picks the key of a message, such as ``lambda m: m.user_id``. By
            default the message's ``hash_key`` attribute, or else the message
            itself. Keys should be str, bytes, int or values whose ``repr`` does
            not change from run to run.
        virtual_nodes: points per routee; more spread keys more evenly.

    Use it when a routee keeps state per key (a cache, a session, a count per
    word) or when messages of one key must stay in order.
    """

    def __init__(
        self,
        key: Callable[[Any], object] | None = None,
        *,
        virtual_nodes: int = 100,
    ) -> None:
        if key is not None and not callable(key):
            raise TypeError(f"key must be a callable on the message, got {key!r}")
        if type(virtual_nodes) is not int or virtual_nodes < 1:
            raise ValueError(
                f"virtual_nodes must be an int >= 1, got {virtual_nodes!r}"
            )
        self._key = key
        self._virtual_nodes = virtual_nodes
        self._members: tuple[ActorRef, ...] = ()
        self._source: Sequence[ActorRef] | None = None
        self._points: list[int] = []
        self._owners: list[ActorRef] = []

    def __repr__(self) -> str:
        return f"ConsistentHashing(virtual_nodes={self._virtual_nodes})"

    def key_of(self, message: Any) -> object:
        """The key that decides the routee of ``message``."""
        if self._key is not None:
            return self._key(message)
        return getattr(message, "hash_key", message)

    def select(self, message: Any, routees: Sequence[ActorRef]) -> ActorRef:
        """The owner of the ring point that follows the hash of the message's key."""
        if routees is not self._source:
            self._rebuild(routees)
        point = stable_hash(self.key_of(message))
        index = bisect_right(self._points, point)
        return self._owners[index if index < len(self._owners) else 0]

    def _rebuild(self, routees: Sequence[ActorRef]) -> None:
        self._source = routees
        members = tuple(routees)
        if members == self._members:
            return
        ring = [
            (stable_hash(f"{ref.path}#{node}"), ref)
            for ref in members
            for node in range(self._virtual_nodes)
        ]
        ring.sort(key=_first)
        self._members = members
        self._points = [point for point, _ in ring]
        self._owners = [ref for _, ref in ring]


def _first(item: tuple[int, ActorRef]) -> int:
    return item[0]


def stable_hash(key: object) -> int:
    """A 64-bit hash of ``key`` that is the same in every process and run."""
    if isinstance(key, bytes):
        data = key
    elif isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
    else:
        data = repr(key).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def broadcast(router: Router, message: Any) -> None:
    """Deliver ``message`` to every live routee, keeping the original sender.

    The first routee gets the envelope's reply, so it answers an ask; the others
    get a copy without one.
    """
    targets = router._live_routees()
    if not targets:
        router._no_routees(message)
        return
    sender = router.context.sender
    for target in targets[1:]:
        post(target, message, sender, None)
    targets[0].forward(message)
