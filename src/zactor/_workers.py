"""Worker processes: starting them, noticing their death, replacing them.

The head process (the one that created the :class:`~zactor.ActorSystem`) starts
each worker with a pipe of its own. The worker reports on the pipe that it is
ready, or why it failed to start; the head waits for every report, bounded, and
also for the process to exit, so that a worker that dies while starting makes the
system's start raise instead of hang. Afterwards the pipe is how the head asks a
worker to shut down, and how a worker learns that the head is gone: the pipe
closes when the head's process ends, however it ends.

A worker's death is seen on its process sentinel, a descriptor that becomes
readable when the process exits, watched by the head's event loop: there is no
polling, and even a SIGKILL is noticed at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import WorkerStartupError
from ._node import EVENTS, NODE_DOWN, NODE_UP, _describe_exit
from ._remote import remote_cell

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._node import Node
    from ._system import ActorSystem

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0


@dataclass
class WorkerConfig:
    """Everything a worker process needs to join the system."""

    system_name: str
    node_id: int
    slot: int
    cookie: bytes
    head_address: str | tuple[str, int]
    address: str | tuple[str, int]
    codec: Any
    codec_types: tuple[type, ...]
    type_codecs: dict[type, Any]
    allow_pickle: bool
    max_message_size: int
    shm_prefix: str
    directory: str
    throughput: int
    threads: int
    supervisor: Any
    cpus: tuple[int, ...] | None
    init: Any
    head_pid: int = 0
    log_level: int = logging.WARNING
    peers: dict[int, Any] = field(default_factory=dict)
    slots: dict[int, int] = field(default_factory=dict)


@dataclass
class Worker:
    """The head's record of one worker process."""

    slot: int
    node_id: int
    process: BaseProcess
    pipe: multiprocessing.connection.Connection
    address: str | tuple[str, int] = ""
    load: int = 0
    alive: bool = True

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid or 0


