"""System messages: what the runtime sends to cells, ahead of any user message.

User messages travel in envelopes, plain tuples ``(message, sender, reply)`` where
``sender`` is the sending actor's ref or None and ``reply`` is the ask's
:class:`~zactor.Reply` or None for a tell. Tuples are the cheapest object CPython
builds, and the envelope is the only allocation of a tell.

System messages have a queue of their own in each cell and are handled before the
next user message, whatever the mailbox holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._reply import Reply

Envelope = tuple[Any, Any, Any]


class SystemMessage:
    """Base of the runtime's own messages to a cell."""

    __slots__ = ()


class Start(SystemMessage):
    """Run the start hook on the actor's dispatcher (async or off-thread hooks)."""

    __slots__ = ()


class Stop(SystemMessage):
    """Stop the actor: children first, then ``on_stop``, then terminate."""

    __slots__ = ("reply",)

    def __init__(self, reply: Reply[bool] | None) -> None:
        self.reply = reply


STOP_REQUEST = Stop(None)
"""A stop nobody waits on; shared, since it carries nothing of its own."""


class ChildTerminated(SystemMessage):
    """A child finished terminating; the parent may now be able to finish too."""

    __slots__ = ("child",)

    def __init__(self, child: Cell) -> None:
        self.child = child


class Restart(SystemMessage):
    """Replace the actor's instance; ``origin`` is True for the actor that failed."""

    __slots__ = ("delayed", "error", "message", "origin")

    def __init__(
        self,
        error: BaseException,
        message: object,
        origin: bool,
        delayed: bool = False,
    ) -> None:
        self.error = error
        self.message = message
        self.origin = origin
        self.delayed = delayed


class Refresh(SystemMessage):
    """End the current turn so that the next message sees a changed behaviour."""

    __slots__ = ()


class Resume(SystemMessage):
    """Go on with the next message after a failure was escalated and resumed."""

    __slots__ = ()


class Failed(SystemMessage):
    """A child escalates its failure: the parent fails with the child's error."""

    __slots__ = ("child", "error")

    def __init__(self, child: Cell, error: BaseException) -> None:
        self.child = child
        self.error = error


class Watch(SystemMessage):
    """Register a watcher (a cell, or a reply for code outside actors)."""

    __slots__ = ("watcher",)

    def __init__(self, watcher: Cell | Reply[Any]) -> None:
        self.watcher = watcher


class Unwatch(SystemMessage):
    """Remove a watcher."""

    __slots__ = ("watcher",)

    def __init__(self, watcher: Cell | Reply[Any]) -> None:
        self.watcher = watcher


class DeathNotice(SystemMessage):
    """A watched actor terminated; the watcher turns it into :class:`Terminated`."""

    __slots__ = ("cause", "cell")

    def __init__(self, cell: Cell, cause: BaseException | None) -> None:
        self.cell = cell
        self.cause = cause


@dataclass(frozen=True, slots=True)
class PipeFailure:
    """What ``context.pipe`` tells when the awaitable raised ``error``."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class ReceiveTimeout:
    """The message an actor gets after the silence set by ``set_receive_timeout``."""


@dataclass(frozen=True, slots=True)
class Terminated:
    """The message a watcher receives, once, when an actor it watches terminates.

    ``cause`` is the exception that stopped the actor (a failure the supervisor
    chose to stop on, or an :class:`~zactor.ActorInitError`), or None for a stop
    that was asked for.
    """

    ref: ActorRef
    cause: BaseException | None = None
