"""The entry point of a worker process.

A worker runs an actor system of its own on an event loop in its main thread,
joins the head's system as a node, and reports on its pipe that it is ready (or
why it could not start). It ends when the head asks it to, or as soon as the
head's process is gone, so that no worker outlives the program that started it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._node import Node
    from ._workers import WorkerConfig

log = logging.getLogger(__name__)


def worker_main(
    config: WorkerConfig, pipe: multiprocessing.connection.Connection
) -> None:
    """Run one worker until the head shuts it down or goes away."""
    # Ctrl-C reaches the whole process group: the head handles it and shuts the
    # workers down in order, so a worker must not die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_head(config.head_pid)
    try:
        if config.cpus is not None:
            os.sched_setaffinity(0, config.cpus)
        if config.init is not None:
            config.init()
        asyncio.run(_serve(config, pipe))
    except BaseException as error:
        try:
            pipe.send(
                ("failed", type(error).__qualname__, str(error), traceback.format_exc())
            )
        except OSError:
            pass
        os._exit(1)
    os._exit(0)


async def _serve(
    config: WorkerConfig, pipe: multiprocessing.connection.Connection
) -> None:
    from ._system import ActorSystem

    system = ActorSystem(
        config.system_name,
        throughput=config.throughput,
        threads=config.threads,
        supervisor=config.supervisor,
        codec=config.codec,
        codec_types=config.codec_types,
        type_codecs=config.type_codecs,
        allow_pickle=config.allow_pickle,
        max_message_size=config.max_message_size,
    )
    system._worker_config = config
    await system.__aenter__()
    node = system._node
    assert node is not None
    _forward_logs(node, config.log_level)
    node.addresses.update(config.peers)
    node.addresses[0] = config.head_address
    node.slots.update(config.slots)
    pipe.send(("ready", node.address))

    loop = asyncio.get_running_loop()
    done: asyncio.Future[float | None] = loop.create_future()

    def readable() -> None:
        try:
            message: Any = pipe.recv()
        except (EOFError, OSError):
            loop.remove_reader(pipe.fileno())
            if not done.done():
                done.set_result(None)  # the head is gone
            return
        if message[0] == "peers":
            node.addresses.update(message[1])
            node.slots.update(message[2])
        elif message[0] == "shutdown" and not done.done():
            loop.remove_reader(pipe.fileno())
            done.set_result(float(message[1]))

    loop.add_reader(pipe.fileno(), readable)
    timeout = await done
    if timeout is None:
        log.warning("worker %d: the head process is gone; exiting", config.slot)
        os._exit(1)
    await system.ashutdown(timeout)


class _Forward(logging.Handler):
    """Sends this worker's log records to the head process."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
        self.busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self.busy, "on", False):
            return  # a record logged while forwarding one would loop
        self.busy.on = True
        try:
            self.node.forward_log(record)
        except Exception:
            self.handleError(record)
        finally:
            self.busy.on = False


def _forward_logs(node: Node, level: int) -> None:
    root = logging.getLogger()
    if not root.handlers:  # worker_init may have configured logging itself
        root.addHandler(_Forward(node))
        root.setLevel(level)


def _end_with_head(head: int) -> None:
    """End this process as soon as the head process is gone.

    The pipe to the head tells the event loop, but a handler may hold the loop
    for long; so the kernel is asked to kill this process when its parent dies
    (Linux), and a thread checks twice a second that the head still lives: with
    the forkserver, the parent is not the head, and outlives it while a worker
    holds it open.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while _alive(head):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="zactor-head-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: the signal test said it exists
