"""The :class:`Actor` base class and the :func:`handler` decorator."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._cell import Cell
    from ._supervision import SupervisorStrategy

F = TypeVar("F", bound=Callable[..., Any])

_HANDLES = "__zactor_handles__"


@typing.overload
def handler(arg: type | tuple[type, ...]) -> Callable[[F], F]: ...


@typing.overload
def handler(arg: F) -> F: ...


def handler(arg: Any) -> Any:
    """Mark a method as the handler of one message type.

    Use it bare, and the type comes from the annotation of the method's message
    parameter, or give the type (or a tuple of types) explicitly::

        class Account(Actor):
            @handler
            def deposit(self, message: Deposit) -> int: ...

            @handler((Withdraw, Refund))
            async def change(self, message: Withdraw | Refund) -> int: ...

    A message is routed to the handler of its class, or of the nearest base class
    that has one. An actor that also defines ``receive`` ignores its handlers.

    Raises:
        TypeError: the type can be found neither in the call nor the annotation.
    """
    if isinstance(arg, type | tuple):
        types = arg if isinstance(arg, tuple) else (arg,)

        def mark(function: F) -> F:
            setattr(function, _HANDLES, types)
            return function

        return mark

    if callable(arg):
        setattr(arg, _HANDLES, _annotated_types(arg))
        return arg

    raise TypeError(
        f"@handler takes a message type or a tuple of types, got {arg!r}; "
        "or use it bare on a method whose message parameter is annotated"
    )


def _annotated_types(function: Callable[..., Any]) -> tuple[type, ...]:
    parameters = list(inspect.signature(function).parameters.values())
    if len(parameters) < 2:
        raise TypeError(
            f"handler {function.__qualname__} must take (self, message), "
            f"but takes {len(parameters)} parameter(s)"
        )

    try:
        hints = typing.get_type_hints(function)
    except NameError as error:
        raise TypeError(
            f"handler {function.__qualname__}: its annotation names a class that is "
            f"not defined yet ({error}); define the message class before the actor, "
            "or write @handler(MessageType)"
        ) from error
    annotation = hints.get(parameters[1].name)
    if annotation is None:
        raise TypeError(
            f"handler {function.__qualname__} has no type annotation on its message "
            "parameter; annotate it or write @handler(MessageType)"
        )

    args = typing.get_args(annotation)
    types = args if args and typing.get_origin(annotation) in _UNIONS else (annotation,)
    for t in types:
        if not isinstance(t, type):
            raise TypeError(
                f"handler {function.__qualname__}: {t!r} in its annotation is not a "
                "class; write @handler(MessageType) with the class instead"
            )
    return tuple(types)


_UNIONS = (typing.Union, __import__("types").UnionType)


class Actor:
    """Base class of every actor.

    An actor owns its state and handles one message at a time. Subclass it and
    define ``receive`` (sync or ``async``) or methods marked with :func:`handler`;
    the value a handler returns answers an ask. Constructor arguments are those
    given to ``spawn``. ``self.context`` is available from the constructor on.

    Hooks, each sync or async, run on the actor's own dispatcher:

    * ``on_start()``: after the constructor, before the first message.
    * ``on_stop()``: once per instance that started, after the children have
      stopped. An exception here is logged; the actor still stops.
    * ``pre_restart(error, message)`` and ``post_restart(error)``: around a
      restart chosen by the supervisor; see :meth:`pre_restart`.

    ``supervisor_strategy`` (a class attribute) says how the actor handles the
    failures of its children.
    """

    # A slot rather than a property: handlers read it all the time.
    __slots__ = ("context",)

    context: Cell
    """The actor's view of the runtime: its ref, parent, children, sender..."""

    supervisor_strategy: typing.ClassVar[SupervisorStrategy | None] = None
    """How this actor supervises its children; None uses the system's default."""

    stash_capacity: typing.ClassVar[int | None] = 10_000
    """The most messages ``context.stash()`` keeps; None for no limit."""

    _zactor_handlers: typing.ClassVar[dict[type, Callable[..., Any]]] = {}
    _zactor_async: typing.ClassVar[bool] = False
    # Which hooks the class defines, computed once so that spawn and stop do
    # not look them up per actor.
    _zactor_on_start: typing.ClassVar[bool] = False
    _zactor_on_start_async: typing.ClassVar[bool] = False
    _zactor_on_stop: typing.ClassVar[bool] = False
    _zactor_has_init: typing.ClassVar[bool] = False
    # Runtime roles: the proxy of an actor in another process, and the guardian
    # under which a process hosts actors that parents elsewhere supervise.
    _zactor_proxy: typing.ClassVar[bool] = False
    _zactor_host: typing.ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

        # Types map to method names, and names to what the class finally defines
        # under them, so that overriding a handler needs no second decorator.
        names: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            own: dict[type, str] = {}
            for name, attribute in vars(klass).items():
                for message_type in getattr(attribute, _HANDLES, ()):
                    if message_type in own:
                        raise TypeError(
                            f"{klass.__qualname__} has two handlers for "
                            f"{message_type.__name__}: {own[message_type]} and {name}"
                        )
                    own[message_type] = name
            names.update(own)
        table = {t: getattr(cls, name) for t, name in names.items()}
        cls._zactor_handlers = table

        receive_is_own = cls.receive is not Actor.receive
        functions = [cls.receive] if receive_is_own else list(table.values())
        cls._zactor_async = any(inspect.iscoroutinefunction(f) for f in functions)
        cls._zactor_on_start = overrides(cls, "on_start")
        cls._zactor_on_start_async = inspect.iscoroutinefunction(cls.on_start)
        cls._zactor_on_stop = overrides(cls, "on_stop")
        cls._zactor_has_init = cls.__init__ is not object.__init__

    def __new__(cls, *args: Any, **kwargs: Any) -> Actor:
        actor = super().__new__(cls)
        actor.context = _NOT_SPAWNED  # type: ignore[assignment]
        return actor

    def receive(self, message: Any) -> Any:
        """Handle one message; the return value answers an ask.

        The default routes the message to the :func:`handler` for its type. A
        message with no handler is a dead letter (reason ``"unhandled"``), and an
        ask of it fails with :class:`~zactor.UnhandledMessageError`.
        """
        handlers = self._zactor_handlers
        message_type = type(message)
        function = handlers.get(message_type)
        if function is None:
            function = _resolve(type(self), message_type)
            if function is None:
                return self.context._unhandled(message)
        return function(self, message)

    def on_start(self) -> Any:
        """Run after the constructor, before the first message. Sync or async."""

    def on_stop(self) -> Any:
        """Run once when the actor stops, after its children. Sync or async."""

    def pre_restart(self, error: BaseException, message: Any) -> Any:
        """Run on the failed instance before a restart. Sync or async.

        ``message`` is the message whose handler failed, or None for a failure
        outside a handler. Then the children stop, ``on_stop`` runs, and a new
        instance is made from the same constructor arguments.
        """

    def post_restart(self, error: BaseException) -> Any:
        """Run on the new instance after a restart; by default calls ``on_start``."""
        return self.on_start()


class _NotSpawned:
    """The context of an actor made by calling its class instead of spawn."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "this actor was created directly; actors are created with "
            "system.spawn(...) or context.spawn(...), which give it a context"
        )


_NOT_SPAWNED = _NotSpawned()


def _resolve(cls: type[Actor], message_type: type) -> Callable[..., Any] | None:
    handlers = cls._zactor_handlers
    for base in message_type.__mro__[1:]:
        function = handlers.get(base)
        if function is not None:
            handlers[message_type] = function
            return function
    return None


def overrides(cls: type, name: str) -> bool:
    """Tell whether ``cls`` replaces the base :class:`Actor` implementation."""
    return getattr(cls, name) is not getattr(Actor, name)
