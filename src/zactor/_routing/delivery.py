"""How routers hand messages on: envelopes posted on behalf of the original sender.

This is the one module of the routers that touches the runtime's internals (the
cell behind a ref, its state, its mailbox, the envelope being handled), so that a
change there has a single place to be followed here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zactor._reply import _DONE, Reply
from zactor._states import STOPPING

if TYPE_CHECKING:
    from zactor._actor import Actor
    from zactor._cell import Cell
    from zactor._messages import Envelope
    from zactor._ref import ActorRef


def has_async_handlers(actor_class: type[Actor]) -> bool:
    """Tell whether ``actor_class`` has a coroutine handler, as spawn sees it."""
    return actor_class._zactor_async


def routable(ref: ActorRef) -> bool:
    """Tell whether ``ref`` will still handle a message sent to it now.

    An actor that is stopping turns what is left in its mailbox into dead letters,
    so a router treats it like one that has already terminated.
    """
    return ref._cell.state < STOPPING


def depth(ref: ActorRef) -> int:
    """The routee's backlog: queued messages, plus one while it is busy."""
    cell = ref._cell
    if cell.is_remote:
        return 0  # its mailbox is in another process: it counts as idle
    mailbox = cell.mailbox
    queued = len(mailbox) if mailbox else 0
    return queued + 1 if cell.scheduled else queued


def post(target: ActorRef, message: Any, sender: Any, reply: Any) -> None:
    """Deliver one envelope to ``target``, from any thread.

    Unlike ``tell``, a sender of None stays None: the routee sees the original
    sender, never the router.
    """
    cell = target._cell
    cell.dispatcher.post(cell, (message, sender, reply))


def take_envelope(context: Cell) -> Envelope:
    """Return the envelope being handled and take its reply over.

    The handler's return value then answers nothing; whoever holds the returned
    reply answers it. Only call it from the handler of that envelope.
    """
    envelope = context.envelope
    assert envelope is not None, "take_envelope is only for a running handler"
    if envelope[2] is not None:
        context.envelope = (envelope[0], envelope[1], None)
    return envelope


def relay(
    target: ActorRef,
    message: Any,
    sender: Any,
    on_done: Callable[[Reply[Any]], None],
) -> None:
    """Deliver ``message`` to ``target`` as an ask whose outcome goes to ``on_done``.

    ``on_done`` runs on the thread that completes the routee's answer (its
    dispatcher's); a routee that has terminated fails it at once, on this thread.
    """
    reply: Reply[Any] = Reply(None, (target, message))
    reply.add_done_callback(on_done)
    post(target, message, sender, reply)


def succeeded(reply: Reply[Any]) -> bool:
    """Tell whether a completed reply holds a value rather than an error."""
    return reply._state == _DONE


def outcome(reply: Reply[Any]) -> Any:
    """The value or the error held by a completed reply."""
    return reply._value


def pass_on(source: Reply[Any], target: Reply[Any]) -> None:
    """Complete ``target`` with the outcome of ``source``.

    A target that was given up on meanwhile (its ask timed out) counts the outcome
    as a late reply, exactly as a direct answer would be.
    """
    if source._state == _DONE:
        target._answer(source._value)
    else:
        fail(target, source._value)


def fail(reply: Reply[Any], error: Any) -> None:
    """Fail ``reply`` with ``error``; a reply given up on counts it as late."""
    reply._fail(error)


def answer(reply: Reply[Any], value: Any) -> None:
    """Complete ``reply`` with ``value``; a reply given up on counts it as late."""
    reply._answer(value)


def dead_letter(
    about: ActorRef, message: Any, sender: Any, recipient: ActorRef, reason: str
) -> None:
    """Count ``message`` as a dead letter in the system of ``about``."""
    about._cell.system._dead_letter(message, sender, recipient, reason)
