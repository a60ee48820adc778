"""Dispatchers: what runs cells.

:class:`LoopDispatcher` runs cells on an asyncio event loop. Cells that have work
wait in its ready queue; one loop callback takes them in turn and handles up to
``throughput`` messages of each, sync handlers inline, then yields to the loop
after a bounded slice so that I/O and timers keep their turn. There is no asyncio
call per message: one ``call_soon`` arms a whole batch, and sends from other
threads are collected in an inbox and handed over with one wake-up per batch.

:class:`ThreadDispatcher` runs each turn of its cells on a thread pool, for actors
whose handlers block.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from . import _loops as loops
from ._current import current_ref
from ._errors import MailboxFull, SystemShutDownError
from ._loops import interrupts as _interrupts
from ._mailbox import Mailbox
from ._messages import Envelope, SystemMessage
from ._states import RUNNING, TERMINATED
from ._threads import DaemonPool

if TYPE_CHECKING:
    from ._cell import Cell

log = logging.getLogger(__name__)

_get_ident = threading.get_ident
_clock = time.perf_counter

Then = Callable[[BaseException | None], None]


class Dispatcher(Protocol):
    """What cells need of the thing that runs them."""

    loop: asyncio.AbstractEventLoop
    # The thread that runs the cells, or a value no thread has (-1) when several
    # do; a send from that very thread may touch the cell directly.
    thread_id: int
    throughput: int
    inline_budget: int
    handled: int

    def schedule(self, cell: Cell) -> None:
        """Queue a cell whose ``scheduled`` flag was just set."""
        ...

    def turn_done(self, cell: Cell) -> None:
        """Reschedule a cell after work outside a turn finished, or idle it."""
        ...

    def post(self, cell: Cell, envelope: Envelope) -> None:
        """Deliver a user message from any thread."""
        ...

    def post_system(self, cell: Cell, message: SystemMessage) -> None:
        """Deliver a system message from any thread."""
        ...

    def take_system(self, cell: Cell) -> list[SystemMessage]:
        """Detach and return the cell's queued system messages."""
        ...

    def notify(self, cell: Cell) -> None:
        """A message was put straight into the cell's Mailbox: make sure it runs."""
        ...

    def run_coroutine(
        self, cell: Cell, coroutine: Coroutine[Any, Any, Any], then: Then
    ) -> None:
        """Run a hook's coroutine for the cell, then ``then(error)``."""
        ...


