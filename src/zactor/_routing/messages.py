"""The messages a router handles itself instead of routing them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zactor._ref import ActorRef


def _check_ref(kind: str, ref: object) -> None:
    if not isinstance(ref, ActorRef):
        raise TypeError(
            f"{kind} takes the ActorRef of the routee, got {type(ref).__name__} {ref!r}"
        )


@dataclass(frozen=True, slots=True)
class AddRoutee:
    """Add ``ref`` to the routees; an ask answers with the routees after it.

    The router watches the new routee, so that it leaves the rotation when it
    terminates. Adding a routee twice keeps one entry. A router refuses itself,
    since every message routed to it would come back: an ask fails with
    ValueError, and the message is a dead letter with reason "invalid routee".
    """

    ref: ActorRef

    def __post_init__(self) -> None:
        _check_ref("AddRoutee", self.ref)


@dataclass(frozen=True, slots=True)
class RemoveRoutee:
    """Take ``ref`` out of the rotation; an ask answers with the routees after it.

    A routee that the router's pool spawned is also stopped, and an ask is
    answered once it has terminated; an actor given to a group keeps running.
    """

    ref: ActorRef

    def __post_init__(self) -> None:
        _check_ref("RemoveRoutee", self.ref)


@dataclass(frozen=True, slots=True)
class GetRoutees:
    """Ask a router for its current routees, a tuple in rotation order."""


@dataclass(frozen=True, slots=True)
class Resize:
    """Make a pool router keep ``size`` routees of its own.

    Growing spawns new routees at the end of the rotation; shrinking takes the
    last ones out of the rotation and stops them. An ask answers with the routees
    once the routees stopped by a shrink have terminated.
    """

    size: int

    def __post_init__(self) -> None:
        if type(self.size) is not int or self.size < 0:
            raise ValueError(f"Resize takes an int >= 0, got {self.size!r}")


@dataclass(frozen=True, slots=True)
class ToAllRoutees:
    """Deliver ``message`` to every routee, whatever the router's logic.

    The routees see the original sender; an ask is answered by the first routee
    in rotation order, and the others' return values answer nothing.
    """

    message: Any
