"""``zactor demo``: count the words of a directory of text with actors.

A real workload for the runtime: readers stream files in chunks of whole lines, a
balancing pool of tokenizers splits them into words, a consistent-hashing pool of
counters each owns a partition of the words, and an aggregator merges the
partitions into a ranking. ``--fail-rate`` makes tokenizers fail on purpose, to
show supervision and retries keeping the count exact. The actors are in
:mod:`.demo_actors`, the routing in :mod:`.demo_routing`, the faults in
:mod:`.demo_faults`; what counts as text and as a word is in :mod:`.demo_text`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import sysconfig
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from zactor import ActorFailed, ActorRef, ActorSystem, Subscription

from .demo_actors import (
    PROCESS_FIGURES,
    TOKENIZERS,
    Coordinator,
    Progress,
    ProgressQuery,
    Result,
    RouterReport,
    Run,
    Settings,
)
from .demo_faults import FaultPlan
from .demo_text import (
    SKIPPED_DIRECTORIES,
    SNIFF_BYTES,
    TEXT_SUFFIXES,
    count_sequentially,
    find_text_files,
    iter_differences,
)

PROGRESS_INTERVAL = 0.5
"""Seconds between two updates of the progress line."""

DIFFERENCES_SHOWN = 10
"""How many differing words ``--verify`` prints when the counts disagree."""

CHUNK_SIZE = 64 * 1024
"""Bytes per chunk read by a reader, in a single process."""

TASK_SIZE = 1024 * 1024
"""Bytes per task read by a tokenizer, with --workers: fewer, bigger messages."""

DESCRIPTION = """\
Count the words of a directory of text with actors: reader actors stream the
files in chunks of whole lines, a balancing router hands each chunk to the next
free tokenizer, which splits it into words, a consistent-hashing router sends
each word to the counter that owns it, and an aggregator merges the counters'
partitions and ranks the most frequent words. Prints the ranking, the files,
bytes and words counted, what each router's routees did, the actor messages
handled, the failures, restarts and retries, and the time it took.