class LoopDispatcher:
    """Runs cells on one asyncio event loop; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, throughput: int) -> None:
        self.loop = loop
        self.thread_id = 0
        self.throughput = throughput
        # Cells with work, in the order they became ready.
        self.ready: deque[Cell] = deque()
        # Sends from other threads: (cell, envelope, None), or (cell, None, None) to
        # wake a cell whose Mailbox took the message itself. System messages have
        # an inbox of their own, drained first, so that a flood of tells from
        # another thread never holds back a stop.
        self.inbox: deque[tuple[Cell, Envelope | None, SystemMessage | None]] = deque()
        self.sys_inbox: deque[tuple[Cell, SystemMessage]] = deque()
        # Invariant: True from the call_soon that queues run() until run() ends
        # with an empty ready queue.
        self.armed = False
        self.wakeup_pending = False
        # How many more asks may run their handler inline before one goes through
        # the ready queue and lets the loop run (reset by every run()). Large
        # enough that the detour is rare, small enough to yield every ~ms.
        self.inline_budget = 0
        self.inline_asks = 512
        # How long one slice may run before the event loop gets its turn.
        self.slice_seconds = 0.002
        self.handled = 0
        # True while a link to another process is congested: the next slice
        # waits until it drains, so that senders cannot outrun the network.
        self.held = False
        self.parked = False

    def bind_thread(self) -> None:
        """Record the loop's thread; called on that thread once the loop runs."""
        self.thread_id = _get_ident()
        loops.register(self.loop)

    # -- scheduling -------------------------------------------------------------

    def schedule(self, cell: Cell) -> None:
        """Put a cell whose ``scheduled`` flag was just set into the ready queue."""
        self.ready.append(cell)
        if not self.armed:
            self.armed = True
            self.loop.call_soon(self.run)

    def turn_done(self, cell: Cell) -> None:
        """Reschedule a cell after work that ran outside :meth:`run` finished."""
        if cell.state == TERMINATED or cell.task is not None:
            return
        if cell.sysq is not None or (cell.state == RUNNING and cell.mailbox):
            self.schedule(cell)
        else:
            cell.scheduled = False

    def post(self, cell: Cell, envelope: Envelope) -> None:
        """Deliver a user message from any thread."""
        if self.thread_id == _get_ident():
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            mailbox.append(envelope)
            if not cell.scheduled:
                cell.scheduled = True
                self.schedule(cell)
            return
        if cell.system.terminated:
            _refuse(cell, envelope)
            return
        mailbox = cell.mailbox
        if type(mailbox) is Mailbox:
            # The overflow policy applies here, on the sender's thread, so that a
            # full mailbox never makes the inbox grow.
            mailbox.append(envelope)
            self.notify(cell)
            return
        self.inbox.append((cell, envelope, None))
        if _ended(cell):
            self._refuse_inbox()  # the system ended while this was being sent
            return
        self._wake()

    def notify(self, cell: Cell) -> None:
        """A message was put straight into the cell's Mailbox: make sure it runs."""
        if self.thread_id == _get_ident():
            if not cell.scheduled:
                cell.scheduled = True
                self.schedule(cell)
            return
        mailbox = cell.mailbox
        if not mailbox.wake_pending:
            mailbox.wake_pending = True
            self.inbox.append((cell, None, None))
            self._wake()

    def post_system(self, cell: Cell, message: SystemMessage) -> None:
        """Deliver a system message from any thread."""
        if cell.state == TERMINATED:
            cell._after_death(message)  # thread-safe: it only answers or posts
            return
        if self.thread_id == _get_ident():
            cell.enqueue_system(message)
            return
        self.sys_inbox.append((cell, message))
        self._wake()

    def take_system(self, cell: Cell) -> list[SystemMessage]:
        """Detach and return the cell's queued system messages."""
        queue = cell.sysq
        cell.sysq = None
        return queue or []

    def _wake(self) -> None:
        if not self.wakeup_pending:
            self.wakeup_pending = True
            try:
                self.loop.call_soon_threadsafe(self._woken)
            except RuntimeError:
                self.wakeup_pending = False
                self._refuse_inbox()

    def _woken(self) -> None:
        self.wakeup_pending = False
        if not self.armed:
            self.armed = True
            self.run()

    def _drain_inbox(self) -> None:
        sys_inbox = self.sys_inbox
        while sys_inbox:
            cell, message = sys_inbox.popleft()
            cell.enqueue_system(message)

        inbox = self.inbox
        popleft = inbox.popleft
        ready = self.ready
        # At most this many per slice, so that a flood from another thread
        # cannot keep the loop in here.
        for _ in range(min(len(inbox), 16384)):
            cell, envelope, _ = popleft()
            if envelope is None:
                mailbox = cell.mailbox
                if type(mailbox) is Mailbox:
                    mailbox.wake_pending = False
                if mailbox and not cell.scheduled:
                    cell.scheduled = True
                    ready.append(cell)
                continue
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            try:
                mailbox.append(envelope)
            except SystemShutDownError:
                cell.system._dead_letter(
                    envelope[0], envelope[1], cell.ref, "system shut down"
                )
                continue
            except MailboxFull:
                continue  # the Mailbox failed the ask or counted the drop
            if not cell.scheduled:
                cell.scheduled = True
                ready.append(cell)

    def _refuse_inbox(self) -> None:
        """The loop is closed: fail asks and count tells still in the inbox."""
        # Several threads may do this at once: pop until empty, never test first.
        while True:
            try:
                cell, message = self.sys_inbox.popleft()
            except IndexError:
                break
            cell._after_death(message)
        refused: list[tuple[Cell, Envelope]] = []
        while True:
            try:
                cell, envelope, _ = self.inbox.popleft()
            except IndexError:
                break
            if envelope is None:
                continue
            if envelope[2] is not None:
                _refuse(cell, envelope)  # an ask: its sender learns
            else:
                refused.append((cell, envelope))
        if refused:
            refused[0][0].system._dead_letters_at_shutdown(refused)

    # -- running ----------------------------------------------------------------

    def run(self) -> None:
        """Run ready cells for one slice of work, then yield to the event loop.

        This is the hot path of the whole runtime, written out in one function so
        that the per-message work is a pop, a call and a few attribute writes.
        """
        self.inline_budget = self.inline_asks
        if self.inbox or self.sys_inbox:
            self._drain_inbox()

        ready = self.ready
        popleft = ready.popleft
        turn = range(1, self.throughput + 1)
        set_current = current_ref.set
        clock = _clock
        deadline = clock() + self.slice_seconds
        handled = 0
        turns = 0
        out_of_time = False

        try:
            while ready:
                # Step 0: the slice ends after `slice_seconds`, looked at every 16
                # turns (and every 16 messages within a turn), so that I/O, timers
                # and other tasks get the loop at least that often.
                turns += 1
                if not turns & 15 and clock() > deadline:
                    break
                cell = popleft()

                # Step 1: system messages go before any user message.
                if cell.sysq is not None:
                    cell.process_system()
                if cell.task is not None:
                    continue  # a hook or an async turn owns the cell until it ends
                state = cell.state
                if state != RUNNING:
                    if state != TERMINATED:
                        if cell.sysq is not None:
                            ready.append(cell)
                        else:
                            cell.scheduled = False
                    continue

                mailbox = cell.mailbox
                if not mailbox:
                    if cell.sysq is not None:
                        ready.append(cell)  # more system messages came in meanwhile
                    else:
                        cell.scheduled = False
                    continue

                # Step 2: an async actor gets one task for this turn.
                if cell.is_async:
                    self._start_async_turn(cell)
                    continue

                # Step 3: up to `throughput` messages through the sync handler. The
                # loop ends early when the mailbox is empty, a system message came
                # in, a failure took the cell out of RUNNING, or the slice is over.
                receive = cell.actor.receive  # type: ignore[union-attr]
                set_current(cell.ref)
                next_envelope = mailbox.popleft
                count = 0
                for count in turn:
                    envelope = next_envelope()
                    cell.envelope = envelope
                    reply = envelope[2]
                    if reply is None:
                        try:
                            receive(envelope[0])
                        except Exception as error:
                            cell.failed(error, envelope[0], None)
                            if cell.state != RUNNING:
                                break
                        except BaseException as error:
                            _fatal(cell, error, envelope, None, ready)
                            if cell.state != RUNNING:
                                break
                    elif reply._state:
                        self._expired(cell, envelope)
                    else:
                        try:
                            result = receive(envelope[0])
                        except Exception as error:
                            cell.failed(error, envelope[0], _own(cell, envelope))
                            if cell.state != RUNNING:
                                break
                        except BaseException as error:
                            _fatal(cell, error, envelope, _own(cell, envelope), ready)
                            if cell.state != RUNNING:
                                break
                        else:
                            if cell.envelope is envelope:
                                reply._answer(result)
                    if not mailbox or cell.sysq is not None:
                        break
                    if not count & 15 and clock() > deadline:
                        out_of_time = True
                        break
                handled += count

                # Step 4: back to the ready queue if work is left, else idle.
                if cell.sysq is not None or (mailbox and cell.state == RUNNING):
                    ready.append(cell)
                elif cell.state != TERMINATED:
                    cell.scheduled = False
                if out_of_time:
                    break
        finally:
            set_current(None)
            self.handled += handled
            if ready or self.inbox or self.sys_inbox:
                if self.held:
                    self.parked = True  # wake() runs the next slice
                else:
                    self.loop.call_soon(self.run)
            else:
                self.armed = False

    def wake(self) -> None:
        """Run the slice that a congested link held back, if there is one."""
        if self.parked and not self.held:
            self.parked = False
            self.loop.call_soon(self.run)

    def _expired(self, cell: Cell, envelope: Envelope) -> None:
        if not envelope[2].is_tick:  # a cancelled timer's tick is just dropped
            cell.system._dead_letter(envelope[0], envelope[1], cell.ref, "ask expired")

    # -- async work -------------------------------------------------------------

    def _start_async_turn(self, cell: Cell) -> None:
        cell.task = self.loop.create_task(self._async_turn(cell))

    async def _async_turn(self, cell: Cell) -> None:
        current_ref.set(cell.ref)
        mailbox = cell.mailbox
        actor = cell.actor
        assert actor is not None
        receive = actor.receive
        n = self.throughput
        task = asyncio.current_task(self.loop)
        try:
            while n and mailbox and cell.sysq is None and cell.state == RUNNING:
                envelope = mailbox.popleft()
                message, _, reply = envelope
                if reply is not None and reply._state:
                    self._expired(cell, envelope)
                    continue
                cell.envelope = envelope
                try:
                    result = receive(message)
                    if asyncio.iscoroutine(result):
                        result = await result
                except asyncio.CancelledError as error:
                    if task is not None and task.cancelling():
                        raise
                    cell.failed(_as_exception(error), message, _own(cell, envelope))
                except Exception as error:
                    cell.failed(error, message, _own(cell, envelope))
                except BaseException as error:
                    _fatal(cell, error, envelope, _own(cell, envelope))
                else:
                    if reply is not None and cell.envelope is envelope:
                        reply._answer(result)
                n -= 1
                self.handled += 1
        finally:
            cell.task = None
            self.turn_done(cell)

    def run_coroutine(
        self, cell: Cell, coroutine: Coroutine[Any, Any, Any], then: Then
    ) -> None:
        """Run a hook's coroutine as the cell's task, then ``then(error)``."""
        cell.task = self.loop.create_task(self._hook(cell, coroutine, then))

    async def _hook(
        self, cell: Cell, coroutine: Coroutine[Any, Any, Any], then: Then
    ) -> None:
        current_ref.set(cell.ref)
        error: BaseException | None = None
        try:
            await coroutine
        except asyncio.CancelledError:
            task = asyncio.current_task(self.loop)
            if task is not None and task.cancelling():
                cell.task = None
                if cell.state != TERMINATED:  # not forced off by the shutdown
                    then(asyncio.CancelledError("hook cancelled at shutdown"))
                raise
            error = asyncio.CancelledError("hook cancelled")
        except BaseException as failure:  # SystemExit included: a failed hook
            error = failure
        cell.task = None
        if cell.state != TERMINATED:
            then(error)
            self.turn_done(cell)


