"""Refs to actors in other processes: remote cells, remote replies, proxies.

A ref always holds a cell. For an actor in another process that cell is a
:class:`RemoteCell`: it knows the actor's uid, the node it lives on and its path,
and its ``dispatcher`` hands every envelope to the local node, which encodes it and
batches it onto the connection to that node. The ref code cannot tell the two
apart, which is what makes a ref behave the same wherever its actor lives.

An actor spawned into another process by a parent here is represented in the
parent's tree by a *proxy*: a local cell whose actor is :class:`RemoteChild`. The
proxy takes part in supervision (strategy, scope, restart limits, backoff) and in
death watch exactly like a local child, and turns each directive into a control
message for the process that hosts the actor.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ._actor import Actor
from ._errors import CodecError
from ._messages import Stop
from ._reply import _DONE, _FAILED, Reply
from ._states import RESTARTING, RUNNING, STOPPING

if TYPE_CHECKING:
    from ._node import Node
    from ._ref import ActorRef
    from ._system import ActorSystem

_get_ident = threading.get_ident
_NUMBERS = frozenset((int, float, bool, type(None)))
_FLUSH_AT = 8192

# The node that is decoding bytes on this thread right now; refs rebuilt by the
# codecs attach to it.
decoding: contextvars.ContextVar[Node | None] = contextvars.ContextVar(
    "zactor_decoding_node", default=None
)


class RemotePost:
    """The ``dispatcher`` of every remote cell: posting means sending."""

    __slots__ = ("fast", "links", "node", "thread")

    # No thread runs remote cells here, so a ref never takes the same-thread path.
    thread_id = -1

    def __init__(self, node: Node) -> None:
        self.node = node
        self.links = node.links
        self.thread = 0  # the node's loop thread, once it listens
        # The message types that take the fast path (msgpack: no ints, whose
        # range it checks).
        self.fast = _NUMBERS

    def post(self, cell: RemoteCell, envelope: tuple[Any, Any, Any]) -> None:
        """Encode ``envelope`` for the actor's node; errors raise to the sender."""
        # The fast path: a tell of a plain number from the node's own thread over
        # a link that exists (if the actor has ended, its node counts the dead
        # letter). The message joins the run of messages from the same sender to
        # that actor, which the receiver adds to its mailbox in one call.
        # Everything else takes node.send.
        if envelope[2] is None and type(envelope[0]) in self.fast:
            link = self.links.get(cell.node_id)
            if link is not None and _get_ident() == self.thread:
                if link.run_uid == cell.uid and link.run_sender is envelope[1]:
                    link.run.append(envelope[0])
                else:
                    run = link.run = [envelope[0]]
                    link.run_uid = cell.uid
                    link.run_sender = envelope[1]
                    link.outbox.append((cell.uid, run, envelope[1]))
                link.queued += 1
                if link.queued >= _FLUSH_AT:
                    link.flush()
                elif not link.armed:
                    link.armed = True
                    self.node.loop.call_soon(link.flush)
                return
        self.node.send(cell, envelope)

    def post_system(self, cell: RemoteCell, message: object) -> None:
        """Turn a system message (stop, watch, notice) into a control message."""
        self.node.send_system(cell, message)

    def notify(self, cell: RemoteCell) -> None:
        """Remote mailboxes have no local waiters to wake."""


class RemoteCell:
    """Stands for an actor of another process wherever a cell is expected."""

    __slots__ = (
        "__weakref__",
        "dispatcher",
        "mailbox",
        "name",
        "node_id",
        "path",
        "proxy",
        "ref",
        "state",
        "system",
        "uid",
        "watchers",
    )

    is_remote = True

    def __init__(
        self, node: Node, node_id: int, uid: int, path: str, ref_class: type[ActorRef]
    ) -> None:
        self.system: ActorSystem = node.system
        self.dispatcher = node.post
        self.node_id = node_id
        self.uid = uid
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.state = RUNNING
        self.mailbox = None
        # The local proxy cell when a parent in this process supervises the actor.
        self.proxy: Any = None
        # Local watchers that registered through this process: they learn of a
        # crash of the actor's worker from here.
        self.watchers: dict[Any, None] | None = None
        self.ref = ref_class(self)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<RemoteCell {self.path} uid={self.uid:x} on node {self.node_id}>"

    def post_system(self, message: object) -> None:
        """Queue a system message for the actor, through its proxy if it has one."""
        proxy = self.proxy
        if proxy is not None:
            if type(message) is Stop and proxy.state < STOPPING:
                # Sent now, from the caller's thread, so that it goes ahead of
                # what the caller sends next; the proxy waits for its answer.
                self.dispatcher.node.stop_early(self)
            proxy.post_system(message)
            return
        self.dispatcher.post_system(self, message)


