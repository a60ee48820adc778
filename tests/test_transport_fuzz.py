"""Transport robustness: what a node does with bytes that break its protocol.

A node refuses, logs and counts (``node.refused``) every connection whose peer does
not prove the cookie or, once it has, sends frames that are not valid. It decodes
nothing before the cookie is proven and keeps serving its actors afterwards.

Most cases drive the accepting protocol (:class:`~zactor._link.Inbound`) of a live
head node directly, on the node's loop thread, with an in-memory transport: that
makes thousands of generated cases cheap. The rest go through real Unix and TCP
sockets, so that the event loop's own transports are covered too.

A pickle payload whose decoding appends to :data:`DECODED` goes along with the
garbage: it proves that nothing was decoded where nothing may be.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import inspect
import itertools
import json
import logging
import os
import pickle
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PATIENCE
from zactor import (
    Actor,
    ActorRef,
    ActorSystem,
    AuthenticationError,
    Terminated,
    _link,
    _wire,
)
from zactor._link import Inbound, Link, RpcClient
from zactor._node import (
    _CONTROLS,
    _RPCS,
    CONTROL,
    ENCODED,
    ENCODED_OUTCOME,
    MESSAGE,
    OUTCOME,
    Node,
)

T = TypeVar("T")

PEER_ID = 4242
CHALLENGE_SIZE = _wire.CHALLENGE.size
ANSWER_SIZE = _wire.ANSWER.size
CONFIRM_SIZE = _wire.CONFIRM_SIZE
U32 = 2**32 - 1
I64 = 2**63 - 1
FUZZ_PATIENCE = 100.0  # a whole generated run on the loop thread
ITEM_KINDS = frozenset((MESSAGE, ENCODED, OUTCOME, ENCODED_OUTCOME, CONTROL))

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fuzz(examples: int) -> settings:
    """Deterministic hypothesis settings with ``examples`` cases."""
    return settings(FUZZ, max_examples=examples)


# -- the canary -------------------------------------------------------------------

DECODED: list[str] = []


def _decoded(label: str) -> str:
    """Runs only when a canary is unpickled; returns a str, which is no batch."""
    DECODED.append(label)
    return label


class Canary:
    """Pickles to a call of :func:`_decoded`, so that decoding it leaves a trace."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        return _decoded, (self.label,)


def canary_body(label: str) -> bytes:
    """A batch or request body in the pickle codec that records its decoding."""
    return bytes((1,)) + pickle.dumps(Canary(label))


CANARY_FRAME = _wire.frame(_wire.BATCH, canary_body("before the cookie"))


@pytest.fixture(autouse=True)
def _clean_canary() -> Iterator[None]:
    DECODED.clear()
    yield
    DECODED.clear()


# -- live systems -----------------------------------------------------------------


class Echo(Actor):
    """Answers every message with itself: the proof that a system still works."""

    def receive(self, message: Any) -> Any:
        return message


@dataclass
class Live:
    """A running system with one worker, and an actor on that worker."""

    system: ActorSystem
    echo: ActorRef

    @property
    def node(self) -> Node:
        """The head's node, whose socket the cases connect to."""
        node = self.system._node
        assert node is not None
        return node

    def serves(self) -> None:
        """An ask through the head's node to the worker answers."""
        reply = self.echo.ask(["still", "serving"], timeout=PATIENCE)
        assert reply.result() == ["still", "serving"]

    def on_loop(self, work: Callable[[], T], timeout: float = PATIENCE) -> T:
        """Run ``work`` on the node's loop thread and return its result."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(work())
            except BaseException as error:
                done.set_exception(error)

        self.system.loop.call_soon_threadsafe(run)
        return done.result(timeout=timeout)

    def fuzz_on_loop(self, run: Callable[[], None]) -> None:
        """Run a whole hypothesis test on the loop thread, where the node lives.

        The in-memory cases need nothing from the loop but its thread, so running
        them all there spares a thread hop per case.
        """
        self.on_loop(run, timeout=FUZZ_PATIENCE)


@contextlib.contextmanager
def running(**options: Any) -> Iterator[Live]:
    """A started system with one worker and an Echo actor placed on it."""
    with ActorSystem(workers=1, **options) as system:
        live = Live(system, system.spawn(Echo))
        live.serves()
        yield live


@pytest.fixture(scope="module")
def head() -> Iterator[Live]:
    """The head of a pickle system on the plain asyncio loop, on a Unix socket."""
    with running(loop="asyncio") as live:
        yield live


@pytest.fixture(scope="module")
def default_head() -> Iterator[Live]:
    """The head of a system on the default loop (uvloop where it is installed)."""
    with running() as live:
        yield live


@pytest.fixture(scope="module")
def tcp_head() -> Iterator[Live]:
    """The head of a system that listens on TCP, on 127.0.0.1."""
    with running(transport="tcp") as live:
        assert live.node.address[0] == "127.0.0.1"
        yield live


@pytest.fixture(scope="module", params=["msgpack", "json"])
def safe_head(request: pytest.FixtureRequest) -> Iterator[Live]:
    """The head of a system that refuses pickle (allow_pickle=False)."""
    if request.param == "msgpack":
        pytest.importorskip("msgpack")
    with running(codec=request.param, allow_pickle=False) as live:
        yield live


@pytest.fixture(scope="module")
def scratch_head() -> Iterator[Live]:
    """A system of its own for cases that may leave an actor broken."""
    with running() as live:
        yield live


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Thousands of refusals: keep their warnings out of the log capture."""
    caplog.set_level(logging.ERROR, logger="zactor")


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A new directory with a path short enough for Unix socket names."""
    path = tempfile.mkdtemp(prefix="zfz-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- an in-memory connection --------------------------------------------------------


class MemoryTransport(asyncio.Transport):
    """Keeps what the node writes, and whether it dropped the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.aborted = False
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


