"""The rows of ``zactor bench``: what each measures, its unit, floor and target.

A row is what ``--rows`` selects (``tell``, ``spawn``...); it prints one or more
lines (``spawn`` prints one line per actor count). Every line carries the zactor
figure, the floor converted into the line's unit, the ratio zactor/floor, the
target and whether it is met. A line that measures a variant of a plain workload
(a router in front of the actor, another mailbox) also carries that workload's
figure, its *baseline*, measured in alternation with it in the same row.
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
    ("supervised", "tell to an actor whose parent has a strategy of its own"),
    ("restart", "time per restart of an actor that fails on every message"),
    ("router", "tell through each kind of router to 4 routees, and scatter-gather"),
    ("timers", "scheduling and firing single timers"),
    ("mailbox", "tell into bounded and priority mailboxes, and backpressure"),
    ("workers-tell", "tell to an actor in a worker process"),
    ("workers-ask", "ask round trip to an actor in a worker process"),
    ("workers-cpu", "CPU-bound jobs through a Balancing pool spread over workers"),
    ("workers-start", "start and shutdown of a system with 2 workers"),
)
ROW_IDS = tuple(row for row, _ in ROWS)

ROUTER_KINDS = (
    "round-robin",
    "random",
    "broadcast",
    "consistent-hashing",
    "smallest-mailbox",
    "balancing",
)
ROUTEES = 4
MAILBOX_KINDS = ("bounded", "priority", "backpressure")
BACKPRESSURE_CAPACITY = 1_000

# Lines that --rows may also pick one at a time, because each is a measurement of
# its own; the value is the row they belong to.
LINE_CHOICES: dict[str, str] = {
    **{f"router-{kind}": "router" for kind in (*ROUTER_KINDS, "scatter")},
    **{f"mailbox-{kind}": "mailbox" for kind in MAILBOX_KINDS},
}

# Everything --rows takes by name, in table order: each row, then its lines.
CHOICES = tuple(
    name
    for row in ROW_IDS
    for name in (row, *(key for key, of in LINE_CHOICES.items() if of == row))
)

# What a baseline is called in the table: "0.99 x tell".
BASELINE_NAMES = {"tell": "tell", "ask": "ask", "ask-thread": "thread ask"}

# The workers of the CPU speed-up and start rows.
SPEEDUP_WORKERS = 2


@dataclass(frozen=True)
class Target:
    """A bound that a line's figure should meet.

    Attributes:
        op: ``">="`` for figures where more is better, ``"<="`` otherwise.
        value: the bound, in the line's unit, or as a ratio to the floor or to the
            baseline.
        of_floor: the bound applies to the ratio zactor/floor, not the figure.
        of_baseline: the bound applies to the ratio zactor/baseline.
    """

    op: Literal[">=", "<="]
    value: float
    of_floor: bool = False
    of_baseline: bool = False

    def met(self, value: float, ratio: float, versus: float | None = None) -> bool:
        """Tell whether a figure meets the bound.

        Args:
            value: the zactor figure.
            ratio: zactor / floor.
            versus: zactor / baseline, for a bound that applies to it.
        """
        measured = ratio if self.of_floor else value
        if self.of_baseline:
            if versus is None:
                return False
            measured = versus
        return measured >= self.value if self.op == ">=" else measured <= self.value


@dataclass(frozen=True)
class LineSpec:
    """One line of the table: what it measures and how it compares.

    Attributes:
        key: unique among lines, e.g. ``"ask-p99"`` or ``"spawn-100000"``.
        row: the row that ``--rows`` selects it by.
        number: the row's number, 1 to 17.
        label: what the line says in the table.
        unit: the unit of the zactor, floor and peer figures.
        kind: a rate (more is better), a time or a size (less is better).
        floor_messages: how many floor messages one unit of work is worth (a round
            trip is two messages); unused for sizes.
        target: the bound the zactor figure should meet; None for a line that
            only informs.
        count: the actors the line works on, for spawn, memory and stop.
        baseline: the plain workload this line is a variant of (a key of
            :data:`BASELINE_NAMES`), measured in the same row; None if none.
    """

    key: str
    row: str
    number: int
    label: str
    unit: str
    kind: Kind
    floor_messages: float
    target: Target | None
    count: int = 0
    baseline: str | None = None

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
    base: float | None = None

    @property
    def ratio(self) -> float | None:
        """zactor / floor, in the line's unit; None until both are measured."""
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def versus(self) -> float | None:
        """zactor / baseline, in the line's unit; None without a measured baseline."""
        if self.value is None or not self.base:
            return None
        return self.value / self.base

    @property
    def status(self) -> str:
        """``PASS`` or ``SHORT`` against the target, ``info`` without one.

        ``ERROR`` if the line was not measured.
        """
        ratio = self.ratio
        target = self.spec.target
        if self.value is None or ratio is None:
            return "ERROR"
        if target is None:
            return "info"
        return "PASS" if target.met(self.value, ratio, self.versus) else "SHORT"


def line_specs(actor_counts: Sequence[int], timers: int = 100_000) -> list[LineSpec]:
    """Every line of the full table, in order, for the given actor and timer counts."""
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
    return specs + _feature_specs(timers) + _worker_specs()


