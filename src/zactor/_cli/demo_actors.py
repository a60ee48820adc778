"""The actors of the word-count demo and the messages between them.

The pipeline, all of it under one :class:`Coordinator`::

    Coordinator --ReadNext--> Reader
      ^  ^   |  ^                |
      |  |   |  +---ChunkRead----+   (the chunk's bytes)
      |  |   |
      |  |   +--ask(Chunk)--> tokenizers: Router(Balancing) --> Tokenizer
      |  +------answer: Tokenized, or the tokenizer's exception--------+
      |                                                                |
      |            counters: Router(ConsistentHashing) <--Batch--------+
      |                          |
      |                          v
      +--------Counted------ PartitionCounter --Partition--> Aggregator

The readers are plain children, one file at a time each: a reader keeps its open
file between chunks, so its work is not interchangeable and a router does not
fit. The tokenizers and the counters are pools behind routers, whose design
(and why it stays exact) is in :mod:`.demo_routing`.

Flow control: the coordinator hands out work one chunk at a time and keeps at most
``window`` chunks between "read" and "counted", so the readers never get ahead of
the tokenizers and counters by more than that, and no mailbox grows with the size
of the tree. A chunk is counted once its tokenizer has answered how many batches
it sent and every one of them has been acknowledged by its counter; the run is
over when every file is read and no chunk is left. Then each counter hands its
partition to the :class:`Aggregator`, which merges them and ranks the words.

Failures: the coordinator keeps a chunk's bytes until a tokenizer has answered
for it. A tokenizer that raises (a :class:`~.demo_faults.TokenizerFault` under
``--fail-rate``, or anything else) answers the ask with its exception and is
restarted by its supervisor; the coordinator then sends the chunk again, up to
``retries`` times, and fails the run with :class:`ChunkFailedError` after that.
A tokenizer sends its batches only once the whole chunk is tokenized, after the
point where it may fail, so a failed try never counts a word.

With worker processes (``Settings.workers``) there are no readers: the
coordinator cuts the tree into tasks of whole files and pieces of files
(:func:`~.demo_text.plan_pieces`, by the files' sizes alone) and sends each task
as :class:`Pieces`, and the tokenizer, in its worker, reads the lines itself.
So the reading, the splitting and the counting all happen in the workers, and
what crosses processes is a task's few paths and offsets, its batches and the
acknowledgements. A task that failed is sent again as it is: it holds no bytes.
The tokenizers and the counters report the process they ran in, so that the
figures can be told per worker.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from io import BufferedReader
from pathlib import Path
from typing import Any

from zactor import (
    Actor,
    ActorRef,
    GetRoutees,
    Pool,
    Reply,
    Router,
    RoutingLogic,
    SystemShutDownError,
    ToAllRoutees,
    handler,
)

from .demo_faults import FaultPlan, Origin, TokenizerFault
from .demo_routing import (
    Partitioner,
    counter_logic,
    counter_supervision,
    tokenizer_logic,
    tokenizer_supervision,
)
from .demo_text import (
    SNIFF_BYTES,
    Piece,
    is_binary,
    plan_pieces,
    read_chunk,
    read_piece,
    words,
)

log = logging.getLogger(__name__)

TOKENIZERS = "tokenizers"
"""The name of the tokenizers' router, a child of the coordinator."""

COUNTERS = "counters"
"""The name of the counters' router, a child of the coordinator."""


# -- messages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """Ask the coordinator to count ``paths``; answered with a :class:`Result`."""

    paths: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class ProgressQuery:
    """Ask the coordinator how far it is; answered with a :class:`Progress`."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How much of the tree has been read so far, and how many chunks were resent."""

    files_done: int
    files_total: int
    bytes_read: int
    retries: int = 0


@dataclass(frozen=True, slots=True)
class ReadNext:
    """Read the next chunk, from a new file if ``path`` is set."""

    chunk_id: int
    path: Path | None


