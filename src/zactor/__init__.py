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
from ._codecs import Codec, JsonCodec, MsgpackCodec, PickleCodec
from ._errors import (
    ActorDeadError,
    ActorInitError,
    AskCycleError,
    AskTimeout,
    AuthenticationError,
    CodecError,
    InvalidNameError,
    InvalidStateError,
    MailboxFull,
    MessageTooLarge,
    NameTakenError,
    NotAnActorError,
    RemoteError,
    StashOverflowError,
    SystemShutDownError,
    UnhandledMessageError,
    WorkerCrashed,
    WorkerStartupError,
    ZactorError,
)
from ._events import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    DeadLetter,
    Event,
    EventStream,
    Subscription,
)
from ._mailbox import Bounded, MailboxSpec, Priority
from ._messages import PipeFailure, ReceiveTimeout, Terminated
from ._ref import ActorRef
from ._reply import Reply
from ._routing import (
    AddRoutee,
    Balancing,
    Broadcast,
    ConsistentHashing,
    GetRoutees,
    NoRouteesError,
    Pool,
    Random,
    RemoveRoutee,
    Resize,
    RoundRobin,
    Router,
    RoutingLogic,
    ScatterGatherFirstCompleted,
    SmallestMailbox,
    ToAllRoutees,
)
from ._supervision import (
    DEFAULT_MAX_RESTARTS,
    DEFAULT_WITHIN,
    ESCALATE,
    RESTART,
    RESUME,
    STOP,
    Backoff,
    Directive,
    OneForAll,
    OneForOne,
    RestForOne,
    SupervisorStrategy,
)
from ._system import ActorSystem, SystemStatistics
from ._timers import Timers

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_RESTARTS",
    "DEFAULT_WITHIN",
    "ESCALATE",
    "RESTART",
    "RESUME",
    "STOP",
    "Actor",
    "ActorDeadError",
    "ActorFailed",
    "ActorInitError",
    "ActorRef",
    "ActorRestarted",
    "ActorStarted",
    "ActorStopped",
    "ActorSystem",
    "AddRoutee",
    "AskCycleError",
    "AskTimeout",
    "AuthenticationError",
    "Backoff",
    "Balancing",
    "Bounded",
    "Broadcast",
    "Codec",
    "CodecError",
    "ConsistentHashing",
    "Context",
    "DeadLetter",
    "Directive",
    "Event",
    "EventStream",
    "GetRoutees",
    "InvalidNameError",
    "InvalidStateError",
    "JsonCodec",
    "MailboxFull",
    "MailboxSpec",
    "MessageTooLarge",
    "MsgpackCodec",
    "NameTakenError",
    "NoRouteesError",
    "NotAnActorError",
    "OneForAll",
    "OneForOne",
    "PickleCodec",
    "PipeFailure",
    "Pool",
    "Priority",
    "Random",
    "ReceiveTimeout",
    "RemoteError",
    "RemoveRoutee",
    "Reply",
    "Resize",
    "RestForOne",
    "RoundRobin",
    "Router",
    "RoutingLogic",
    "ScatterGatherFirstCompleted",
    "SmallestMailbox",
    "StashOverflowError",
    "Subscription",
    "SupervisorStrategy",
    "SystemShutDownError",
    "SystemStatistics",
    "Terminated",
    "Timers",
    "ToAllRoutees",
    "UnhandledMessageError",
    "WorkerCrashed",
    "WorkerStartupError",
    "ZactorError",
    "__version__",
    "handler",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
