"""The reply to an ask: awaitable from asyncio, and blocking from any other thread.

A :class:`Reply` is completed once, by the dispatcher that ran the handler, and may be
waited on by any number of coroutines and threads at the same time: completion wakes
every one of them with the same outcome. Completing it a second time raises
:class:`~zactor.InvalidStateError` and never changes the outcome.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

from ._errors import AskTimeout, InvalidStateError
from ._loops import running_loop, runs_here

T = TypeVar("T")

_PENDING = 0
_DONE = 1
_FAILED = 2
_CANCELLED = 3

# One lock for every reply: it guards only waiter registration and completion, which
# are short, and it keeps each reply free of a lock object of its own.
_guard = threading.Lock()

_LockType = type(threading.Lock())
_get_ident = threading.get_ident


class Reply(Generic[T]):
    """The eventual answer of an actor to one message.

    Await it from a coroutine (``await ref.ask(msg)``) or block on it from a thread
    (``ref.ask(msg).result(timeout=1)``). The timeout given to the ask applies to both;
    ``result(timeout)`` can shorten or lengthen it for that one wait.

    Replies are created by :meth:`ActorRef.ask` and :meth:`ActorRef.stop`, or handed
    to a handler by :meth:`Context.defer_reply` so that it can answer later.
    """

    # True for the replies of timer ticks, which no caller waits on.
    is_tick = False

    __slots__ = (
        "_about",
        "_listeners",
        "_loop_thread",
        "_state",
        "_timeout",
        "_value",
    )

    def __init__(
        self,
        timeout: float | None = None,
        about: object = "reply",
        loop_thread: int = 0,
    ) -> None:
        self._state = _PENDING
        self._value: object = None
        # Threads blocked in result() (as locks they wait on) and done callbacks.
        self._listeners: list[Any] | None = None
        self._timeout = timeout
        # The thread that will complete the reply; blocking on it there deadlocks.
        self._loop_thread = loop_thread
        self._about = about

    @property
    def description(self) -> str:
        """What this reply answers, for error messages: the ask and its target."""
        about = self._about
        if isinstance(about, tuple):
            target, message = about
            return f"ask of {type(message).__name__} to {target}"
        return str(about)

    def __repr__(self) -> str:
        state = ("pending", "done", "failed", "cancelled")[self._state]
        return f"<Reply {self.description} {state}>"

    # -- inspecting -------------------------------------------------------------

    def __reduce__(self) -> Any:
        from ._errors import CodecError

        raise CodecError(
            f"{self.description} cannot be sent to another process: a reply is "
            "answered where it was made; send the value, or a ref to answer to"
        )

    def done(self) -> bool:
        """Return True once the reply has a value, an error, or was cancelled."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """Return True if the reply was cancelled before it completed."""
        return self._state == _CANCELLED

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait like :meth:`result` and return the error instead of raising it."""
        try:
            self.result(timeout)
        except BaseException as exc:
            return exc
        return None

    # -- waiting ----------------------------------------------------------------

    def result(self, timeout: float | None = None) -> T:
        """Block the calling thread until the reply completes and return its value.

        Args:
            timeout: seconds to wait; ``None`` uses the ask's own timeout (or waits
                without bound if the ask had none); ``0`` only polls.

        Raises:
            AskTimeout: nothing arrived in time. When the ask's own timeout ran
                out the reply is failed for every waiter, and an answer that comes
                later is a dead letter; a ``timeout`` given here ends only this
                wait, and the reply stays pending.
            InvalidStateError: called on the event loop that must produce the
                answer while it is still pending, which could only deadlock.
            Exception: whatever the handler raised, re-raised here.
        """
        if self._state == _PENDING:
            own = timeout is None
            if own:
                timeout = self._timeout
            elif (
                not isinstance(timeout, int | float)
                or isinstance(timeout, bool)
                or not timeout >= 0  # also refuses nan
            ):
                raise ValueError(
                    f"timeout must be a number of seconds >= 0 or None, got {timeout!r}"
                )
            self._block(timeout, own)
        return self._outcome()

    def _block(self, timeout: float | None, own: bool) -> None:
        if self._loop_thread == _get_ident():
            raise InvalidStateError(
                f"{self.description} is still pending and would be answered on this "
                "same thread; blocking here would deadlock. Use 'await' instead of "
                ".result() inside the event loop or an actor."
            )

        lock = threading.Lock()
        lock.acquire()
        with _guard:
            if self._state != _PENDING:
                return
            if self._listeners is None:
                self._listeners = []
            self._listeners.append(lock)

        try:
            if timeout is None or timeout > threading.TIMEOUT_MAX:
                woken = lock.acquire()
            else:
                woken = lock.acquire(timeout=timeout)
        except BaseException:
            self._forget(lock)
            self.cancel()
            raise
        if not woken:
            self._forget(lock)
            if own:
                self._expire(timeout)  # the ask's own timeout: the reply fails
            elif self._state == _PENDING:
                # A shorter wait of this caller only: the reply stays pending.
                raise AskTimeout(f"{self.description} got no answer within {timeout} s")

    def _forget(self, lock: threading.Lock) -> None:
        with _guard:
            if self._listeners is not None and lock in self._listeners:
                self._listeners.remove(lock)

    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _PENDING:
            loop = running_loop()
            future = loop.create_future()
            self.add_done_callback(_wake_future(loop, future))
            handle = None
            if self._timeout is not None:
                handle = loop.call_later(self._timeout, self._expire)
            try:
                yield from future
            except asyncio.CancelledError:
                self.cancel()
                raise
            finally:
                if handle is not None:
                    handle.cancel()
        return self._outcome()

    def _outcome(self) -> T:
        state = self._state
        if state == _DONE:
            return self._value  # type: ignore[return-value]
        if state in (_FAILED, _CANCELLED):
            raise self._value  # type: ignore[misc]
        raise InvalidStateError(f"{self.description} is not complete yet")

    def add_done_callback(self, callback: Callable[[Reply[T]], None]) -> None:
        """Call ``callback(reply)`` once the reply completes (at once if it has).

        The callback runs on the thread that completes the reply, usually the
        dispatcher's; it must be quick and must not block.
        """
        with _guard:
            if self._state == _PENDING:
                if self._listeners is None:
                    self._listeners = []
                self._listeners.append(callback)
                return
        callback(self)

    # -- completing -------------------------------------------------------------

    def set_result(self, value: T) -> None:
        """Complete the reply with ``value``; raises InvalidStateError if done."""
        if not self._complete(_DONE, value):
            raise InvalidStateError(f"{self.description} was already completed")

    def set_exception(self, error: BaseException) -> None:
        """Complete the reply with ``error``; raises InvalidStateError if done."""
        if not self._complete(_FAILED, error):
            raise InvalidStateError(f"{self.description} was already completed")

    def cancel(self) -> bool:
        """Give up on the answer; a late answer becomes a dead letter.

        Returns True if the reply was still pending.
        """
        return self._complete(_CANCELLED, asyncio.CancelledError(self.description))

    def _expire(self, timeout: float | None = None) -> None:
        bound = self._timeout if timeout is None else timeout
        self._complete(
            _FAILED,
            AskTimeout(f"{self.description} got no answer within {bound} s"),
        )

    def _answer(self, value: object) -> None:
        """Complete from the dispatcher; an answer after a timeout is late."""
        if not self._complete(_DONE, value):
            self._late(value)

    def _fail(self, error: BaseException) -> None:
        """Fail from the dispatcher; an error after a timeout is late."""
        if not self._complete(_FAILED, error):
            self._late(error)

    def _late(self, value: object) -> None:
        """An outcome arrived after the reply was given up on; subclasses count it."""

    def _complete(self, state: int, value: object) -> bool:
        with _guard:
            if self._state != _PENDING:
                return False
            self._state = state
            self._value = value
            listeners = self._listeners
            self._listeners = None

        if listeners is not None:
            for listener in listeners:
                if type(listener) is _LockType:
                    listener.release()
                else:
                    listener(self)
        return True


def _wake_future(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]
) -> Callable[[Reply[Any]], None]:
    def wake(_: Reply[Any]) -> None:
        if runs_here(loop):
            if not future.done():
                future.set_result(None)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_settle, future)

    return wake


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def completed(value: T, about: object = "reply") -> Reply[T]:
    """Return a reply that already holds ``value``."""
    reply: Reply[T] = Reply(None, about)
    reply._state = _DONE
    reply._value = value
    return reply


def failed(error: BaseException, about: object = "reply") -> Reply[Any]:
    """Return a reply that already holds ``error``."""
    reply: Reply[Any] = Reply(None, about)
    reply._state = _FAILED
    reply._value = error
    return reply