@dataclass(frozen=True)
class Outcome:
    """What the node did with one connection."""

    written: bytes  # everything after its challenge
    aborted: bool
    refused: int  # how much node.refused grew
    peer: int  # the node id it accepted, -1 if none
    error: BaseException | None  # an exception that escaped the protocol


Script = Callable[[bytes], list[bytes]]


def converse(node: Node, script: Script) -> Outcome:
    """Accept one in-memory connection; ``script`` gets the challenge, gives chunks.

    Runs on the node's loop thread. Like a real transport, this one delivers
    nothing more once the node has aborted the connection.
    """
    transport = MemoryTransport()
    inbound = Inbound(node)
    before = node.refused
    inbound.connection_made(transport)
    challenge = bytes(transport.written)
    assert len(challenge) == CHALLENGE_SIZE
    assert challenge.startswith(_wire.MAGIC)

    error: BaseException | None = None
    try:
        for chunk in script(challenge):
            if transport.aborted:
                break
            inbound.data_received(chunk)
    except Exception as escaped:
        error = escaped
    finally:
        inbound.connection_lost(None)
    written = bytes(transport.written[CHALLENGE_SIZE:])
    return Outcome(
        written, transport.aborted, node.refused - before, inbound.peer, error
    )


class Handshake:
    """The connector's side of the cookie challenge, done with the real cookie."""

    def __init__(self, cookie: bytes, channel: int) -> None:
        self.cookie = cookie
        self.channel = channel
        self.nonce = b""

    def answer(self, challenge: bytes) -> bytes:
        """The answer to ``challenge``; remembers the nonce it sent."""
        message, self.nonce = _wire.answer(
            self.cookie, challenge, PEER_ID, self.channel
        )
        return message

    def check(self, confirm: bytes) -> None:
        """Raise AuthenticationError unless ``confirm`` proves the acceptor."""
        _wire.check_confirm(self.cookie, self.nonce, confirm)


