"""A pool of daemon threads for the thread dispatcher.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter
exits, so a handler blocked in a pool thread would keep a program from ending
after Ctrl-C, whatever the shutdown timeout. These threads are daemons: the
system's shutdown waits for them within its own bound, and the interpreter does
not wait beyond it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[Any], None]
_STOP = object()


class DaemonPool:
    """At most ``size`` daemon threads taking jobs from one queue, made on demand."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.lock = threading.Lock()

    def submit(self, job: Job, argument: Any) -> None:
        """Run ``job(argument)`` on a pool thread."""
        self.jobs.put((job, argument))
        with self.lock:
            if self.idle == 0 and len(self.threads) < self.size:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self.name}_{len(self.threads)}",
                    daemon=True,
                )
                self.threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            with self.lock:
                self.idle += 1
            item = self.jobs.get()
            with self.lock:
                self.idle -= 1
            if item is _STOP:
                return
            job, argument = item
            try:
                job(argument)
            except BaseException:
                log.exception("a thread-dispatcher job failed")

    def shutdown(self) -> None:
        """Let every thread end once it has finished its current job."""
        with self.lock:
            count = len(self.threads)
        for _ in range(count):
            self.jobs.put(_STOP)

    def alive(self) -> bool:
        """True while a thread of the pool still runs."""
        return any(thread.is_alive() for thread in self.threads)
