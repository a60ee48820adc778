"""The public API: what ``zactor`` exports, and how its errors relate."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import pytest

import zactor

EXPORTED = [
    "AuthenticationError",
    "CodecError",
    "MessageTooLarge",
    "RemoteError",
    "WorkerCrashed",
    "WorkerStartupError",
    "Codec",
    "JsonCodec",
    "MsgpackCodec",
    "PickleCodec",
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
    "Backoff",
    "Balancing",
    "Bounded",
    "Broadcast",
    "ConsistentHashing",
    "Context",
    "DeadLetter",
    "Directive",
    "Event",
    "EventStream",
    "GetRoutees",
    "handler",
    "InvalidNameError",
    "InvalidStateError",
    "MailboxFull",
    "MailboxSpec",
    "NameTakenError",
    "NoRouteesError",
    "NotAnActorError",
    "OneForAll",
    "OneForOne",
    "PipeFailure",
    "Pool",
    "Priority",
    "Random",
    "ReceiveTimeout",
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
    "ZactorError",
    "__version__",
]


def test_all_pins_the_exported_names() -> None:
    """zactor.__all__ is exactly the documented public API."""
    assert sorted(zactor.__all__) == sorted(EXPORTED)
    assert len(zactor.__all__) == len(set(zactor.__all__))


def test_every_exported_name_exists() -> None:
    """Each name in __all__ can be taken from the package."""
    missing = [name for name in zactor.__all__ if not hasattr(zactor, name)]

    assert missing == []


def test_version_matches_the_installed_distribution() -> None:
    """zactor.__version__ is the version the package was installed as."""
    assert zactor.__version__ == version("zactor")


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (zactor.ActorDeadError, (zactor.ZactorError,)),
        (zactor.ActorInitError, (zactor.ActorDeadError,)),
        (zactor.AskTimeout, (zactor.ZactorError, TimeoutError)),
        (zactor.AskCycleError, (zactor.ZactorError,)),
        (zactor.InvalidStateError, (zactor.ZactorError,)),
        (zactor.InvalidNameError, (zactor.ZactorError, ValueError)),
        (zactor.NameTakenError, (zactor.ZactorError, ValueError)),
        (zactor.NotAnActorError, (zactor.ZactorError, TypeError)),
        (zactor.SystemShutDownError, (zactor.ZactorError,)),
        (zactor.UnhandledMessageError, (zactor.ZactorError, TypeError)),
        (zactor.ZactorError, (Exception,)),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_errors_subclass_what_they_mean(
    error: type[Exception], bases: tuple[type[Exception], ...]
) -> None:
    """Each error derives from ZactorError and from the builtin it stands for."""
    assert all(issubclass(error, base) for base in bases)


def test_ask_timeout_is_not_asyncio_cancellation() -> None:
    """AskTimeout is a TimeoutError, never a CancelledError."""
    assert not issubclass(zactor.AskTimeout, asyncio.CancelledError)


def test_events_are_immutable_values() -> None:
    """Events compare by value and cannot be changed."""
    letter = zactor.DeadLetter("m", None, None, "unhandled")

    assert letter == zactor.DeadLetter("m", None, None, "unhandled")
    assert zactor.DeadLetter("m", None, None).reason == "actor stopped"
    with pytest.raises(AttributeError):
        letter.reason = "other"  # type: ignore[misc]
