"""The exceptions zactor raises.

Every error derives from :class:`ZactorError`, and where an error means the same thing
as a builtin exception it subclasses that builtin too, so that existing ``except``
clauses keep working::

    ZactorError
    ├── ActorDeadError              the actor stopped before handling the message
    │   ├── ActorInitError          the actor failed to start; ``__cause__`` is why
    │   └── WorkerCrashed           the worker process hosting the actor died
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
    ├── UnhandledMessageError (TypeError)  no handler accepts an asked message
    ├── CodecError (TypeError)      a message cannot be encoded or decoded
    ├── MessageTooLarge (ValueError)  an encoded message exceeds the frame limit
    ├── RemoteError                 an exception from another process that could not
    │                               cross as itself; carries its type name and text
    ├── WorkerStartupError          a worker process failed before it was ready
    └── AuthenticationError         a peer did not prove it holds the cookie
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


class WorkerCrashed(ActorDeadError):
    """The worker process hosting the actor died; ``exitcode`` tells how.

    ``exitcode`` is the process's exit status, negative for the signal that ended
    it (``-9`` for SIGKILL), or None when it is not known yet.
    """

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.exitcode))


class CodecError(ZactorError, TypeError):
    """A message, reply or error could not be encoded (or decoded) by a codec.

    The text names the type of the object and the reason the codec gave.
    """


class MessageTooLarge(ZactorError, ValueError):
    """An encoded message is larger than the transport's maximum message size."""


class RemoteError(ZactorError):
    """An exception raised in another process that could not cross as itself.

    ``type_name`` is the qualified name of the original exception's class and
    ``text`` its ``str()``; ``remote_traceback`` is its formatted traceback, if any.
    """

    def __init__(self, type_name: str, text: str, remote_traceback: str = "") -> None:
        super().__init__(f"{type_name}: {text}")
        self.type_name = type_name
        self.text = text
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.type_name, self.text, self.remote_traceback))


class WorkerStartupError(ZactorError):
    """A worker process failed, or exited, before it reported that it was ready."""


class AuthenticationError(ZactorError):
    """A peer failed the cookie challenge; nothing it sent was decoded."""