class RemoteReply(Reply[Any]):
    """An ask from another process: completing it sends the outcome back."""

    __slots__ = ("_node", "_origin", "_token")

    def __init__(self, node: Node, origin: int, token: int, about: object) -> None:
        super().__init__(None, about, 0)
        self._node = node
        self._origin = origin
        self._token = token

    def _complete(self, state: int, value: object) -> bool:
        if not super()._complete(state, value):
            return False
        self._node.send_outcome(self._origin, self._token, state, value)
        return True

    @property
    def route(self) -> tuple[int, int]:
        """The node that waits for the answer and the token it waits under."""
        return self._origin, self._token

    def lapse(self) -> None:
        """The asker's timeout passed: a queued ask is skipped as expired.

        Nothing is sent back: the asker's own reply has timed out already.
        """
        if not self._state:
            self._state = _FAILED
            self._value = None

    def _late(self, value: object) -> None:
        """A handler that was running when the ask lapsed answered: tell the asker.

        It counts the answer as a late reply, as a local asker would.
        """
        state = _FAILED if isinstance(value, BaseException) else _DONE
        self._node.send_outcome(self._origin, self._token, state, value)


class RemoteChild(Actor):
    """The actor of a proxy cell: lifecycle and directives of a remote actor."""

    _zactor_proxy = True

    def __init__(self, remote: RemoteCell, spec: Any) -> None:
        self.remote = remote
        self.spec = spec
        # True after the actor was spawned again on another worker: that restart
        # is counted and announced here, since no process restarted it.
        self.relocated = False

    def receive(self, message: Any) -> None:
        """Nothing is sent to a proxy: refs point straight at the remote actor."""

    async def post_restart(self, error: BaseException | None) -> None:
        """Restart the actor where it lives, or on a fresh worker if that died."""
        node = self.remote.system._node
        assert node is not None
        self.relocated = await node.restart_remote(
            self.remote, self.spec, error, self.context
        )

    async def on_stop(self) -> None:
        """Stop the remote actor (unless it ended already), then let the proxy end."""
        if self.context.state == RESTARTING:
            return  # a restart of the proxy restarts the actor in post_restart
        node = self.remote.system._node
        assert node is not None
        await node.stop_remote(self.remote)

    def resumed(self) -> None:
        """The supervisor resumed the actor after a failure."""
        node = self.remote.system._node
        assert node is not None
        node.resume_remote(self.remote)


def ref_to_wire(ref: ActorRef) -> tuple[int, int, str]:
    """The (node id, uid, path) by which another process finds ``ref``'s actor."""
    cell = ref._cell
    if cell.is_remote:
        remote = remote_cell(ref)
        return remote.node_id, remote.uid, remote.path
    node = cell.system._node
    if node is None:
        raise CodecError(
            f"cannot encode the ref of {cell.path}: its actor system "
            f"{cell.system.name!r} has no workers, so no other process can reach it"
        )
    return node.node_id, node.export(cell), cell.path


def ref_from_wire(node_id: int, uid: int, path: str) -> ActorRef:
    """The ref, in this process, of the actor that (node id, uid, path) names."""
    node = decoding.get()
    if node is None:
        raise CodecError(
            f"a ref to {path} can only be decoded by the node of a zactor system"
        )
    return node.ref_for(node_id, uid, path)


def remote_cell(ref: ActorRef) -> RemoteCell:
    """The remote cell of a ref whose ``_cell.is_remote`` is True."""
    return ref._cell  # type: ignore[return-value]


def rebuild_ref(node_id: int, uid: int, path: str) -> ActorRef:
    """Unpickling entry point of :class:`~zactor.ActorRef`."""
    return ref_from_wire(node_id, uid, path)


RemoteCells = weakref.WeakValueDictionary[int, RemoteCell]
