"""The rows of ``zactor bench``: what each measures, its unit, floor and target.

A row is what ``--rows`` selects (``tell``, ``spawn``...); it prints one or more
lines (``spawn`` prints one line per actor count). Every line carries the zactor
figure, the floor converted into the line's unit, the ratio zactor/floor, the
target and whether it is met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .bench_floor import Floor

Kind = Literal["rate", "time", "bytes"]

ROWS: tuple[tuple[str, str], ...] = (
    ("tell", "tell throughput, one sender to one actor"),
    ("fanout", "fan-out, one sender round-robin to 1,000 actors"),
    ("pingpong", "ping-pong between two actors"),
    ("ask", "ask round trip from a coroutine"),
    ("ask-thread", "ask round trip from another thread"),
    ("spawn", "spawn time per actor"),
    ("memory", "memory per idle actor, framework overhead"),
    ("stop", "stop time per actor"),
)
ROW_IDS = tuple(row for row, _ in ROWS)


@dataclass(frozen=True)
class Target:
    """A bound that a line's figure should meet.

    Attributes:
        op: ``">="`` for figures where more is better, ``"<="`` otherwise.
        value: the bound, in the line's unit, or as a ratio to the floor.
        of_floor: the bound applies to the ratio zactor/floor, not the figure.
    """

    op: Literal[">=", "<="]
    value: float
    of_floor: bool = False

    def met(self, value: float, ratio: float) -> bool:
        """Tell whether a figure (and its ratio to the floor) meets the bound."""
        measured = ratio if self.of_floor else value
        return measured >= self.value if self.op == ">=" else measured <= self.value


@dataclass(frozen=True)
class LineSpec:
    """One line of the table: what it measures and how it compares.

    Attributes:
        key: unique among lines, e.g. ``"ask-p99"`` or ``"spawn-100000"``.
        row: the row that ``--rows`` selects it by.
        number: the row's number, 1 to 8.
        label: what the line says in the table.
        unit: the unit of the zactor, floor and peer figures.
        kind: a rate (more is better), a time or a size (less is better).
        floor_messages: how many floor messages one unit of work is worth (a round
            trip is two messages); unused for sizes.
        target: the bound the zactor figure should meet.
        count: the actors the line works on, for spawn, memory and stop.
    """

    key: str
    row: str
    number: int
    label: str
    unit: str
    kind: Kind
    floor_messages: int
    target: Target
    count: int = 0

    def floor_figure(self, floor: Floor) -> float:
        """The floor in this line's unit (sizes get theirs from their own run)."""
        if self.kind == "rate":
            return floor.rate / self.floor_messages
        return self.floor_messages * floor.seconds_per_message * 1e6


@dataclass
class PeerFigure:
    """A peer framework's figure on one line, or why there is none.

    Attributes:
        value: the figure in the line's unit, or None.
        reason: why there is no figure (shown as a footnote).
        n: how much work the peer's figure is based on.
    """

    value: float | None = None
    reason: str | None = None
    n: int = 0


@dataclass
class Line:
    """The measured figures of one line."""

    spec: LineSpec
    value: float | None = None
    floor: float | None = None
    n: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    peers: dict[str, PeerFigure] = field(default_factory=dict)
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        """zactor / floor, in the line's unit; None until both are measured."""
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def status(self) -> str:
        """``PASS`` or ``SHORT`` against the target, ``ERROR`` if it failed."""
        ratio = self.ratio
        if self.value is None or ratio is None:
            return "ERROR"
        return "PASS" if self.spec.target.met(self.value, ratio) else "SHORT"


def line_specs(actor_counts: Sequence[int]) -> list[LineSpec]:
    """Every line of the full table, in order, for the given actor counts."""
    specs = [
        LineSpec(
            "tell",
            "tell",
            1,
            "tell, 1 sender -> 1 actor",
            "msg/s",
            "rate",
            1,
            Target(">=", 0.40, of_floor=True),
        ),
        LineSpec(
            "fanout",
            "fanout",
            2,
            "fan-out, 1 sender -> 1,000 actors",
            "msg/s",
            "rate",
            1,
            Target(">=", 0.35, of_floor=True),
        ),
        LineSpec(
            "pingpong",
            "pingpong",
            3,
            "ping-pong, 2 actors",
            "rt/s",
            "rate",
            2,
            Target(">=", 1.5e6),
        ),
        LineSpec(
            "ask-median",
            "ask",
            4,
            "ask from a coroutine, median",
            "us",
            "time",
            2,
            Target("<=", 2.0),
        ),
        LineSpec(
            "ask-p99",
            "ask",
            4,
            "ask from a coroutine, p99",
            "us",
            "time",
            2,
            Target("<=", 5.0),
        ),
        LineSpec(
            "ask-thread-median",
            "ask-thread",
            5,
            "ask from a thread, median",
            "us",
            "time",
            2,
            Target("<=", 40.0),
        ),
    ]
    specs += [
        LineSpec(
            f"spawn-{count}",
            "spawn",
            6,
            f"spawn, {count:,} actors",
            "us/actor",
            "time",
            1,
            Target("<=", 2.0),
            count,
        )
        for count in actor_counts
    ]
    specs += [
        LineSpec(
            f"memory-{count}",
            "memory",
            7,
            f"memory, {count:,} idle actors",
            "B/actor",
            "bytes",
            0,
            Target("<=", 512.0),
            count,
        )
        for count in actor_counts
    ]
    specs += [
        LineSpec(
            f"stop-{count}",
            "stop",
            8,
            f"stop, {count:,} actors",
            "us/actor",
            "time",
            1,
            Target("<=", 1.0),
            count,
        )
        for count in actor_counts
    ]
    return specs


def parse_rows(text: str) -> tuple[str, ...]:
    """Turn ``"tell,3,spawn"`` into row ids, in table order.

    Rows are named by id or by number (1 to 8).

    Raises:
        ValueError: a name is neither a row id nor a row number.
    """
    chosen: set[str] = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name.isdigit() and 1 <= int(name) <= len(ROW_IDS):
            chosen.add(ROW_IDS[int(name) - 1])
        elif name in ROW_IDS:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown row {raw.strip()!r}; rows are {', '.join(ROW_IDS)} "
                f"or their numbers 1-{len(ROW_IDS)}"
            )
    if not chosen:
        raise ValueError("--rows names no row")
    return tuple(row for row in ROW_IDS if row in chosen)
