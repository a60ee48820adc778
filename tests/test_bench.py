"""zactor bench: the quick run's figures, the choice of rows, peers and the chart.

These tests check what the bench reports, never how fast anything is.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import pytest

from zactor._cli.bench import QUICK
from zactor._cli.bench_floor import Floor
from zactor._cli.bench_peers import PeerRun, run_peer
from zactor._cli.bench_report import Report, render_table
from zactor._cli.bench_rows import (
    LINE_CHOICES,
    ROW_IDS,
    Line,
    PeerFigure,
    chosen_lines,
    line_specs,
    parse_rows,
    rows_of,
)
from zactor._cli.bench_workers import check_gone
from zactor._cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The lines of rows 9 to 13, and the plain workload each one is compared with.
FEATURE_BASELINES = {
    "supervised": "tell",
    "restart": None,
    "router-round-robin": "tell",
    "router-random": "tell",
    "router-broadcast": "tell",
    "router-consistent-hashing": "tell",
    "router-smallest-mailbox": "tell",
    "router-balancing": "tell",
    "router-scatter": "ask",
    "timers-schedule": None,
    "timers-fire": None,
    "mailbox-bounded": "tell",
    "mailbox-priority": "tell",
    "mailbox-backpressure": "tell",
}

WORKER_ROWS = ("workers-tell", "workers-ask", "workers-cpu", "workers-start")

# The lines of rows 14 to 17 and their units.
WORKER_UNITS = {
    "workers-tell": "msg/s",
    "workers-tell-dataclass": "msg/s",
    "workers-ask-median": "us",
    "workers-ask-p99": "us",
    "workers-ask-thread-median": "us",
    "workers-ask-thread-p99": "us",
    "workers-cpu": "x",
    "workers-cpu-raw": "x",
    "workers-cpu-one": "x",
    "workers-start": "s",
    "workers-shutdown": "s",
}
WORKER_TARGETS = {"workers-tell", "workers-cpu", "workers-start"}


def run_bench(tmp_path: Path, *options: str) -> tuple[int, dict[str, Any]]:
    """Run ``zactor bench --quick`` with options; returns its status and JSON."""
    path = tmp_path / "bench.json"
    status = main(["bench", "--quick", "--json", str(path), *options])
    return status, json.loads(path.read_text())


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    """One full quick run, peers included, shared by the tests that read it."""
    return run_bench(tmp_path_factory.mktemp("bench"))


def test_quick_run_succeeds_and_covers_every_row(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """A quick run exits 0 and has a line for each of the seventeen rows."""
    status, document = quick

    rows = {line["row"] for line in document["lines"]}

    assert status == 0
    assert rows == set(ROW_IDS)
    assert len(ROW_IDS) == 17
    assert document["mode"] == "quick"


def test_quick_run_gives_positive_figures_floor_and_ratio_on_every_line(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """Every line has a positive zactor figure, floor and ratio = zactor / floor."""
    _, document = quick

    lines = document["lines"]

    for line in lines:
        assert line["zactor"] > 0, line["key"]
        assert line["floor"] > 0, line["key"]
        assert line["ratio"] == pytest.approx(line["zactor"] / line["floor"])
        assert line["status"] in ("PASS", "SHORT", "info")
        assert line["n"] > 0
    # Rows 1-8: ask has a median and a p99 line, one actor count; then one line
    # each for supervised and restart, 7 router lines, 2 timer and 3 mailbox lines;
    # then the 11 lines of the worker rows.
    assert len(lines) == 9 + 14 + len(WORKER_UNITS)


def test_quick_run_puts_a_target_beside_every_line(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """Each line carries its bound, its direction and the text the table shows."""
    _, document = quick

    targets = {line["key"]: line["target"] for line in document["lines"]}

    assert targets["tell"] == {
        "op": ">=",
        "value": 0.40,
        "of_floor": True,
        "of_baseline": False,
        "text": ">= 0.40 x floor",
    }
    assert targets["ask-p99"]["op"] == "<="
    assert targets["ask-p99"]["value"] == 5.0
    assert targets["memory-100000"]["value"] == 512.0
    assert targets["supervised"] == {
        "op": ">=",
        "value": 0.97,
        "of_floor": False,
        "of_baseline": True,
        "text": ">= 0.97 x tell",
    }
    assert [key for key, target in targets.items() if target is None] == [
        *(key for key in FEATURE_BASELINES if key != "supervised"),
        *(key for key in WORKER_UNITS if key not in WORKER_TARGETS),
    ]


def test_quick_run_compares_each_variant_with_its_plain_workload(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """Variant lines carry a positive baseline and ratio; untargeted lines say info."""
    _, document = quick

    lines = {line["key"]: line for line in document["lines"]}

    for key, workload in FEATURE_BASELINES.items():
        line = lines[key]
        if workload is None:
            assert line["baseline"] is None, key
        else:
            baseline = line["baseline"]
            assert baseline["workload"] == workload, key
            assert baseline["value"] > 0, key
            assert baseline["ratio"] == pytest.approx(
                line["zactor"] / baseline["value"]
            )
            assert len(line["details"]["runs"]) >= 1
        if key != "supervised":
            assert line["status"] == "info", key
    assert lines["supervised"]["status"] in ("PASS", "SHORT")
    assert len(lines["supervised"]["details"]["runs"]) == QUICK.compare_repeats
    assert lines["tell"]["baseline"] is None


def test_quick_run_records_the_floor_and_the_machine(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """The JSON names the floor loop, its runs, the Python, the cores and the loop."""
    _, document = quick

    floor = document["floor"]

    assert floor["messages_per_second"] == max(floor["samples"])
    assert len(floor["samples"]) == QUICK.floor_repeats
    assert floor["ns_per_message"] == pytest.approx(1e9 / floor["messages_per_second"])
    assert "deque.append" in floor["description"]
    assert document["python"].endswith(platform.python_version())
    assert document["cores"] >= 1
    assert document["loop"].split()[0] in ("asyncio", "uvloop")


def test_quick_run_gives_each_peer_a_figure_or_a_reason(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """A peer that ran has a figure or a reason per line; one that did not, a reason."""
    _, document = quick

    peers = document["peers"]

    assert set(peers) == {"pykka", "thespian", "xoscar", "ray"}
    for name, peer in peers.items():
        if not peer["available"]:
            assert peer["reason"], name
            continue
        cells = [
            line["peers"][name] for line in document["lines"] if name in line["peers"]
        ]
        assert len(cells) == 7  # rows 1-6, ask counted twice
        for cell in cells:
            assert (cell["value"] or 0) > 0 or cell["reason"], (name, cell)


def test_restart_line_counts_every_restart_and_keeps_failures_out_of_the_log(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """The restart line is per restart, and every planned failure was filtered."""
    _, document = quick

    restart = next(line for line in document["lines"] if line["key"] == "restart")

    assert restart["unit"] == "us/restart"
    assert restart["n"] == QUICK.restarts
    assert restart["details"]["failures_logged"] == QUICK.restarts
    assert restart["zactor"] == pytest.approx(
        restart["details"]["seconds"] / QUICK.restarts * 1e6
    )


def test_timer_lines_give_the_scheduling_cost_and_the_firing_rate(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """Both timer lines cover the quick timer count and agree with their seconds."""
    _, document = quick

    lines = {line["key"]: line for line in document["lines"]}
    schedule, fire = lines["timers-schedule"], lines["timers-fire"]

    assert schedule["n"] == fire["n"] == QUICK.timers
    assert schedule["unit"] == "us/timer"
    assert fire["unit"] == "ticks/s"
    assert fire["zactor"] == pytest.approx(
        QUICK.timers / fire["details"]["fire_seconds"]
    )
    assert fire["details"]["fire_seconds"] >= QUICK.timer_spread * 0.9
    assert fire["details"]["schedule_seconds"] < fire["details"]["fire_seconds"]


def test_broadcast_line_counts_deliveries(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """The broadcast router's figure is in deliveries, one per routee and message."""
    _, document = quick

    broadcast = next(
        line for line in document["lines"] if line["key"] == "router-broadcast"
    )

    assert broadcast["unit"] == "deliveries/s"
    assert broadcast["details"]["routees"] == 4
    assert broadcast["n"] % 4 == 0