With --workers N the tokenizers and the counters are spread over N worker
processes, and there are no readers: the tree is cut into tasks of whole files
and pieces of big files, and each tokenizer reads its task's lines itself, in
its worker, so that reading and splitting use every core. The report then also
tells, for each worker, what was tokenized and counted in it."""


def _section(title: str, text: str) -> str:
    return f"{title}:\n" + textwrap.fill(
        text, width=79, initial_indent="  ", subsequent_indent="  "
    )


EPILOG = "\n\n".join(
    [
        _section(
            "what is read",
            "every file under DIR whose name ends in one of "
            f"{' '.join(sorted(TEXT_SUFFIXES))} (in any case), except in "
            f"directories named {', '.join(sorted(SKIPPED_DIRECTORIES))} or starting "
            f"with a dot. A file with a NUL byte in its first {SNIFF_BYTES} bytes is "
            "binary and skipped. Files are decoded as UTF-8, with undecodable bytes "
            "replaced.",
        ),
        _section(
            "what a word is",
            "a maximal run of the characters a-z, 0-9 and _ in the lowercased text, "
            'that is the regular expression [a-z0-9_]+: "Don\'t stop_now 42x" holds '
            "the words don, t, stop_now and 42x. Letters outside ASCII separate words.",
        ),
        _section(
            "the ranking",
            "the most frequent words first; words with the same count in "
            "alphabetical order.",
        ),
        _section(
            "failures",
            "with --fail-rate P a tokenizer fails each try of a chunk with "
            "probability P, drawn from --seed and the chunk's place in the tree, so "
            "that a run fails the same tries every time. Its supervisor restarts it, "
            "and the coordinator sends the chunk again, at most --retries times; a "
            "failed try sends no words, so the count stays exact.",
        ),
        _section(
            "worker processes",
            "with --workers N the routers, the coordinator and the aggregator stay "
            "in this process; tokenizer i and counter i run in worker i modulo N. "
            "A tokenizer tells each batch straight to the counter that owns its "
            "words, the one the consistent-hashing router would pick. Failed "
            "tokenizers are restarted in their worker. Ctrl-C is handled here, "
            "which shuts the workers down.",
        ),
        _section(
            "exit status",
            "0 done (and verified, with --verify); 1 the count failed (an actor "
            "failed, or a chunk failed on every try), or --verify found a "
            "difference; 2 bad arguments, such as a --path that is not a directory "
            "or a --fail-rate outside [0, 1); 130 interrupted with Ctrl-C.",
        ),
    ]
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``zactor demo`` to its parser."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--path",
        metavar="DIR",
        help="the directory to count (default: the Python standard library, "
        "without site-packages)",
    )
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=0,
        metavar="N",
        help="worker processes to spread the tokenizers and the counters over; "
        "'auto' for one per CPU; 0 counts in this process alone (default: 0)",
    )
    parser.add_argument(
        "--readers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="reader actors, each reading one file at a time on the thread "
        "dispatcher; with --workers the tokenizers read instead (default: 2)",
    )
    parser.add_argument(
        "--tokenizers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="tokenizer actors splitting chunks into words, behind a balancing "
        "router (default: 4)",
    )
    parser.add_argument(
        "--counters",
        type=_positive_int,
        default=4,
        metavar="N",
        help="counter actors behind a consistent-hashing router; each owns the "
        "words its ring assigns it (default: 4)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        metavar="BYTES",
        help="bytes per chunk, extended to the end of the line; with --workers, "
        "bytes per task of whole files and pieces of files (default: 65536, or "
        "1048576 with --workers)",
    )
    parser.add_argument(
        "--window",
        type=_positive_int,
        metavar="N",
        help="flow control: at most N chunks read but not yet counted, which bounds "
        "the memory in use (default: twice the number of tokenizers)",
    )
    parser.add_argument(
        "--top",
        type=_positive_int,
        default=20,
        metavar="N",
        help="how many of the most frequent words to print (default: 20)",
    )
    parser.add_argument(
        "--fail-rate",
        type=_fraction,
        default=0.0,
        metavar="P",
        help="make tokenizers fail each try of a chunk with probability P, "
        "0 <= P < 1, to exercise supervision and retries (default: 0)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="N",
        help="picks which tries --fail-rate fails (default: 1)",
    )
    parser.add_argument(
        "--retries",
        type=_non_negative_int,
        default=10,
        metavar="N",
        help="send a chunk that failed again at most N times, then give the run "
        "up with status 1 (default: 10)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="afterwards count again in one plain loop, without actors, and compare "
        "every word's count; exit with status 1 if any differs",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the figures (files, bytes, words, messages, routers, workers, "
        "failures, restarts, retries, seconds, top words) to FILE as JSON",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress line on stderr, updated every 0.5 s (default: only "
        "when stderr is a terminal)",
    )


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _worker_count(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 0 or 'auto', got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of worker processes >= 0 or 'auto', got {value}"
        )
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"expected a probability with 0 <= P < 1, got {text}"
        )
    return value


# -- running ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one worker process did: its number, its pid and its figures.

    ``number`` is None for a process that was no longer a worker at the end of
    the run (one that crashed and was replaced).
    """

    number: int | None
    pid: int
    figures: dict[str, int]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: the count and what it cost."""

    result: Result
    messages: int
    seconds: float
    failures: int = 0
    restarts: int = 0
    handled: dict[str, int] = field(default_factory=dict)
    workers: list[WorkerReport] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    """Run ``zactor demo``; returns the exit status (see the help's epilog)."""
    root = _input_directory(args.path)
    if root is None:
        return 2
    default_size = TASK_SIZE if args.workers else CHUNK_SIZE
    settings = Settings(
        readers=args.readers,
        tokenizers=args.tokenizers,
        counters=args.counters,
        chunk_size=args.chunk_size or default_size,
        window=args.window or 2 * args.tokenizers,
        top=args.top,
        faults=FaultPlan(args.fail_rate, args.seed),
        retries=args.retries,
        workers=args.workers,
    )
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = ProgressLine(sys.stderr) if show_progress else None

    try:
        return _count_and_report(root, settings, progress, args)
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        print("interrupted", file=sys.stderr)
        return 130


def _input_directory(path: str | None) -> Path | None:
    """The directory to count, or None after printing why ``path`` is not one."""
    if path is None:
        return Path(sysconfig.get_paths()["stdlib"])

    root = Path(path).expanduser()
    if not root.exists():
        _error(f"--path {path}: no such directory")
        return None
    if not root.is_dir():
        _error(f"--path {path}: not a directory")
        return None
    return root


def _error(text: str) -> None:
    print(f"zactor demo: error: {text}", file=sys.stderr)


def _count_and_report(
    root: Path,
    settings: Settings,
    progress: ProgressLine | None,
    args: argparse.Namespace,
) -> int:
    paths = find_text_files(root)
    try:
        outcome = asyncio.run(count_with_actors(paths, settings, progress))
    except Exception as error:
        _error(f"the count failed: {error}")
        return 1
    print("\n".join(report_lines(outcome)), flush=True)

    verified: bool | None = None
    if args.verify:
        verified = verify(paths, outcome.result)
    if args.json is not None and not _write_json(args.json, root, outcome, verified):
        return 2
    return 1 if verified is False else 0


async def count_with_actors(
    paths: list[Path], settings: Settings, progress: ProgressLine | None = None
) -> Outcome:
    """Count the words of ``paths`` with a pipeline of actors.

    The actor system lives only for the run and is shut down however the run
    ends: done, failed or cancelled (Ctrl-C cancels the main task). A tokenizer
    that fails a chunk is restarted and the chunk sent again; the failure of any
    other actor fails the run at once: a lost batch could never be acknowledged,
    and the count would wait for it for ever. With ``settings.workers`` the
    system starts that many worker processes for the tokenizers and counters.

    Raises:
        RunFailed: an actor of the pipeline failed, other than a tokenizer.
        ChunkFailedError: a chunk failed on every try it was given.
    """
    started = time.perf_counter()
    system = ActorSystem("demo", threads=settings.readers, workers=settings.workers)
    async with system:
        coordinator = system.spawn(Coordinator, settings, name="demo", worker="local")
        failure, subscription = _first_failure(system, coordinator, settings)
        job = asyncio.ensure_future(coordinator.ask(Run(tuple(paths))))
        try:
            await _wait_for(job, failure, coordinator, progress, started)
        finally:
            job.cancel()
            subscription.cancel()
            if progress is not None:
                progress.clear()
        result = job.result()
        seconds = time.perf_counter() - started
        # With workers, these add up the figures of every process.
        statistics = system.statistics()
        pids = system.worker_pids()
    return Outcome(
        result,
        statistics.messages_handled,
        seconds,
        failures=statistics.failures,
        restarts=statistics.restarts,
        handled=_handled_by_kind(result, statistics.messages_handled),
        workers=_worker_reports(result, pids) if settings.workers else [],
    )


def _worker_reports(result: Result, pids: list[int]) -> list[WorkerReport]:
    """One report per worker, then one per process that is no longer a worker."""
    reports = [
        WorkerReport(
            number, pid, result.processes.get(pid, dict.fromkeys(PROCESS_FIGURES, 0))
        )
        for number, pid in enumerate(pids)
    ]
    reports += [
        WorkerReport(None, pid, figures)
        for pid, figures in sorted(result.processes.items())
        if pid not in pids
    ]
    return reports


def _handled_by_kind(result: Result, total: int) -> dict[str, int]:
    """Messages handled per kind of actor; the routers handled the rest.

    The routers' share is every routed message (one per chunk try and per
    batch), the balancing router's note that a tokenizer is free again after
    each try, and the routers' own requests (routees, flush).
    """
    handled = dict(result.handled)
    handled["routers"] = total - sum(handled.values())
    return handled


class RunFailed(Exception):
    """An actor of the pipeline failed, so the count cannot be exact."""


def _first_failure(
    system: ActorSystem, coordinator: ActorRef, settings: Settings
) -> tuple[asyncio.Future[ActorFailed], Subscription]:
    """A future of the first ActorFailed event that fails the run, and its feed.

    A tokenizer that raises in its handler does not fail the run: its supervisor
    restarts it and the coordinator sends the chunk again. Events are published
    on the thread of the failing actor, so the future is completed through the
    loop.

    An event from a worker need not carry the message its actor failed on (a
    message need not cross back to the head), so with workers any failure of a
    tokenizer counts as one in its handler: its constructor ran once already,
    when it was spawned, with the same arguments.
    """
    loop = asyncio.get_running_loop()
    first: asyncio.Future[ActorFailed] = loop.create_future()
    tokenizers = f"{coordinator.path}/{TOKENIZERS}/"

    def keep_first(event: ActorFailed) -> None:
        if not first.done():
            first.set_result(event)

    in_handler = bool(settings.workers)

    def on_failure(event: ActorFailed) -> None:
        if event.ref.path.startswith(tokenizers) and (
            in_handler or event.message is not None
        ):
            return  # handled by supervision and a retry
        try:
            loop.call_soon_threadsafe(keep_first, event)
        except RuntimeError:
            pass  # the loop is closed: the run is over already

    return first, system.events.subscribe(ActorFailed, on_failure)


async def _wait_for(
    job: asyncio.Future[Result],
    failure: asyncio.Future[ActorFailed],
    coordinator: ActorRef,
    progress: ProgressLine | None,
    started: float,
) -> None:
    """Wait until the run is done or failed, updating the progress line meanwhile."""
    interval = None if progress is None else PROGRESS_INTERVAL
    either: set[asyncio.Future[Any]] = {job, failure}
    while True:
        done, _ = await asyncio.wait(
            either, timeout=interval, return_when=asyncio.FIRST_COMPLETED
        )
        if failure in done:
            event = failure.result()
            raise RunFailed(
                f"actor {event.ref.path} failed: {type(event.error).__name__}: "
                f"{event.error}"
            ) from event.error
        if job in done:
            return
        if progress is not None:
            snapshot: Progress = await coordinator.ask(ProgressQuery(), timeout=10)
            progress.show(snapshot, time.perf_counter() - started)


class ProgressLine:
    """The progress line on stderr: redrawn in place on a terminal, else appended."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._in_place = stream.isatty()
        self._width = 0

    def show(self, progress: Progress, elapsed: float) -> None:
        """Draw the line for ``progress``, ``elapsed`` seconds into the run."""
        text = (
            f"files {progress.files_done}/{progress.files_total}  "
            f"{progress.bytes_read / 1e6:.1f} MB  {elapsed:.1f} s"
        )
        if progress.retries:
            text += f"  {progress.retries} retries"
        if self._in_place:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def clear(self) -> None:
        """Erase the line, so that what follows starts on a clean line."""
        if self._in_place and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


# -- reporting ------------------------------------------------------------------------


def report_lines(outcome: Outcome) -> list[str]:
    """The report printed on stdout: the ranking, then the figures of the run."""
    result = outcome.result
    lines = [f"top {len(result.top)} words:"]
    width = max((len(f"{count:,}") for _, count in result.top), default=1)
    for rank, (word, count) in enumerate(result.top, start=1):
        lines.append(f"{rank:>4}  {count:>{width},}  {word}")

    rate = outcome.messages / outcome.seconds if outcome.seconds > 0 else 0.0
    lines += [
        f"files: {result.files:,} ({result.skipped:,} skipped: binary or unreadable)",
        f"bytes: {result.bytes:,} ({result.bytes / 2**20:.1f} MiB)",
        f"words: {result.words:,} ({len(result.counts):,} distinct)",
        f"chunks: {result.chunks:,} ({result.retries:,} sent again after a failure)",
    ]
    lines += _router_lines("tokenizers", result.tokenizers, _tokenizer_figures)
    lines += _router_lines("counters", result.counters, _counter_figures)
    lines += _worker_lines(outcome.workers)
    lines += [
        f"messages: {outcome.messages:,} handled ({rate:,.0f} per second): "
        + ", ".join(f"{kind} {count:,}" for kind, count in outcome.handled.items()),
        f"supervision: {outcome.failures:,} failures, {outcome.restarts:,} "
        f"restarts, {result.retries:,} retries",
        f"elapsed: {outcome.seconds:.2f} s",
    ]
    return lines


def _router_lines(
    kind: str, report: RouterReport | None, describe: Callable[[dict[str, int]], str]
) -> list[str]:
    """A router's path and logic, then one line per routee of what it did."""
    if report is None:
        return []
    lines = [f"{kind}: {report.logic} at {report.path}, {len(report.routees)} routees"]
    for path, figures in report.routees.items():
        lines.append(f"  {path.rsplit('/', 1)[-1]}: {describe(figures)}")
    return lines


def _worker_lines(workers: list[WorkerReport]) -> list[str]:
    """One line per worker process of what was tokenized and counted there."""
    if not workers:
        return []
    lines = [f"workers: {sum(w.number is not None for w in workers)} processes"]
    for worker in workers:
        figures = worker.figures
        name = "replaced" if worker.number is None else f"worker {worker.number}"
        lines.append(
            f"  {name} (pid {worker.pid}): {figures['files']:,} files, "
            f"{figures['chunks']:,} chunks ({figures['faults']:,} failed tries), "
            f"{figures['words_tokenized']:,} words tokenized; "
            f"{figures['batches']:,} batches, "
            f"{figures['words_counted']:,} words counted"
        )
    return lines


def _tokenizer_figures(figures: dict[str, int]) -> str:
    return f"{figures['chunks']:,} chunks, {figures['faults']:,} failed tries"


def _counter_figures(figures: dict[str, int]) -> str:
    return (
        f"{figures['batches']:,} batches, "
        f"{figures.get('distinct_words', 0):,} distinct words"
    )


def verify(paths: list[Path], result: Result) -> bool:
    """Recount ``paths`` without actors, print the verdict, and say if it agrees."""
    expected = count_sequentially(paths)
    assert expected.counts is not None
    problems = [
        f"  {name}: actors {found:,}, sequential {wanted:,}"
        for name, found, wanted in (
            ("files", result.files, expected.files),
            ("skipped files", result.skipped, expected.skipped),
            ("bytes", result.bytes, expected.bytes),
            ("words", result.words, expected.counts.total()),
        )
        if found != wanted
    ]
    differences = list(iter_differences(result.counts, expected.counts))
    problems += [
        f"  {word!r}: actors {found:,}, sequential {wanted:,}"
        for word, found, wanted in differences[:DIFFERENCES_SHOWN]
    ]
    if not problems:
        print("verify: ok")
        return True

    print(
        f"verify: FAILED: {len(differences):,} words counted differently; "
        "actors versus a sequential recount:"
    )
    print("\n".join(problems))
    return False


def _write_json(name: str, root: Path, outcome: Outcome, verified: bool | None) -> bool:
    """Write the figures to the file ``name``; False after printing why it failed."""
    result = outcome.result
    figures: dict[str, Any] = {
        "path": str(root),
        "files": result.files,
        "skipped": result.skipped,
        "bytes": result.bytes,
        "words": result.words,
        "distinct_words": len(result.counts),
        "chunks": result.chunks,
        "retries": result.retries,
        "failures": outcome.failures,
        "restarts": outcome.restarts,
        "messages": outcome.messages,
        "messages_by_kind": outcome.handled,
        "seconds": round(outcome.seconds, 6),
        "messages_per_second": (
            round(outcome.messages / outcome.seconds, 1) if outcome.seconds else 0.0
        ),
        "routers": {
            kind: asdict(report)
            for kind, report in (
                ("tokenizers", result.tokenizers),
                ("counters", result.counters),
            )
            if report is not None
        },
        "workers": [
            {"worker": worker.number, "pid": worker.pid, **worker.figures}
            for worker in outcome.workers
        ],
        "top": [{"word": word, "count": count} for word, count in result.top],
        "verified": verified,
    }
    try:
        Path(name).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        _error(f"--json {name}: cannot write it: {error}")
        return False
    return True