def split(data: bytes, cuts: tuple[int, ...]) -> list[bytes]:
    """``data`` cut at the positions in ``cuts`` (those inside it), no empty piece."""
    bounds = [0, *(cut for cut in cuts if 0 < cut < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# -- real sockets -----------------------------------------------------------------


def dial(address: str | tuple[str, int]) -> socket.socket:
    """A blocking socket connected to a node, with the test's patience."""
    return _link.connect_socket(address, PATIENCE)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes; ConnectionError if the peer closes first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed before the expected bytes")
        data += chunk
    return bytes(data)


def send_all(sock: socket.socket, chunks: list[bytes]) -> None:
    """Send the chunks one by one; the node may close before the last one."""
    try:
        for chunk in chunks:
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


def read_to_close(sock: socket.socket) -> bytes:
    """Whatever the peer still sends until it closes; TimeoutError if it never does."""
    received = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk


def shake(sock: socket.socket, cookie: bytes, channel: int) -> None:
    """Do the handshake on a real socket with ``cookie``."""
    handshake = Handshake(cookie, channel)
    sock.sendall(handshake.answer(recv_exactly(sock, CHALLENGE_SIZE)))
    handshake.check(recv_exactly(sock, CONFIRM_SIZE))


# -- unauthenticated openings -----------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """What an unauthenticated peer sends first; some families use the challenge.

    ``blob`` is the family's own bytes (garbage, a digest, a nonce, a magic, a
    cookie), ``extra`` what follows the answer, ``channel`` the channel (or, for
    a challenge-shaped opening, the version byte), ``size`` where a truncated
    answer ends and ``cuts`` where the bytes split into reads.
    """

    family: str
    blob: bytes = b""
    extra: bytes = b""
    channel: int = 0
    size: int = 0
    cuts: tuple[int, ...] = ()

    def stream(self, challenge: bytes, cookie: bytes) -> bytes:
        """All the bytes, in one piece."""
        return _OPENINGS[self.family](self, challenge, cookie)

    def chunks(self, challenge: bytes, cookie: bytes) -> list[bytes]:
        """The bytes in the pieces they are delivered in."""
        return split(self.stream(challenge, cookie), self.cuts)


def _nonce_of(challenge: bytes) -> bytes:
    return bytes(_wire.CHALLENGE.unpack(challenge)[2])


def _right_answer(cookie: bytes, challenge: bytes, channel: int = 0) -> bytes:
    return _wire.answer(cookie, challenge, PEER_ID, channel)[0]


def _garbage(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    return opening.blob


def _wrong_digest(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    nonce = _nonce_of(challenge)
    packed = _wire.ANSWER.pack(opening.blob, PEER_ID, opening.channel, nonce)
    return packed + opening.extra


def _challenge_shaped(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    # A peer that talks like an acceptor: a challenge back, its magic from blob.
    packed = _wire.CHALLENGE.pack(opening.blob, opening.channel, _nonce_of(challenge))
    return packed + opening.extra


def _truncated(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    return _right_answer(cookie, challenge)[: opening.size]


def _answer_and_more(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    return _right_answer(cookie, challenge) + opening.extra


def _wrong_channel(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    return _right_answer(cookie, challenge, opening.channel) + opening.extra


def _stale_nonce(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    other = _wire.CHALLENGE.pack(_wire.MAGIC, _wire.VERSION, opening.blob)
    return _right_answer(cookie, other) + opening.extra


def _wrong_cookie(opening: Opening, challenge: bytes, cookie: bytes) -> bytes:
    return _right_answer(opening.blob, challenge) + opening.extra


_OPENINGS: dict[str, Callable[[Opening, bytes, bytes], bytes]] = {
    "garbage": _garbage,
    "wrong-digest": _wrong_digest,
    "challenge-shaped": _challenge_shaped,
    "truncated": _truncated,
    "answer-and-more": _answer_and_more,
    "wrong-channel": _wrong_channel,
    "stale-nonce": _stale_nonce,
    "wrong-cookie": _wrong_cookie,
}


def cut_points(below: int = 400) -> st.SearchStrategy[tuple[int, ...]]:
    """Where to split a stream into the pieces it arrives in (below ``below``).

    One draw of a few bytes, each byte a position: cheaper than a list of ints.
    """
    return st.binary(max_size=4).map(
        lambda raw: tuple(sorted({1 + byte * (below - 2) // 255 for byte in raw}))
    )


def trailers(min_size: int = 0) -> st.SearchStrategy[bytes]:
    """Bytes after an answer: garbage, a canary frame, or both."""
    return st.one_of(
        st.binary(min_size=min_size, max_size=300),
        st.just(CANARY_FRAME),
        st.binary(max_size=40).map(lambda tail: CANARY_FRAME + tail),
    )


def openings(*, one_read: bool = True) -> st.SearchStrategy[Opening]:
    """Every family of unauthenticated opening.

    ``one_read`` False leaves out the right answer followed at once by more bytes:
    on a real socket the node may read the answer alone, accept it, and take the
    rest as frames, which is the protocol working, not a refusal.
    """
    cuts = cut_points()
    garbage = st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=100).map(lambda head: head + CANARY_FRAME),
    )
    families = [
        st.builds(Opening, st.just("garbage"), blob=garbage, cuts=cuts),
        st.builds(
            Opening,
            st.just("wrong-digest"),
            blob=st.binary(min_size=32, max_size=32),
            extra=trailers(),
            channel=st.integers(0, 255),
            cuts=cuts,
        ),
        st.builds(
            Opening,
            st.just("challenge-shaped"),
            blob=st.binary(min_size=4, max_size=4),
            extra=st.binary(max_size=100),
            channel=st.integers(0, 255),
            cuts=cuts,
        ),
        st.builds(
            Opening,
            st.just("truncated"),
            size=st.integers(0, ANSWER_SIZE - 1),
            cuts=cuts,
        ),
        st.builds(
            Opening,
            st.just("wrong-channel"),
            channel=st.integers(2, 255),
            extra=trailers(),
            cuts=cuts,
        ),
        st.builds(
            Opening,
            st.just("stale-nonce"),
            blob=st.binary(min_size=32, max_size=32),
            extra=trailers(),
            cuts=cuts,
        ),
        st.builds(
            Opening,
            st.just("wrong-cookie"),
            blob=st.binary(min_size=1, max_size=40),
            extra=trailers(),
            cuts=cuts,
        ),
    ]
    if one_read:
        # Cuts stay inside the answer, so that it never arrives alone.
        families.append(
            st.builds(
                Opening,
                st.just("answer-and-more"),
                extra=trailers(min_size=1),
                cuts=cut_points(ANSWER_SIZE),
            )
        )
    return st.one_of(families)


def play_opening(live: Live, opening: Opening) -> Outcome:
    """Play an opening on an in-memory connection to the live node."""
    node = live.node
    return live.on_loop(
        lambda: converse(node, lambda challenge: opening.chunks(challenge, node.cookie))
    )


def check_unauthenticated(stream: bytes, outcome: Outcome) -> None:
    """Refused once a full answer's worth arrived, never accepted, never decoded."""
    assert outcome.error is None
    assert outcome.peer == -1
    assert outcome.written == b""  # no proof of the cookie, no response
    refused = len(stream) >= ANSWER_SIZE
    assert outcome.aborted is refused
    assert outcome.refused == int(refused)
    assert DECODED == []


# -- authenticated but malformed frames -----------------------------------------


@dataclass(frozen=True)
class Frames:
    """What an authenticated peer sends after the handshake."""

    family: str
    channel: int
    data: bytes
    cuts: tuple[int, ...] = ()
    refused: bool = True  # False: the node waits for the rest of a frame

    def chunks(self) -> list[bytes]:
        """The bytes in the pieces they are delivered in."""
        return split(self.data, self.cuts)


def plain_values() -> st.SearchStrategy[Any]:
    """Values every codec carries: None, bool, int, float, str, a list of ints."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-I64, I64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.binary(max_size=6).map(list),
    )


def _tails(min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[list[int]]:
    """The rest of an item, where only its length matters: one draw."""
    return st.binary(min_size=min_size, max_size=max_size).map(list)


def not_lists(pickled: bool) -> st.SearchStrategy[Any]:
    """Values that decode to anything but a list."""
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-I64, I64),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.dictionaries(st.text(max_size=4), plain_values(), max_size=3),
    )
    if not pickled:
        return values
    return st.one_of(
        values,
        st.binary(max_size=20),
        st.binary(max_size=4).map(tuple),
        st.frozensets(st.integers(), max_size=3),
    )


def _arity(handler: Callable[..., Any]) -> tuple[int, int]:
    """How many arguments a control handler takes after the node and the peer."""
    parameters = list(inspect.signature(handler).parameters.values())[2:]
    required = sum(1 for p in parameters if p.default is inspect.Parameter.empty)
    return required, len(parameters)


def wrong_arity_controls() -> st.SearchStrategy[list[Any]]:
    """Known control operations with too few or too many arguments."""
    cases = []
    for op, handler in sorted(_CONTROLS.items()):
        required, most = _arity(handler)
        cases += [(op, n) for n in range(10) if n < required or n > most]
    return st.tuples(st.sampled_from(cases), _tails(9, 9)).map(
        lambda t: [CONTROL, t[0][0], *t[1][: t[0][1]]]
    )


def malformed_items(pickled: bool) -> st.SearchStrategy[Any]:
    """Items of no shape the wire format has (see the docstring of zactor._node).

    A positive first field names the actor of a run of tells, a kind is one of
    the negative constants; ``>`` and ``==`` compare them, so True or 1.0 would
    pass for one: the bad heads leave them out.
    """
    value = plain_values()
    bad_head = st.one_of(
        st.integers(-I64, 0).filter(lambda head: head not in ITEM_KINDS),
        st.none(),
        st.text(max_size=4),
        st.binary(max_size=2).map(list),  # unordered against 0
    )
    bad_op = st.one_of(
        st.text(max_size=10).filter(lambda op: op not in _CONTROLS),
        st.integers(-I64, I64),
        st.none(),
        st.binary(max_size=2).map(list),  # unhashable
    )
    not_a_list = value.filter(lambda v: type(v) is not list)
    uid = st.integers(1, I64)
    shapes: list[st.SearchStrategy[Any]] = [
        not_a_list,  # a scalar or a str
        st.lists(value, max_size=2),  # a run of tells has a uid, a list, a sender
        st.tuples(uid, not_a_list, value).map(list),  # the run is no list
        st.dictionaries(st.text(max_size=4), value, max_size=6),
        st.text(max_size=12),
        st.tuples(bad_head, _tails(1, 7)).map(lambda t: [t[0], *t[1]]),
        st.tuples(st.sampled_from(sorted(ITEM_KINDS - {CONTROL})), _tails(8, 11)).map(
            lambda t: [t[0], *t[1]]  # longer than any item
        ),
        st.tuples(bad_op, _tails()).map(lambda t: [CONTROL, t[0], *t[1]]),
        wrong_arity_controls(),
    ]
    if not pickled:  # a peer that may send pickle may send any sender
        not_a_ref = st.one_of(st.integers(-I64, I64), st.text(max_size=4), _tails())
        shapes.append(st.tuples(uid, _tails(), not_a_ref).map(list))
    if pickled:
        shapes += [
            st.frozensets(st.integers(), max_size=6),
            st.binary(max_size=8).map(lambda tail: b"\x00" + tail),
            st.tuples(),
        ]
    return st.one_of(shapes)


def bad_requests(pickled: bool) -> st.SearchStrategy[Any]:
    """RPC requests that are no request: not a sequence, empty, or no such RPC."""
    name = st.one_of(
        st.text(max_size=10).filter(lambda n: n not in _RPCS),
        st.integers(-I64, I64),
        st.none(),
    )
    return st.one_of(
        not_lists(pickled).filter(lambda v: not isinstance(v, tuple)),
        st.just([]),
        st.tuples(name, _tails()).map(lambda t: [t[0], *t[1]]),
    )


def _header(length: int, version: int, kind: int) -> bytes:
    return _wire.HEADER.pack(length, version, kind)


def malformed_frames(node: Node) -> st.SearchStrategy[Frames]:
    """Frames the node must refuse, on both channels, and frames left unfinished."""
    return st.one_of(
        _header_families(node),
        _body_families(node, _wire.DATA_CHANNEL),
        _body_families(node, _wire.RPC_CHANNEL),
        _partial_frames(node),
    )


def _expected_kind(channel: int) -> int:
    return _wire.BATCH if channel == _wire.DATA_CHANNEL else _wire.REQUEST


def _header_families(node: Node) -> st.SearchStrategy[Frames]:
    limit = node.frame_limit
    channels = st.sampled_from((_wire.DATA_CHANNEL, _wire.RPC_CHANNEL))
    body = st.binary(max_size=64)
    version = st.builds(
        _header,
        st.integers(0, U32),
        st.integers(0, 255).filter(lambda v: v != _wire.VERSION),
        st.integers(0, 255),
    )
    kind = st.builds(
        _header,
        st.integers(0, limit),
        st.just(_wire.VERSION),
        st.integers(0, 255).filter(lambda k: k not in _wire.KINDS),
    )
    oversize = st.builds(
        _header,
        st.integers(limit + 1, U32),
        st.just(_wire.VERSION),
        st.sampled_from(sorted(_wire.KINDS)),
    )
    families = [
        st.builds(
            Frames,
            st.just(family),
            channels,
            st.builds(bytes.__add__, header, body),
            cut_points(),
        )
        for family, header in (("version", version), ("kind", kind), ("size", oversize))
    ]
    return st.one_of(families)


def _body_families(node: Node, channel: int) -> st.SearchStrategy[Frames]:
    codec = node.codec
    head = bytes((codec.codec_id,))
    expected = _expected_kind(channel)
    usable = {
        codec_id
        for codec_id, known in node.codecs.items()
        if node.allow_pickle or not known.runs_code
    }
    bodies: dict[str, st.SearchStrategy[bytes]] = {
        "codec": st.builds(
            bytes.__add__,
            st.sampled_from(sorted(set(range(256)) - usable)).map(
                lambda c: bytes((c,))
            ),
            st.binary(max_size=100),
        ),
        "empty": st.just(b""),
        "truncated": st.builds(
            _cut_short, _tails(max_size=12).map(codec.encode), st.integers(0, 2**16)
        ).map(lambda encoded: head + encoded),
    }
    if channel == _wire.DATA_CHANNEL:
        bodies["not-a-list"] = not_lists(codec.runs_code).map(
            lambda value: head + codec.encode(value)
        )
        bodies["bad-items"] = st.lists(
            malformed_items(codec.runs_code), min_size=1, max_size=4
        ).map(lambda items: head + codec.encode(items))
    else:
        bodies["not-a-request"] = bad_requests(codec.runs_code).map(
            lambda value: head + codec.encode(value)
        )
    wrong = sorted(_wire.KINDS - {expected})
    families = [
        st.builds(
            Frames,
            st.just(family),
            st.just(channel),
            body.map(lambda b: _wire.frame(expected, b)),
            cut_points(),
        )
        for family, body in bodies.items()
    ]
    families.append(
        st.builds(
            Frames,
            st.just("wrong-channel"),
            st.just(channel),
            st.builds(_wire.frame, st.sampled_from(wrong), st.binary(max_size=100)),
            cut_points(),
        )
    )
    return st.one_of(families)


def _cut_short(encoded: bytes, where: int) -> bytes:
    """A strict prefix of ``encoded``, which no codec decodes as the whole list."""
    return encoded[: where % len(encoded)]


def _partial_frames(node: Node) -> st.SearchStrategy[Frames]:
    """A frame cut short: the node waits for the rest and refuses nothing yet."""

    def build(channel: int, missing: int, body: bytes, keep: int) -> Frames:
        header = _header(len(body) + missing, _wire.VERSION, _expected_kind(channel))
        whole = header + body
        return Frames("partial", channel, whole[: 1 + keep % len(whole)], refused=False)

    return st.builds(
        build,
        st.sampled_from((_wire.DATA_CHANNEL, _wire.RPC_CHANNEL)),
        st.integers(1, 10_000),
        st.binary(max_size=200),
        st.integers(0, 2**16),
    )


def authenticated(cookie: bytes, frames: Frames) -> tuple[Handshake, Script]:
    """A script that proves the cookie, then sends the frames."""
    handshake = Handshake(cookie, frames.channel)

    def script(challenge: bytes) -> list[bytes]:
        return [handshake.answer(challenge), *frames.chunks()]

    return handshake, script


def play_frames(live: Live, frames: Frames) -> tuple[Handshake, Outcome]:
    """Prove the cookie on an in-memory connection, then send the frames."""
    handshake, script = authenticated(live.node.cookie, frames)
    return handshake, live.on_loop(lambda: converse(live.node, script))


def check_frames(frames: Frames, handshake: Handshake, outcome: Outcome) -> None:
    """Accepted, then refused and dropped (or left waiting for a partial frame)."""
    assert outcome.error is None
    assert outcome.peer == PEER_ID
    handshake.check(outcome.written[:CONFIRM_SIZE])
    assert outcome.written[CONFIRM_SIZE:] == b""  # nothing was answered
    assert outcome.aborted is frames.refused
    assert outcome.refused == int(frames.refused)
    assert DECODED == []


# -- 1. unauthenticated garbage ---------------------------------------------------


@pytest.mark.usefixtures("quiet")
def test_unauthenticated_openings_are_refused_and_never_decoded(head: Live) -> None:
    node = head.node

    @fuzz(5500)
    @given(opening=openings())
    def case(opening: Opening) -> None:
        streams: list[bytes] = []

        def script(challenge: bytes) -> list[bytes]:
            streams.append(opening.stream(challenge, node.cookie))
            return split(streams[0], opening.cuts)

        outcome = converse(node, script)
        check_unauthenticated(streams[0], outcome)

    head.fuzz_on_loop(case)
    head.serves()
    assert DECODED == []


def test_the_canary_records_its_decoding_after_the_handshake(head: Live) -> None:
    frames = Frames("canary", _wire.DATA_CHANNEL, CANARY_FRAME)
    _, outcome = play_frames(head, frames)

    assert DECODED == ["before the cookie"]  # decoded, then refused: not a list
    assert outcome.peer == PEER_ID
    assert outcome.aborted
    assert outcome.refused == 1


def test_each_opening_family_is_logged_as_a_refusal(
    head: Live, caplog: pytest.LogCaptureFixture
) -> None:
    reasons = {
        Opening("garbage", blob=bytes(ANSWER_SIZE)): "does not hold the cookie",
        Opening("wrong-channel", channel=9): "unknown channel 9",
        Opening("answer-and-more", extra=CANARY_FRAME): "more than the answer",
        Opening("wrong-cookie", blob=b"not the cookie"): "does not hold the cookie",
    }
    for opening, reason in reasons.items():
        caplog.clear()

        outcome = play_opening(head, opening)

        assert outcome.refused == 1
        messages = [r.getMessage() for r in caplog.records if r.name == "zactor._link"]
        assert len(messages) == 1
        assert "an unauthenticated peer" in messages[0]
        assert reason in messages[0]
    assert DECODED == []


# -- 2. authenticated but malformed frames --------------------------------------


@pytest.mark.usefixtures("quiet")
def test_malformed_frames_after_the_handshake_close_the_connection(
    head: Live,
) -> None:
    node = head.node

    @fuzz(3000)
    @given(frames=malformed_frames(node))
    def case(frames: Frames) -> None:
        handshake, script = authenticated(node.cookie, frames)
        check_frames(frames, handshake, converse(node, script))

    head.fuzz_on_loop(case)
    head.serves()


def test_a_malformed_frame_is_logged_with_its_reason(
    head: Live, caplog: pytest.LogCaptureFixture
) -> None:
    limit = head.node.frame_limit
    reasons = {
        _header(0, 7, _wire.BATCH): "transport version 7",
        _header(0, _wire.VERSION, 99): "unknown kind 99",
        _header(limit + 1, _wire.VERSION, _wire.BATCH): "more than the limit",
        _wire.frame(_wire.RESPONSE, b""): "wrong channel",
        _wire.frame(_wire.BATCH, b"\xee"): "codec 238",
        _wire.frame(_wire.BATCH, b"\x01" + pickle.dumps({"a": 1})): "not a list",
    }
    for data, reason in reasons.items():
        caplog.clear()
        frames = Frames("logged", _wire.DATA_CHANNEL, data)

        handshake, outcome = play_frames(head, frames)

        check_frames(frames, handshake, outcome)
        messages = [r.getMessage() for r in caplog.records if r.name == "zactor._link"]
        assert len(messages) == 1
        assert f"node {PEER_ID}" in messages[0]
        assert reason in messages[0]
    head.serves()


# -- 3. real sockets ----------------------------------------------------------------


def socket_cases(node: Node) -> st.SearchStrategy[Opening | Frames]:
    """Openings and malformed frames that behave the same however reads split."""
    return st.one_of(openings(one_read=False), malformed_frames(node))


def play_on_socket(
    address: str | tuple[str, int], cookie: bytes, case: Opening | Frames
) -> bool:
    """Play one case on a real connection until the node closes it.

    Returns whether the node had to refuse it; a case it need not refuse is
    ended by this side (it closes its writing half, and the node closes too).
    """
    with dial(address) as sock:
        if isinstance(case, Opening):
            stream = case.stream(recv_exactly(sock, CHALLENGE_SIZE), cookie)
            refused = len(stream) >= ANSWER_SIZE
            chunks = split(stream, case.cuts)
        else:
            shake(sock, cookie, case.channel)
            refused = case.refused
            chunks = case.chunks()
        send_all(sock, chunks)
        if not refused:
            sock.shutdown(socket.SHUT_WR)
        assert read_to_close(sock) == b""  # no proof, no response: just the close
    return refused


def run_on_socket(live: Live, case: Opening | Frames) -> None:
    """Play one case against the head's node; check it counted what it refused."""
    node = live.node
    before = node.refused

    refused = play_on_socket(node.address, node.cookie, case)

    assert node.refused - before == int(refused)
    assert DECODED == []


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("which", ["head", "default_head"])
def test_real_unix_connections_are_refused(
    which: str, request: pytest.FixtureRequest
) -> None:
    live: Live = request.getfixturevalue(which)

    @fuzz(300)
    @given(case=socket_cases(live.node))
    def case(case: Opening | Frames) -> None:
        run_on_socket(live, case)

    case()
    live.serves()


@pytest.mark.usefixtures("quiet")
def test_real_tcp_connections_are_refused(tcp_head: Live) -> None:
    @fuzz(25)
    @given(case=socket_cases(tcp_head.node))
    def case(case: Opening | Frames) -> None:
        run_on_socket(tcp_head, case)

    case()
    tcp_head.serves()


@pytest.mark.usefixtures("quiet")
def test_real_connections_to_a_worker_node_are_closed(head: Live) -> None:
    [worker_id] = head.node.slots.values()  # the one worker, where Echo runs
    worker = head.node.addresses[worker_id]

    @fuzz(100)
    @given(case=socket_cases(head.node))
    def case(case: Opening | Frames) -> None:
        play_on_socket(worker, head.node.cookie, case)

    case()
    head.serves()  # the ask goes through that worker's node


def test_a_frame_cut_short_by_close_is_dropped_undecoded(head: Live) -> None:
    node = head.node
    frame = _wire.frame(_wire.BATCH, canary_body("half a frame"))

    with dial(node.address) as sock:
        shake(sock, node.cookie, _wire.DATA_CHANNEL)
        sock.sendall(frame[:-1])
        sock.shutdown(socket.SHUT_WR)

        assert read_to_close(sock) == b""
    assert DECODED == []
    head.serves()


def test_a_silent_peer_is_dropped_after_the_handshake_timeout(
    head: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_link, "HANDSHAKE_TIMEOUT", 0.2)
    before = head.node.refused

    with dial(head.node.address) as sock:
        assert recv_exactly(sock, CHALLENGE_SIZE).startswith(_wire.MAGIC)
        assert read_to_close(sock) == b""

    assert head.node.refused == before + 1
    assert any("no answer to the challenge" in r.getMessage() for r in caplog.records)
    head.serves()


# -- 4. the wrong cookie -------------------------------------------------------------


def test_a_connector_with_the_wrong_cookie_is_refused(
    head: Live, caplog: pytest.LogCaptureFixture
) -> None:
    before = head.node.refused

    with dial(head.node.address) as sock, pytest.raises(ConnectionError):
        _link.handshake_blocking(sock, b"not the cookie", 77, _wire.RPC_CHANNEL)

    assert head.node.refused == before + 1
    messages = [r.getMessage() for r in caplog.records if r.name == "zactor._link"]
    assert len(messages) == 1
    assert "from an unauthenticated peer" in messages[0]
    assert "does not hold the cookie" in messages[0]
    head.serves()


class Impostor:
    """Plays the acceptor with a cookie of its own, on a Unix socket."""

    def __init__(self, directory: str, cookie: bytes) -> None:
        self.address = os.path.join(directory, "impostor.sock")
        self.cookie = cookie
        self.after: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.address)
        self._server.listen(1)
        self._server.settimeout(PATIENCE)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._server.accept()
            with connection:
                connection.settimeout(PATIENCE)
                self.after.set_result(self._converse(connection))
        except BaseException as error:
            self.after.set_exception(error)
        finally:
            self._server.close()

    def _converse(self, connection: socket.socket) -> bytes:
        message, _ = _wire.challenge()
        connection.sendall(message)
        answer = recv_exactly(connection, ANSWER_SIZE)
        peer_nonce = _wire.ANSWER.unpack(answer)[3]
        connection.sendall(_wire.confirm(self.cookie, peer_nonce))
        return read_to_close(connection)  # what the connector sent after the proof

    def join(self) -> None:
        """Wait until the impostor has served its one connection."""
        self._thread.join(PATIENCE)
        assert not self._thread.is_alive()