def test_memory_line_says_how_it_was_measured(
    quick: tuple[int, dict[str, Any]],
) -> None:
    """The memory line records its method and the plain instance it subtracts."""
    _, document = quick

    memory = next(line for line in document["lines"] if line["row"] == "memory")

    assert memory["details"]["method"] in ("rss", "tracemalloc")
    assert memory["details"]["actors"] == 100_000
    assert memory["floor"] == memory["details"]["plain_per_instance"]


def test_rows_option_runs_only_the_chosen_rows(tmp_path: Path) -> None:
    """--rows by name and number runs those rows alone, and --no-peers no peer."""
    status, document = run_bench(tmp_path, "--rows", "tell,5", "--no-peers")

    keys = [line["key"] for line in document["lines"]]

    assert status == 0
    assert keys == ["tell", "ask-thread-median"]
    assert document["peers"] == {}


def test_rows_option_runs_feature_rows_and_single_lines(tmp_path: Path) -> None:
    """--rows takes the new rows by name and number, and single router lines."""
    status, document = run_bench(
        tmp_path, "--rows", "mailbox-bounded,supervised,12,router-random", "--no-peers"
    )

    keys = [line["key"] for line in document["lines"]]

    assert status == 0
    assert keys == [
        "supervised",
        "router-random",
        "timers-schedule",
        "timers-fire",
        "mailbox-bounded",
    ]
    assert all(line["zactor"] > 0 for line in document["lines"])


