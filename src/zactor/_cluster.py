"""The multi-process side of an actor system: options, node start, placement.

:class:`~zactor.ActorSystem` keeps its single-process code paths untouched and
calls into this module only when it has workers (``workers=N``) or is itself a
worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _shm
from ._actor import Actor
from ._codecs import Codec, resolve_codec
from ._errors import ActorDeadError, NameTakenError, WorkerStartupError
from ._events import ActorStarted
from ._node import Node
from ._remote import RemoteCell, RemoteChild, remote_cell
from ._states import RUNNING, STOPPING, TERMINATED
from ._workers import WorkerPool, cpu_sets

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._system import ActorSystem

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class NodeOptions:
    """What ``ActorSystem(workers=..., codec=..., ...)`` asked for, checked."""

    workers: int = 0
    start_method: str | None = None
    codec: str | Codec = "pickle"
    codec_types: tuple[type, ...] = ()
    type_codecs: dict[type, str | Codec] = field(default_factory=dict)
    allow_pickle: bool = True
    cookie: bytes | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE
    transport: str = "unix"
    host: str = "127.0.0.1"
    cpu_affinity: Any = None
    worker_init: Callable[[], Any] | None = None
    worker_restarts: tuple[int, float] = (10, 60.0)

    def check(self) -> None:
        """Refuse bad values with errors that name them."""
        methods = ("fork", "spawn", "forkserver")
        if self.start_method is not None and self.start_method not in methods:
            raise ValueError(
                f"start_method must be one of {methods} or None, "
                f"got {self.start_method!r}"
            )
        if self.cookie is not None and (
            not isinstance(self.cookie, bytes) or len(self.cookie) < 16
        ):
            raise ValueError("cookie must be bytes of at least 16 bytes")
        if not isinstance(self.max_message_size, int) or self.max_message_size < 1024:
            raise ValueError(
                "max_message_size must be an int >= 1024, got "
                f"{self.max_message_size!r}"
            )
        if self.transport not in ("unix", "tcp"):
            raise ValueError(
                f"transport must be 'unix' or 'tcp', got {self.transport!r}"
            )
        if self.worker_init is not None:
            _check_shippable("worker_init", self.worker_init)
        restarts, within = self.worker_restarts
        if restarts < 0 or within <= 0:
            raise ValueError(
                f"worker_restarts must be (count >= 0, seconds > 0), "
                f"got {self.worker_restarts!r}"
            )
        codec = resolve_codec(self.codec, self.codec_types)
        if codec.runs_code and not self.allow_pickle:
            raise ValueError(
                "allow_pickle=False needs a codec that runs no code: codec='msgpack' "
                "or codec='json'"
            )
        for kind, spec in self.type_codecs.items():
            if not isinstance(kind, type):
                raise TypeError(f"type_codecs keys must be types, got {kind!r}")
            chosen = resolve_codec(spec, self.codec_types)
            if chosen.runs_code and not self.allow_pickle:
                raise ValueError(
                    f"type_codecs maps {kind.__name__} to pickle, which "
                    "allow_pickle=False refuses"
                )

    def default_start_method(self) -> str:
        """forkserver where it exists (safe with threads, fast), else spawn."""
        if self.start_method is not None:
            return self.start_method
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        return "forkserver" if "forkserver" in methods else "spawn"


def _check_shippable(name: str, value: Any) -> None:
    """Refuse a function that a worker process could not receive."""
    import pickle

    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
    try:
        pickle.dumps(value)
    except Exception as error:
        raise TypeError(
            f"{name} must be a function defined at module level, so that worker "
            f"processes can import it; {value!r} cannot be sent to them ({error})"
        ) from None


def worker_count(workers: object) -> int:
    """The number of workers ``workers`` asks for: an int >= 0, or 'auto'."""
    if workers == "auto":
        return os.cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"workers must be an int >= 0 or 'auto', got {workers!r}")
    return workers


def build_node(system: ActorSystem, node_id: int, options: NodeOptions) -> Node:
    """The node object of a system, before it listens."""
    config = system._worker_config
    codec = resolve_codec(options.codec, options.codec_types)
    type_codecs = {
        kind: resolve_codec(spec, options.codec_types)
        for kind, spec in options.type_codecs.items()
    }
    if config is not None:
        cookie, prefix, directory = config.cookie, config.shm_prefix, config.directory
    else:
        cookie = options.cookie or secrets.token_bytes(32)
        prefix = f"zactor-{os.getpid()}-{secrets.token_hex(4)}-"
        directory = tempfile.mkdtemp(prefix="zactor-")
    return Node(
        system,
        node_id,
        cookie,
        codec,
        type_codecs=type_codecs,
        allow_pickle=options.allow_pickle,
        max_message_size=options.max_message_size,
        shm_prefix=prefix,
        directory=directory,
    )


def start(system: ActorSystem, loop: asyncio.AbstractEventLoop) -> None:
    """Give the system its node and, in the head, start the workers."""
    options = system._options
    config = system._worker_config
    node_id = 0 if config is None else config.node_id
    node = build_node(system, node_id, options)
    system._node = node
    system._names = node_id << 32  # generated names stay unique in the system
    if config is None:
        system.events.on_change = node.announce_events
    address = _address(system, node_id) if config is None else config.address
    try:
        listen(node, loop, address)
        if config is None and options.workers:
            pool = WorkerPool(
                system,
                node,
                options.workers,
                options.default_start_method(),
                cpu_sets(options.cpu_affinity, options.workers),
                options.worker_init,
                *options.worker_restarts,
            )
            system._workers = pool
            pool.start_all()
        assert node.serve is not None
        node.serving = loop.create_task(node.serve())
        system._keep(node.serving)
    except BaseException:
        node.close()
        if config is None:
            shutil.rmtree(node.directory, ignore_errors=True)
        system._node = None
        system._workers = None
        raise


def _address(system: ActorSystem, node_id: int) -> str | tuple[str, int]:
    options = system._options
    if options.transport == "tcp":
        return (options.host, 0)
    node = system._node
    assert node is not None
    return os.path.join(node.directory, f"node-{node_id}.sock")


def worker_address(system: ActorSystem, node_id: int) -> str | tuple[str, int]:
    """Where worker ``node_id`` will listen."""
    return _address(system, node_id)


def listen(
    node: Node, loop: asyncio.AbstractEventLoop, address: str | tuple[str, int]
) -> None:
    """Bind the node's socket now; the loop serves it once it runs."""
    import threading

    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        os.chmod(address, 0o600)
        bound: str | tuple[str, int] = address
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        bound = sock.getsockname()[:2]
    sock.listen(128)
    sock.setblocking(False)
    node.loop = loop
    node.thread_id = node.post.thread = threading.get_ident()
    node.address = bound
    node.addresses[node.node_id] = bound

    async def serve() -> None:
        from ._link import Inbound

        if isinstance(bound, str):
            node.server = await loop.create_unix_server(
                lambda: Inbound(node), sock=sock
            )
        else:
            node.server = await loop.create_server(lambda: Inbound(node), sock=sock)

    node.listening = sock
    node.serve = serve


