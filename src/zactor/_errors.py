"""The exceptions zactor raises.

Every error derives from :class:`ZactorError`, and where an error means the same thing
as a builtin exception it subclasses that builtin too, so that existing ``except``
clauses keep working::

    ZactorError
    ├── ActorDeadError              the actor stopped before handling the message
    │   └── ActorInitError          the actor failed to start; ``__cause__`` is why
    ├── AskTimeout (TimeoutError)   no answer within the ask's timeout
    ├── AskCycleError               an ask that could never be answered (asks itself)
    ├── MailboxFull                 a bounded mailbox refused a message
    ├── StashOverflowError          more messages stashed than the stash holds
    ├── InvalidStateError           a reply completed twice, or awaited on its own loop
    ├── InvalidNameError (ValueError)
    ├── NameTakenError (ValueError)
    ├── NoRouteesError              a router had no routee for the message
    ├── NotAnActorError (TypeError)
    ├── SystemShutDownError         the actor system is not running
    └── UnhandledMessageError (TypeError)  no handler accepts an asked message
"""

from __future__ import annotations


class ZactorError(Exception):
    """Base class of every error raised by zactor."""


class ActorDeadError(ZactorError):
    """The target actor has stopped, so the message can never be handled."""


class ActorInitError(ActorDeadError):
    """The actor failed in its constructor or start hook; ``__cause__`` holds why."""


class AskTimeout(ZactorError, TimeoutError):
    """An ask was not answered within its timeout."""


class AskCycleError(ZactorError):
    """An ask that can never be answered, such as an actor asking itself."""


class InvalidStateError(ZactorError):
    """A reply was completed twice, or waited on in a way that would deadlock."""


class InvalidNameError(ZactorError, ValueError):
    """An actor name is empty, too long or contains a character paths reserve."""


class NameTakenError(ZactorError, ValueError):
    """A parent already has a live child with the requested name."""


class NotAnActorError(ZactorError, TypeError):
    """Something that is not an :class:`~zactor.Actor` subclass was given to spawn."""


class SystemShutDownError(ZactorError):
    """The actor system has not started or has already shut down."""


class UnhandledMessageError(ZactorError, TypeError):
    """An ask carried a message that no handler of the actor accepts."""


class MailboxFull(ZactorError):
    """A bounded mailbox was full and its overflow policy refused the message."""


class StashOverflowError(ZactorError):
    """An actor stashed more messages than its stash capacity allows."""


class NoRouteesError(ZactorError):
    """An ask reached a router that has no routee left to pass it to."""