@pytest.fixture(scope="module")
def workers_quick(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, dict[str, Any]]:
    """A quick run of the worker rows alone, without peers."""
    tmp_path = tmp_path_factory.mktemp("bench-workers")
    return run_bench(tmp_path, "--rows", ",".join(WORKER_ROWS), "--no-peers")


def _worker_lines(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in document["lines"]}


def test_worker_rows_give_their_lines_in_their_units_with_positive_figures(
    workers_quick: tuple[int, dict[str, Any]],
) -> None:
    """The worker rows run alone, each line measured, with its floor and ratio."""
    status, document = workers_quick

    lines = document["lines"]

    assert status == 0
    assert [line["key"] for line in lines] == list(WORKER_UNITS)
    assert document["peers"] == {}
    for line in lines:
        assert line["unit"] == WORKER_UNITS[line["key"]]
        assert line["error"] is None, line["key"]
        assert line["zactor"] > 0, line["key"]
        assert line["floor"] > 0, line["key"]
        assert line["ratio"] == pytest.approx(line["zactor"] / line["floor"])
        assert line["n"] > 0
        has_target = line["key"] in WORKER_TARGETS
        assert (line["target"] is not None) == has_target, line["key"]
        assert line["status"] in (("PASS", "SHORT") if has_target else ("info",))


def test_worker_tell_lines_run_against_a_floor_of_their_own(
    workers_quick: tuple[int, dict[str, Any]],
) -> None:
    """Both tell lines have floor runs of their own, and an absolute target."""
    _, document = workers_quick

    lines = _worker_lines(document)

    for key in ("workers-tell", "workers-tell-dataclass"):
        details = lines[key]["details"]
        assert len(details["runs"]) == QUICK.repeats
        assert len(details["floor_runs"]) == QUICK.repeats
        assert details["workers"] == 1
        assert lines[key]["floor"] == max(details["floor_runs"])
        assert lines[key]["n"] % 10_000 == 0
    assert lines["workers-tell"]["target"]["text"] == ">= 1.00 M msg/s"


def test_worker_ask_lines_sit_beside_local_asks(
    workers_quick: tuple[int, dict[str, Any]],
) -> None:
    """Asks to a worker carry the local ask of the same kind as their baseline."""
    _, document = workers_quick

    lines = _worker_lines(document)

    for of, workload in (("", "ask"), ("-thread", "ask-thread")):
        median = lines[f"workers-ask{of}-median"]
        p99 = lines[f"workers-ask{of}-p99"]
        for line, stat in ((median, "p50_us"), (p99, "p99_us")):
            assert line["n"] == QUICK.thread_asks
            assert line["zactor"] == line["details"][stat]
            assert line["floor"] == line["details"]["floor_latencies"][stat]
            assert line["baseline"]["workload"] == workload
            assert line["baseline"]["value"] == line["details"]["local"][stat]
        assert median["zactor"] <= p99["zactor"]


