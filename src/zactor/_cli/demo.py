"""``zactor demo``: count the words of a directory of text with actors.

A real workload for the runtime: readers stream files in chunks of whole lines, a
pool of tokenizers splits them into words, counters each own a partition of the
words, and an aggregator merges the partitions into a ranking. The actors are in
:mod:`.demo_actors`; what counts as text and as a word is in :mod:`.demo_text`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import sysconfig
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from zactor import ActorFailed, ActorRef, ActorSystem, Subscription

from .demo_actors import Coordinator, Progress, ProgressQuery, Result, Run, Settings
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

DESCRIPTION = """\
Count the words of a directory of text with actors: reader actors stream the
files in chunks of whole lines, tokenizer actors split the chunks into words,
counter actors each own a partition of the words, and an aggregator merges the
partitions and ranks the most frequent words. Prints the ranking, the files,
bytes and words counted, the actor messages handled and the time it took."""


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
            "exit status",
            "0 done (and verified, with --verify); 1 the count failed, or --verify "
            "found a difference; 2 bad arguments, such as a --path that is not a "
            "directory; 130 interrupted with Ctrl-C.",
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
        "--readers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="reader actors, each reading one file at a time on the thread "
        "dispatcher (default: 2)",
    )
    parser.add_argument(
        "--tokenizers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="tokenizer actors splitting chunks into words (default: 4)",
    )
    parser.add_argument(
        "--counters",
        type=_positive_int,
        default=4,
        metavar="N",
        help="counter actors; each owns the words whose CRC-32 modulo N is its "
        "index (default: 4)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=64 * 1024,
        metavar="BYTES",
        help="bytes per chunk, extended to the end of the line (default: 65536)",
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
        "--verify",
        action="store_true",
        help="afterwards count again in one plain loop, without actors, and compare "
        "every word's count; exit with status 1 if any differs",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the figures (files, bytes, words, messages, seconds, top "
        "words) to FILE as JSON",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress line on stderr, updated every 0.5 s (default: only "
        "when stderr is a terminal)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# -- running ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: the count and what it cost."""

    result: Result
    messages: int
    seconds: float


def run(args: argparse.Namespace) -> int:
    """Run ``zactor demo``; returns the exit status (see the help's epilog)."""
    root = _input_directory(args.path)
    if root is None:
        return 2
    settings = Settings(
        readers=args.readers,
        tokenizers=args.tokenizers,
        counters=args.counters,
        chunk_size=args.chunk_size,
        window=args.window or 2 * args.tokenizers,
        top=args.top,
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
    ends: done, failed or cancelled (Ctrl-C cancels the main task). The failure
    of any actor fails the run at once: a lost batch could never be acknowledged,
    and the count would wait for it for ever.

    Raises:
        RunFailed: an actor of the pipeline failed.
    """
    started = time.perf_counter()
    async with ActorSystem("demo", threads=settings.readers) as system:
        failure, subscription = _first_failure(system)
        coordinator = system.spawn(Coordinator, settings, name="demo")
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
        messages = system.statistics().messages_handled
    return Outcome(result, messages, seconds)


class RunFailed(Exception):
    """An actor of the pipeline failed, so the count cannot be exact."""


def _first_failure(
    system: ActorSystem,
) -> tuple[asyncio.Future[ActorFailed], Subscription]:
    """A future of the first ActorFailed event, and the subscription that feeds it.

    Events are published on the thread of the failing actor, so the future is
    completed through the loop.
    """
    loop = asyncio.get_running_loop()
    first: asyncio.Future[ActorFailed] = loop.create_future()

    def keep_first(event: ActorFailed) -> None:
        if not first.done():
            first.set_result(event)

    def on_failure(event: ActorFailed) -> None:
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
        f"messages: {outcome.messages:,} handled ({rate:,.0f} per second)",
        f"elapsed: {outcome.seconds:.2f} s",
    ]
    return lines


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
        "messages": outcome.messages,
        "seconds": round(outcome.seconds, 6),
        "messages_per_second": (
            round(outcome.messages / outcome.seconds, 1) if outcome.seconds else 0.0
        ),
        "top": [{"word": word, "count": count} for word, count in result.top],
        "verified": verified,
    }
    try:
        Path(name).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        _error(f"--json {name}: cannot write it: {error}")
        return False
    return True
