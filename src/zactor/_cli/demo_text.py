"""What the word-count demo calls text, a file and a word, without any actors.

Both the actor pipeline and the sequential recount of ``--verify`` use these
functions, so that the two can only disagree if the actors lose or double work.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset(
    {
        ".bat", ".c", ".cfg", ".css", ".csv", ".h", ".htm", ".html", ".ini", ".js",
        ".json", ".md", ".py", ".pyi", ".pyw", ".rst", ".sh", ".toml", ".txt", ".xml",
    }
)  # fmt: skip
"""File name suffixes (compared in lower case) that the demo reads as text."""

SKIPPED_DIRECTORIES = frozenset({"__pycache__", "site-packages", "dist-packages"})
"""Directory names never entered; directories whose name starts with a dot neither."""

SNIFF_BYTES = 8192
"""A file with a NUL byte among its first this many bytes is binary and skipped."""

WORD = re.compile(r"[a-z0-9_]+")
"""A word: a maximal run of ASCII letters, digits and underscores, once lowercased."""


def find_text_files(root: Path) -> list[Path]:
    """List the text files under ``root``, in a stable (sorted, depth-first) order.

    Symbolic links to directories are not followed, so that a link loop cannot make
    the walk endless; links to files are read like the files they point to.
    """
    found: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        subdirectories: list[Path] = []
        for entry in _sorted_entries(directory):
            if entry.is_dir(follow_symlinks=False):
                if not _skipped_directory(entry.name):
                    subdirectories.append(Path(entry.path))
            elif _is_text_name(entry.name) and entry.is_file():
                found.append(Path(entry.path))
        pending.extend(reversed(subdirectories))
    return found


def _sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        log.warning("cannot list %s: %s", directory, error)
        return []


def _skipped_directory(name: str) -> bool:
    return name in SKIPPED_DIRECTORIES or name.startswith(".")


def _is_text_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in TEXT_SUFFIXES


def is_binary(head: bytes) -> bool:
    """Tell whether the first bytes of a file make it binary (a NUL among them)."""
    return b"\0" in head[:SNIFF_BYTES]


def words(data: bytes) -> list[str]:
    """Split a piece of a file into its words, in order.

    The bytes are decoded as UTF-8 (undecodable bytes become U+FFFD), lowercased,
    and every maximal match of :data:`WORD` is a word. Pieces cut just after a
    newline give together exactly the words of the whole file: no word, and no
    UTF-8 sequence, spans a newline.
    """
    return WORD.findall(data.decode("utf-8", errors="replace").lower())


@dataclass(frozen=True, slots=True)
class Piece:
    """The lines of one file that start at a byte in ``[start, stop)``.

    ``stop`` None means to the end of the file. The pieces of a file cut at any
    offsets hold each of its lines exactly once, since a line belongs to the
    piece its first byte is in, and no word spans a newline: so they need no
    reading to be planned, only the file's size.
    """

    file: int
    path: Path
    start: int
    stop: int | None


def plan_pieces(paths: list[Path], size: int) -> list[tuple[Piece, ...]]:
    """Group ``paths`` into tasks of about ``size`` bytes each, by their sizes.

    Small files share a task; a file larger than ``size`` is cut into pieces of
    ``size`` bytes, its last piece open-ended (so that a file that grew since
    it was listed is still read to its end). A file whose size is unknown gets
    one piece: whoever reads it finds out why.
    """
    tasks: list[tuple[Piece, ...]] = []
    current: list[Piece] = []
    filled = 0
    for index, path in enumerate(paths):
        length = _size_of(path)
        for start in range(0, max(length, 1), size):
            stop = start + size if start + size < length else None
            current.append(Piece(index, path, start, stop))
            filled += (length if stop is None else stop) - start
            if filled >= size:
                tasks.append(tuple(current))
                current, filled = [], 0
    if current:
        tasks.append(tuple(current))
    return tasks


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_piece(piece: Piece) -> bytes | None:
    """The bytes of ``piece``, or None if its file is binary or unreadable.

    A read error is logged, and the piece counts as unreadable.
    """
    try:
        with piece.path.open("rb") as file:
            if is_binary(os.pread(file.fileno(), SNIFF_BYTES, 0)):
                return None
            return _read_lines(file, piece.start, piece.stop)
    except OSError as error:
        log.warning("skipping %s: %s", piece.path, error)
        return None


def _read_lines(file: BinaryIO, start: int, stop: int | None) -> bytes:
    if start > 0:
        # The line that holds byte start - 1 belongs to the piece before.
        file.seek(start - 1)
        file.readline()
    if stop is None:
        return file.read()

    wanted = stop - file.tell()
    if wanted <= 0:
        return b""
    return read_chunk(file, wanted)


def read_chunk(file: BinaryIO, size: int) -> bytes:
    """Read about ``size`` bytes, extended to the end of the line they stop in."""
    data = file.read(size)
    if len(data) == size and not data.endswith(b"\n"):
        data += file.readline()
    return data


@dataclass(slots=True)
class Tally:
    """What a count of a tree found: its files, bytes and words."""

    files: int = 0
    skipped: int = 0
    bytes: int = 0
    counts: Counter[str] | None = None


def count_sequentially(paths: list[Path]) -> Tally:
    """Count the words of ``paths`` in one plain loop: the reference for --verify."""
    counts: Counter[str] = Counter()
    tally = Tally(counts=counts)
    for path in paths:
        data = read_text(path)
        if data is None:
            tally.skipped += 1
            continue
        tally.files += 1
        tally.bytes += len(data)
        counts.update(words(data))
    return tally


def read_text(path: Path) -> bytes | None:
    """The whole content of a text file, or None if it is binary or unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return None if is_binary(data) else data


def iter_differences(
    found: Counter[str], expected: Counter[str]
) -> Iterator[tuple[str, int, int]]:
    """Yield ``(word, found, expected)`` for each word counted differently, by word."""
    for word in sorted(found.keys() | expected.keys()):
        if found[word] != expected[word]:
            yield word, found[word], expected[word]
