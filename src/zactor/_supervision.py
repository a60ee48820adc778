"""Supervision: how a parent answers the failure of a child.

A :class:`SupervisorStrategy` belongs to the parent (the ``supervisor_strategy``
class attribute of its actor class, or the system default for top-level actors).
When a child fails, the strategy's decider maps the exception to a
:class:`Directive`, and the strategy's scope says which children it applies to:
only the failed one (:class:`OneForOne`), all of them (:class:`OneForAll`), or the
failed one and those spawned after it (:class:`RestForOne`).

Restarts are limited: at most ``max_restarts`` within ``within`` seconds, after
which the child is stopped and the failure escalates to the parent. An optional
:class:`Backoff` spaces restarts out exponentially.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_MAX_RESTARTS = 10
DEFAULT_WITHIN = 60.0


class Directive(enum.Enum):
    """What to do with a failed actor."""

    RESUME = "resume"
    """Keep the instance and its state; go on with the next message."""

    RESTART = "restart"
    """Replace the instance with a fresh one from the same constructor arguments."""

    STOP = "stop"
    """Stop the actor for good."""

    ESCALATE = "escalate"
    """Fail the parent with the child's exception; the grandparent decides."""


RESUME = Directive.RESUME
RESTART = Directive.RESTART
STOP = Directive.STOP
ESCALATE = Directive.ESCALATE

Decider = Callable[[BaseException], Directive] | Mapping[type[BaseException], Directive]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays between restarts of one actor.

    The n-th consecutive restart waits ``min(maximum, minimum * 2**n)`` seconds,
    stretched by a random factor up to ``random_factor`` so that many actors that
    fail together do not restart together. After ``reset_after`` seconds without
    a failure (default: ``maximum``) the count starts again from zero.
    """

    minimum: float = 0.1
    maximum: float = 10.0
    random_factor: float = 0.2
    reset_after: float | None = None

    def __post_init__(self) -> None:
        for name in ("minimum", "maximum", "random_factor"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"Backoff {name} must be a number, got {value!r}")
        reset = self.reset_after
        if reset is not None and (
            not isinstance(reset, int | float) or isinstance(reset, bool) or reset < 0
        ):
            raise ValueError(
                f"Backoff reset_after must be a number of seconds >= 0 or None, "
                f"got {reset!r}"
            )
        if not self.minimum > 0:
            raise ValueError(f"Backoff minimum must be > 0 s, got {self.minimum!r}")
        if not self.maximum >= self.minimum:
            raise ValueError(
                f"Backoff maximum ({self.maximum!r}) must be >= minimum "
                f"({self.minimum!r})"
            )
        if not 0 <= self.random_factor <= 1:
            raise ValueError(
                f"Backoff random_factor must be in [0, 1], got {self.random_factor!r}"
            )

    def delay(self, consecutive: int) -> float:
        """The wait before restart number ``consecutive`` (counted from 0)."""
        base: float = min(self.maximum, self.minimum * 2.0 ** min(consecutive, 64))
        return base * (1.0 + random.random() * self.random_factor)

    @property
    def quiet_period(self) -> float:
        """Seconds without failure after which the delays start small again."""
        return self.maximum if self.reset_after is None else self.reset_after


class SupervisorStrategy:
    """The policy of a parent for the failures of its children.

    Args:
        decider: maps an exception to a directive: a callable, or a mapping from
            exception classes to directives where the most specific class wins.
            Exceptions it does not cover get ``default``.
        default: the directive for exceptions the decider does not cover.
        max_restarts: restarts allowed per child within ``within`` seconds; more
            stop the child and escalate. None allows any number.
        within: the window of ``max_restarts``, in seconds.
        backoff: space restarts out; None restarts at once.
    """

    scope = "one"

    def __init__(
        self,
        decider: Decider | None = None,
        *,
        default: Directive = Directive.RESTART,
        max_restarts: int | None = DEFAULT_MAX_RESTARTS,
        within: float = DEFAULT_WITHIN,
        backoff: Backoff | None = None,
    ) -> None:
        if decider is not None and not (
            callable(decider) or isinstance(decider, Mapping)
        ):
            raise TypeError(
                f"decider must be a callable or a mapping of exception types to "
                f"directives, got {decider!r}"
            )
        if not isinstance(default, Directive):
            raise TypeError(f"default must be a Directive, got {default!r}")
        if max_restarts is not None and (
            not isinstance(max_restarts, int) or max_restarts < 0
        ):
            raise ValueError(
                f"max_restarts must be an int >= 0 or None, got {max_restarts!r}"
            )
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(
                f"backoff must be a Backoff(minimum, maximum, ...) or None, "
                f"got {backoff!r}"
            )
        if not within > 0:
            raise ValueError(
                f"within must be a positive number of seconds, got {within!r}"
            )
        if isinstance(decider, Mapping):
            for key, value in decider.items():
                if not (isinstance(key, type) and issubclass(key, BaseException)):
                    raise TypeError(f"decider key {key!r} is not an exception class")
                if not isinstance(value, Directive):
                    raise TypeError(f"decider value {value!r} is not a Directive")

        self.decider = decider
        self.default = default
        self.max_restarts = max_restarts
        self.within = within
        self.backoff = backoff

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(default={self.default.value}, "
            f"max_restarts={self.max_restarts}, within={self.within})"
        )

    def decide(self, error: BaseException) -> Directive:
        """The directive for ``error``."""
        decider = self.decider
        if decider is None:
            return self.default
        if isinstance(decider, Mapping):
            for klass in type(error).__mro__:
                directive = decider.get(klass)
                if directive is not None:
                    return directive
            return self.default
        directive = decider(error)
        if not isinstance(directive, Directive):
            raise TypeError(
                f"decider {decider!r} returned {directive!r} for "
                f"{type(error).__name__}; it must return a Directive"
            )
        return directive


class OneForOne(SupervisorStrategy):
    """The directive applies to the failed child only."""

    scope = "one"


class OneForAll(SupervisorStrategy):
    """A restart or stop applies to every child of the parent."""

    scope = "all"


class RestForOne(SupervisorStrategy):
    """A restart or stop applies to the failed child and those spawned after it."""

    scope = "rest"


DEFAULT_STRATEGY = OneForOne()


EscalationPolicy = str
ESCALATION_POLICIES = ("stop-subtree", "shutdown")