# -- placement and remote spawn ---------------------------------------------------


def placement(
    system: ActorSystem, parent: Cell, worker: Any, near: ActorRef | None
) -> int | None:
    """The node a new actor goes to, or None for this process."""
    node = system._node
    if node is None:
        if worker not in (None, "local"):
            raise ValueError(
                f"actor system {system.name!r} has no workers: create it with "
                "ActorSystem(workers=N) to place actors in worker processes"
            )
        return None
    if near is not None:
        if worker is not None:
            raise ValueError(
                f"spawn got both worker={worker!r} and near={near!r}; give one"
            )
        target = remote_cell(near).node_id if near._cell.is_remote else node.node_id
        return None if target == node.node_id else target
    if worker == "local":
        return None
    pool = system._workers
    if worker is None:
        if pool is None or parent is not system._user:
            return None  # children live with their parent
        worker = "auto"
    if pool is not None:
        return pool.pick(worker)
    target = _pick_from_worker(node, worker)
    return None if target == node.node_id else target


def spread_slot(system: ActorSystem, index: int) -> int | str:
    """The worker number for the ``index``-th member of a spread pool."""
    node = system._node
    if node is None:
        return "local"
    count = system._options.workers if system._workers is not None else len(node.slots)
    return index % count if count else "local"


def _pick_from_worker(node: Node, worker: Any) -> int:
    slots = node.slots
    if worker == "auto":
        live = sorted(slots.values())
        if not live:
            raise WorkerStartupError("no worker is known to this process")
        return live[int(time.monotonic_ns() // 1000) % len(live)]
    if not isinstance(worker, int) or worker not in slots:
        raise ValueError(f"worker {worker!r} is not a running worker number")
    return slots[worker]


def spawn_remote(
    system: ActorSystem,
    parent: Cell,
    target: int,
    actor_class: type[Actor],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    dispatcher: str | None,
    supervisor: Any,
    mailbox: Any,
) -> ActorRef:
    """Create the actor on node ``target`` and a proxy for it under ``parent``.

    The checks and the proxy run on the loop thread; the request to the other
    process waits on the calling thread, so that a spawn from another thread does
    not hold the loop while the remote constructor runs.
    """
    node = system._node
    assert node is not None
    name, uid, path = system._on_loop(
        actor_class, lambda: _plan(system, parent, actor_class, name)
    )
    spec = (actor_class, args, kwargs, dispatcher, mailbox)
    try:
        node.rpc_spawn(target, uid, path, spec)
    except BaseException:
        if system._workers is not None:
            system._workers.released(target)
        raise
    return system._on_loop(
        actor_class,
        lambda: _attach(system, parent, target, name, uid, path, spec, supervisor),
    )


def _plan(
    system: ActorSystem, parent: Cell, actor_class: type[Actor], name: str | None
) -> tuple[str, int, str]:
    node = system._node
    assert node is not None
    _check_parent(system, parent, actor_class)
    children = parent.child_cells or {}
    if name is None:
        number = system._names = system._names + 1
        name = f"${number:x}"
    elif name in children:
        raise NameTakenError(
            f"{parent.path} already has a child named {name!r}; choose another name "
            "or stop that actor first"
        )
    uid = node.new_uid()
    path = f"/{name}" if parent.parent_cell is None else f"{parent.path}/{name}"
    return name, uid, path


def _check_parent(system: ActorSystem, parent: Cell, actor_class: type[Actor]) -> None:
    if parent.state >= STOPPING or (system._stopping and parent is system._user):
        raise ActorDeadError(
            f"cannot spawn {actor_class.__name__} under {parent.path}: it is stopping"
        )


def _attach(
    system: ActorSystem,
    parent: Cell,
    target: int,
    name: str,
    uid: int,
    path: str,
    spec: Any,
    supervisor: Any,
) -> ActorRef:
    from ._cell import Cell
    from ._node import STOP
    from ._ref import ActorRef

    node = system._node
    assert node is not None
    assert system._dispatcher is not None
    children = parent.child_cells
    if children is None:
        children = parent.child_cells = {}
    try:
        _check_parent(system, parent, spec[0])
        if name in children:  # taken by another thread while the actor started
            raise NameTakenError(
                f"{parent.path} already has a child named {name!r}; choose another "
                "name or stop that actor first"
            )
    except BaseException:
        node.control(target, STOP, uid, node.node_id, 0)
        raise

    remote = RemoteCell(node, target, uid, path, ActorRef)
    node.remotes[uid] = remote
    proxy = Cell(
        system, system._dispatcher, parent, name, RemoteChild, (remote, spec), None
    )
    proxy.ref = remote.ref
    if supervisor is not None:
        proxy.extras().supervisor = supervisor
    actor = RemoteChild.__new__(RemoteChild)
    actor.context = proxy
    actor.__init__(remote, spec)  # type: ignore[misc]
    proxy.actor = actor
    proxy.state = RUNNING
    children[name] = proxy
    remote.proxy = proxy
    node.proxies[uid] = proxy
    system._spawned += 1
    if ActorStarted in system.events.active:
        system.events.publish(ActorStarted(remote.ref))
    early = node.early_failures.pop(uid, None)
    if early is not None:
        node._proxy_failed(proxy, *early)
    return remote.ref


def proxy_terminated(system: ActorSystem, cell: Cell) -> None:
    """A proxy ended: its actor no longer counts toward its worker's load."""
    node = system._node
    remote = remote_cell(cell.ref)
    remote.state = TERMINATED  # its proxy is how this process knew it alive
    if node is not None:
        node.proxies.pop(remote.uid, None)
    if system._workers is not None:
        system._workers.released(remote.node_id)


def lookup_hosted(node: Node, path: str) -> Cell | None:
    """A hosted actor, or a descendant of one, by its system-wide path."""
    for uid, cell in list(node.exports.items()):
        if uid not in node.hosted:
            continue
        base = cell.path
        if path == base:
            return cell
        if path.startswith(base + "/"):
            found: Cell | None = cell
            for part in path[len(base) + 1 :].split("/"):
                children = None if found is None else found.child_cells
                found = None if children is None else children.get(part)
            return found
    return None


async def stop(system: ActorSystem, deadline: float) -> None:
    """Shut the workers down, close the node and remove what it left behind."""
    node = system._node
    if node is None:
        return
    for remote in list(node.remotes.values()):
        remote.state = TERMINATED  # the whole system ends
    pool = system._workers
    if pool is not None:
        pool.closing = True
        for worker in list(pool.workers.values()):
            try:
                node.loop.remove_reader(worker.process.sentinel)
            except (ValueError, RuntimeError, OSError):
                pass
        node.close()
        remaining = max(deadline - time.monotonic(), 0.05)
        await asyncio.to_thread(pool.stop_all, remaining)
    else:
        node.close()
    if system._worker_config is None:
        shutil.rmtree(node.directory, ignore_errors=True)
        if _shm.AVAILABLE:
            _shm.sweep(node.shm_prefix)


def tree_deadline(system: ActorSystem, deadline: float, timeout: float) -> float:
    """When the actors must have stopped, so that the workers can end in time."""
    if system._workers is None:
        return deadline
    return deadline - min(0.25 * timeout, 1.0)


def statistics(system: ActorSystem) -> dict[str, int]:
    """The node's part of :meth:`ActorSystem.statistics`."""
    node = system._node
    if node is None:
        return {}
    return {
        "workers": len(system.worker_pids()),
        "remote_asks_pending": len(node.pending),
        "bytes_sent": node.bytes_sent,
        "bytes_received": node.bytes_received,
    }


def worker_statistics(system: ActorSystem) -> list[dict[str, int]]:
    """The counters of every live worker (the head's own are not included)."""
    pool = system._workers
    node = system._node
    if pool is None or node is None or system.terminated:
        return []
    for worker in list(pool.workers.values()):
        if not worker.alive:
            continue
        try:
            stats = node.rpc(worker.node_id).call(("stats",), 5.0)
        except (OSError, ConnectionError, ActorDeadError):
            continue
        pool.last_stats[worker.node_id] = stats
    # A worker that died keeps its last counters, so that sums never go down.
    return list(pool.last_stats.values())


class HostGuardian(Actor):
    """The guardian under which a process hosts actors supervised elsewhere."""

    _zactor_host = True

    def receive(self, message: Any) -> None:
        """Guardians take no messages."""


def codec_types(types: Iterable[type] | None) -> tuple[type, ...]:
    """The registered message types, as a tuple; refuses what is not a type."""
    result = tuple(types or ())
    for kind in result:
        if not isinstance(kind, type):
            raise TypeError(f"codec_types must hold types, got {kind!r}")
    return result


def type_codecs(mapping: Mapping[type, str | Codec] | None) -> dict[type, str | Codec]:
    """The per-type codec choices, as a dict."""
    return dict(mapping or {})
