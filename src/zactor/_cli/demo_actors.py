"""The actors of the word-count demo and the messages between them.

The pipeline, all of it children of one :class:`Coordinator`::

    Coordinator --ReadNext--> Reader --Chunk--> Tokenizer --Batch--> PartitionCounter
         ^   ^                  |                   |                      |
         |   +----ChunkRead-----+                   |                      |
         +-------------------Tokenized--------------+                      |
         +-----------------------------Counted-----------------------------+

Flow control: the coordinator hands out work one chunk at a time and keeps at most
``window`` chunks between "read" and "counted", so the readers never get ahead of
the tokenizers and counters by more than that, and no mailbox grows with the size
of the tree. A chunk is counted once its tokenizer has said how many batches it
sent and every one of them has been acknowledged by its counter; the run is over
when every file is read and no chunk is left. Then each counter hands its
partition to the :class:`Aggregator`, which merges them and ranks the words.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path

from zactor import Actor, ActorRef, Reply, handler

from .demo_text import SNIFF_BYTES, is_binary, partition_counts, read_chunk, words

log = logging.getLogger(__name__)


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
    """How much of the tree has been read so far."""

    files_done: int
    files_total: int
    bytes_read: int


@dataclass(frozen=True, slots=True)
class ReadNext:
    """Read the next chunk for ``tokenizer``, from a new file if ``path`` is set."""

    chunk_id: int
    tokenizer: ActorRef
    path: Path | None


@dataclass(frozen=True, slots=True)
class ChunkRead:
    """A reader's answer to ReadNext.

    ``sent`` is False when no chunk went to the tokenizer (an empty, binary or
    unreadable file); ``end_of_file`` tells whether the reader is free for a new
    file, and ``skipped`` whether that file was left out as binary or unreadable.
    """

    reader: int
    chunk_id: int
    size: int
    sent: bool
    end_of_file: bool
    skipped: bool


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines of one file, to be split into words."""

    chunk_id: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Tokenized:
    """A tokenizer split a chunk into ``words`` words, sent as ``batches`` batches."""

    chunk_id: int
    tokenizer: int
    batches: int
    words: int


@dataclass(frozen=True, slots=True)
class Batch:
    """The words of one chunk that belong to one counter, with their counts."""

    chunk_id: int
    counts: dict[str, int] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Counted:
    """A counter added a batch of the chunk to its partition."""

    chunk_id: int


@dataclass(frozen=True, slots=True)
class Flush:
    """Hand the whole partition to ``aggregator``: nothing more is coming."""

    aggregator: ActorRef


