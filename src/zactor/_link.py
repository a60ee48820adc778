"""Connections between nodes: outgoing data links, incoming connections, RPC.

Each node listens on one socket. A node that has messages for a peer opens one
*data link* to it and only writes on it: items are collected while a dispatcher
turn runs and written as one frame when the turn ends (or when enough have piled
up), so a write carries hundreds of messages. The acceptor side only reads.
Ordering holds per link, hence per sender and receiver.

Blocking request/response calls (spawn, lookup) use a separate *RPC channel*: a
plain socket owned by the caller, so that a spawn from any thread returns only
when the actor exists, with the constructor's error if it raised.

Both kinds of connection start with the cookie challenge of :mod:`._wire`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _wire
from ._errors import AuthenticationError, SystemShutDownError

if TYPE_CHECKING:
    from ._node import Node

log = logging.getLogger(__name__)

_get_ident = threading.get_ident

# A batch is written at once when this many items wait, without waiting for the
# end of the turn, so that one long turn cannot build an unbounded batch.
FLUSH_AT = 8192
# Encoded bytes that make the link write at once, without waiting for the turn.
BATCH_BYTES = 1024 * 1024
# Bytes a link may hold in its transport's buffer before senders are held back.
HIGH_WATER = 4 * 1024 * 1024
HANDSHAKE_TIMEOUT = 5.0
# A link that wrote nothing for this long writes the next item at once.
IDLE = 0.0005

_clock = time.monotonic


def connect_socket(address: str | tuple[str, int], timeout: float) -> socket.socket:
    """A blocking socket connected to a node's address."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def handshake_blocking(
    sock: socket.socket, cookie: bytes, node_id: int, channel: int
) -> None:
    """Prove the cookie to an acceptor, and check its proof, on a blocking socket."""
    data = _recv_exactly(sock, _wire.CHALLENGE.size)
    message, nonce = _wire.answer(cookie, data, node_id, channel)
    sock.sendall(message)
    _wire.check_confirm(cookie, nonce, _recv_exactly(sock, _wire.CONFIRM_SIZE))


