"""System messages: what the runtime sends to cells, ahead of any user message.

User messages travel in envelopes, plain tuples ``(message, sender, reply)`` where
``sender`` is the sending actor's ref or None and ``reply`` is the ask's
:class:`~zactor.Reply` or None for a tell. Tuples are the cheapest object CPython
builds, and the envelope is the only allocation of a tell.

System messages have a queue of their own in each cell and are handled before the
next user message, whatever the mailbox holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._cell import Cell
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


class ChildTerminated(SystemMessage):
    """A child finished terminating; the parent may now be able to finish too."""

    __slots__ = ("child",)

    def __init__(self, child: Cell) -> None:
        self.child = child


START = Start()
