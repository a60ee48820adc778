"""Which event loop runs on which thread, without asking asyncio each time.

On CPython 3.11 ``asyncio.get_running_loop()`` makes a ``getpid()`` system call on
every call, which costs more than a whole tell on some machines. The loops that
run actor systems are registered here by thread, and the lookups below use that
first and fall back to asyncio only for other loops.
"""

from __future__ import annotations

import asyncio
import threading

_get_ident = threading.get_ident
_by_thread: dict[int, asyncio.AbstractEventLoop] = {}


def register(loop: asyncio.AbstractEventLoop) -> None:
    """Record that ``loop`` runs on the calling thread."""
    _by_thread[_get_ident()] = loop


def unregister(loop: asyncio.AbstractEventLoop) -> None:
    """Forget ``loop`` wherever it was recorded."""
    for thread, known in list(_by_thread.items()):
        if known is loop:
            del _by_thread[thread]


def running_loop() -> asyncio.AbstractEventLoop:
    """The loop running on this thread; raises RuntimeError if there is none."""
    loop = _by_thread.get(_get_ident())
    if loop is not None and loop.is_running():
        return loop
    return asyncio.get_running_loop()


def runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    """True if ``loop`` is the loop running on the calling thread."""
    known = _by_thread.get(_get_ident())
    if known is not None:
        return known is loop and loop.is_running()
    return asyncio._get_running_loop() is loop


def interrupts(error: BaseException) -> bool:
    """True for a KeyboardInterrupt raised on the main thread, which must go on up.

    On the main thread it is the user's Ctrl-C; on a loop thread of the system it
    can only come from a handler, and raising it there would end that loop.
    """
    return (
        isinstance(error, KeyboardInterrupt)
        and threading.current_thread() is threading.main_thread()
    )