def test_worker_cpu_lines_compare_speed_ups_with_the_ideal(
    workers_quick: tuple[int, dict[str, Any]],
) -> None:
    """Speed-ups are ratios of the measured times, their floors the ideal ones."""
    _, document = workers_quick

    lines = _worker_lines(document)
    seconds = lines["workers-cpu"]["details"]["seconds"]

    assert lines["workers-cpu"]["zactor"] == pytest.approx(
        seconds["workers-1"] / seconds["workers-2"]
    )
    assert lines["workers-cpu-raw"]["zactor"] == pytest.approx(
        seconds["raw-1"] / seconds["raw-2"]
    )
    assert lines["workers-cpu-one"]["zactor"] == pytest.approx(
        seconds["in-process"] / seconds["workers-1"]
    )
    assert [lines[key]["floor"] for key in WORKER_UNITS if "cpu" in key] == [
        2.0,
        2.0,
        1.0,
    ]
    assert lines["workers-cpu"]["n"] == QUICK.cpu_jobs
    assert lines["workers-cpu"]["target"]["text"] == ">= 0.85 x floor"
    runs = lines["workers-cpu"]["details"]["runs"]
    assert all(len(times) == QUICK.repeats for times in runs.values())


def test_worker_start_line_leaves_no_worker_process_behind(
    workers_quick: tuple[int, dict[str, Any]],
) -> None:
    """Every worker process the start row started is gone when the run is done."""
    _, document = workers_quick

    start = _worker_lines(document)["workers-start"]
    pids = start["details"]["worker_pids"]

    assert len(pids) == 2 * (1 + QUICK.lifecycle_repeats)
    assert len(set(pids)) == len(pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert start["target"]["text"] == "<= 0.300 s"
    assert start["n"] == 2


def test_check_gone_names_a_process_that_still_runs() -> None:
    """A worker process left running after shutdown fails the workload."""
    pid = os.getpid()

    with pytest.raises(RuntimeError, match=f"left after shutdown: \\[{pid}\\]"):
        check_gone([pid])


def test_parse_rows_takes_the_worker_rows_by_name_and_number() -> None:
    """The worker rows are rows 14 to 17, after the in-process rows."""
    assert parse_rows("17,workers-tell,15") == (
        "workers-tell",
        "workers-ask",
        "workers-start",
    )
    assert parse_rows("16") == ("workers-cpu",)


def test_rows_option_rejects_an_unknown_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unknown row is a usage error (exit 2) that lists the valid rows and lines."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--rows", "tell,warp"])

    error = capsys.readouterr().err

    assert exit_info.value.code == 2
    assert "unknown row 'warp'" in error
    assert "pingpong" in error
    assert "router-balancing" in error


def test_parse_rows_takes_names_and_numbers_in_table_order() -> None:
    """Rows come back in table order, without repeats, whatever order they came in."""
    rows = parse_rows("stop, 1,ASK,tell")

    assert rows == ("tell", "ask", "stop")


def test_parse_rows_takes_single_lines_unless_their_row_is_chosen() -> None:
    """A router or mailbox line stays alone, or is folded into its chosen row."""
    choices = parse_rows("mailbox-priority, 10,router-scatter,ROUTER,13 ,11")

    assert choices == ("restart", "router", "mailbox")
    assert parse_rows("mailbox-priority,router-scatter,9") == (
        "supervised",
        "router-scatter",
        "mailbox-priority",
    )


def test_single_lines_run_their_row_and_show_only_themselves() -> None:
    """The rows that run and the lines that show follow from the names chosen."""
    choices = ("tell", "router-scatter", "mailbox-backpressure")

    rows = rows_of(choices)
    keys = [spec.key for spec in chosen_lines(line_specs([10]), choices)]

    assert rows == ("tell", "router", "mailbox")
    assert keys == ["tell", "router-scatter", "mailbox-backpressure"]
    assert set(LINE_CHOICES.values()) == {"router", "mailbox"}