def _feature_specs(timers: int) -> list[LineSpec]:
    """The lines of rows 9 to 13: supervision, restarts, routers, timers, mailboxes."""
    specs = [
        LineSpec(
            "supervised",
            "supervised",
            9,
            "tell, parent with OneForOne + Backoff",
            "msg/s",
            "rate",
            1,
            Target(">=", 0.97, of_baseline=True),
            baseline="tell",
        ),
        LineSpec(
            "restart",
            "restart",
            10,
            "restart, fails on every message",
            "us/restart",
            "time",
            1,
            None,
        ),
    ]
    # A routed message is handled twice, by the router and by the routee; a
    # broadcast is handled once by the router for every ROUTEES deliveries, and
    # a balancing router also handles the routee's notice that it is free.
    hops = {"broadcast": 1 + 1 / ROUTEES, "balancing": 3}
    specs += [
        LineSpec(
            f"router-{kind}",
            "router",
            11,
            f"router {kind}, {ROUTEES} routees",
            "deliveries/s" if kind == "broadcast" else "msg/s",
            "rate",
            hops.get(kind, 2),
            None,
            baseline="tell",
        )
        for kind in ROUTER_KINDS
    ]
    specs += [
        LineSpec(
            "router-scatter",
            "router",
            11,
            f"ask via scatter-gather, {ROUTEES} routees",
            "rt/s",
            "rate",
            ROUTEES + 2,  # the ask, its copy to each routee, the answer
            None,
            baseline="ask",
        ),
        LineSpec(
            "timers-schedule",
            "timers",
            12,
            f"timers, schedule {timers:,} once()",
            "us/timer",
            "time",
            1,
            None,
        ),
        LineSpec(
            "timers-fire",
            "timers",
            12,
            f"timers, {timers:,} ticks handled",
            "ticks/s",
            "rate",
            1,
            None,
        ),
    ]
    mailboxes = {
        "bounded": "tell, Bounded(10,000,000) mailbox",
        "priority": "tell, Priority(key) mailbox",
        "backpressure": f"await send, Bounded({BACKPRESSURE_CAPACITY:,}) backpressure",
    }
    specs += [
        LineSpec(
            f"mailbox-{kind}",
            "mailbox",
            13,
            mailboxes[kind],
            "msg/s",
            "rate",
            1,
            None,
            baseline="tell",
        )
        for kind in MAILBOX_KINDS
    ]
    return specs


def _time_line(
    key: str, row: str, number: int, label: str, unit: str, **options: Any
) -> LineSpec:
    return LineSpec(
        key,
        row,
        number,
        label,
        unit,
        "time",
        1,
        options.get("target"),
        baseline=options.get("baseline"),
    )


def _worker_specs() -> list[LineSpec]:
    """The lines of rows 14 to 17: actors in worker processes.

    Their floors are measured by the rows themselves, with bare processes and
    pickle (``bench_workers``); the deque floor would say nothing here.
    """
    n = SPEEDUP_WORKERS
    tell = [
        LineSpec(
            "workers-tell",
            "workers-tell",
            14,
            "tell to a worker, int messages",
            "msg/s",
            "rate",
            1,
            Target(">=", 1e6),
        ),
        LineSpec(
            "workers-tell-dataclass",
            "workers-tell",
            14,
            "tell to a worker, dataclass messages",
            "msg/s",
            "rate",
            1,
            None,
        ),
    ]
    asks = [
        _time_line(
            f"workers-ask{of}-{stat}",
            "workers-ask",
            15,
            f"ask a worker {where}, {stat}",
            "us",
            baseline=baseline,
        )
        for of, where, baseline in (
            ("", "from a coroutine", "ask"),
            ("-thread", "from a thread", "ask-thread"),
        )
        for stat in ("median", "p99")
    ]
    cpu = [
        LineSpec(
            key,
            "workers-cpu",
            16,
            label,
            "x",
            "rate",
            1,
            target,
        )
        for key, label, target in (
            (
                "workers-cpu",
                f"CPU jobs, speed-up {n} workers / 1",
                Target(">=", 0.85, of_floor=True),
            ),
            ("workers-cpu-raw", f"CPU jobs, speed-up {n} bare processes / 1", None),
            ("workers-cpu-one", "CPU jobs, 1 worker / in-process", None),
        )
    ]
    start = [
        _time_line(
            "workers-start",
            "workers-start",
            17,
            f"start {n} workers until each answers",
            "s",
            target=Target("<=", 0.3),
        ),
        _time_line(
            "workers-shutdown", "workers-start", 17, f"shutdown, {n} workers", "s"
        ),
    ]
    return tell + asks + cpu + start


def parse_rows(text: str) -> tuple[str, ...]:
    """Turn ``"tell,3,router-random"`` into row ids and line names, in table order.

    Rows are named by id or by number (1 to 17); the lines of the router and
    mailbox rows may also be named one by one (``router-random``). A line whose
    row is chosen as a whole is not repeated.

    Raises:
        ValueError: a name is neither a row id, a row number nor such a line.
    """
    chosen: set[str] = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name.isdigit() and 1 <= int(name) <= len(ROW_IDS):
            chosen.add(ROW_IDS[int(name) - 1])
        elif name in CHOICES:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown row {raw.strip()!r}; rows are {', '.join(ROW_IDS)} "
                f"or their numbers 1-{len(ROW_IDS)}, and lines "
                f"{', '.join(LINE_CHOICES)}"
            )
    if not chosen:
        raise ValueError("--rows names no row")
    return tuple(
        name
        for name in CHOICES
        if name in chosen and LINE_CHOICES.get(name) not in chosen
    )


def rows_of(choices: Sequence[str]) -> tuple[str, ...]:
    """The rows that the names from :func:`parse_rows` run, in table order."""
    wanted = {LINE_CHOICES.get(name, name) for name in choices}
    return tuple(row for row in ROW_IDS if row in wanted)


def chosen_lines(specs: Sequence[LineSpec], choices: Sequence[str]) -> list[LineSpec]:
    """The lines that the names from :func:`parse_rows` show, in table order."""
    return [spec for spec in specs if spec.row in choices or spec.key in choices]