def _ended(cell: Cell) -> bool:
    return cell.system.terminated


def _refuse(cell: Cell, envelope: Envelope) -> None:
    """A message for a system that has shut down: fail the ask, raise for a tell."""
    error = SystemShutDownError(
        f"actor system {cell.system.name!r} has shut down; cannot deliver "
        f"{type(envelope[0]).__name__} to {cell.path}"
    )
    reply = envelope[2]
    if reply is None:
        raise error
    reply._fail(error)


def _fatal(
    cell: Cell,
    error: BaseException,
    envelope: Envelope,
    reply: Any,
    ready: deque[Cell] | None = None,
) -> None:
    """A handler raised a BaseException: a failure of that actor like any other.

    SystemExit and custom BaseExceptions must not stop the dispatcher (every other
    actor would freeze); a KeyboardInterrupt is a failure too and then goes on up,
    so that Ctrl-C still interrupts the program.
    """
    cell.failed(error, envelope[0], reply)
    if _interrupts(error):
        if ready is not None:
            ready.append(cell)  # its turn ends here: keep it scheduled
        raise error


def _own(cell: Cell, envelope: Envelope) -> Any:
    """The envelope's reply, unless the handler deferred or forwarded it."""
    return envelope[2] if cell.envelope is envelope else None


def _as_exception(error: BaseException) -> Exception:
    wrapped = RuntimeError(f"handler raised {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


class ThreadDispatcher:
    """Runs each turn of its cells on a thread pool, for handlers that block.

    A cell still runs on one thread at a time: a turn is submitted only when the
    cell is not scheduled, under the dispatcher's lock.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        throughput: int,
        max_threads: int,
        name: str = "zactor-thread",
    ) -> None:
        self.loop = loop
        self.thread_id = -1  # never equal to a real thread: every send is a post
        self.throughput = throughput
        # Reentrant: a cell's system message may post to another cell of this pool.
        self.lock = threading.RLock()
        self.pool = DaemonPool(max_threads, name)
        self.handled = 0
        self.inline_budget = 0  # asks never run inline on a pool thread
        self.closed = False

    def schedule(self, cell: Cell) -> None:
        """Submit a turn for a cell whose ``scheduled`` flag was just set."""
        if self.closed:
            return
        self.pool.submit(self._turn, cell)

    def turn_done(self, cell: Cell) -> None:
        """Resubmit the cell if it has work left, else mark it idle."""
        with self.lock:
            if cell.state == TERMINATED or cell.task is not None:
                return
            if cell.sysq is not None or (cell.state == RUNNING and cell.mailbox):
                self.schedule(cell)
            else:
                cell.scheduled = False

    def post(self, cell: Cell, envelope: Envelope) -> None:
        """Deliver a user message from any thread."""
        with self.lock:
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            mailbox.append(envelope)
            if not cell.scheduled:
                cell.scheduled = True
                self.schedule(cell)

    def notify(self, cell: Cell) -> None:
        """A message was put straight into the cell's Mailbox: make sure it runs."""
        with self.lock:
            if not cell.scheduled:
                cell.scheduled = True
                self.schedule(cell)

    def post_system(self, cell: Cell, message: SystemMessage) -> None:
        """Deliver a system message from any thread."""
        with self.lock:
            cell.enqueue_system(message)

    def take_system(self, cell: Cell) -> list[SystemMessage]:
        """Detach and return the cell's queued system messages."""
        with self.lock:
            queue = cell.sysq
            cell.sysq = None
        return queue or []

    def _turn(self, cell: Cell) -> None:
        token = current_ref.set(cell.ref)
        try:
            self._run_turn(cell)
        except Exception:
            log.exception("dispatcher turn of %s failed", cell.path)
        finally:
            current_ref.reset(token)
        if cell.task is None:
            self.turn_done(cell)

    def _run_turn(self, cell: Cell) -> None:
        if cell.sysq is not None:
            cell.process_system()
        if cell.task is not None or cell.state != RUNNING:
            return
        mailbox = cell.mailbox
        actor = cell.actor
        if not mailbox or actor is None:
            return

        receive = actor.receive
        n = self.throughput
        while n and mailbox and cell.sysq is None and cell.state == RUNNING:
            envelope = mailbox.popleft()
            message, _, reply = envelope
            if reply is not None and reply._state:
                if not reply.is_tick:
                    cell.system._dead_letter(
                        message, envelope[1], cell.ref, "ask expired"
                    )
                continue
            cell.envelope = envelope
            try:
                result = receive(message)
            except BaseException as error:  # no signal reaches a pool thread
                cell.failed(error, message, _own(cell, envelope))
            else:
                if reply is not None and cell.envelope is envelope:
                    reply._answer(result)
            n -= 1
        self.handled += self.throughput - n

    def run_coroutine(
        self, cell: Cell, coroutine: Coroutine[Any, Any, Any], then: Then
    ) -> None:
        """Run an async hook on the system's loop and wait for it on this thread."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        error: BaseException | None = None
        try:
            future.result()
        except BaseException as failure:
            error = failure
        then(error)

    def close(self) -> None:
        """Stop taking turns and let the pool's threads end."""
        self.closed = True
        self.pool.shutdown()

    def threads_alive(self) -> bool:
        """True while a thread of the pool is still finishing a turn."""
        return self.pool.alive()
