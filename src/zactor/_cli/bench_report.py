"""What ``zactor bench`` shows: the table, the JSON document and the bar chart."""

from __future__ import annotations

import importlib
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench_floor import Floor
from .bench_peers import PeerRun
from .bench_rows import BASELINE_NAMES, Line, Target

FLOOR_TEXT = (
    "floor: deque.append + deque.popleft + one bound method call per message, in a "
    "tight loop with local aliases"
)

NOTE_WIDTH = 100


@dataclass
class Report:
    """Everything one run of the bench measured, and about what machine."""

    mode: str
    python: str
    cores: int | None
    loop: str
    version: str
    floor: Floor
    lines: list[Line]
    peers: list[PeerRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0


# -- numbers ----------------------------------------------------------------------


def significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and no exponent."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def compact(value: float) -> str:
    """``value`` in three digits and a k, M or G prefix: ``1.43 M``, ``61.0 k``."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{significant(value / scale)} {prefix}"
    return significant(value)


def figure(value: float | None, unit: str) -> str:
    """A figure with its unit: ``1.43 M msg/s``, ``1.29 us``, ``360 B/actor``."""
    if value is None:
        return "-"
    if unit.endswith("/s"):
        return f"{compact(value)} {unit}"
    if unit.startswith("B"):
        return f"{value:,.0f} {unit}"
    return f"{significant(value)} {unit}"


def target_text(target: Target | None, unit: str, baseline: str | None = None) -> str:
    """The target as the table shows it: ``>= 0.40 x floor``, ``<= 2 us``, ``-``."""
    if target is None:
        return "-"
    if target.of_baseline:
        name = BASELINE_NAMES.get(baseline or "", "baseline")
        return f"{target.op} {target.value:.2f} x {name}"
    if target.of_floor:
        return f"{target.op} {target.value:.2f} x floor"
    return f"{target.op} {figure(target.value, unit)}"


def versus_text(line: Line) -> str:
    """The line against its baseline, as the table shows it: ``0.985 x tell``."""
    versus = line.versus
    baseline = line.spec.baseline
    if versus is None or baseline is None:
        return ""
    return f"{significant(versus)} x {BASELINE_NAMES[baseline]}"


# -- the table --------------------------------------------------------------------


class _Footnotes:
    """Numbered footnotes, one number per distinct text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def _peer_cell(line: Line, peer: PeerRun, notes: _Footnotes) -> str:
    if not peer.available:
        return "-"
    found = line.peers.get(peer.name)
    if found is None:
        return ""
    if found.value is None:
        return "-" + notes.mark(f"{peer.name}, row {line.spec.number}: {found.reason}")
    return figure(found.value, line.spec.unit)


def _cells(line: Line, peers: Sequence[PeerRun], notes: _Footnotes) -> list[str]:
    spec = line.spec
    ratio = line.ratio
    status = line.status
    if line.error is not None:
        status += notes.mark(f"{spec.label}: {line.error}")
    cells = [
        str(spec.number),
        spec.label,
        figure(line.value, spec.unit),
        figure(line.floor, spec.unit),
        "-" if ratio is None else significant(ratio),
        versus_text(line),
        target_text(spec.target, spec.unit, spec.baseline),
        status,
    ]
    return cells + [_peer_cell(line, peer, notes) for peer in peers]


def _align(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def render_table(report: Report) -> str:
    """The readable table, with its header and footnotes."""
    notes = _Footnotes()
    header = ["#", "line", "zactor", "floor", "ratio", "vs base", "target", "status"]
    header += [peer.name for peer in report.peers]
    rows = [header] + [_cells(line, report.peers, notes) for line in report.lines]
    right = {0, 2, 3, 4, 5} | set(range(8, len(header)))

    floor = report.floor
    out = [
        f"zactor {report.version} bench ({report.mode}): Python {report.python}, "
        f"{report.cores} cores, {report.loop}",
        f"{FLOOR_TEXT}: {figure(floor.rate, 'msg/s')} "
        f"({significant(floor.seconds_per_message * 1e9)} ns per message), "
        f"best of {len(floor.samples)} runs of {floor.messages:,} messages",
        "",
    ]
    table = _align(rows, right)
    out += [table[0], "-" * max(len(row) for row in table), *table[1:], ""]
    texts = [*report.notes, *(peer_note(peer) for peer in report.peers)]
    texts += [f"[{i}] {text}" for i, text in enumerate(notes.texts, 1)]
    out += [_wrapped(text) for text in texts]
    return "\n".join(out)


def _wrapped(text: str) -> str:
    return textwrap.fill(
        text,
        width=NOTE_WIDTH,
        initial_indent="  ",
        subsequent_indent="      ",
        break_on_hyphens=False,
    )


def peer_note(peer: PeerRun) -> str:
    """One line about a peer: its version and setup, or why it did not run."""
    if not peer.available:
        return f"{peer.name}: not run, {peer.reason}"
    return f"{peer.name} {peer.version}: {peer.note}"


# -- JSON -------------------------------------------------------------------------


def _line_document(line: Line) -> dict[str, Any]:
    spec = line.spec
    return {
        "key": spec.key,
        "row": spec.row,
        "number": spec.number,
        "label": spec.label,
        "unit": spec.unit,
        "kind": spec.kind,
        "zactor": line.value,
        "floor": line.floor,
        "ratio": line.ratio,
        "baseline": _baseline_document(line),
        "target": _target_document(line),
        "status": line.status,
        "n": line.n,
        "actors": spec.count or None,
        "error": line.error,
        "details": line.details,
        "peers": {
            name: {"value": found.value, "n": found.n, "reason": found.reason}
            for name, found in line.peers.items()
        },
    }


def _target_document(line: Line) -> dict[str, Any] | None:
    spec = line.spec
    target = spec.target
    if target is None:
        return None
    return {
        "op": target.op,
        "value": target.value,
        "of_floor": target.of_floor,
        "of_baseline": target.of_baseline,
        "text": target_text(target, spec.unit, spec.baseline),
    }


def _baseline_document(line: Line) -> dict[str, Any] | None:
    baseline = line.spec.baseline
    if baseline is None:
        return None
    return {"workload": baseline, "value": line.base, "ratio": line.versus}


def json_document(report: Report) -> dict[str, Any]:
    """Every figure of the run, for ``--json``."""
    floor = report.floor
    return {
        "zactor": report.version,
        "mode": report.mode,
        "python": report.python,
        "cores": report.cores,
        "loop": report.loop,
        "elapsed_seconds": report.elapsed,
        "floor": {
            "description": FLOOR_TEXT,
            "messages_per_second": floor.rate,
            "ns_per_message": floor.seconds_per_message * 1e9,
            "messages_per_run": floor.messages,
            "samples": list(floor.samples),
        },
        "lines": [_line_document(line) for line in report.lines],
        "peers": {
            peer.name: {
                "available": peer.available,
                "version": peer.version,
                "note": peer.note,
                "reason": peer.reason,
            }
            for peer in report.peers
        },
        "notes": report.notes,
    }


# -- the chart --------------------------------------------------------------------


def load_pyplot() -> Any:
    """matplotlib's pyplot on a file-only backend, or None when it is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def _ticker() -> Any:
    return importlib.import_module("matplotlib.ticker")


_STATUS_COLOURS = {"PASS": "#2a9d8f", "info": "#457b9d"}


def _bars(line: Line, peers: Sequence[PeerRun]) -> list[tuple[str, float, str]]:
    colour = _STATUS_COLOURS.get(line.status, "#e76f51")
    bars = []
    if line.value is not None:
        bars.append(("zactor", line.value, colour))
    if line.floor is not None:
        bars.append(("floor", line.floor, "#8d99ae"))
    if line.base is not None and line.spec.baseline is not None:
        bars.append((BASELINE_NAMES[line.spec.baseline], line.base, "#a8dadc"))
    for peer in peers:
        found = line.peers.get(peer.name)
        if found is not None and found.value is not None:
            bars.append((peer.name, found.value, "#e9c46a"))
    return bars


def _target_level(line: Line) -> float | None:
    target = line.spec.target
    if target is None:
        return None
    if target.of_baseline:
        return None if line.base is None else target.value * line.base
    if not target.of_floor:
        return target.value
    return None if line.floor is None else target.value * line.floor


def _draw_line(axes: Any, line: Line, peers: Sequence[PeerRun], ticker: Any) -> None:
    bars = _bars(line, peers)
    names = [name for name, _, _ in bars]
    values = [value for _, value, _ in bars]
    level = _target_level(line)
    drawn = axes.bar(names, values, color=[colour for _, _, colour in bars])
    axes.bar_label(drawn, labels=[compact(v) for v in values], fontsize=7)

    # Peers can be a hundred times apart: a log axis keeps every bar visible.
    highest = max([*values, level or 0.0])
    if max(values) / max(min(values), 1e-12) > 30:
        axes.set_yscale("log")
        axes.set_ylim(top=highest * 3)
        axes.yaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        axes.set_ylim(0, highest * 1.15)
    axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: compact(v)))
    if level is not None:
        axes.axhline(level, color="#264653", linestyle="--", linewidth=1)
    axes.set_title(
        f"{line.spec.number}. {line.spec.label}\n{line.spec.unit}", fontsize=8
    )
    axes.tick_params(labelsize=7)


def write_plot(report: Report, path: Path, pyplot: Any) -> None:
    """Draw one bar chart per line (zactor, floor, peers; dashed: the target)."""
    lines = [line for line in report.lines if line.value is not None]
    columns = 3
    rows = max(1, math.ceil(len(lines) / columns))
    figure_, grid = pyplot.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False
    )
    cells = [axes for row in grid for axes in row]
    ticker = _ticker()
    for axes, line in zip(cells, lines, strict=False):
        _draw_line(axes, line, report.peers, ticker)
    for axes in cells[len(lines) :]:
        axes.axis("off")

    figure_.suptitle(
        f"zactor {report.version} bench ({report.mode}), Python {report.python}, "
        f"{report.loop}: green PASS, red SHORT, blue info, dashed line = target",
        fontsize=9,
    )
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    pyplot.close(figure_)
