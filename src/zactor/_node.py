"""A node: one process's part of an actor system that spans several processes.

The node owns this process's socket, its links to the other nodes, the table of
local actors that other processes may name (exports, by uid), the remote cells that
stand for actors elsewhere, and the asks that wait for answers from other nodes.

What crosses a link is a list of *items*, encoded by the system's codec in one go:

* ``(uid, [message, ...], sender)``: a run of tells from one sender to one
  actor, of messages of types that cannot fail to encode (int, str, ...),
  carried as they are;
* ``(MESSAGE, uid, message, sender, origin, token)``: an ask of such a message;
* ``(ENCODED, uid, data, sender, origin, token, codec_id, buffers)``: any other
  message, encoded when it was sent (so that an error is raised to its sender),
  its large buffers in shared memory;
* ``(OUTCOME, token, state, value)`` and ``(ENCODED_OUTCOME, ...)``: the answer to
  an ask;
* ``(CONTROL, op, ...)``: stop, watch, unwatch, death notices, failures and
  directives between a supervisor and an actor it supervises from another process.

``origin`` and ``token`` name the node and the entry under which an asker waits;
a token of 0 means nobody waits.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import logging
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from itertools import repeat
from typing import TYPE_CHECKING, Any

from . import _shm
from ._codecs import Codec, PickleCodec, codec_by_id, portable_error
from ._errors import (
    ActorDeadError,
    CodecError,
    MailboxFull,
    MessageTooLarge,
    NotAnActorError,
    SystemShutDownError,
    WorkerCrashed,
)
from ._link import Link, Refused, RpcClient
from ._messages import DeathNotice, Restart, Resume, Stop, Unwatch, Watch
from ._remote import RemoteCell, RemotePost, RemoteReply, decoding, remote_cell
from ._reply import _CANCELLED, _DONE, _FAILED, Reply
from ._states import RUNNING, SUSPENDED, TERMINATED

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._system import ActorSystem

log = logging.getLogger(__name__)

_get_ident = threading.get_ident

# Item kinds are negative: a tell starts with the target's uid, which is positive.
MESSAGE = -1
ENCODED = -2
OUTCOME = -3
ENCODED_OUTCOME = -4
CONTROL = -5

# Control operations.
STOP = "stop"
WATCH = "watch"
UNWATCH = "unwatch"
NOTICE = "notice"
FAILED = "failed"
RESUME = "resume"
RESTART = "restart"
TERMINATED_OP = "terminated"
NODE_DOWN = "node-down"
NODE_UP = "node-up"
MOVED = "moved"
GONE = "gone"
EVENTS = "events"
EVENT = "event"
DEAD_LETTER = "dead-letter"
LOG = "log"

_INLINE = frozenset((int, float, str, bool, type(None), bytes))
_INLINE_JSON = frozenset((int, float, str, bool, type(None)))
_INLINE_LIMIT = 32 * 1024

RPC_TIMEOUT = 30.0


class Node:
    """This process's end of the transport; every method runs on its loop thread
    unless it says otherwise."""

    def __init__(
        self,
        system: ActorSystem,
        node_id: int,
        cookie: bytes,
        codec: Codec,
        *,
        type_codecs: dict[type, Codec] | None = None,
        allow_pickle: bool = True,
        max_message_size: int = 64 * 1024 * 1024,
        shm_prefix: str = "",
        directory: str = "",
    ) -> None:
        self.system = system
        self.node_id = node_id
        self.cookie = cookie
        self.codec = codec
        self.type_codecs = type_codecs or {}
        self.allow_pickle = allow_pickle
        self.max_message_size = max_message_size
        self.frame_limit = max_message_size + 1024 * 1024
        self.codecs = {c.codec_id: c for c in (codec, *self.type_codecs.values())}
        pickle = PickleCodec()
        self.codecs.setdefault(pickle.codec_id, pickle)
        self.inline = _INLINE_JSON if codec.name == "json" else _INLINE
        # msgpack carries 64-bit ints only: others take the encoded path, which
        # raises at the send.
        self.int_range = (-(1 << 63), 1 << 64) if codec.name == "msgpack" else None
        self.shm_prefix = shm_prefix
        self.directory = directory
        from ._ref import ActorRef as RefClass

        self.ref_class = RefClass

        self.exports: dict[int, Cell] = {}
        self.remotes: weakref.WeakValueDictionary[int, RemoteCell] = (
            weakref.WeakValueDictionary()
        )
        self.proxies: dict[int, Cell] = {}
        self.hosted: dict[int, int] = {}
        self.escalated: dict[int, Cell] = {}
        self.pending: dict[int, tuple[Reply[Any], int]] = {}
        self.links: dict[int, Link] = {}
        self.post = RemotePost(self)
        if self.int_range is not None:
            self.post.fast = frozenset((float, bool, type(None)))
        self.rpc_clients: dict[int, RpcClient] = {}
        self.addresses: dict[int, str | tuple[str, int]] = {}
        self.slots: dict[int, int] = {}
        self.down: dict[int, int | None] = {}
        self.refused = 0
        self.lost_in_flight = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._uids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._rpc_lock = threading.Lock()
        self._host: Cell | None = None
        self._forwarding: list[Any] = []
        self.early_failures: dict[int, tuple[BaseException, Any, bool]] = {}
        self.restarting: dict[int, RemoteReply] = {}
        # Actors that ended lately: their path and the error an ask to them gets.
        self.ended: dict[int, tuple[str, ActorDeadError, BaseException | None]] = {}
        self.stopping: dict[int, Reply[bool]] = {}
        self._wanted: list[str] = []
        self._hold = 0
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.thread_id = 0
        self.server: asyncio.AbstractServer | None = None
        self.listening: Any = None
        self.serving: asyncio.Task[None] | None = None
        self.serve: Callable[[], Coroutine[Any, Any, None]] | None = None
        self.address: str | tuple[str, int] = ""

    # -- starting and stopping ---------------------------------------------------------

    def close(self) -> None:
        """Close the server, links and RPC channels; fail what still waits."""
        if self.serving is not None and not self.serving.done():
            self.serving.cancel()
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.listening is not None:
            self.listening.close()
            self.listening = None
        for link in list(self.links.values()):
            link.close()
        self.links.clear()
        for client in list(self.rpc_clients.values()):
            client.close()
        self.rpc_clients.clear()
        for token, (reply, _) in list(self.pending.items()):
            self.pending.pop(token, None)
            reply._fail(ActorDeadError(f"{reply.description}: the system shut down"))

    # -- identities --------------------------------------------------------------------

    def new_uid(self) -> int:
        """A uid no other node of the system hands out."""
        return (self.node_id << 40) | next(self._uids)

    def export(self, cell: Cell) -> int:
        """Make ``cell`` reachable by uid from other processes; return the uid."""
        uid = cell.uid
        if not uid:
            uid = cell.uid = self.new_uid()
            if cell.state == TERMINATED:
                # Named after its end: asks to it get the error it ended with.
                self._remember_end(uid, cell)
                return uid
        if cell.state != TERMINATED:
            self.exports[uid] = cell
        return uid

    def _remember_end(self, uid: int, cell: Cell) -> None:
        cause = None if cell.extra is None else cell.extra.cause
        self.ended[uid] = (cell.path, cell.dead_error(), cause)
        if len(self.ended) > 4096:
            del self.ended[next(iter(self.ended))]

    def unexport(self, cell: Cell) -> None:
        """The actor terminated: forget it, and tell the node that supervises it."""
        uid = cell.uid
        self.exports.pop(uid, None)
        self._remember_end(uid, cell)
        waiter = self.restarting.pop(uid, None)
        if waiter is not None:
            waiter._fail(ActorDeadError(f"actor {cell.path} stopped while restarting"))
        owner = self.hosted.pop(uid, None)
        if owner is not None and owner not in self.down:
            cause = cell.extra.cause if cell.extra is not None else None
            self.control(owner, TERMINATED_OP, uid, _portable(cause))

    def ref_for(self, node_id: int, uid: int, path: str) -> ActorRef:
        """The local ref for an actor named on the wire."""
        cell = self.exports.get(uid)
        if cell is not None:
            return cell.ref
        if not uid:  # an actor that had terminated when it was named
            from ._ref import ActorRef as RefClass

            dead = RemoteCell(self, node_id, uid, path, RefClass)
            dead.state = TERMINATED
            return dead.ref
        remote = self.remotes.get(uid)
        if remote is None:
            from ._ref import ActorRef as RefClass

            remote = RemoteCell(self, node_id, uid, path, RefClass)
            if node_id == self.node_id or (
                node_id in self.down and uid not in self.proxies
            ):
                remote.state = TERMINATED
            self.remotes[uid] = remote
        return remote.ref

    # -- sending -----------------------------------------------------------------------

    def send(self, cell: RemoteCell, envelope: tuple[Any, Any, Any]) -> None:
        """Send a message to a remote actor; from any thread."""
        message, sender, reply = envelope
        if self.system.terminated:
            error = SystemShutDownError(
                f"actor system {self.system.name!r} has shut down; cannot deliver "
                f"{type(message).__name__} to {cell.path}"
            )
            if reply is None:
                raise error
            reply._fail(error)
            return
        origin = token = 0
        if reply is not None:
            if isinstance(reply, RemoteReply):
                origin, token = reply.route
            else:
                reply._loop_thread = self.thread_id
                origin, token = self.node_id, self._wait(reply, cell.node_id)
        if cell.state == TERMINATED or cell.node_id in self.down:
            self._undeliverable(cell, envelope, token)
            return

        if (
            type(message) in self.inline
            and (type(message) not in (str, bytes) or len(message) < _INLINE_LIMIT)
            and type(message) not in self.type_codecs
            and (type(message) is not int or _fits(message, self.int_range))
        ):
            item: tuple[Any, ...] = (
                (MESSAGE, cell.uid, message, sender, origin, token, reply._timeout)
                if token
                else (cell.uid, [message], sender)
            )
        else:
            try:
                data, codec_id, buffers = self._encode(message, "message")
            except MessageTooLarge as error:
                self._unwait(token)
                if reply is not None:
                    reply._fail(error)
                else:
                    self.system._dead_letter(message, sender, cell.ref, str(error))
                return
            except BaseException:
                self._unwait(token)
                raise
            item = (
                ENCODED,
                cell.uid,
                data,
                sender,
                origin,
                token,
                codec_id,
                buffers,
                None if reply is None else reply._timeout,
            )
            self._push(cell.node_id, item, len(data))
            return
        self._push(cell.node_id, item)

    def _push(self, peer: int, item: tuple[Any, ...], size: int = 64) -> None:
        link = self.links.get(peer)
        if link is None:
            link = self._open_link(peer)
        if _get_ident() == self.thread_id:
            link.push(item, size)
        else:
            link.push_foreign(item, size)

    def control(self, peer: int, op: str, *args: Any) -> None:
        """Send a control item to ``peer``; from any thread."""
        if peer in self.down:
            return
        self._push(peer, (CONTROL, op, *args))

    def _encode(self, value: Any, what: str) -> tuple[bytes, int, tuple[Any, ...]]:
        codec = self.type_codecs.get(type(value), self.codec)
        oob = codec.runs_code and _shm.AVAILABLE
        buffers: list[memoryview] | None = [] if oob else None
        data = codec.encode(value, buffers)
        size = len(data) + sum(b.nbytes for b in buffers or ())
        if size > self.max_message_size:
            raise MessageTooLarge(
                f"the {what} of type {type(value).__name__} is {size} bytes encoded, "
                f"more than the limit of {self.max_message_size} bytes "
                "(max_message_size)"
            )
        if self.codec.name == "json":
            data = data.decode("latin-1")  # type: ignore[assignment]  # JSON has no bytes
        if not buffers:
            return data, codec.codec_id, ()
        shared = tuple(
            (_shm.export(b, self.shm_prefix), b.nbytes) for b in buffers if b.nbytes
        )
        return data, codec.codec_id, shared

    def _wait(self, reply: Reply[Any], peer: int) -> int:
        token = next(self._tokens)
        self.pending[token] = (reply, peer)
        pending = self.pending

        def forget(_: Reply[Any]) -> None:
            pending.pop(token, None)

        reply.add_done_callback(forget)
        return token

    def _unwait(self, token: int) -> None:
        if token:
            self.pending.pop(token, None)

    def _undeliverable(
        self, cell: RemoteCell, envelope: tuple[Any, Any, Any], token: int
    ) -> None:
        message, sender, reply = envelope
        exitcode = self.down.get(cell.node_id)
        proxy = cell.proxy
        if proxy is not None and proxy.state == TERMINATED:
            error: ActorDeadError = proxy.dead_error()  # knows how it ended
            reason = "actor stopped"
        elif cell.node_id in self.down:
            error = self._crash_error(cell.node_id, exitcode, cell.path)
            reason = "worker crashed"
        else:
            error = ActorDeadError(f"actor {cell.path} has stopped")
            reason = "actor stopped"
        self._unwait(token)
        if reply is not None:
            reply._fail(error)
        else:
            self.system._dead_letter(message, sender, cell.ref, reason)

    def send_system(self, cell: RemoteCell, message: object) -> None:
        """A system message for a remote actor that no local proxy stands for."""
        kind = type(message)
        if kind is Stop:
            reply = message.reply  # type: ignore[attr-defined]
            if cell.state == TERMINATED or cell.node_id in self.down:
                if reply is not None:
                    reply._answer(False)
                return
            if reply is None:
                reply = Reply(None, f"stop of {cell.path}")
            reply.add_done_callback(lambda _: _ended(cell))
            token = self._wait(reply, cell.node_id)
            self.control(cell.node_id, STOP, cell.uid, self.node_id, token)
        elif kind is Watch:
            watcher = message.watcher  # type: ignore[attr-defined]
            self._watch(cell, watcher)
        elif kind is Unwatch:
            watcher = message.watcher  # type: ignore[attr-defined]
            if cell.watchers is not None:
                cell.watchers.pop(watcher, None)
            if not isinstance(watcher, Reply):
                self.control(cell.node_id, UNWATCH, cell.uid, watcher.ref)
        elif kind is DeathNotice:
            dead = message.cell  # type: ignore[attr-defined]
            cause = _portable(message.cause)  # type: ignore[attr-defined]
            self.control(cell.node_id, NOTICE, cell.uid, dead.ref, cause)

    def _watch(self, cell: RemoteCell, watcher: Any) -> None:
        if cell.state == TERMINATED or cell.node_id in self.down:
            self._notify(cell, watcher, self._death_cause(cell))
            return
        if cell.watchers is None:
            cell.watchers = {}
        cell.watchers[watcher] = None
        if isinstance(watcher, Reply):
            token = self._wait(watcher, -1)
            self.control(cell.node_id, WATCH, cell.uid, None, self.node_id, token)
        else:
            self.control(cell.node_id, WATCH, cell.uid, watcher.ref, 0, 0)

    def _death_cause(self, cell: RemoteCell) -> BaseException | None:
        if cell.node_id in self.down:
            return self._crash_error(cell.node_id, self.down[cell.node_id], cell.path)
        return None

    def _notify(
        self, cell: RemoteCell, watcher: Any, cause: BaseException | None
    ) -> None:
        from ._messages import Terminated

        if isinstance(watcher, Reply):
            if not watcher.done():
                watcher._answer(Terminated(cell.ref, cause))
        else:
            watcher.post_system(DeathNotice(cell, cause))  # type: ignore[arg-type]

    def send_outcome(self, origin: int, token: int, state: int, value: object) -> None:
        """Send the outcome of an ask back to the node that waits; any thread."""
        if not token or origin in self.down:
            return
        if state == _CANCELLED:
            return
        if state != _DONE:
            cause = getattr(value, "__cause__", None)
            value = _portable(value)
            if cause is not None:
                value = (value, _portable(cause))  # pickle drops __cause__
        if (
            type(value) in self.inline
            and (type(value) not in (str, bytes) or len(value) < _INLINE_LIMIT)  # type: ignore[arg-type]
            and (type(value) is not int or _fits(value, self.int_range))
        ):
            item: tuple[Any, ...] = (OUTCOME, token, state, value)
        else:
            try:
                data, codec_id, buffers = self._encode(value, "reply")
            except (CodecError, MessageTooLarge) as error:
                data, codec_id, buffers = self._encode(_portable(error), "error")
                state = _FAILED
            item = (ENCODED_OUTCOME, token, state, data, codec_id, buffers)
            self._push(origin, item, len(data))
            return
        self._push(origin, item)

    # -- batches on the wire -----------------------------------------------------------

    def encode_batch(self, peer: int, items: list[Any]) -> list[bytes]:
        """Encode items as frame bodies no longer than the frame limit."""
        head = bytes((self.codec.codec_id,))
        try:
            body = head + self.codec.encode(items)
        except CodecError as error:
            return self._encode_each(peer, items, head, error)
        if len(body) <= self.frame_limit or len(items) == 1:
            return [body]
        half = len(items) // 2
        return self.encode_batch(peer, items[:half]) + self.encode_batch(
            peer, items[half:]
        )

    def _encode_each(
        self, peer: int, items: list[Any], head: bytes, error: CodecError
    ) -> list[bytes]:
        bodies = []
        for item in items:
            try:
                bodies.append(head + self.codec.encode([item]))
            except CodecError as failure:
                log.error(
                    "node %d dropped an item for node %d: %s",
                    self.node_id,
                    peer,
                    failure,
                )
        if not bodies:
            log.error("node %d could not encode a batch: %s", self.node_id, error)
        return bodies

    def receive_batch(self, peer: int, body: bytes) -> None:
        """Decode one frame body from ``peer`` and act on every item in it."""
        if not body:
            raise Refused("an empty batch")
        codec = self.codecs.get(body[0])
        if codec is None or (codec.runs_code and not self.allow_pickle):
            raise Refused(f"a batch in codec {body[0]}, which this node refuses")
        token = decoding.set(self)
        try:
            items = codec.decode(memoryview(body)[1:])
        except CodecError as error:
            raise Refused(f"a batch that does not decode: {error}") from None
        finally:
            decoding.reset(token)
        if type(items) is not list:
            raise Refused("a batch that is not a list of items")
        here = _get_ident()
        trusted = codec.runs_code  # a peer that may run code here is not checked
        try:
            for item in items:
                if item[0] > 0:  # tells: (uid, [message, ...], sender)
                    self._tells(item[0], item[1], item[2], trusted, here)
                else:
                    self._receive(peer, item)
        except (TypeError, ValueError, IndexError, KeyError) as error:
            raise Refused(f"a malformed item: {error!r}") from None

    def _tells(
        self, uid: int, run: list[Any], sender: Any, trusted: bool, here: int
    ) -> None:
        """Put a run of tells from one sender into the mailbox of actor ``uid``."""
        if type(run) is not list:
            raise TypeError("a run of tells is not a list")
        if sender is not None and not trusted and type(sender) is not self.ref_class:
            raise TypeError("the sender of a run is not a ref")
        cell = self.exports.get(uid)
        if cell is None or cell.state == TERMINATED:
            gone = self._gone_ref(uid)
            for message in run:
                self.system._dead_letter(message, sender, gone, "actor stopped")
            return
        envelopes = zip(run, repeat(sender), repeat(None))
        dispatcher = cell.dispatcher
        mailbox = cell.mailbox
        if dispatcher.thread_id != here or (
            mailbox is not None and type(mailbox) is not deque
        ):
            for envelope in envelopes:
                self._put(cell, envelope)
            return
        if mailbox is None:
            mailbox = cell.open_mailbox()
        mailbox.extend(envelopes)
        if not cell.scheduled and mailbox:
            cell.scheduled = True
            dispatcher.schedule(cell)

    def _receive(self, peer: int, item: Any) -> None:
        kind = item[0]
        if kind == MESSAGE:
            _, uid, message, sender, origin, token, timeout = item
            _check(uid, origin, token)
            self._check_ref(sender)
            self._deliver(uid, message, sender, origin, token, timeout)
        elif kind == ENCODED:
            _, uid, data, sender, origin, token, codec_id, buffers, timeout = item
            _check(uid, origin, token, codec_id)
            self._check_ref(sender)
            try:
                message = self._decode(data, codec_id, buffers)
            except CodecError as error:
                self._refused_message(uid, error, origin, token)
                return
            self._deliver(uid, message, sender, origin, token, timeout)
        elif kind == OUTCOME:
            _, token, state, value = item
            _check(token, state)
            self._settle(token, state, value)
        elif kind == ENCODED_OUTCOME:
            _, token, state, data, codec_id, buffers = item
            _check(token, state, codec_id)
            try:
                value = self._decode(data, codec_id, buffers)
            except CodecError as error:
                value, state = error, _FAILED
            self._settle(token, state, value)
        elif kind == CONTROL:
            self._control(peer, item[1], item[2:])
        else:
            raise ValueError(f"unknown item kind {kind!r}")

    def _decode(self, data: Any, codec_id: int, buffers: Any) -> Any:
        codec = self.codecs.get(codec_id)
        if codec is None:
            codec = codec_by_id(codec_id, self.codecs.values())
        if codec.runs_code and not self.allow_pickle:
            raise CodecError(f"this node refuses messages in the {codec.name} codec")
        if type(data) is str:
            data = data.encode("latin-1")
        views = [_shm.attach(name, size) for name, size in buffers]
        token = decoding.set(self)
        try:
            return codec.decode(data, views)
        finally:
            decoding.reset(token)

    def _deliver(
        self,
        uid: int,
        message: Any,
        sender: Any,
        origin: int,
        token: int,
        timeout: Any = None,
    ) -> None:
        cell = self.exports.get(uid)
        reply = None
        if token:
            reply = RemoteReply(self, origin, token, "ask")
            if type(timeout) in (int, float) and timeout > 0:
                reply._timeout = timeout
                self.loop.call_later(timeout, reply.lapse)
        if cell is None or cell.state == TERMINATED:
            if reply is not None:
                ended = self.ended.get(uid)
                reply._fail(
                    ActorDeadError(f"the actor for that ask (uid {uid:x}) has stopped")
                    if ended is None
                    else _copy_error(ended[1])
                )
            else:
                gone = self._gone_ref(uid)
                self.system._dead_letter(message, sender, gone, "actor stopped")
            return
        if reply is not None:
            reply._about = (cell.ref, message)
        self._put(cell, (message, sender, reply))

    def _put(self, cell: Cell, envelope: tuple[Any, Any, Any]) -> None:
        """Deliver one envelope; what the mailbox refuses is answered, not raised.

        The mailbox's own policy (full, a missing priority key) refuses messages
        here, in the receiving process, so the sender learns of it the way a
        remote sender can: an ask fails with the error, a tell is a dead letter.
        """
        try:
            dispatcher = cell.dispatcher
            if dispatcher.thread_id != _get_ident():
                dispatcher.post(cell, envelope)
                return
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.open_mailbox()
            mailbox.append(envelope)
            if not cell.scheduled:
                cell.scheduled = True
                dispatcher.schedule(cell)
        except Exception as error:
            reply = envelope[2]
            if reply is not None:
                if not reply.done():
                    reply._fail(error)
                return
            reason = "mailbox full" if isinstance(error, MailboxFull) else str(error)
            self.system._dead_letter(envelope[0], envelope[1], cell.ref, reason)

    def _gone_ref(self, uid: int) -> ActorRef | None:
        """A terminated ref for an actor of this node that has ended, if known."""
        ended = self.ended.get(uid)
        if ended is None:
            return None
        path = ended[0]
        from ._ref import ActorRef as RefClass

        dead = RemoteCell(self, self.node_id, uid, path, RefClass)
        dead.state = TERMINATED
        return dead.ref

    def _refused_message(
        self, uid: int, error: CodecError, origin: int, token: int
    ) -> None:
        cell = self.exports.get(uid)
        log.error(
            "node %d could not decode a message for %s: %s",
            self.node_id,
            cell.path if cell else f"uid {uid:x}",
            error,
        )
        if token:
            self.send_outcome(origin, token, _FAILED, error)
        else:
            self.system._dead_letter(
                None, None, None if cell is None else cell.ref, f"undecodable: {error}"
            )

    def _settle(self, token: int, state: int, value: Any) -> None:
        entry = self.pending.pop(token, None)
        if entry is None:
            self.system._dead_letter(value, None, None, "late reply")
            return
        reply = entry[0]
        if state == _DONE:
            reply._answer(value)
            return
        if type(value) is tuple and len(value) == 2:
            error, cause = value
            error.__cause__ = cause
            value = error
        if not isinstance(value, BaseException):
            value = CodecError(f"a remote error arrived as {value!r}")
        reply._fail(value)

    # -- control items -----------------------------------------------------------------

    def _control(self, peer: int, op: str, args: tuple[Any, ...]) -> None:
        if type(op) is not str or op not in _CONTROLS:
            raise ValueError(f"unknown control {op!r}")
        # Every control's leading fields are ids: check them before they are kept.
        _check(*args[: _CONTROL_IDS[op]])
        if op == WATCH:
            _check(*args[2:4])
        elif op == RESTART:
            _check(*args[4:6])
        if op in (WATCH, UNWATCH, NOTICE):
            self._check_ref(args[1])
        _CONTROLS[op](self, peer, *args)

    def _check_ref(self, value: Any) -> None:
        if value is not None and type(value) is not self.ref_class:
            raise TypeError(f"expected a ref, got {type(value).__name__}")

    def _on_stop(self, peer: int, uid: int, origin: int, token: int) -> None:
        cell = self.exports.get(uid)
        reply = RemoteReply(self, origin, token, "stop") if token else None
        if cell is None or cell.state == TERMINATED:
            if reply is not None:
                reply._answer(False)
            return
        cell.post_system(Stop(reply))

    def _on_watch(
        self, peer: int, uid: int, watcher_ref: Any, origin: int, token: int
    ) -> None:
        cell = self.exports.get(uid)
        watcher: Any
        if watcher_ref is None:
            watcher = RemoteReply(self, origin, token, "watch")
        else:
            watcher = watcher_ref._cell
        if cell is None:
            from ._messages import Terminated

            ended = self.ended.get(uid)
            cause = None if ended is None else ended[2]
            dead = self._gone_ref(uid) or self.ref_for(
                self.node_id, uid, f"<uid {uid:x}>"
            )
            if isinstance(watcher, Reply):
                watcher._answer(Terminated(dead, cause))
            else:
                watcher.post_system(DeathNotice(dead._cell, cause))
            return
        cell.post_system(Watch(watcher))

    def _on_unwatch(self, peer: int, uid: int, watcher_ref: Any) -> None:
        cell = self.exports.get(uid)
        if cell is not None:
            cell.post_system(Unwatch(watcher_ref._cell))

    def _on_notice(
        self, peer: int, watcher_uid: int, dead_ref: Any, cause: Any
    ) -> None:
        dead = dead_ref._cell
        _ended(dead)
        watcher = self.exports.get(watcher_uid)
        if dead.is_remote and dead.watchers and watcher is not None:
            dead.watchers.pop(watcher, None)  # the notice ends that watch here
        if watcher is not None:
            watcher.post_system(DeathNotice(dead_ref._cell, cause))

    def _on_failed(
        self, peer: int, uid: int, error: BaseException, init: bool, message: Any
    ) -> None:
        proxy = self.proxies.get(uid)
        if proxy is None:
            # The actor failed while it started: its spawn's answer, on another
            # channel, may not have arrived yet.
            self.early_failures[uid] = (error, message, init)
            return
        if proxy.state >= TERMINATED:
            return
        self._proxy_failed(proxy, error, message, init)

    def _proxy_failed(
        self,
        proxy: Cell,
        error: BaseException,
        message: Any,
        init: bool,
        crashed: bool = False,
    ) -> None:
        from ._events import ActorFailed

        if crashed:  # otherwise the worker counted and announced the failure
            system = self.system
            system._failures += 1
            if ActorFailed in system.events.active:
                system.events.publish(ActorFailed(proxy.ref, error, message))
        if init:
            proxy.extras().unstarted = False
        proxy._supervise(error, message, init=init)

    def _on_resume(self, peer: int, uid: int) -> None:
        child = self.escalated.pop(uid, None)
        if child is not None:
            child.post_system(Resume())
        cell = self.exports.get(uid)
        if cell is not None and cell.state == SUSPENDED:
            cell.post_system(Resume())

    def _on_restart(
        self,
        peer: int,
        uid: int,
        error: Any,
        origin: bool,
        message: Any,
        waiter_node: int,
        token: int,
    ) -> None:
        self.escalated.pop(uid, None)
        waiter = RemoteReply(self, waiter_node, token, "restart")
        cell = self.exports.get(uid)
        if cell is None or cell.state == TERMINATED:
            waiter._fail(ActorDeadError(f"the actor (uid {uid:x}) has stopped"))
            return
        self.restarting[uid] = waiter
        cell.post_system(Restart(error, message, origin, delayed=True))

    def restarted(self, cell: Cell) -> None:
        """A hosted actor finished the restart its supervisor asked for."""
        waiter = self.restarting.pop(cell.uid, None)
        if waiter is not None:
            waiter._answer(True)

    def _shippable(self, message: Any) -> Any:
        if type(message) in self.inline:
            return message
        try:
            self._encode(message, "message")
        except Exception:
            return None
        return message

    def _on_terminated(self, peer: int, uid: int, cause: Any) -> None:
        remote = self.remotes.get(uid)
        if remote is not None:
            remote.state = TERMINATED
        proxy = self.proxies.pop(uid, None)
        if proxy is None or proxy.state == TERMINATED:
            return
        if cause is not None:
            proxy.extras().cause = cause
        from ._messages import STOP_REQUEST

        proxy.post_system(STOP_REQUEST)

    def _on_node_down(
        self, peer: int, node_id: int, exitcode: int | None, keep: Any
    ) -> None:
        self.node_lost(node_id, exitcode, set(keep))

    def _on_node_up(self, peer: int, node_id: int, slot: int, address: Any) -> None:
        self.addresses[node_id] = (
            tuple(address) if isinstance(address, list) else address
        )
        self.slots[slot] = node_id

    def _on_moved(self, peer: int, uid: int, node_id: int) -> None:
        remote = self.remotes.get(uid)
        if remote is None:
            return
        remote.node_id = node_id
        remote.state = RUNNING
        for watcher in list(remote.watchers or ()):
            if not isinstance(watcher, Reply):
                self.control(node_id, WATCH, uid, watcher.ref, 0, 0)

    def _on_gone(self, peer: int, uid: int, cause: Any) -> None:
        remote = self.remotes.get(uid)
        if remote is None or remote.state == TERMINATED:
            return
        remote.state = TERMINATED
        for watcher in list(remote.watchers or ()):
            self._notify(remote, watcher, cause)
        remote.watchers = None

    def _on_events(self, peer: int, names: Any) -> None:
        from ._events import Event

        wanted: set[type[Event]] = set()
        for name in names:
            module, _, qualname = name.rpartition(":")
            try:
                kind = resolve_class(module, qualname, Event)
            except TypeError:
                continue
            wanted.add(kind)
        for subscription in self._forwarding:
            subscription.cancel()
        events = self.system.events
        self._forwarding = [
            events.subscribe(kind, self._forward_event)
            for kind in wanted
            if kind.__name__ != "DeadLetter"  # those are always forwarded
        ]

    def _forward_event(self, event: Any) -> None:
        try:
            data, codec_id, buffers = self._encode(_portable_event(event), "event")
        except (CodecError, MessageTooLarge) as error:
            log.debug("node %d did not forward %r: %s", self.node_id, event, error)
            return
        self.control(0, EVENT, data, codec_id, buffers)

    def _on_event(self, peer: int, data: Any, codec_id: int, buffers: Any) -> None:
        event = self._decode(data, codec_id, buffers)
        self.system.events.publish(event)

    def forward_dead_letter(
        self, message: object, sender: Any, recipient: Any, reason: str
    ) -> None:
        """A worker counts its dead letters at the head too, where users look."""
        if type(message) in self.inline:
            self.control(0, DEAD_LETTER, message, None, sender, recipient, reason)
            return
        try:
            encoded = self._encode(message, "dead letter")
        except Exception:
            shown = f"<{type(message).__name__} that cannot be encoded>"
            self.control(0, DEAD_LETTER, shown, None, sender, recipient, reason)
            return
        self.control(0, DEAD_LETTER, None, encoded, sender, recipient, reason)

    def _on_dead_letter(
        self,
        peer: int,
        message: Any,
        encoded: Any,
        sender: Any,
        recipient: Any,
        reason: str,
    ) -> None:
        if encoded is not None:
            try:
                message = self._decode(*encoded)
            except CodecError as error:
                message = f"<undecodable: {error}>"
        self.system._dead_letter(message, sender, recipient, reason)

    def forward_log(self, record: logging.LogRecord) -> None:
        """A worker's log record goes to the head, whose logging is configured."""
        error = None
        if record.exc_info is not None and record.exc_info[1] is not None:
            error = _portable(record.exc_info[1])
        text = record.exc_text
        if text is None and record.exc_info is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        origin = (record.process, record.processName, record.threadName)
        self.control(
            0,
            LOG,
            record.name,
            record.levelno,
            record.getMessage(),
            error,
            text,
            origin,
        )

    def _on_log(
        self,
        peer: int,
        name: str,
        level: int,
        text: str,
        error: BaseException | None,
        error_text: str | None,
        origin: Any = None,
    ) -> None:
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(level):
            return
        exc_info = None
        if error is not None:
            try:
                raise error
            except BaseException as raised:
                exc_info = (type(raised), raised, raised.__traceback__)
        record = logger.makeRecord(
            name, level, f"(worker node {peer})", 0, text, (), exc_info
        )
        record.exc_text = error_text  # the worker's own traceback, not ours
        if type(origin) in (tuple, list) and len(origin) == 3:
            record.process, record.processName, record.threadName = origin
        logger.handle(record)

    def announce_events(self, active: frozenset[type[Any]]) -> None:
        """Have every worker forward the events that head subscribers want."""
        self._wanted = sorted(f"{t.__module__}:{t.__qualname__}" for t in active)
        # Synchronously, so that the workers forward from the moment subscribe
        # returns, whatever channel the next message takes.
        for node_id in list(self.slots.values()):
            try:
                self.rpc(node_id).call(("events", self._wanted), RPC_TIMEOUT)
            except (OSError, ConnectionError, ActorDeadError) as error:
                log.warning(
                    "node %d could not reach node %d: %s", self.node_id, node_id, error
                )

    def _broadcast_gone(self, uid: int, cause: Any) -> None:
        if self.node_id != 0:
            return
        for node_id in list(self.slots.values()):
            self.control(node_id, GONE, uid, cause)

    # -- supervision across processes --------------------------------------------------

    def report_failure(
        self,
        cell: Cell,
        error: BaseException,
        message: object,
        init: bool,
        escalated_from: Cell | None,
    ) -> None:
        """A hosted actor failed: its supervisor, in another process, decides."""
        owner = self.hosted.get(cell.uid)
        if owner is None:
            return
        waiter = self.restarting.pop(cell.uid, None)
        if waiter is not None:  # the restart failed: its supervisor decides again
            waiter._fail(_portable(error))
            return
        if escalated_from is not None:
            self.escalated[cell.uid] = escalated_from
        shown = message if type(message) in self.inline else None
        self.control(owner, FAILED, cell.uid, _portable(error), init, shown)

    def resume_remote(self, remote: RemoteCell) -> None:
        """The supervisor resumed a remote actor (restarted, if its worker died)."""
        if remote.node_id in self.down:
            proxy = remote.proxy
            if proxy is not None:
                lost = self._crash_error(remote.node_id, None, remote.path)
                proxy.post_system(Restart(lost, None, True))
            return
        self.control(remote.node_id, RESUME, remote.uid)

    async def restart_remote(
        self, remote: RemoteCell, spec: Any, error: BaseException | None, proxy: Any
    ) -> bool:
        """Restart a remote actor in place, or spawn it again on a live worker."""
        if remote.node_id not in self.down:
            order = None if proxy.extra is None else proxy.extra.pending_restart
            origin = True if order is None else order.origin
            message = None if order is None else self._shippable(order.message)
            done: Reply[bool] = Reply(RPC_TIMEOUT, f"restart of {remote.path}")
            token = self._wait(done, remote.node_id)
            self.control(
                remote.node_id,
                RESTART,
                remote.uid,
                _portable(error),
                origin,
                message,
                self.node_id,
                token,
            )
            await done  # the restart's own failure, if any, raises here
            return False
        target = await self.system._workers.live_node(remote.node_id)  # type: ignore[union-attr]
        await asyncio.to_thread(self.rpc_spawn, target, remote.uid, remote.path, spec)
        remote.node_id = target
        remote.state = RUNNING
        for node_id in list(self.slots.values()):
            if node_id != target:
                self.control(node_id, MOVED, remote.uid, target)
        return True

    def stop_early(self, remote: RemoteCell) -> None:
        """Send a stop for a proxied actor at once; its proxy awaits the answer."""
        if remote.uid in self.stopping or remote.node_id in self.down:
            return
        reply: Reply[bool] = Reply(
            self.system.shutdown_timeout, f"stop of {remote.path}"
        )
        self.stopping[remote.uid] = reply
        token = self._wait(reply, remote.node_id)
        self.control(remote.node_id, STOP, remote.uid, self.node_id, token)

    async def stop_remote(self, remote: RemoteCell) -> None:
        """Stop a remote actor and wait (bounded) until it has terminated."""
        self.proxies.pop(remote.uid, None)
        proxy = remote.proxy
        cause = None if proxy is None or proxy.extra is None else proxy.extra.cause
        if remote.state == TERMINATED or remote.node_id in self.down:
            remote.state = TERMINATED
            if remote.node_id in self.down:
                # Its node cannot tell the watchers elsewhere any more: we do.
                self._broadcast_gone(remote.uid, _portable(cause))
            return
        reply = self.stopping.pop(remote.uid, None)
        if reply is None:
            reply = Reply(self.system.shutdown_timeout, f"stop of {remote.path}")
            token = self._wait(reply, remote.node_id)
            self.control(remote.node_id, STOP, remote.uid, self.node_id, token)
        try:
            stopped_it = await reply
        except Exception as error:
            log.warning("stopping %s: %s", remote.path, error)
        else:
            if not stopped_it and proxy is not None and proxy.extra is not None:
                # It was ending already (it stopped itself): no stop request of
                # ours stopped it.
                replies = proxy.extra.stop_replies or []
                proxy.extra.stop_replies = [(r, False) for r, _ in replies]
        remote.state = TERMINATED  # its node told its watchers itself

    # -- RPC ---------------------------------------------------------------------------

    def rpc(self, node_id: int) -> RpcClient:
        """The blocking channel to ``node_id``; from any thread."""
        with self._rpc_lock:
            client = self.rpc_clients.get(node_id)
            if client is None or client.closed:
                address = self.addresses.get(node_id)
                if address is None:
                    raise WorkerCrashed(f"node {node_id} is not known or has ended")
                client = RpcClient(self, node_id, address)
                self.rpc_clients[node_id] = client
            return client

    def rpc_spawn(self, target: int, uid: int, path: str, spec: Any) -> None:
        """Create the actor ``spec`` describes on node ``target``; raise its error."""
        actor_class, args, kwargs, dispatcher, mailbox = spec
        module = actor_class.__module__
        request = (
            "spawn",
            self.node_id,
            uid,
            path,
            "__main__" if module == "__mp_main__" else module,
            actor_class.__qualname__,
            args,
            kwargs,
            dispatcher,
            mailbox,
        )
        try:
            self.rpc(target).call(request, RPC_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(
                f"the spawn of {path} on node {target} got no answer in time: its "
                f"constructor (or on_start) still runs there after {RPC_TIMEOUT} s, "
                "or that process waits for this one"
            ) from None
        except CodecError as error:
            raise CodecError(
                f"cannot send the spawn of {actor_class.__qualname__} to another "
                f"process: its arguments, mailbox and supervisor must be encodable "
                f"({error})"
            ) from None
        except (ConnectionError, OSError) as error:
            if target in self.down:
                raise self._crash_error(target, self.down[target], path) from None
            raise WorkerCrashed(
                f"cannot reach node {target} to spawn {path}: {error}"
            ) from None

    def encode_control(self, value: Any) -> bytes:
        """Encode an RPC request or response with the system's codec."""
        return bytes((self.codec.codec_id,)) + self.codec.encode(value)

    def decode_control(self, body: bytes) -> Any:
        """Decode an RPC request or response."""
        codec = self.codecs.get(body[0]) if body else None
        if codec is None or (codec.runs_code and not self.allow_pickle):
            raise Refused("an RPC in a codec this node refuses")
        token = decoding.set(self)
        try:
            return codec.decode(memoryview(body)[1:])
        except CodecError as error:
            raise Refused(f"an RPC that does not decode: {error}") from None
        finally:
            decoding.reset(token)

    def serve_request(self, peer: int, body: bytes) -> bytes:
        """Run one RPC request; return the encoded (ok, value) response."""
        request = self.decode_control(body)
        if type(request) not in (tuple, list) or not request:
            raise Refused("an RPC request that is not a tuple")
        name = request[0]
        handler = _RPCS.get(name) if type(name) is str else None
        if handler is None:
            raise Refused(f"an unknown RPC {request[0]!r}")
        try:
            outcome: tuple[bool, Any] = (True, handler(self, peer, *request[1:]))
        except Exception as error:
            outcome = (False, _portable(error))
        try:
            return self.encode_control(outcome)
        except CodecError as error:
            return self.encode_control((False, _portable(error)))

    def _rpc_spawn(
        self,
        peer: int,
        owner: int,
        uid: int,
        path: str,
        module: str,
        qualname: str,
        args: Any,
        kwargs: Any,
        dispatcher: str | None,
        mailbox: Any,
    ) -> None:
        actor_class = resolve_class(module, qualname)
        self.hosted[uid] = owner  # its start may fail: the owner must hear of it
        try:
            cell = self.system._spawn_hosted(
                self._host_cell(),
                actor_class,
                tuple(args),
                dict(kwargs or {}),
                uid,
                path,
                dispatcher,
                mailbox,
            )
        except BaseException:
            self.hosted.pop(uid, None)
            raise
        self.exports[uid] = cell

    def _rpc_lookup(self, peer: int, path: str) -> Any:
        return self.system.lookup(path)

    def _rpc_ping(self, peer: int) -> int:
        return self.node_id

    def _rpc_alive(self, peer: int, uid: int) -> bool:
        cell = self.exports.get(uid)
        return cell is not None and cell.state != TERMINATED

    def _rpc_events(self, peer: int, names: Any) -> None:
        self._on_events(peer, names)

    def alive(self, cell: RemoteCell) -> bool:
        """Whether a remote actor still lives: its proxy knows, else its node."""
        if cell.state == TERMINATED:
            return False
        proxy = cell.proxy
        if proxy is not None and proxy.state == TERMINATED:
            return False
        if cell.node_id in self.down or self.system.terminated:
            # A proxied actor of a crashed worker lives on while it is moved.
            return proxy is not None and not self.system.terminated
        try:
            living = bool(self.rpc(cell.node_id).call(("alive", cell.uid), 10.0))
        except (OSError, ConnectionError, ActorDeadError):
            living = False
        if not living:
            cell.state = TERMINATED
        return living

    def _rpc_stats(self, peer: int) -> dict[str, int]:
        system = self.system
        handled = 0
        for dispatcher in (system._dispatcher, system._thread_dispatcher):
            if dispatcher is not None:
                handled += dispatcher.handled
        return {
            "spawned": system._spawned - system._guardians,
            "terminated": system._terminated,
            "messages_handled": handled,
            "failures": system._failures,
            "restarts": system._restarts,
        }

    def _host_cell(self) -> Cell:
        if self._host is None:
            self._host = self.system._host_guardian()
        return self._host

    # -- links and failures ------------------------------------------------------------

    def _open_link(self, peer: int) -> Link:
        link = Link(self, peer)
        self.links[peer] = link
        address = self.addresses.get(peer)
        if address is None:
            self.loop.call_soon_threadsafe(self._find_and_connect, link)
        elif _get_ident() == self.thread_id:
            self.loop.create_task(link.connect(address))
        else:
            self.loop.call_soon_threadsafe(
                lambda: self.loop.create_task(link.connect(address))
            )
        return link

    def _find_and_connect(self, link: Link) -> None:
        address = self.addresses.get(link.peer)
        if address is None:
            self.link_failed(link, ConnectionError(f"node {link.peer} is not known"))
            return
        self.loop.create_task(link.connect(address))

    def link_failed(self, link: Link, error: BaseException) -> None:
        """A link could not connect or was closed by its peer."""
        if self.links.get(link.peer) is link:
            del self.links[link.peer]
        link.close()
        self._unsent(link, "link closed")
        if link.peer in self.down or self.system.terminated or self.system._stopping:
            return  # a peer that ends, or we do: nothing to warn about
        if self.node_id != 0 and link.peer == 0:
            return  # the head went away: the worker's own watch ends the process
        # A peer that closes its end is ending (the head logs a crash itself);
        # a link that cannot be made at all is worth a warning.
        level = logging.INFO if link.transport is not None else logging.WARNING
        log.log(
            level,
            "node %d lost its link to node %d (%s)",
            self.node_id,
            link.peer,
            error,
        )

    def _unsent(self, link: Link, reason: str) -> None:
        """Count what a closed link still held: tells as dead letters; asks fail."""
        items, link.outbox = link.outbox, []
        link.flush()  # takes what other threads queued into the outbox
        items += link.outbox
        link.outbox = []
        unsent = 0
        for item in items:
            if item[0] > 0:
                for message in item[1]:
                    self.system._dead_letter(message, item[2], None, reason)
            elif item[0] in (MESSAGE, ENCODED):
                entry = (
                    self.pending.pop(item[5], None) if item[4] == self.node_id else None
                )
                if entry is not None:
                    entry[0]._fail(
                        self._crash_error(
                            link.peer, self.down.get(link.peer), "an actor"
                        )
                    )
                elif item[0] == MESSAGE:
                    self.system._dead_letter(item[2], item[3], None, reason)
                else:
                    unsent += 1
        if unsent:
            self.system.dead_letters.record_many(unsent, reason)
        self.lost_in_flight += len(items)

    def node_lost(self, node_id: int, exitcode: int | None, keep: set[int]) -> None:
        """Node ``node_id`` died: fail what waited on it and tell the watchers."""
        if node_id in self.down:
            return
        self.down[node_id] = exitcode
        for slot, known in list(self.slots.items()):
            if known == node_id:
                del self.slots[slot]
        self.addresses.pop(node_id, None)
        link = self.links.pop(node_id, None)
        if link is not None:
            link.close()
            self._unsent(link, "worker crashed")
        client = self.rpc_clients.pop(node_id, None)
        if client is not None:
            client.close()

        for token, (reply, peer) in list(self.pending.items()):
            if peer == node_id:
                self.pending.pop(token, None)
                path = reply._about[0].path if isinstance(reply._about, tuple) else ""
                reply._fail(self._crash_error(node_id, exitcode, path or "an actor"))

        for remote in list(self.remotes.values()):
            if remote.node_id != node_id or remote.state == TERMINATED:
                continue
            if remote.uid in keep or remote.uid in self.proxies:
                continue
            remote.state = TERMINATED
            cause = self._crash_error(node_id, exitcode, remote.path)
            for watcher in list(remote.watchers or ()):
                self._notify(remote, watcher, cause)
            remote.watchers = None

        for proxy in list(self.proxies.values()):
            remote = remote_cell(proxy.ref)
            if remote.node_id == node_id and proxy.state != TERMINATED:
                error = self._crash_error(node_id, exitcode, remote.path)
                self._proxy_failed(proxy, error, None, False, crashed=True)

    def _crash_error(
        self, node_id: int, exitcode: int | None, path: str
    ) -> WorkerCrashed:
        how = _describe_exit(exitcode)
        return WorkerCrashed(
            f"the worker process (node {node_id}) hosting {path} died ({how})", exitcode
        )

    def dispatcher_hold(self, change: int) -> None:
        """Congested links hold the local dispatcher between slices."""
        self._hold += change
        dispatcher = self.system._dispatcher
        if dispatcher is not None:
            dispatcher.held = self._hold > 0
            if not dispatcher.held:
                dispatcher.wake()


def _copy_error(error: ActorDeadError) -> ActorDeadError:
    copy = type(error)(*error.args)
    copy.__cause__ = error.__cause__
    return copy


def _fits(number: int, bounds: tuple[int, int] | None) -> bool:
    return bounds is None or bounds[0] <= number < bounds[1]


def _check(*values: Any) -> None:
    """Ids on the wire are ints; anything else is a malformed item."""
    for value in values:
        if type(value) is not int:
            raise TypeError(f"expected an int id, got {type(value).__name__}")


def _ended(cell: Any) -> None:
    """A remote actor is known to have terminated."""
    if cell.is_remote:
        cell.state = TERMINATED


def resolve_class(
    module: str, qualname: str, base: type[Any] | None = None
) -> type[Any]:
    """Import the actor class a spawn request names, or explain why not."""
    from ._actor import Actor

    base = Actor if base is None else base
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception as error:
        hint = ""
        if module == "__main__" or "<locals>" in qualname:
            hint = (
                "; classes defined in a script's __main__ need the script to guard "
                "its start with `if __name__ == '__main__':` (or start_method='fork'),"
                " and classes defined inside functions cannot be found by name: "
                "define it at module level"
            )
        raise NotAnActorError(
            f"the worker cannot load actor class {qualname} from module {module}: "
            f"{type(error).__name__}: {error}{hint}"
        ) from None
    if not (isinstance(target, type) and issubclass(target, base)):
        raise NotAnActorError(f"{module}.{qualname} is not a {base.__name__} subclass")
    return target


def _portable_event(event: Any) -> Any:
    import dataclasses

    if not dataclasses.is_dataclass(event):
        return event
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, BaseException):
            changes[item.name] = portable_error(value)
        elif item.name == "message" and type(value) not in _INLINE:
            changes[item.name] = _printable(value)
    return dataclasses.replace(event, **changes) if changes else event  # type: ignore[type-var]