@dataclass(frozen=True, slots=True)
class Partition:
    """One counter's partition of the words."""

    index: int
    counts: Counter[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Merged:
    """The aggregator's merge of every partition."""

    top: list[tuple[str, int]]
    counts: Counter[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a run, the answer to :class:`Run`."""

    files: int
    skipped: int
    bytes: int
    words: int
    chunks: int
    top: list[tuple[str, int]]
    counts: Counter[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Settings:
    """The shape of the pipeline."""

    readers: int = 2
    tokenizers: int = 4
    counters: int = 4
    chunk_size: int = 64 * 1024
    window: int = 8
    top: int = 20


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
        """Read and send on the next chunk, then tell the coordinator what it did."""
        if message.path is not None and not self._open(message.path):
            self._answer(message.chunk_id, b"", end_of_file=True, skipped=True)
            return

        data = self._read()
        end_of_file = self._at_end()
        if data:
            message.tokenizer.tell(Chunk(message.chunk_id, data))
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
            ChunkRead(
                self._index, chunk_id, len(data), bool(data), end_of_file, skipped
            )
        )

    def on_stop(self) -> None:
        """Close the file a run that was cut short left open."""
        self._close()


class Tokenizer(Actor):
    """Splits chunks into words and sends each counter one batch per chunk."""

    def __init__(
        self, index: int, coordinator: ActorRef, counters: tuple[ActorRef, ...]
    ) -> None:
        self._index = index
        self._coordinator = coordinator
        self._counters = counters

    @handler
    def tokenize(self, chunk: Chunk) -> None:
        """Count the chunk's words, partition them and send the batches on."""
        found = words(chunk.data)
        batches = partition_counts(Counter(found), len(self._counters))

        sent = 0
        for counter, batch in zip(self._counters, batches, strict=True):
            if batch:
                counter.tell(Batch(chunk.chunk_id, batch))
                sent += 1
        self._coordinator.tell(Tokenized(chunk.chunk_id, self._index, sent, len(found)))


class PartitionCounter(Actor):
    """Owns the counts of the words of one partition."""

    def __init__(self, index: int, coordinator: ActorRef) -> None:
        self._index = index
        self._coordinator = coordinator
        self._counts: Counter[str] = Counter()

    @handler
    def add(self, batch: Batch) -> None:
        """Add a batch to the partition and acknowledge it."""
        self._counts.update(batch.counts)
        self._coordinator.tell(Counted(batch.chunk_id))

    @handler
    def flush(self, message: Flush) -> None:
        """Hand the partition over: the run is complete."""
        message.aggregator.tell(Partition(self._index, self._counts))


class Aggregator(Actor):
    """Merges the partitions once all have arrived, and ranks the words."""

    def __init__(self, partitions: int, coordinator: ActorRef, top: int) -> None:
        self._partitions = partitions
        self._coordinator = coordinator
        self._top = top
        self._received: dict[int, Counter[str]] = {}

    @handler
    def partition(self, message: Partition) -> None:
        """Keep one partition; merge when it was the last one."""
        self._received[message.index] = message.counts
        if len(self._received) < self._partitions:
            return

        merged: Counter[str] = Counter()
        for counts in self._received.values():
            merged.update(counts)
        distinct = sum(len(counts) for counts in self._received.values())
        if distinct != len(merged):
            raise RuntimeError(
                f"the partitions share {distinct - len(merged)} words; each word "
                "must belong to exactly one counter"
            )
        self._coordinator.tell(Merged(top=top_words(merged, self._top), counts=merged))


# -- the coordinator ----------------------------------------------------------------


@dataclass(slots=True)
class _ReaderSlot:
    ref: ActorRef
    busy: bool = False
    has_file: bool = False


@dataclass(slots=True)
class _ChunkState:
    tokenizer: int
    tokenized: bool = False
    # Batches sent minus batches acknowledged; a Counted may overtake its Tokenized,
    # since they come from different senders, so this can dip below zero.
    outstanding: int = 0


@dataclass(slots=True)
class _Figures:
    files_done: int = 0
    files: int = 0
    skipped: int = 0
    bytes: int = 0
    words: int = 0
    chunks: int = 0


@dataclass(slots=True)
class _Pipeline:
    readers: list[_ReaderSlot]
    tokenizers: tuple[ActorRef, ...]
    counters: tuple[ActorRef, ...]
    aggregator: ActorRef
    # Chunks handed to each tokenizer and not yet tokenized.
    load: list[int]


class Coordinator(Actor):
    """Runs a count: spawns the pipeline, hands out chunks, knows when it is done."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._job: Reply[Result] | None = None
        self._pipeline: _Pipeline | None = None
        self._paths: tuple[Path, ...] = ()
        self._next_file = 0
        self._pending: dict[int, _ChunkState] = {}
        self._next_chunk = 0
        self._figures = _Figures()
        self._flushed = False

    def on_stop(self) -> None:
        """Fail a run still in progress, so that nobody waits for it in vain."""
        self._fail(RuntimeError("the word count was stopped before it finished"))

    # -- the run --------------------------------------------------------------------

    @handler
    def run(self, message: Run) -> None:
        """Start counting; the ask is answered when the count is complete."""
        if self._job is not None:
            raise RuntimeError("a coordinator counts one tree only")
        self._job = self.context.defer_reply()
        self._paths = message.paths
        # Spawned here rather than in on_start: the runtime refuses children while
        # their parent is still starting.
        self._pipeline = self._spawn_pipeline()
        self._pump()
        self._finish_if_done()

    def _spawn_pipeline(self) -> _Pipeline:
        settings, me, spawn = self._settings, self.context.self, self.context.spawn
        counters = tuple(
            spawn(PartitionCounter, i, me, name=f"counter-{i}")
            for i in range(settings.counters)
        )
        tokenizers = tuple(
            spawn(Tokenizer, i, me, counters, name=f"tokenizer-{i}")
            for i in range(settings.tokenizers)
        )
        readers = [
            _ReaderSlot(
                spawn(
                    Reader, i, me, settings.chunk_size,
                    name=f"reader-{i}", dispatcher="thread",
                )
            )
            for i in range(settings.readers)
        ]  # fmt: skip
        aggregator = spawn(
            Aggregator, settings.counters, me, settings.top, name="aggregator"
        )
        return _Pipeline(
            readers, tokenizers, counters, aggregator, [0] * settings.tokenizers
        )

    @handler
    def progress(self, message: ProgressQuery) -> Progress:
        """Report how much has been read."""
        figures = self._figures
        return Progress(figures.files_done, len(self._paths), figures.bytes)

    # -- flow control ---------------------------------------------------------------

    def _pump(self) -> None:
        """Give every idle reader a chunk to read, while the window has room."""
        assert self._pipeline is not None
        for slot in self._pipeline.readers:
            if len(self._pending) >= self._settings.window:
                return
            if slot.busy:
                continue
            if slot.has_file:
                self._dispatch(slot, None)
            elif self._next_file < len(self._paths):
                path = self._paths[self._next_file]
                self._next_file += 1
                slot.has_file = True
                self._dispatch(slot, path)

    def _dispatch(self, slot: _ReaderSlot, path: Path | None) -> None:
        assert self._pipeline is not None
        load = self._pipeline.load
        tokenizer = min(range(len(load)), key=load.__getitem__)
        load[tokenizer] += 1

        chunk_id = self._next_chunk
        self._next_chunk += 1
        self._pending[chunk_id] = _ChunkState(tokenizer)
        slot.busy = True
        slot.ref.tell(ReadNext(chunk_id, self._pipeline.tokenizers[tokenizer], path))

    @handler
    def chunk_read(self, message: ChunkRead) -> None:
        """A reader is free again; a chunk that was not sent is done already."""
        assert self._pipeline is not None
        slot = self._pipeline.readers[message.reader]
        slot.busy = False
        figures = self._figures
        figures.bytes += message.size
        if message.end_of_file:
            slot.has_file = False
            figures.files_done += 1
            if message.skipped:
                figures.skipped += 1
            else:
                figures.files += 1

        if not message.sent:
            state = self._pending.pop(message.chunk_id)
            self._pipeline.load[state.tokenizer] -= 1
        self._pump()
        self._finish_if_done()

    @handler
    def tokenized(self, message: Tokenized) -> None:
        """A tokenizer is done with a chunk and says how many batches to await."""
        assert self._pipeline is not None
        self._pipeline.load[message.tokenizer] -= 1
        self._figures.words += message.words
        state = self._pending[message.chunk_id]
        state.tokenized = True
        state.outstanding += message.batches
        self._chunk_progressed(message.chunk_id, state)

    @handler
    def counted(self, message: Counted) -> None:
        """A counter acknowledged one batch."""
        state = self._pending[message.chunk_id]
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
        if self._flushed or self._pending or self._next_file < len(self._paths):
            return
        if any(slot.busy or slot.has_file for slot in self._pipeline.readers):
            return

        self._flushed = True
        for counter in self._pipeline.counters:
            counter.tell(Flush(self._pipeline.aggregator))

    # -- the end ----------------------------------------------------------------------

    @handler
    def merged(self, message: Merged) -> None:
        """The partitions are merged: answer the run."""
        figures = self._figures
        result = Result(
            files=figures.files,
            skipped=figures.skipped,
            bytes=figures.bytes,
            words=figures.words,
            chunks=figures.chunks,
            counts=message.counts,
            top=message.top,
        )
        if self._job is not None and not self._job.done():
            self._job.set_result(result)

    def _fail(self, error: Exception) -> None:
        if self._job is not None and not self._job.done():
            self._job.set_exception(error)