def test_an_rpc_connector_refuses_an_acceptor_with_the_wrong_cookie(
    head: Live, short_dir: str
) -> None:
    impostor = Impostor(short_dir, b"the impostor's cookie")

    with pytest.raises(AuthenticationError, match="does not hold the cookie"):
        RpcClient(head.node, 77, impostor.address)

    assert impostor.after.result(PATIENCE) == b""  # closed, nothing sent
    impostor.join()


def test_a_data_link_refuses_an_acceptor_with_the_wrong_cookie(
    head: Live, short_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = Impostor(short_dir, b"the impostor's cookie")
    link = Link(head.node, 77)
    link.outbox.append((MESSAGE, 1 << 40 | 1, "never sent", None, 0, 0))
    try:
        connect = asyncio.run_coroutine_threadsafe(
            link.connect(impostor.address), head.system.loop
        )
        connect.result(PATIENCE)

        assert link.transport is None
        assert any(
            "could not connect to node 77: the acceptor does not hold the cookie"
            in r.getMessage()
            for r in caplog.records
        )
        assert impostor.after.result(2.0) == b""
    finally:
        head.on_loop(lambda: _close_leaked_writers(impostor.address))
        impostor.join()


def _close_leaked_writers(address: str) -> None:
    """Close what a failed connect to ``address`` left open; on the loop thread.

    The socket would otherwise stay open until the log records of this test let
    it go, and then warn (ResourceWarning) in whichever test runs at that time.
    """
    for leaked in gc.get_objects():
        if (
            isinstance(leaked, asyncio.StreamWriter)
            and not leaked.transport.is_closing()
            and leaked.transport.get_extra_info("peername") == address
        ):
            leaked.close()


# -- 5. systems that refuse pickle ------------------------------------------------


def test_a_safe_codec_node_refuses_pickle_frames(
    safe_head: Live, caplog: pytest.LogCaptureFixture
) -> None:
    node = safe_head.node
    before = node.refused
    frames = {
        _wire.DATA_CHANNEL: _wire.frame(_wire.BATCH, canary_body("batch")),
        _wire.RPC_CHANNEL: _wire.frame(_wire.REQUEST, canary_body("request")),
    }

    for channel, frame in frames.items():
        with dial(node.address) as sock:
            shake(sock, node.cookie, channel)
            sock.sendall(frame)

            assert read_to_close(sock) == b""

    assert DECODED == []
    assert node.refused == before + 2
    messages = [r.getMessage() for r in caplog.records if r.name == "zactor._link"]
    assert len(messages) == 2
    assert all("codec" in message for message in messages)
    safe_head.serves()


def test_a_safe_codec_node_never_unpickles_a_message_inside_a_batch(
    safe_head: Live, caplog: pytest.LogCaptureFixture
) -> None:
    node = safe_head.node
    pickled = pickle.dumps(Canary("inside a batch"))
    # JSON carries the bytes of an encoded message as a latin-1 str.
    inner = pickled.decode("latin-1") if node.codec.name == "json" else pickled
    item: list[Any] = [ENCODED, 1 << 40 | 1, inner, None, 0, 0, 1, []]  # pickle: 1
    body = bytes((node.codec.codec_id,)) + node.codec.encode([item])
    frames = Frames("inner pickle", _wire.DATA_CHANNEL, _wire.frame(_wire.BATCH, body))
    _, script = authenticated(node.cookie, frames)

    outcome = safe_head.on_loop(lambda: converse(node, script))

    assert DECODED == []
    assert outcome.error is None
    assert outcome.aborted or any(
        "pickle" in r.getMessage()
        for r in caplog.records
        if r.name.startswith("zactor")
    )
    safe_head.serves()


def _decodes_to_list(codec_name: str, payload: bytes) -> bool:
    """Whether the node's own codec would decode ``payload`` to a list."""
    try:
        if codec_name == "json":
            value = json.loads(payload.decode("utf-8"))
        else:
            import msgpack  # type: ignore[import-untyped]

            value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception:
        return False
    return type(value) is list


@pytest.mark.usefixtures("quiet")
def test_noise_in_a_safe_codec_is_refused_or_harmless(safe_head: Live) -> None:
    node = safe_head.node
    head = bytes((node.codec.codec_id,))

    @fuzz(500)
    @given(noise=st.binary(max_size=200), cuts=cut_points())
    def case(noise: bytes, cuts: tuple[int, ...]) -> None:
        data = _wire.frame(_wire.BATCH, head + noise)
        frames = Frames("noise", _wire.DATA_CHANNEL, data, cuts)
        handshake, script = authenticated(node.cookie, frames)

        outcome = converse(node, script)

        assert outcome.error is None
        handshake.check(outcome.written[:CONFIRM_SIZE])
        assert outcome.written[CONFIRM_SIZE:] == b""
        assert outcome.refused == int(outcome.aborted)
        assert outcome.aborted or _decodes_to_list(node.codec.name, noise)

    safe_head.fuzz_on_loop(case)
    safe_head.serves()


# -- bugs: malformed items that get past the refusal ---------------------------------
# -- malformed items that must not get past the refusal -----------------------------


def _one_frame(live: Live, channel: int, body: bytes) -> Outcome:
    """Prove the cookie in memory, then send one frame of the channel's kind."""
    kind = _expected_kind(channel)
    frames = Frames("escape", channel, _wire.frame(kind, body))
    _, script = authenticated(live.node.cookie, frames)
    return live.on_loop(lambda: converse(live.node, script))


def test_a_watch_control_without_a_ref_is_refused(head: Live) -> None:
    item = (CONTROL, "watch", 1, "not a ref", 0, 0)

    outcome = _one_frame(head, _wire.DATA_CHANNEL, b"\x01" + pickle.dumps([item]))

    assert outcome.error is None, repr(outcome.error)
    assert outcome.aborted
    assert outcome.refused == 1


def test_an_rpc_with_an_unhashable_name_is_refused(head: Live) -> None:
    request = (["ping"],)

    outcome = _one_frame(head, _wire.RPC_CHANNEL, b"\x01" + pickle.dumps(request))

    assert outcome.error is None, repr(outcome.error)
    assert outcome.aborted
    assert outcome.refused == 1


def _send_and_sync(live: Live, item: tuple[Any, ...]) -> None:
    """Send ``item`` in a batch, then a frame the node refuses; wait for the close.

    The node handles frames in order, so once it has closed the connection it
    has acted on the item.
    """
    node = live.node
    with dial(node.address) as sock:
        shake(sock, node.cookie, _wire.DATA_CHANNEL)
        batch = _wire.frame(_wire.BATCH, b"\x01" + pickle.dumps([item]))
        sock.sendall(batch + _wire.frame(_wire.BATCH, b"\xee"))
        assert read_to_close(sock) == b""


def _exported_local_actor(live: Live) -> tuple[ActorRef, int]:
    local = live.system.spawn(Echo, worker="local")
    assert live.echo.ask(local, timeout=PATIENCE).result() == local  # exports it
    uid = local._cell.uid
    assert uid in live.node.exports
    return local, uid


def test_an_ask_with_a_malformed_origin_does_not_wedge_the_actor(
    scratch_head: Live,
) -> None:
    local, uid = _exported_local_actor(scratch_head)

    _send_and_sync(scratch_head, (MESSAGE, uid, "hello", None, [0], 1))

    assert local.ask("after", timeout=2.0).result() == "after"


def test_a_watch_with_a_malformed_origin_does_not_break_termination(
    scratch_head: Live,
) -> None:
    local, uid = _exported_local_actor(scratch_head)

    _send_and_sync(scratch_head, (CONTROL, "watch", uid, None, [0], 1))
    watch = scratch_head.system.watch(local)
    assert local.stop().result(PATIENCE) is True

    assert isinstance(watch.result(2.0), Terminated)
