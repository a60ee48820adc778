"""zactor: a fast actor framework for Python.

Actors own their state and talk by messages; the runtime runs each actor on at most
one thread at a time, on an asyncio event loop or a thread pool. Start with
:class:`ActorSystem`, subclass :class:`Actor`, and talk to actors through the
:class:`ActorRef` that ``spawn`` returns.
"""

from __future__ import annotations

import logging

from ._actor import Actor, handler
from ._cell import Cell as Context
from ._errors import (
    ActorDeadError,
    ActorInitError,
    AskCycleError,
    AskTimeout,
    InvalidNameError,
    InvalidStateError,
    NameTakenError,
    NotAnActorError,
    SystemShutDownError,
    UnhandledMessageError,
    ZactorError,
)
from ._events import (
    ActorFailed,
    ActorStarted,
    ActorStopped,
    DeadLetter,
    Event,
    EventStream,
    Subscription,
)
from ._ref import ActorRef
from ._reply import Reply
from ._system import ActorSystem, SystemStatistics

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ActorDeadError",
    "ActorFailed",
    "ActorInitError",
    "ActorRef",
    "ActorStarted",
    "ActorStopped",
    "ActorSystem",
    "AskCycleError",
    "AskTimeout",
    "Context",
    "DeadLetter",
    "Event",
    "EventStream",
    "InvalidNameError",
    "InvalidStateError",
    "NameTakenError",
    "NotAnActorError",
    "Reply",
    "Subscription",
    "SystemShutDownError",
    "SystemStatistics",
    "UnhandledMessageError",
    "ZactorError",
    "__version__",
    "handler",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