class RpcClient:
    """A blocking request/response channel to one node; thread-safe."""

    def __init__(self, node: Node, peer: int, address: str | tuple[str, int]) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._sock = connect_socket(address, HANDSHAKE_TIMEOUT)
        try:
            handshake_blocking(self._sock, node.cookie, node.node_id, _wire.RPC_CHANNEL)
        except BaseException:
            self._sock.close()
            raise
        self.peer = peer
        self.closed = False

    def call(self, request: Any, timeout: float) -> Any:
        """Send ``request``; return the decoded response, or raise its error."""
        body = self._node.encode_control(request)
        with self._lock:
            if self.closed:
                raise ConnectionError(f"the channel to node {self.peer} is closed")
            try:
                self._sock.settimeout(timeout)
                self._sock.sendall(_wire.frame(_wire.REQUEST, body))
                header = _recv_exactly(self._sock, _wire.HEADER_SIZE)
                length, version, kind = _wire.HEADER.unpack(header)
                if version != _wire.VERSION or kind != _wire.RESPONSE:
                    raise ConnectionError(f"node {self.peer} sent a malformed response")
                if length > self._node.frame_limit:
                    raise ConnectionError(
                        f"node {self.peer} sent an oversized response"
                    )
                response = _recv_exactly(self._sock, length)
            except BaseException:
                self.close()
                raise
        ok, value = self._node.decode_control(response)
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Close the socket; later calls raise ConnectionError."""
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass


class Link:
    """The outgoing data connection to one peer node."""

    def __init__(self, node: Node, peer: int) -> None:
        self.node = node
        self.peer = peer
        self.outbox: list[Any] = []
        # The run of tells at the end of the outbox, and the uid they go to.
        self.run: list[Any] = []
        self.run_uid = 0
        self.run_sender: Any = None
        self.queued = 0
        self.bytes_queued = 0
        self._foreign_bytes = 0
        self.armed = False
        self.armed_at = 0.0
        self.flushed_at = 0.0
        self.transport: asyncio.WriteTransport | None = None
        self.closed = False
        self.congested = False
        self._foreign: list[Any] = []
        self._foreign_armed = False
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._drain: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._watching: asyncio.Task[None] | None = None

    # -- sending -----------------------------------------------------------------------

    def push(self, item: Any, size: int = 0) -> None:
        """Queue an item (an ask, a reply, a control); only on the loop thread.

        On an idle link the item is written at once: an answer from a handler
        that takes long must not wait for the rest of its dispatcher turn. Items
        that follow within the same burst are batched, and written when the turn
        ends or, at the latest, a millisecond after the batch began.
        """
        outbox = self.outbox
        outbox.append(item)
        self.run_uid = 0  # tells after this item start a new run
        self.queued += 1
        self.bytes_queued += size
        now = _clock()
        if self.queued >= FLUSH_AT or self.bytes_queued > BATCH_BYTES:
            self.flush()
        elif not self.armed:
            if now - self.flushed_at > IDLE:
                self.flush()
                return
            self.armed = True
            self.armed_at = now
            self.node.loop.call_soon(self.flush)
        elif now - self.armed_at > IDLE * 2:
            self.flush()

    def push_foreign(self, item: Any, size: int = 0) -> None:
        """Queue an item from another thread; waits while the link is congested.

        It also waits while what other threads queued and the loop has not
        written yet passes the high-water mark, so that a thread sending faster
        than the loop writes is held back too.
        """
        with self._lock:
            while (
                self.congested or self._foreign_bytes > HIGH_WATER
            ) and not self.closed:
                self._room.wait(1.0)
            self._foreign.append(item)
            self._foreign_bytes += size
            if self._foreign_armed:
                return
            self._foreign_armed = True
        try:
            self.node.loop.call_soon_threadsafe(self.flush)
        except RuntimeError:
            raise SystemShutDownError("the actor system has shut down") from None

    def flush(self) -> None:
        """Write everything queued as frames; runs on the loop thread."""
        self.armed = False
        self.flushed_at = _clock()
        self.run_uid = 0
        self.queued = 0
        self.bytes_queued = 0
        if self._foreign_armed:
            with self._lock:
                foreign, self._foreign = self._foreign, []
                self._foreign_armed = False
                self._foreign_bytes = 0
                self._room.notify_all()
            self.outbox.extend(foreign)
        if self.closed or self.transport is None or not self.outbox:
            return  # connecting: the connection flushes when it is made

        items, self.outbox = self.outbox, []
        for body in self.node.encode_batch(self.peer, items):
            data = _wire.frame(_wire.BATCH, body)
            self.node.bytes_sent += len(data)
            self.transport.write(data)
        if self.transport.get_write_buffer_size() > HIGH_WATER:
            self._hold()

    def _hold(self) -> None:
        """The peer reads slower than we write: hold senders back until it drains."""
        if self.congested:
            return
        self.congested = True
        self.node.dispatcher_hold(+1)
        self._drain = self.node.loop.create_task(self._await_drain())

    async def _await_drain(self) -> None:
        writer = self._writer
        if writer is not None:
            try:
                await writer.drain()  # returns below the transport's low-water mark
            except (ConnectionError, OSError):
                pass
        self._release()

    def _release(self) -> None:
        if not self.congested:
            return
        with self._lock:
            self.congested = False
            self._room.notify_all()
        self.node.dispatcher_hold(-1)

    # -- connecting --------------------------------------------------------------------

    async def connect(self, address: str | tuple[str, int]) -> None:
        """Open the connection, prove the cookie, then write what waits."""
        writer: asyncio.StreamWriter | None = None
        try:
            if isinstance(address, str):
                reader, writer = await asyncio.open_unix_connection(address)
            else:
                reader, writer = await asyncio.open_connection(*address)
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                data = await reader.readexactly(_wire.CHALLENGE.size)
                message, nonce = _wire.answer(
                    self.node.cookie, data, self.node.node_id, _wire.DATA_CHANNEL
                )
                writer.write(message)
                proof = await reader.readexactly(_wire.CONFIRM_SIZE)
                _wire.check_confirm(self.node.cookie, nonce, proof)
        except (OSError, EOFError, TimeoutError, AuthenticationError) as error:
            if writer is not None:
                writer.close()
            log.warning(
                "node %d could not connect to node %d: %s",
                self.node.node_id,
                self.peer,
                error,
            )
            self.node.link_failed(self, error)
            return
        if self.closed:
            writer.close()
            return
        self._writer = writer  # dropping the writer would close the transport
        self.transport = writer.transport
        writer.transport.set_write_buffer_limits(HIGH_WATER, HIGH_WATER // 2)
        self._watching = self.node.loop.create_task(self._watch_close(reader))
        self.flush()

    async def _watch_close(self, reader: asyncio.StreamReader) -> None:
        try:
            await reader.read()  # the acceptor never writes: this waits for EOF
        except OSError:
            pass
        if not self.closed:
            self.node.link_failed(self, ConnectionError("the peer closed the link"))

    def close(self) -> None:
        """Drop the connection; queued items are dropped by the caller."""
        self.closed = True
        watching = self._watching
        if (
            watching is not None
            and not watching.done()
            and self.node.thread_id == threading.get_ident()
        ):
            watching.cancel()
        if self.transport is not None:
            self.transport.close()
        self._release()
        with self._lock:
            self._room.notify_all()


class Inbound(asyncio.Protocol):
    """One accepted connection: handshake first, then frames."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.transport: asyncio.Transport | None = None
        self.peer = -1
        self.channel = -1
        self._nonce = b""
        self._pending = bytearray()
        self._reader = _wire.FrameReader(node.frame_limit)
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        message, self._nonce = _wire.challenge()
        self.transport.write(message)  # type: ignore[union-attr]
        self._timer = self.node.loop.call_later(
            HANDSHAKE_TIMEOUT, self._refuse, "no answer to the challenge in time"
        )

    def data_received(self, data: bytes) -> None:
        if self.peer < 0:
            self._authenticate(data)
            return
        self.node.bytes_received += len(data)
        frames = self._reader.feed(data)
        for kind, body in frames:
            if not self._handle(kind, body):
                return
        if self._reader.error is not None:  # after the whole frames before it
            self._refuse(str(self._reader.error))

    def _authenticate(self, data: bytes) -> None:
        self._pending += data
        size = _wire.ANSWER.size
        if len(self._pending) < size:
            return
        if len(self._pending) > size:
            self._refuse("it sent more than the answer before it was accepted")
            return
        try:
            peer, channel, peer_nonce = _wire.check_answer(
                self.node.cookie, self._nonce, bytes(self._pending)
            )
        except AuthenticationError as error:
            self._refuse(str(error))
            return
        if self._timer is not None:
            self._timer.cancel()
        self._pending = bytearray()
        self.peer = peer
        self.channel = channel
        assert self.transport is not None
        self.transport.write(_wire.confirm(self.node.cookie, peer_nonce))

    def _handle(self, kind: int, body: bytes) -> bool:
        expected = _wire.BATCH if self.channel == _wire.DATA_CHANNEL else _wire.REQUEST
        if kind != expected:
            self._refuse(f"frame of kind {kind} on the wrong channel")
            return False
        try:
            if kind == _wire.BATCH:
                self.node.receive_batch(self.peer, body)
            else:
                self._respond(body)
        except _Refused as refusal:
            self._refuse(str(refusal))
            return False
        except Exception as error:  # a frame that breaks the node's expectations
            self._refuse(f"a frame it could not handle: {error!r}")
            return False
        return True

    def _respond(self, body: bytes) -> None:
        response = self.node.serve_request(self.peer, body)
        assert self.transport is not None
        self.transport.write(_wire.frame(_wire.RESPONSE, response))

    def _refuse(self, reason: str) -> None:
        """Log why, and close: nothing more from this peer is read."""
        who = "an unauthenticated peer" if self.peer < 0 else f"node {self.peer}"
        log.warning(
            "node %d closed a connection from %s: %s", self.node.node_id, who, reason
        )
        self.node.refused += 1
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.transport = None


class _Refused(Exception):
    """Raised by the node while handling a frame that breaks the protocol."""


Refused = _Refused
OnClose = Callable[[], None]