def _printable(value: Any) -> Any:
    import pickle

    try:
        pickle.dumps(value, 5)
    except Exception:
        return repr(value)
    return value


def _portable(error: Any) -> Any:
    if isinstance(error, BaseException):
        return portable_error(error)
    return error


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}"
    return f"exit status {exitcode}"


# How many leading arguments of each control are int ids.
_CONTROL_IDS = {
    STOP: 3,
    WATCH: 1,
    UNWATCH: 1,
    NOTICE: 1,
    FAILED: 1,
    RESUME: 1,
    RESTART: 1,
    TERMINATED_OP: 1,
    NODE_DOWN: 1,
    NODE_UP: 2,
    MOVED: 2,
    GONE: 1,
    EVENTS: 0,
    EVENT: 0,
    DEAD_LETTER: 0,
    LOG: 0,
}

_CONTROLS: dict[str, Callable[..., None]] = {
    STOP: Node._on_stop,
    WATCH: Node._on_watch,
    UNWATCH: Node._on_unwatch,
    NOTICE: Node._on_notice,
    FAILED: Node._on_failed,
    RESUME: Node._on_resume,
    RESTART: Node._on_restart,
    TERMINATED_OP: Node._on_terminated,
    NODE_DOWN: Node._on_node_down,
    NODE_UP: Node._on_node_up,
    MOVED: Node._on_moved,
    GONE: Node._on_gone,
    EVENTS: Node._on_events,
    EVENT: Node._on_event,
    DEAD_LETTER: Node._on_dead_letter,
    LOG: Node._on_log,
}

_RPCS: dict[str, Callable[..., Any]] = {
    "spawn": Node._rpc_spawn,
    "lookup": Node._rpc_lookup,
    "ping": Node._rpc_ping,
    "stats": Node._rpc_stats,
    "alive": Node._rpc_alive,
    "events": Node._rpc_events,
}
