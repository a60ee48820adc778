"""The bytes on a connection between two nodes: the handshake and the frames.

A connection starts with a cookie challenge, in fixed-size messages, so that nothing
of variable length is read, and nothing is decoded, before the peer has proven that
it holds the system's cookie::

    acceptor  -> connector   MAGIC, VERSION, nonce_a (32 bytes)
    connector -> acceptor    HMAC(cookie, "connect" + nonce_a), node id (u32),
                             channel (u8), nonce_c (32 bytes)
    acceptor  -> connector   HMAC(cookie, "accept" + nonce_c)

After it, each side writes frames: a header of body length (u32, big-endian),
version (u8) and kind (u8), then the body. A frame longer than the receiver's limit,
of another version or of an unknown kind closes the connection.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from ._errors import AuthenticationError

MAGIC = b"ZACT"
VERSION = 1
NONCE_SIZE = 32
DIGEST_SIZE = 32

CHALLENGE = struct.Struct(f">4sB{NONCE_SIZE}s")
ANSWER = struct.Struct(f">{DIGEST_SIZE}sIB{NONCE_SIZE}s")
CONFIRM_SIZE = DIGEST_SIZE

HEADER = struct.Struct(">IBB")
HEADER_SIZE = HEADER.size

# Channels a connector asks for in its answer.
DATA_CHANNEL = 0
RPC_CHANNEL = 1

# Frame kinds.
BATCH = 1  # codec id (u8), then the encoded list of items
REQUEST = 2  # an RPC request: codec id (u8), then the encoded request
RESPONSE = 3  # an RPC response: codec id (u8), then the encoded outcome
KINDS = frozenset((BATCH, REQUEST, RESPONSE))


class FrameError(Exception):
    """A peer sent bytes that are not a valid frame; its connection is closed."""


def new_cookie() -> bytes:
    """A random cookie for a system whose caller did not choose one."""
    return os.urandom(32)


def challenge() -> tuple[bytes, bytes]:
    """The acceptor's first message and the nonce it holds the connector to."""
    nonce = os.urandom(NONCE_SIZE)
    return CHALLENGE.pack(MAGIC, VERSION, nonce), nonce


def answer(
    cookie: bytes, data: bytes, node_id: int, channel: int
) -> tuple[bytes, bytes]:
    """The connector's reply to ``data`` (a challenge) and the nonce it sent."""
    if len(data) != CHALLENGE.size:
        raise AuthenticationError("the peer's challenge has the wrong size")
    magic, version, nonce = CHALLENGE.unpack(data)
    if magic != MAGIC:
        raise AuthenticationError("the peer is not a zactor node (bad magic)")
    if version != VERSION:
        raise AuthenticationError(
            f"the peer speaks transport version {version}, this node {VERSION}"
        )
    own = os.urandom(NONCE_SIZE)
    digest = _digest(cookie, b"connect", nonce)
    return ANSWER.pack(digest, node_id, channel, own), own


def check_answer(cookie: bytes, nonce: bytes, data: bytes) -> tuple[int, int, bytes]:
    """Verify a connector's answer; return its node id, channel and nonce."""
    if len(data) != ANSWER.size:
        raise AuthenticationError("the answer to the challenge has the wrong size")
    digest, node_id, channel, peer_nonce = ANSWER.unpack(data)
    if not hmac.compare_digest(digest, _digest(cookie, b"connect", nonce)):
        raise AuthenticationError("the peer does not hold the cookie")
    if channel not in (DATA_CHANNEL, RPC_CHANNEL):
        raise AuthenticationError(f"the peer asked for unknown channel {channel}")
    return node_id, channel, peer_nonce


def confirm(cookie: bytes, peer_nonce: bytes) -> bytes:
    """The acceptor's proof that it holds the cookie too."""
    return _digest(cookie, b"accept", peer_nonce)


def check_confirm(cookie: bytes, nonce: bytes, data: bytes) -> None:
    """Verify the acceptor's proof; raises AuthenticationError if it is wrong."""
    if len(data) != CONFIRM_SIZE or not hmac.compare_digest(
        data, _digest(cookie, b"accept", nonce)
    ):
        raise AuthenticationError("the acceptor does not hold the cookie")


def _digest(cookie: bytes, label: bytes, nonce: bytes) -> bytes:
    return hmac.new(cookie, label + nonce, hashlib.sha256).digest()


def frame(kind: int, body: bytes) -> bytes:
    """One frame: header and body."""
    return HEADER.pack(len(body), VERSION, kind) + body


class FrameReader:
    """Cuts a byte stream into frames, refusing anything malformed or too long."""

    __slots__ = ("_buffer", "_done", "_limit", "error")

    def __init__(self, limit: int) -> None:
        self._buffer = bytearray()
        self._limit = limit
        # Set once a header is refused: the frames before it were returned, and
        # nothing after it is read.
        self.error: FrameError | None = None
        self._done: list[tuple[int, bytes]] = []

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Add ``data``; return the complete frames as (kind, body) pairs.

        A header that announces another version, an unknown kind or a body
        longer than the limit sets :attr:`error`: the frames before it are
        returned, and the stream cannot be trusted after it.
        """
        if self.error is not None:
            return []
        try:
            return self._cut(data)
        except FrameError as error:
            self.error = error
            return self._done

    def _cut(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, bytes]] = []
        self._done = frames
        start = 0
        end = len(buffer)
        while end - start >= HEADER_SIZE:
            length, version, kind = HEADER.unpack_from(buffer, start)
            if version != VERSION:
                raise FrameError(f"frame of transport version {version}, not {VERSION}")
            if kind not in KINDS:
                raise FrameError(f"frame of unknown kind {kind}")
            if length > self._limit:
                raise FrameError(
                    f"frame of {length} bytes, more than the limit of {self._limit}"
                )
            body_start = start + HEADER_SIZE
            if end - body_start < length:
                break
            frames.append((kind, bytes(buffer[body_start : body_start + length])))
            start = body_start + length
        if start:
            del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)