@dataclass(frozen=True, slots=True)
class ChunkRead:
    """A reader's answer to ReadNext: the chunk, empty if there was none.

    ``data`` is empty for an empty, binary or unreadable file; ``end_of_file``
    tells whether the reader is free for a new file, and ``skipped`` whether
    that file was left out as binary or unreadable.
    """

    reader: int
    chunk_id: int
    data: bytes = field(repr=False)
    end_of_file: bool
    skipped: bool


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines of one file, to be split into words: try ``attempt`` (from 0)."""

    chunk_id: int
    data: bytes = field(repr=False)
    origin: Origin
    attempt: int


@dataclass(frozen=True, slots=True)
class Pieces:
    """Pieces of files for a tokenizer to read and split: try ``attempt`` (from 0).

    The bytes of the pieces count as one chunk, whose place in the tree is where
    its first piece starts.
    """

    chunk_id: int
    pieces: tuple[Piece, ...]
    attempt: int

    @property
    def origin(self) -> Origin:
        """The file and offset of the first piece."""
        first = self.pieces[0]
        return first.file, first.start


@dataclass(frozen=True, slots=True)
class Tokenized:
    """A tokenizer's answer: it split a chunk into ``words`` words, sent in batches.

    ``pid`` is the tokenizer's process. For :class:`Pieces` it also tells what
    it read: ``files`` and ``skipped`` count the files whose first piece it had
    (read, or left out as binary or unreadable), ``ends`` those whose last piece
    it had, ``bytes`` the bytes it read.
    """

    chunk_id: int
    tokenizer: str
    batches: int
    words: int
    pid: int = 0
    files: int = 0
    skipped: int = 0
    ends: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Batch:
    """The words of one chunk that belong to one counter, with their counts.

    ``key`` is one of those words: the counters' router routes the batch by it.
    """

    chunk_id: int
    key: str
    counts: dict[str, int] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Counted:
    """A counter, in process ``pid``, added a batch of ``words`` words."""

    chunk_id: int
    counter: str
    words: int = 0
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Flush:
    """Hand the whole partition to ``aggregator``: nothing more is coming."""

    aggregator: ActorRef


@dataclass(frozen=True, slots=True)
class Partition:
    """One counter's partition of the words."""

    counter: str
    counts: Counter[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Merged:
    """The aggregator's merge of every partition, and each partition's size."""

    top: list[tuple[str, int]]
    counts: Counter[str] = field(repr=False)
    sizes: dict[str, int]


@dataclass(frozen=True, slots=True)
class RouterReport:
    """What one router of the pipeline is and what each of its routees did."""

    path: str
    logic: str
    routees: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a run, the answer to :class:`Run`.

    ``handled`` holds the messages handled by each kind of actor of the demo's
    own (the routers' are what is left of the system's total); ``retries`` the
    chunks sent to the tokenizers again after a failed try.
    """

    files: int
    skipped: int
    bytes: int
    words: int
    chunks: int
    top: list[tuple[str, int]]
    counts: Counter[str] = field(repr=False)
    retries: int = 0
    handled: dict[str, int] = field(default_factory=dict)
    tokenizers: RouterReport | None = None
    counters: RouterReport | None = None
    processes: dict[int, dict[str, int]] = field(default_factory=dict)


PROCESS_FIGURES = (
    "files",
    "chunks",
    "faults",
    "words_tokenized",
    "batches",
    "words_counted",
)
"""What :attr:`Result.processes` tells of each process, by its pid."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The shape of the pipeline, and the faults to inject into it.

    ``workers`` > 0 spreads the tokenizers and the counters over that many
    worker processes, which then read the files themselves (no readers).
    """

    readers: int = 2
    tokenizers: int = 4
    counters: int = 4
    chunk_size: int = 64 * 1024
    window: int = 8
    top: int = 20
    faults: FaultPlan = field(default_factory=FaultPlan)
    retries: int = 10
    workers: int = 0


class ChunkFailedError(Exception):
    """A chunk failed on every try it was given: the count cannot be complete."""


# The coordinator's own messages: outcomes of its asks, told back to it.


@dataclass(frozen=True, slots=True)
class _TokenizeOutcome:
    chunk_id: int
    reply: Reply[Tokenized]


@dataclass(frozen=True, slots=True)
class _RouteesOutcome:
    router: str
    reply: Reply[tuple[ActorRef, ...]]


def _tell_back(
    target: ActorRef, wrap: Callable[[Reply[Any]], object], reply: Reply[Any]
) -> None:
    """Tell ``target`` that ``reply`` completed; a done-callback of an ask."""
    try:
        target.tell(wrap(reply))
    except SystemShutDownError:
        pass  # the run is over already: nobody is waiting for the answer


# -- ranking ----------------------------------------------------------------------


def top_words(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent words: by count, highest first, ties by word (A-Z)."""
    return heapq.nsmallest(n, counts.items(), key=lambda item: (-item[1], item[0]))


# -- the pipeline's actors ----------------------------------------------------------


class Reader(Actor):
    """Reads one file at a time, one chunk of whole lines per ReadNext.

    It runs on the thread dispatcher, since reading a file blocks; it keeps the
    open file between messages, so a big file is never in memory at once.
    """

    def __init__(self, index: int, coordinator: ActorRef, chunk_size: int) -> None:
        self._index = index
        self._coordinator = coordinator
        self._chunk_size = chunk_size
        self._file: BufferedReader | None = None
        self._path: Path | None = None

    @handler
    def read_next(self, message: ReadNext) -> None:
        """Read the next chunk and hand it to the coordinator."""
        if message.path is not None and not self._open(message.path):
            self._answer(message.chunk_id, b"", end_of_file=True, skipped=True)
            return

        data = self._read()
        end_of_file = self._at_end()
        if end_of_file:
            self._close()
        self._answer(message.chunk_id, data, end_of_file=end_of_file, skipped=False)

    def _open(self, path: Path) -> bool:
        """Open ``path`` for reading; False if it is unreadable or binary."""
        self._close()
        try:
            file = path.open("rb")
        except OSError as error:
            log.warning("skipping %s: %s", path, error)
            return False

        try:
            binary = is_binary(file.read(SNIFF_BYTES))
            file.seek(0)
        except OSError as error:
            log.warning("skipping %s: %s", path, error)
            file.close()
            return False
        if binary:
            log.debug("skipping binary file %s", path)
            file.close()
            return False

        self._file, self._path = file, path
        return True

    def _read(self) -> bytes:
        assert self._file is not None
        try:
            return read_chunk(self._file, self._chunk_size)
        except OSError as error:
            # The file is cut short here; what was read of it is already counted.
            log.warning("stopped reading %s: %s", self._path, error)
            self._close()
            return b""

    def _at_end(self) -> bool:
        file = self._file
        if file is None:
            return True
        try:
            return not file.peek(1)
        except OSError:
            return True

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._path = None

    def _answer(
        self, chunk_id: int, data: bytes, *, end_of_file: bool, skipped: bool
    ) -> None:
        self._coordinator.tell(
            ChunkRead(self._index, chunk_id, data, end_of_file, skipped)
        )

    def on_stop(self) -> None:
        """Close the file a run that was cut short left open."""
        self._close()


class Tokenizer(Actor):
    """Splits a chunk into words and sends each counter one batch of them.

    A routee of the balancing router: it is asked for each chunk, and answers
    with :class:`Tokenized` once the batches are on their way.

    Args:
        counters: the counters' router, which routes each batch by its key.
        partitioner: groups words by the counter that router sends them to.
        faults: which tries of which chunks to fail on purpose.
        direct: tell each batch straight to the counter that owns it, which the
            router would pick anyway (see :mod:`.demo_routing`).
    """

    def __init__(
        self,
        counters: ActorRef,
        partitioner: Partitioner,
        faults: FaultPlan,
        direct: bool = False,
    ) -> None:
        self._counters = counters
        self._partitioner = partitioner
        self._faults = faults
        self._direct = direct

    @handler
    def tokenize(self, chunk: Chunk) -> Tokenized:
        """Count the chunk's words, group them by counter and send the batches."""
        return self._split(chunk.chunk_id, chunk.origin, chunk.attempt, chunk.data)

    @handler
    def read_and_tokenize(self, task: Pieces) -> Tokenized:
        """Read the pieces, then count, group and send their words like a chunk."""
        parts: list[bytes] = []
        files = skipped = ends = 0
        for piece in task.pieces:
            data = read_piece(piece)
            if piece.start == 0:
                files += data is not None
                skipped += data is None
            ends += piece.stop is None
            if data:
                parts.append(data)

        # A file's last line may lack its newline: one keeps the files apart.
        answer = self._split(
            task.chunk_id, task.origin, task.attempt, b"\n".join(parts)
        )
        size = sum(len(part) for part in parts)
        return Tokenized(
            answer.chunk_id, answer.tokenizer, answer.batches, answer.words,
            answer.pid, files, skipped, ends, size,
        )  # fmt: skip

    def _split(
        self, chunk_id: int, origin: Origin, attempt: int, data: bytes
    ) -> Tokenized:
        found = words(data)
        groups = self._partitioner.group_by_owner(Counter(found))
        # Fail, if at all, before the first batch leaves: the chunk will be sent
        # again, and a batch of a failed try would count its words twice.
        if self._faults.strikes(origin, attempt):
            raise TokenizerFault(self.context.path, chunk_id, attempt)

        for owner, group in groups:
            target = owner if self._direct else self._counters
            target.tell(Batch(chunk_id, next(iter(group)), group))
        pid = os.getpid()
        return Tokenized(chunk_id, self.context.path, len(groups), len(found), pid)


class PartitionCounter(Actor):
    """Owns the counts of the words that the counters' router sends it."""

    def __init__(self, coordinator: ActorRef) -> None:
        self._coordinator = coordinator
        self._counts: Counter[str] = Counter()

    @handler
    def add(self, batch: Batch) -> None:
        """Add a batch to the partition and acknowledge it."""
        self._counts.update(batch.counts)
        words = sum(batch.counts.values())
        counted = Counted(batch.chunk_id, self.context.path, words, os.getpid())
        self._coordinator.tell(counted)

    @handler
    def flush(self, message: Flush) -> None:
        """Hand the partition over: the run is complete."""
        message.aggregator.tell(Partition(self.context.path, self._counts))


class Aggregator(Actor):
    """Merges the partitions once all have arrived, and ranks the words."""

    def __init__(self, partitions: int, coordinator: ActorRef, top: int) -> None:
        self._partitions = partitions
        self._coordinator = coordinator
        self._top = top
        self._received: dict[str, Counter[str]] = {}

    @handler
    def partition(self, message: Partition) -> None:
        """Keep one partition; merge when it was the last one."""
        self._received[message.counter] = message.counts
        if len(self._received) < self._partitions:
            return

        merged: Counter[str] = Counter()
        for counts in self._received.values():
            merged.update(counts)
        sizes = {name: len(counts) for name, counts in self._received.items()}
        distinct = sum(sizes.values())
        if distinct != len(merged):
            raise RuntimeError(
                f"the partitions share {distinct - len(merged)} words; each word "
                "must belong to exactly one counter"
            )
        self._coordinator.tell(
            Merged(top=top_words(merged, self._top), counts=merged, sizes=sizes)
        )


# -- the coordinator ----------------------------------------------------------------


@dataclass(slots=True)
class _ReaderSlot:
    ref: ActorRef
    busy: bool = False
    has_file: bool = False
    # The index of the file being read in the run's paths, and where in it.
    file: int = 0
    offset: int = 0


@dataclass(slots=True)
class _ChunkState:
    # The chunk's bytes, kept until a tokenizer has answered for them.
    data: bytes | None = None
    origin: Origin = (0, 0)
    # With workers, what the chunk is: the pieces that a tokenizer reads.
    pieces: tuple[Piece, ...] = ()
    attempts: int = 0
    tokenized: bool = False
    # Batches sent minus batches acknowledged; a Counted may overtake the answer
    # of the tokenizer, since they come from different senders, so this can dip
    # below zero.
    outstanding: int = 0


@dataclass(slots=True)
class _Figures:
    files_done: int = 0
    files: int = 0
    skipped: int = 0
    bytes: int = 0
    words: int = 0
    chunks: int = 0
    reads: int = 0
    tries: int = 0
    retries: int = 0
    batches: int = 0
    handled: int = 0


@dataclass(slots=True)
class _Pipeline:
    readers: list[_ReaderSlot]
    aggregator: ActorRef
    counters: ActorRef
    counters_logic: RoutingLogic
    tokenizers: ActorRef | None = None
    tokenizers_logic: RoutingLogic | None = None
    # Per routee path: chunks tokenized and faults, batches counted.
    tokenizer_figures: dict[str, dict[str, int]] = field(default_factory=dict)
    counter_figures: dict[str, dict[str, int]] = field(default_factory=dict)
    # Per pid: what was tokenized and counted in that process.
    process_figures: dict[int, dict[str, int]] = field(default_factory=dict)

    def process(self, pid: int) -> dict[str, int]:
        """The figures of process ``pid``, created at zero on first use."""
        figures = self.process_figures.get(pid)
        if figures is None:
            figures = self.process_figures[pid] = dict.fromkeys(PROCESS_FIGURES, 0)
        return figures


class Coordinator(Actor):
    """Runs a count: spawns the pipeline, hands out chunks, knows when it is done."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._job: Reply[Result] | None = None
        self._pipeline: _Pipeline | None = None
        self._paths: tuple[Path, ...] = ()
        self._next_file = 0
        # With workers: the tasks not handed out yet.
        self._plan: deque[tuple[Piece, ...]] = deque()
        self._pending: dict[int, _ChunkState] = {}
        self._next_chunk = 0
        self._figures = _Figures()
        self._ready = False
        self._flushed = False
        self._over = False

    def on_stop(self) -> None:
        """Fail a run still in progress, so that nobody waits for it in vain."""
        self._fail(RuntimeError("the word count was stopped before it finished"))

    # -- the run --------------------------------------------------------------------

    @handler
    def run(self, message: Run) -> None:
        """Start counting; the ask is answered when the count is complete."""
        self._figures.handled += 1
        if self._job is not None:
            raise RuntimeError("a coordinator counts one tree only")
        self._job = self.context.defer_reply()
        self._paths = message.paths
        if self._settings.workers:
            plan = plan_pieces(list(message.paths), self._settings.chunk_size)
            self._plan = deque(plan)
            self._next_file = len(message.paths)  # no reader will open any
        # Spawned here rather than in on_start: the runtime refuses children while
        # their parent is still starting.
        self._pipeline = self._spawn_pipeline()
        self._ask_routees(COUNTERS, self._pipeline.counters)

    def _spawn_pipeline(self) -> _Pipeline:
        """Spawn the readers, the aggregator and the counters' router."""
        settings, me, spawn = self._settings, self.context.self, self.context.spawn
        readers = [
            _ReaderSlot(
                spawn(
                    Reader, i, me, settings.chunk_size,
                    name=f"reader-{i}", dispatcher="thread",
                )
            )
            for i in range(0 if settings.workers else settings.readers)
        ]  # fmt: skip
        aggregator = spawn(
            Aggregator, settings.counters, me, settings.top, name="aggregator"
        )
        logic = counter_logic()
        pool = Pool(
            PartitionCounter,
            settings.counters,
            args=(me,),
            supervisor=counter_supervision(),
            worker=self._placement(),
        )
        counters = spawn(Router, logic, pool=pool, name=COUNTERS)
        return _Pipeline(readers, aggregator, counters, logic)

    def _spawn_tokenizers(self, counter_routees: tuple[ActorRef, ...]) -> None:
        """Spawn the tokenizers' router, once the counters' routees are known."""
        pipeline, settings = self._pipeline, self._settings
        assert pipeline is not None
        logic = tokenizer_logic()
        pool = Pool(
            Tokenizer,
            settings.tokenizers,
            args=(
                pipeline.counters,
                Partitioner(counter_routees),
                settings.faults,
                settings.workers > 0,
            ),
            supervisor=tokenizer_supervision(),
            worker=self._placement(),
        )
        pipeline.tokenizers_logic = logic
        pipeline.tokenizers = self.context.spawn(
            Router, logic, pool=pool, name=TOKENIZERS
        )
        self._ask_routees(TOKENIZERS, pipeline.tokenizers)

    def _placement(self) -> str | None:
        """Where the pools put their routees: over the workers, if there are any."""
        return "spread" if self._settings.workers else None

    def _ask_routees(self, name: str, router: ActorRef) -> None:
        reply: Reply[tuple[ActorRef, ...]] = router.ask(GetRoutees())
        reply.add_done_callback(
            partial(_tell_back, self.context.self, partial(_RouteesOutcome, name))
        )

    @handler
    def routees(self, message: _RouteesOutcome) -> None:
        """A router listed its routees: go on with the start of the pipeline."""
        self._figures.handled += 1
        pipeline = self._pipeline
        assert pipeline is not None
        error = message.reply.exception(0)
        if error is not None:
            self._fail(error)
            return

        routees = message.reply.result(0)
        if message.router == COUNTERS:
            pipeline.counter_figures = {ref.path: {"batches": 0} for ref in routees}
            self._spawn_tokenizers(routees)
            return
        pipeline.tokenizer_figures = {
            ref.path: {"chunks": 0, "faults": 0} for ref in routees
        }
        self._ready = True
        self._pump()
        self._finish_if_done()

    @handler
    def progress(self, message: ProgressQuery) -> Progress:
        """Report how much has been read."""
        figures = self._figures
        figures.handled += 1
        return Progress(
            figures.files_done, len(self._paths), figures.bytes, figures.retries
        )

    # -- flow control ---------------------------------------------------------------

    def _pump(self) -> None:
        """Give every idle reader a chunk to read, while the window has room."""
        assert self._pipeline is not None
        if not self._ready or self._over:
            return
        while self._plan and len(self._pending) < self._settings.window:
            self._hand_out(self._plan.popleft())
        for slot in self._pipeline.readers:
            if len(self._pending) >= self._settings.window:
                return
            if slot.busy:
                continue
            if slot.has_file:
                self._dispatch(slot, None)
            elif self._next_file < len(self._paths):
                slot.file, slot.offset = self._next_file, 0
                self._next_file += 1
                slot.has_file = True
                self._dispatch(slot, self._paths[slot.file])

    def _hand_out(self, pieces: tuple[Piece, ...]) -> None:
        """Send a task of the plan to the tokenizers, who read it themselves."""
        chunk_id = self._next_chunk
        self._next_chunk += 1
        first = pieces[0]
        state = _ChunkState(origin=(first.file, first.start), pieces=pieces)
        self._pending[chunk_id] = state
        self._tokenize(chunk_id, state)

    def _dispatch(self, slot: _ReaderSlot, path: Path | None) -> None:
        chunk_id = self._next_chunk
        self._next_chunk += 1
        self._pending[chunk_id] = _ChunkState()
        slot.busy = True
        slot.ref.tell(ReadNext(chunk_id, path))

    @handler
    def chunk_read(self, message: ChunkRead) -> None:
        """A reader is free again: send its chunk on, or drop an empty one."""
        assert self._pipeline is not None
        figures = self._figures
        figures.handled += 1
        figures.reads += 1
        figures.bytes += len(message.data)
        slot = self._pipeline.readers[message.reader]
        slot.busy = False
        state = self._pending[message.chunk_id]
        if message.data:
            state.data, state.origin = message.data, (slot.file, slot.offset)
            slot.offset += len(message.data)
            self._tokenize(message.chunk_id, state)
        else:
            del self._pending[message.chunk_id]
        if message.end_of_file:
            slot.has_file = False
            figures.files_done += 1
            if message.skipped:
                figures.skipped += 1
            else:
                figures.files += 1

        self._pump()
        self._finish_if_done()

    def _tokenize(self, chunk_id: int, state: _ChunkState) -> None:
        """Ask the tokenizers' router to tokenize the chunk (again)."""
        assert self._pipeline is not None
        assert self._pipeline.tokenizers is not None
        chunk: Chunk | Pieces
        if state.pieces:
            chunk = Pieces(chunk_id, state.pieces, state.attempts)
        else:
            assert state.data is not None
            chunk = Chunk(chunk_id, state.data, state.origin, state.attempts)
        state.attempts += 1
        # No timeout: a tokenizer always answers, with its words or its exception.
        reply: Reply[Tokenized] = self._pipeline.tokenizers.ask(chunk)
        reply.add_done_callback(
            partial(_tell_back, self.context.self, partial(_TokenizeOutcome, chunk_id))
        )

    @handler
    def tokenize_outcome(self, message: _TokenizeOutcome) -> None:
        """A tokenizer answered for a chunk, with its words or with an exception."""
        figures = self._figures
        figures.handled += 1
        figures.tries += 1
        error = message.reply.exception(0)
        if self._over:
            return
        if error is None:
            self._tokenized(message.reply.result(0))
        else:
            self._try_failed(message.chunk_id, error)

    def _tokenized(self, answer: Tokenized) -> None:
        """The chunk's batches are on their way: now wait for their counters."""
        assert self._pipeline is not None
        figures = self._figures
        figures.words += answer.words
        self._tokenizer_figures(answer.tokenizer)["chunks"] += 1
        self._read_by_tokenizer(answer)
        process = self._pipeline.process(answer.pid)
        process["chunks"] += 1
        process["files"] += answer.files
        process["words_tokenized"] += answer.words
        state = self._pending[answer.chunk_id]
        state.data = None
        state.pieces = ()
        state.tokenized = True
        state.outstanding += answer.batches
        self._chunk_progressed(answer.chunk_id, state)

    def _read_by_tokenizer(self, answer: Tokenized) -> None:
        """Count the files and bytes that a tokenizer read (with workers only)."""
        figures = self._figures
        figures.files += answer.files
        figures.skipped += answer.skipped
        figures.files_done += answer.ends
        figures.bytes += answer.bytes

    def _try_failed(self, chunk_id: int, error: BaseException) -> None:
        """Send the chunk again, or give the run up once it is out of tries."""
        if isinstance(error, TokenizerFault):
            self._tokenizer_figures(error.tokenizer)["faults"] += 1
            assert self._pipeline is not None
            self._pipeline.process(error.pid)["faults"] += 1
        state = self._pending[chunk_id]
        if state.attempts > self._settings.retries:
            self._give_up(chunk_id, state, error)
            return

        log.debug("chunk %s failed (%s); sending it again", chunk_id, error)
        self._figures.retries += 1
        self._tokenize(chunk_id, state)

    def _give_up(self, chunk_id: int, state: _ChunkState, error: BaseException) -> None:
        file, offset = state.origin
        end: int | str = offset + len(state.data or b"")
        if state.pieces:
            stop = state.pieces[0].stop
            end = "its end" if stop is None else stop
        retries = state.attempts - 1
        tries = (
            "its only try"
            if retries == 0
            else f"all {state.attempts} of its tries ({retries} "
            f"{'retry' if retries == 1 else 'retries'})"
        )
        self._fail(
            ChunkFailedError(
                f"chunk {chunk_id} of {self._paths[file]} (bytes {offset} to {end}) "
                f"failed on {tries}; the last error: {type(error).__name__}: {error}"
            )
        )

    def _tokenizer_figures(self, path: str) -> dict[str, int]:
        assert self._pipeline is not None
        figures = self._pipeline.tokenizer_figures
        if path not in figures:
            figures[path] = {"chunks": 0, "faults": 0}
        return figures[path]

    @handler
    def counted(self, message: Counted) -> None:
        """A counter acknowledged one batch."""
        assert self._pipeline is not None
        figures = self._figures
        figures.handled += 1
        figures.batches += 1
        counter = self._pipeline.counter_figures.setdefault(
            message.counter, {"batches": 0}
        )
        counter["batches"] += 1
        process = self._pipeline.process(message.pid)
        process["batches"] += 1
        process["words_counted"] += message.words
        state = self._pending.get(message.chunk_id)
        if state is None or self._over:
            return
        state.outstanding -= 1
        self._chunk_progressed(message.chunk_id, state)

    def _chunk_progressed(self, chunk_id: int, state: _ChunkState) -> None:
        if not state.tokenized or state.outstanding:
            return
        del self._pending[chunk_id]
        self._figures.chunks += 1
        self._pump()
        self._finish_if_done()

    def _finish_if_done(self) -> None:
        """Once everything is counted, have the counters hand in their partitions."""
        assert self._pipeline is not None
        if not self._ready or self._over or self._flushed:
            return
        if self._pending or self._plan or self._next_file < len(self._paths):
            return
        if any(slot.busy or slot.has_file for slot in self._pipeline.readers):
            return

        self._flushed = True
        self._pipeline.counters.tell(ToAllRoutees(Flush(self._pipeline.aggregator)))

    # -- the end ----------------------------------------------------------------------

    @handler
    def merged(self, message: Merged) -> None:
        """The partitions are merged: answer the run."""
        figures = self._figures
        figures.handled += 1
        pipeline = self._pipeline
        assert pipeline is not None
        assert pipeline.tokenizers is not None
        for path, size in message.sizes.items():
            pipeline.counter_figures.setdefault(path, {"batches": 0})
            pipeline.counter_figures[path]["distinct_words"] = size

        counters = self._settings.counters
        result = Result(
            files=figures.files,
            skipped=figures.skipped,
            bytes=figures.bytes,
            words=figures.words,
            chunks=figures.chunks,
            counts=message.counts,
            top=message.top,
            retries=figures.retries,
            handled=self._handled(counters),
            tokenizers=RouterReport(
                pipeline.tokenizers.path,
                repr(pipeline.tokenizers_logic),
                pipeline.tokenizer_figures,
            ),
            counters=RouterReport(
                pipeline.counters.path,
                repr(pipeline.counters_logic),
                pipeline.counter_figures,
            ),
            processes=pipeline.process_figures,
        )
        if self._job is not None and not self._job.done():
            self._job.set_result(result)

    def _handled(self, counters: int) -> dict[str, int]:
        """Messages handled per kind of actor of the demo's own."""
        figures = self._figures
        handled = {"coordinator": figures.handled}
        if not self._settings.workers:
            handled["readers"] = figures.reads
        handled["tokenizers"] = figures.tries
        handled["counters"] = figures.batches + counters  # and one Flush each
        handled["aggregator"] = counters
        return handled

    def _fail(self, error: BaseException) -> None:
        self._over = True
        if self._job is not None and not self._job.done():
            self._job.set_exception(error)