def test_plot_without_matplotlib_names_the_install_and_keeps_the_table(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With matplotlib missing, --plot says how to install it and the table stays."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    chart = tmp_path / "chart.png"

    status, _ = run_bench(tmp_path, "--rows", "ask", "--no-peers", "--plot", str(chart))

    out = capsys.readouterr().out
    assert status == 0
    assert "pip install matplotlib" in out
    assert "ask from a coroutine, median" in out
    assert not chart.exists()


def test_plot_writes_a_png_chart(tmp_path: Path) -> None:
    """With matplotlib installed, --plot writes a PNG file."""
    pytest.importorskip("matplotlib")
    chart = tmp_path / "chart.png"

    status, _ = run_bench(tmp_path, "--rows", "ask", "--no-peers", "--plot", str(chart))

    assert status == 0
    assert chart.read_bytes().startswith(PNG_MAGIC)


def test_peer_that_is_not_installed_is_reported_not_run() -> None:
    """A peer that cannot be imported is not run and says it is not installed."""
    peer = run_peer("zactor_no_such_peer", ["tell"], quick=True, loop="auto", timeout=5)

    assert not peer.available
    assert peer.reason is not None
    assert "not installed" in peer.reason
    assert peer.outcomes == {}


def test_table_shows_a_dash_and_a_footnote_for_a_peer_without_a_figure() -> None:
    """A missing peer figure is a dash whose footnote gives the reason."""
    spec = next(s for s in line_specs([10]) if s.key == "tell")
    line = Line(spec, value=2e6, floor=8e6, n=10)
    line.peers["alpha"] = PeerFigure(reason="no asyncio API")
    line.peers["beta"] = PeerFigure(value=1e5, n=10)
    report = Report(
        mode="quick",
        python="CPython 3.11",
        cores=2,
        loop="asyncio",
        version="0",
        floor=Floor(8e6, (8e6,), 100),
        lines=[line],
        peers=[
            PeerRun("alpha", available=True, version="1", note="a peer"),
            PeerRun("beta", available=True, version="2", note="another"),
            PeerRun("gamma", available=False, reason="not installed"),
        ],
    )

    table = render_table(report)

    row = next(text for text in table.splitlines() if text.startswith("1 "))
    assert row.split()[-6:] == ["SHORT", "-[1]", "100", "k", "msg/s", "-"]
    assert "0.250" in row
    assert "[1] alpha, row 1: no asyncio API" in table
    assert "gamma: not run, not installed" in table


def test_table_shows_the_baseline_ratio_and_info_for_lines_without_target() -> None:
    """A variant shows 'x tell' and its target; an untargeted line '-' and info."""
    specs = {spec.key: spec for spec in line_specs([10])}
    supervised = Line(specs["supervised"], value=1e6, floor=4e6, n=10, base=2e6)
    restart = Line(specs["restart"], value=30.0, floor=0.125, n=10)
    report = Report(
        mode="quick",
        python="CPython 3.11",
        cores=2,
        loop="asyncio",
        version="0",
        floor=Floor(8e6, (8e6,), 100),
        lines=[supervised, restart],
    )

    table = render_table(report)

    rows = [
        text.split("  ") for text in table.splitlines() if text[:3] in (" 9 ", "10 ")
    ]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells[0][-4:] == ["0.250", "0.500 x tell", ">= 0.97 x tell", "SHORT"]
    assert cells[1][-3:] == ["240", "-", "info"]


def test_peer_that_does_not_start_in_time_is_ended_and_reported() -> None:
    """A peer child that says nothing within the bound is ended, with a reason."""
    pytest.importorskip("pykka")

    peer = run_peer("pykka", ["tell"], quick=True, loop="auto", timeout=0.001)

    assert not peer.available
    assert peer.reason is not None
    assert "did not start in time" in peer.reason


def test_profile_option_prints_where_the_time_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--profile prints a cProfile table of the row's workload after the table."""
    status, _ = run_bench(tmp_path, "--rows", "ask", "--no-peers", "--profile")

    out = capsys.readouterr().out
    assert status == 0
    assert "profile of ask:" in out
    assert "tottime" in out
    assert "ask_latencies" in out


def test_profile_option_profiles_a_single_feature_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--profile on one mailbox line prints the profile of that line's workload."""
    status, _ = run_bench(
        tmp_path, "--rows", "mailbox-bounded", "--no-peers", "--profile"
    )

    out = capsys.readouterr().out
    assert status == 0
    assert "profile of mailbox-bounded:" in out
    assert "_mailbox.py" in out  # the bounded mailbox is where its time goes
    assert "profile of mailbox-priority:" not in out