class WorkerPool:
    """The head's set of workers, one per slot, replaced when one dies."""

    def __init__(
        self,
        system: ActorSystem,
        node: Node,
        count: int,
        start_method: str,
        cpus: list[tuple[int, ...]] | None,
        init: Any,
        restarts: int,
        within: float,
    ) -> None:
        self.system = system
        self.node = node
        self.count = count
        self.context: Any = multiprocessing.get_context(start_method)
        self.cpus = cpus
        self.init = init
        self.max_restarts = restarts
        self.within = within
        self.workers: dict[int, Worker] = {}
        self.by_node: dict[int, Worker] = {}
        self.exited: dict[int, int | None] = {}
        self._next_node = 1
        self._restart_times: deque[float] = deque()
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []
        self._rotation = 0
        self.closing = False
        # Slots whose worker crashed once too often to be replaced.
        self.abandoned: set[int] = set()
        # The counters each worker last reported, by node id.
        self.last_stats: dict[int, dict[str, int]] = {}
        if start_method == "forkserver":
            self.context.set_forkserver_preload(["zactor._worker_main"])

    # -- starting ----------------------------------------------------------------------

    def start_all(self) -> None:
        """Start every worker and wait until each is ready; raise if one is not."""
        starting = [self._launch(slot) for slot in range(self.count)]
        try:
            for worker in starting:
                self._await_ready(worker)
        except BaseException:
            for worker in starting:
                _reap(worker.process, 0.0)
            raise
        for worker in starting:
            self._register(worker)
        self._introduce_all()

    def _launch(self, slot: int) -> Worker:
        with self._lock:
            node_id = self._next_node
            self._next_node += 1
        config = self._config(slot, node_id)
        parent_end, child_end = self.context.Pipe(duplex=True)
        from ._worker_main import worker_main

        process = self.context.Process(
            target=worker_main,
            args=(config, child_end),
            name=f"zactor-{self.system.name}-worker-{slot}",
            daemon=True,
        )
        try:
            process.start()
        except (EOFError, OSError) as error:  # the forkserver itself ended
            child_end.close()
            parent_end.close()
            raise WorkerStartupError(
                f"worker {slot} could not be started ({type(error).__name__}: "
                f"{error}); the process that forks workers ended (interrupted?)"
            ) from None
        child_end.close()
        return Worker(slot, node_id, process, parent_end)

    def _config(self, slot: int, node_id: int) -> WorkerConfig:
        from ._cluster import worker_address

        system = self.system
        node = self.node
        cpus = None
        if self.cpus is not None:
            cpus = self.cpus[slot % len(self.cpus)]
        return WorkerConfig(
            system_name=system.name,
            node_id=node_id,
            slot=slot,
            cookie=node.cookie,
            head_address=node.address,
            address=worker_address(system, node_id),
            codec=system._options.codec,
            codec_types=system._options.codec_types,
            type_codecs=system._options.type_codecs,
            allow_pickle=node.allow_pickle,
            max_message_size=node.max_message_size,
            shm_prefix=node.shm_prefix,
            directory=node.directory,
            throughput=system.throughput,
            threads=system.threads,
            supervisor=system.supervisor,
            cpus=cpus,
            init=self.init,
            head_pid=os.getpid(),
            log_level=logging.getLogger().getEffectiveLevel(),
            peers=dict(node.addresses),
            slots=dict(node.slots),
        )

    def _await_ready(self, worker: Worker) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        sentinel = worker.process.sentinel
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerStartupError(
                    f"worker {worker.slot} (pid {worker.pid}) did not report ready "
                    f"within {START_TIMEOUT} s"
                )
            ready = multiprocessing.connection.wait([worker.pipe, sentinel], remaining)
            if worker.pipe in ready:
                try:
                    report = worker.pipe.recv()
                except (EOFError, OSError):
                    report = None
                if report is not None and report[0] == "ready":
                    worker.address = report[1]
                    return
                if report is not None and report[0] == "failed":
                    _, type_name, text, _trace = report
                    raise WorkerStartupError(
                        f"worker {worker.slot} failed to start: {type_name}: {text}"
                    )
            if sentinel in ready or not worker.process.is_alive():
                worker.process.join(1.0)
                how = _describe_exit(worker.process.exitcode)
                raise WorkerStartupError(
                    f"worker {worker.slot} (pid {worker.pid}) exited before it was "
                    f"ready ({how}); its traceback, if any, is on stderr. A program "
                    "that starts the system when its main module is imported needs "
                    "`if __name__ == '__main__':` around that, or start_method='fork'"
                )

    def _register(self, worker: Worker) -> None:
        self.workers[worker.slot] = worker
        self.by_node[worker.node_id] = worker
        self.node.addresses[worker.node_id] = worker.address
        self.node.slots[worker.slot] = worker.node_id
        self.node.loop.add_reader(worker.process.sentinel, self._exited, worker)
        if self.node._wanted:
            self.node.control(worker.node_id, EVENTS, self.node._wanted)

    def _introduce_all(self) -> None:
        table = dict(self.node.addresses)
        slots = dict(self.node.slots)
        for worker in self.workers.values():
            try:
                worker.pipe.send(("peers", table, slots))
            except OSError:
                pass

    # -- placement ---------------------------------------------------------------------

    def pick(self, slot: int | str | None) -> int:
        """The node id for a placement: a slot number, or 'auto' (least loaded)."""
        live = [w for w in self.workers.values() if w.alive]
        if not live:
            raise WorkerStartupError(
                f"actor system {self.system.name!r} has no live worker to place on"
            )
        if slot is None or slot == "auto":
            self._rotation += 1
            start = self._rotation % len(live)
            ordered = live[start:] + live[:start]
            chosen = min(ordered, key=lambda w: w.load)
        else:
            if not isinstance(slot, int) or isinstance(slot, bool):
                raise ValueError(
                    f"worker must be a worker number, 'auto' or 'local', got {slot!r}"
                )
            if not 0 <= slot < self.count:
                raise ValueError(
                    f"worker {slot} does not exist: the system has workers 0 to "
                    f"{self.count - 1}"
                )
            found = self.workers.get(slot)
            if found is None or not found.alive:
                why = (
                    "it crashed and was not replaced: worker_restarts is spent"
                    if slot in self.abandoned
                    else "it is being replaced after a crash"
                )
                raise WorkerStartupError(f"worker {slot} is not running ({why})")
            chosen = found
        chosen.load += 1
        return chosen.node_id

    def released(self, node_id: int) -> None:
        """An actor placed on ``node_id`` terminated."""
        worker = self.by_node.get(node_id)
        if worker is not None and worker.load > 0:
            worker.load -= 1

    async def live_node(self, avoid: int) -> int:
        """A live worker's node id, waiting (bounded) for a replacement if none."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return self.pick("auto")
            except WorkerStartupError:
                replacing = len(self.abandoned) + len(self.workers) < self.count
                if self.closing or not replacing or time.monotonic() > deadline:
                    raise
            waiter = self.node.loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                pass

    def pids(self) -> list[int]:
        """The process ids of the running workers, in worker-number order."""
        return [w.pid for _, w in sorted(self.workers.items()) if w.alive]

    # -- deaths ------------------------------------------------------------------------

    def _exited(self, worker: Worker) -> None:
        loop = self.node.loop
        loop.remove_reader(worker.process.sentinel)
        worker.process.join(0.5)
        exitcode = worker.process.exitcode
        worker.alive = False
        self.exited[worker.pid] = exitcode
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        worker.pipe.close()
        if self.closing:
            return

        log.error(
            "worker %d (pid %d, node %d) of system %r died (%s)",
            worker.slot,
            worker.pid,
            worker.node_id,
            self.system.name,
            _describe_exit(exitcode),
        )
        node = self.node
        keep = [
            uid
            for uid, proxy in node.proxies.items()
            if remote_cell(proxy.ref).node_id == worker.node_id
        ]
        for other in self.workers.values():
            node.control(other.node_id, NODE_DOWN, worker.node_id, exitcode, keep)
        node.node_lost(worker.node_id, exitcode, set(keep))
        self._replace(worker.slot)

    def _replace(self, slot: int) -> None:
        now = time.monotonic()
        times = self._restart_times
        while times and times[0] <= now - self.within:
            times.popleft()
        if len(times) >= self.max_restarts:
            self.abandoned.add(slot)
            log.error(
                "system %r: %d worker restarts within %s s; worker %d is not replaced",
                self.system.name,
                len(times),
                self.within,
                slot,
            )
            return
        times.append(now)
        threading.Thread(
            target=self._start_replacement, args=(slot,), daemon=True
        ).start()

    def _start_replacement(self, slot: int) -> None:
        try:
            worker = self._launch(slot)
            self._await_ready(worker)
        except Exception as error:
            log.error(
                "system %r could not replace worker %d: %s",
                self.system.name,
                slot,
                error,
            )
            return
        try:
            self.node.loop.call_soon_threadsafe(self._replaced, worker)
        except RuntimeError:
            _reap(worker.process, 0.0)

    def _replaced(self, worker: Worker) -> None:
        if self.closing:
            _reap(worker.process, 0.0)
            return
        self._register(worker)
        node = self.node
        try:
            worker.pipe.send(("peers", dict(node.addresses), dict(node.slots)))
        except OSError:
            pass
        for other in self.workers.values():
            if other is not worker:
                node.control(
                    other.node_id, NODE_UP, worker.node_id, worker.slot, worker.address
                )
        log.info(
            "system %r replaced worker %d (pid %d, node %d)",
            self.system.name,
            worker.slot,
            worker.pid,
            worker.node_id,
        )
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- stopping ----------------------------------------------------------------------

    def stop_all(self, timeout: float) -> None:
        """Ask every worker to shut down, wait up to ``timeout``, then kill."""
        self.closing = True
        workers = list(self.workers.values())
        for worker in workers:
            try:
                # Its own shutdown must end before ours does: a share of the time.
                worker.pipe.send(("shutdown", timeout * 0.7))
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for worker in workers:
            _reap(worker.process, max(deadline - time.monotonic(), 0.0))
            worker.alive = False
            worker.pipe.close()
        self.workers.clear()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()


def _reap(process: BaseProcess, timeout: float) -> None:
    """Wait for ``process`` to exit; terminate, then kill it if it does not."""
    process.join(timeout)
    if process.exitcode is None:
        process.kill()  # it had its chance to end in order
        process.join(1.0)


def cpu_sets(option: Any, count: int) -> list[tuple[int, ...]] | None:
    """Resolve the ``cpu_affinity`` option into one CPU set per worker slot."""
    if option is None or option is False:
        return None
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError("cpu_affinity needs os.sched_setaffinity (Linux)")
    if option is True:
        available = sorted(os.sched_getaffinity(0))
        return [(available[slot % len(available)],) for slot in range(count)]
    try:
        sets = [tuple(int(cpu) for cpu in cpus) for cpus in option]
    except TypeError:
        raise ValueError(
            f"cpu_affinity must be True or a list of CPU sets, got {option!r}"
        ) from None
    if not sets or any(not cpus for cpus in sets):
        raise ValueError(f"cpu_affinity needs non-empty CPU sets, got {option!r}")
    usable = os.sched_getaffinity(0)
    missing = sorted({cpu for cpus in sets for cpu in cpus} - usable)
    if missing:
        raise ValueError(
            f"cpu_affinity names CPUs {missing} that this process cannot use; "
            f"it may use {sorted(usable)}"
        )
    return sets
