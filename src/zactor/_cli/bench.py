"""``zactor bench``: zactor's speed and size next to the floor and to other frameworks.

Every line of the table shows the zactor figure, the floor measured in the same
process just before (a tight loop of ``deque.append`` + ``deque.popleft`` + one
bound method call per message, converted into the line's unit), the ratio
zactor/floor, the target and whether it is met, and the figures of the peer
frameworks that are installed. A line that measures a variant of a plain
workload (a supervising parent, a router, another mailbox) also shows how it
compares with that workload, run in alternation with it in the same row.
The rows of actors in worker processes (14 to 17) measure floors of their own,
the same work done by bare child processes with a pipe and pickle.
``--quick`` is the smoke version CI runs; the default is the full suite.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, get_args

import zactor

from . import bench_features as features
from . import bench_workers as workers
from . import bench_zactor as work
from .bench_floor import Floor, measure_floor
from .bench_memory import HOW, measure_memory
from .bench_peers import FIGURES, PEERS, PeerRun, run_peer
from .bench_report import (
    Report,
    figure,
    json_document,
    load_pyplot,
    render_table,
    write_plot,
)
from .bench_rows import (
    BACKPRESSURE_CAPACITY,
    LINE_CHOICES,
    MAILBOX_KINDS,
    ROUTEES,
    ROUTER_KINDS,
    ROW_IDS,
    SPEEDUP_WORKERS,
    Line,
    PeerFigure,
    chosen_lines,
    line_specs,
    parse_rows,
    rows_of,
)

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Measure zactor's throughput, latency, spawn and stop times and memory per "
    "actor. Each line shows the zactor figure, the floor measured in the same "
    "process (deque.append + deque.popleft + one bound method call per message, "
    "in the line's unit; for the worker-process rows, bare child processes doing "
    "the same work), the ratio zactor/floor, the ratio to the plain workload "
    "where the line measures a variant of it, the target and PASS or SHORT (info "
    "where there is no target), and the figures of the installed peer frameworks."
)


@dataclass(frozen=True)
class Scale:
    """How much work each row does: the full suite, or the quick smoke version.

    Attributes:
        name: ``full`` or ``quick``.
        seconds: the least work one throughput run does, in seconds.
        repeats: throughput runs per figure; the best is kept.
        pilot: messages of the run that sizes the throughput runs.
        floor_messages: messages of one floor run.
        floor_repeats: floor runs; the best is kept.
        asks: asks timed from a coroutine.
        thread_asks: asks timed from a thread.
        warmup: asks made before timing.
        actor_counts: the actor counts of the spawn, memory and stop rows.
        lifecycle_repeats: spawn-and-stop runs at the smallest count.
        peer_timeout: seconds each peer workload may take.
        memory_timeout: seconds one memory measurement may take.
        compare_repeats: rounds of the supervised row, each running the plain
            and the supervised tell once; the best of each is kept.
        restarts: failures, each followed by a restart, of one restart run.
        timers: single timers scheduled by the timer row.
        timer_spread: the timers' delays lie between 0 and this, in seconds.
        cpu_jobs: CPU jobs of one run of the worker pool row.
    """

    name: str
    seconds: float
    repeats: int
    pilot: int
    floor_messages: int
    floor_repeats: int
    asks: int
    thread_asks: int
    warmup: int
    actor_counts: tuple[int, ...]
    lifecycle_repeats: int
    peer_timeout: float
    memory_timeout: float
    compare_repeats: int
    restarts: int
    timers: int
    timer_spread: float
    cpu_jobs: int


FULL = Scale(
    name="full",
    seconds=1.0,
    repeats=3,
    pilot=100_000,
    floor_messages=2_000_000,
    floor_repeats=5,
    asks=200_000,
    thread_asks=20_000,
    warmup=1_000,
    actor_counts=(100_000, 1_000_000),
    lifecycle_repeats=3,
    peer_timeout=15.0,
    memory_timeout=600.0,
    compare_repeats=5,
    restarts=50_000,
    timers=100_000,
    timer_spread=0.5,
    cpu_jobs=300,
)
QUICK = Scale(
    name="quick",
    seconds=0.15,
    repeats=1,
    pilot=20_000,
    floor_messages=300_000,
    floor_repeats=3,
    asks=20_000,
    thread_asks=2_000,
    warmup=200,
    actor_counts=(100_000,),
    lifecycle_repeats=1,
    peer_timeout=10.0,
    memory_timeout=120.0,
    compare_repeats=3,
    restarts=5_000,
    timers=20_000,
    timer_spread=0.1,
    cpu_jobs=40,
)

# Which peer workload serves which row.
PEER_WORKLOADS = {
    "tell": "tell",
    "fanout": "fanout",
    "pingpong": "pingpong",
    "ask": "ask",
    "ask-thread": "ask-thread",
    "spawn": "spawn",
}

FAN_OUT_ACTORS = 1_000

# How often a throughput run that ended too soon is resized and run again.
MAX_RESIZES = 4

# Workloads of asks are sized in steps this small: they run at a tenth of the
# rate of tells, or less.
ASK_STEP = 1_000


@dataclass
class BenchRun:
    """What the rows of one run share."""

    scale: Scale
    loop: work.LoopName
    factory: work.LoopFactory
    floor: Floor
    lines: dict[str, Line]
    lifetimes: dict[int, work.LifeTimes] = field(default_factory=dict)

    def fill(
        self,
        key: str,
        value: float,
        n: int,
        *,
        base: float | None = None,
        **details: object,
    ) -> None:
        """Record a zactor figure, with the floor in its unit, if the line is shown.

        ``base`` is the figure of the plain workload the line is a variant of,
        measured in the same row.
        """
        line = self.lines.get(key)
        if line is None:
            return
        line.value = value
        line.floor = line.spec.floor_figure(self.floor)
        line.n = n
        line.base = base
        line.details.update(details)


@dataclass(frozen=True)
class Rates:
    """The rates of one workload's throughput runs, and the best of them.

    Attributes:
        best: the highest rate, in units of work per second.
        n: the work of one run, in the last size it was given.
        runs: every counted run's rate, in the order they ran.
    """

    best: float
    n: int
    runs: list[float]


# -- command line -----------------------------------------------------------------


def _rows_option(text: str) -> tuple[str, ...]:
    try:
        return parse_rows(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``zactor bench`` to its parser."""
    parser.description = DESCRIPTION
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run (about 30 s): smaller sizes, one run per figure",
    )
    parser.add_argument(
        "--rows",
        type=_rows_option,
        default=ROW_IDS,
        metavar="ROW,...",
        help=f"rows to run, by name or number 1-{len(ROW_IDS)}: "
        f"{', '.join(ROW_IDS)}; or single lines of rows 11 and 13: "
        f"{', '.join(LINE_CHOICES)} (default: all rows)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="write every figure to FILE"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="draw a PNG bar chart per line to FILE (needs matplotlib)",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help=f"do not run the other frameworks ({', '.join(PEERS)})",
    )
    parser.add_argument(
        "--loop",
        choices=get_args(work.LoopName),
        default="auto",
        help="event loop of the workloads (default: uvloop when installed)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the table, run each row once more under cProfile and print "
        "where its time goes",
    )


def run(args: argparse.Namespace) -> int:
    """Run the bench; returns 1 if a zactor workload failed, else 0.

    Missing targets do not fail the run: the bench reports, it does not judge.
    """
    began = time.perf_counter()
    scale = QUICK if args.quick else FULL
    choices: tuple[str, ...] = args.rows
    rows = rows_of(choices)
    try:
        factory, loop_text = work.loop_factory(args.loop)
    except ValueError as error:
        print(f"zactor bench: {error}", file=sys.stderr)
        return 2

    _progress(f"measuring the floor ({scale.floor_repeats} runs)")
    floor = measure_floor(scale.floor_messages, scale.floor_repeats)
    specs = chosen_lines(line_specs(scale.actor_counts, scale.timers), choices)
    lines = {spec.key: Line(spec) for spec in specs}
    bench = BenchRun(scale, args.loop, factory, floor, lines)

    for row in rows:
        _run_row(bench, row)
    peers = [] if args.no_peers else _run_peers(bench, rows)

    report = Report(
        mode=scale.name,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        cores=os.cpu_count(),
        loop=loop_text,
        version=zactor.__version__,
        floor=floor,
        lines=list(lines.values()),
        peers=peers,
        notes=_notes(bench, rows, any(peer.available for peer in peers)),
        elapsed=time.perf_counter() - began,
    )
    print(render_table(report))
    _write_outputs(report, args)
    if args.profile:
        _profile_rows(bench, rows)
    return 1 if any(line.error for line in lines.values()) else 0


def _progress(text: str) -> None:
    print(f"zactor bench: {text}", file=sys.stderr, flush=True)


def _write_outputs(report: Report, args: argparse.Namespace) -> None:
    if args.json is not None:
        args.json.write_text(json.dumps(json_document(report), indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    if args.plot is not None:
        pyplot = load_pyplot()
        if pyplot is None:
            print(
                "\n--plot needs matplotlib, which is not installed: "
                "pip install matplotlib (the table above is complete without it)"
            )
        else:
            write_plot(report, args.plot, pyplot)
            print(f"\nchart written to {args.plot}")


# -- rows -------------------------------------------------------------------------


def _run_row(bench: BenchRun, row: str) -> None:
    _progress(f"row {ROW_IDS.index(row) + 1}, {row}")
    try:
        ROW_RUNNERS[row](bench)
    except Exception as error:
        log.exception("bench row %s failed", row)
        for line in bench.lines.values():
            if line.spec.row == row and line.value is None:
                line.error = f"{type(error).__name__}: {error}"
        return
    for line in bench.lines.values():
        if line.spec.row == row and line.value is not None:
            _progress(f"  {line.spec.label}: {figure(line.value, line.spec.unit)}")


def _round_up(value: float, step: int) -> int:
    return max(step, -(-int(value) // step) * step)


def _throughput(
    bench: BenchRun, seconds_for: Callable[[int], float]
) -> tuple[float, int, list[float]]:
    """Best rate of ``scale.repeats`` runs that each last at least ``scale.seconds``.

    A pilot run sizes the first run; a run that ends too soon is not counted and
    sizes the next one instead, a few times at most.
    """
    scale = bench.scale
    elapsed = seconds_for(scale.pilot)
    n = _size_for(scale.pilot, elapsed, scale.seconds)
    rates: list[float] = []
    resizes = 0
    while len(rates) < scale.repeats:
        elapsed = seconds_for(n)
        if elapsed < scale.seconds and resizes < MAX_RESIZES:
            resizes += 1
            n = max(n, _size_for(n, elapsed, scale.seconds))
            continue
        rates.append(n / elapsed)
    return max(rates), n, rates


def _size_for(n: int, elapsed: float, seconds: float, step: int = 10_000) -> int:
    """The work that should take ``seconds``, with a margin, in steps of ``step``."""
    return _round_up(n / elapsed * seconds * 1.2, step)


def _alternating(
    bench: BenchRun,
    workloads: Mapping[str, Callable[[int], float]],
    repeats: int,
    *,
    pilot: int | None = None,
    step: int = 10_000,
) -> dict[str, Rates]:
    """Best rate of each workload over ``repeats`` rounds that run each in turn.

    Running the workloads in alternation (A B A B, not A A B B) exposes them to
    the same disturbances of the machine, so that their ratio is fair. Each is
    sized by a pilot run of its own to last at least ``scale.seconds``; a run
    that ends too soon is not counted and resizes that workload, a few times at
    most.
    """
    scale = bench.scale
    first = pilot or scale.pilot
    sizes = {
        name: _size_for(first, seconds_for(first), scale.seconds, step)
        for name, seconds_for in workloads.items()
    }
    runs: dict[str, list[float]] = {name: [] for name in workloads}
    resizes = dict.fromkeys(workloads, 0)
    for _ in range(repeats):
        for name, seconds_for in workloads.items():
            while True:
                n = sizes[name]
                elapsed = seconds_for(n)
                if elapsed >= scale.seconds or resizes[name] >= MAX_RESIZES:
                    break
                resizes[name] += 1
                sizes[name] = max(n, _size_for(n, elapsed, scale.seconds, step))
            runs[name].append(n / elapsed)
    return {name: Rates(max(rates), sizes[name], rates) for name, rates in runs.items()}


def _timed(
    bench: BenchRun, make: Callable[[int], Coroutine[Any, Any, float]]
) -> Callable[[int], float]:
    """A throughput workload as ``_alternating`` takes it: work in, seconds out."""

    def seconds_for(n: int) -> float:
        return work.run_async(bench.factory, make(n))

    return seconds_for


def _fill_versus(
    bench: BenchRun, key: str, variant: Rates, plain: Rates, **details: object
) -> None:
    """Record a variant's best rate next to the best rate of its plain workload."""
    bench.fill(
        key,
        variant.best,
        variant.n,
        base=plain.best,
        runs=variant.runs,
        baseline_runs=plain.runs,
        baseline_n=plain.n,
        **details,
    )


def _row_tell(bench: BenchRun) -> None:
    def seconds_for(n: int) -> float:
        return work.run_async(bench.factory, work.tell_throughput(n))

    rate, n, rates = _throughput(bench, seconds_for)
    bench.fill("tell", rate, n, runs=rates, seconds=n / rate)


def _row_fanout(bench: BenchRun) -> None:
    def seconds_for(n: int) -> float:
        return work.run_async(bench.factory, work.fan_out(n, FAN_OUT_ACTORS))

    rate, n, rates = _throughput(bench, seconds_for)
    bench.fill("fanout", rate, n, runs=rates, seconds=n / rate, actors=FAN_OUT_ACTORS)


def _row_pingpong(bench: BenchRun) -> None:
    def seconds_for(n: int) -> float:
        return work.run_async(bench.factory, work.ping_pong(n))

    rate, n, rates = _throughput(bench, seconds_for)
    bench.fill("pingpong", rate, n, runs=rates, seconds=n / rate)


def _latency_details(samples: list[int]) -> dict[str, float]:
    return {
        f"p{name}_us": work.percentile(samples, fraction) / 1000
        for name, fraction in (("50", 0.5), ("90", 0.9), ("99", 0.99), ("999", 0.999))
    } | {"min_us": samples[0] / 1000, "max_us": samples[-1] / 1000}


def _row_ask(bench: BenchRun) -> None:
    scale = bench.scale
    samples = work.run_async(
        bench.factory, work.ask_latencies(scale.asks, scale.warmup)
    )
    details = _latency_details(samples)
    bench.fill("ask-median", details["p50_us"], len(samples), **details)
    bench.fill("ask-p99", details["p99_us"], len(samples), **details)


def _row_ask_thread(bench: BenchRun) -> None:
    scale = bench.scale
    samples = work.thread_ask_latencies(scale.thread_asks, scale.warmup, bench.loop)
    details = _latency_details(samples)
    bench.fill("ask-thread-median", details["p50_us"], len(samples), **details)


def _lifetimes(bench: BenchRun, actors: int) -> work.LifeTimes:
    """Spawn-and-stop times for ``actors``, best of the runs; shared by two rows."""
    found = bench.lifetimes.get(actors)
    if found is None:
        runs = bench.scale.lifecycle_repeats
        if actors != min(bench.scale.actor_counts):
            runs = 1
        measured = [
            work.run_async(bench.factory, work.spawn_and_stop(actors))
            for _ in range(runs)
        ]
        found = work.LifeTimes(
            actors, min(m.spawn for m in measured), min(m.stop for m in measured)
        )
        bench.lifetimes[actors] = found
    return found


def _row_spawn(bench: BenchRun) -> None:
    for actors in bench.scale.actor_counts:
        times = _lifetimes(bench, actors)
        per_actor = times.spawn / actors * 1e6
        bench.fill(f"spawn-{actors}", per_actor, actors, seconds=times.spawn)


def _row_stop(bench: BenchRun) -> None:
    for actors in bench.scale.actor_counts:
        times = _lifetimes(bench, actors)
        per_actor = times.stop / actors * 1e6
        bench.fill(f"stop-{actors}", per_actor, actors, seconds=times.stop)


def _row_memory(bench: BenchRun) -> None:
    for actors in bench.scale.actor_counts:
        result = measure_memory(actors, bench.loop, bench.scale.memory_timeout)
        key = f"memory-{actors}"
        bench.fill(key, result["per_actor"], actors, **result)
        bench.lines[key].floor = result["plain_per_instance"]


def _row_supervised(bench: BenchRun) -> None:
    rates = _alternating(
        bench,
        {
            "tell": _timed(bench, work.tell_throughput),
            "supervised": _timed(bench, features.supervised_tell_throughput),
        },
        bench.scale.compare_repeats,
    )
    _fill_versus(bench, "supervised", rates["supervised"], rates["tell"])


def _row_restart(bench: BenchRun) -> None:
    scale = bench.scale
    runs = [
        work.run_async(bench.factory, features.restart_time(scale.restarts))
        for _ in range(scale.lifecycle_repeats)
    ]
    best = min(runs, key=lambda run: run.seconds)
    bench.fill(
        "restart",
        best.seconds / best.restarts * 1e6,
        best.restarts,
        seconds=best.seconds,
        runs_us=[run.seconds / run.restarts * 1e6 for run in runs],
        failures_logged=best.logged,
    )


def _row_router(bench: BenchRun) -> None:
    kinds = [kind for kind in ROUTER_KINDS if f"router-{kind}" in bench.lines]
    if kinds:
        workloads = {"tell": _timed(bench, work.tell_throughput)}
        for kind in kinds:
            routed = partial(features.routed_tells, kind=kind, routees=ROUTEES)
            workloads[kind] = _timed(bench, routed)
        rates = _alternating(bench, workloads, bench.scale.repeats)
        for kind in kinds:
            key = f"router-{kind}"
            _fill_versus(bench, key, rates[kind], rates["tell"], routees=ROUTEES)
    if "router-scatter" in bench.lines:
        scattered = partial(features.scattered_asks, routees=ROUTEES)
        rates = _alternating(
            bench,
            {
                "ask": _timed(bench, features.direct_asks),
                "scatter": _timed(bench, scattered),
            },
            bench.scale.repeats,
            pilot=max(ASK_STEP, bench.scale.asks // 10),
            step=ASK_STEP,
        )
        _fill_versus(
            bench, "router-scatter", rates["scatter"], rates["ask"], routees=ROUTEES
        )


def _row_timers(bench: BenchRun) -> None:
    scale = bench.scale
    runs = [
        work.run_async(
            bench.factory, features.timer_times(scale.timers, scale.timer_spread)
        )
        for _ in range(scale.lifecycle_repeats)
    ]
    schedule = min(run.schedule for run in runs)
    fire = min(run.fire for run in runs)
    details = {
        "spread_seconds": scale.timer_spread,
        "schedule_seconds": schedule,
        "fire_seconds": fire,
        "after_due_ms": min(run.after_due for run in runs) * 1e3,
    }
    bench.fill(
        "timers-schedule", schedule / scale.timers * 1e6, scale.timers, **details
    )
    bench.fill("timers-fire", scale.timers / fire, scale.timers, **details)


def _mailbox_workload(kind: str) -> Callable[[int], Coroutine[Any, Any, float]]:
    if kind == "backpressure":
        return partial(features.backpressure_sends, capacity=BACKPRESSURE_CAPACITY)
    return partial(features.mailbox_tells, kind=kind)


def _row_mailbox(bench: BenchRun) -> None:
    kinds = [kind for kind in MAILBOX_KINDS if f"mailbox-{kind}" in bench.lines]
    workloads = {"tell": _timed(bench, work.tell_throughput)}
    for kind in kinds:
        workloads[kind] = _timed(bench, _mailbox_workload(kind))
    rates = _alternating(bench, workloads, bench.scale.repeats)
    for kind in kinds:
        _fill_versus(bench, f"mailbox-{kind}", rates[kind], rates["tell"])


def _fill_floored(
    bench: BenchRun,
    key: str,
    value: float,
    n: int,
    floor: float,
    *,
    base: float | None = None,
    **details: object,
) -> None:
    """Record a figure next to a floor that its row measured itself."""
    bench.fill(key, value, n, base=base)
    line = bench.lines.get(key)
    if line is not None:
        line.floor = floor
        line.details.update(details)


def _row_workers_tell(bench: BenchRun) -> None:
    workloads: dict[str, Callable[[int], float]] = {}
    for kind, batch in workers.MESSAGES.items():
        zactor = partial(workers.tell_across, batch=batch)
        workloads[f"zactor-{kind}"] = _timed(bench, zactor)
        workloads[f"raw-{kind}"] = partial(workers.raw_tell_seconds, batch=batch)
    pilot = max(ASK_STEP, bench.scale.pilot // 5)
    rates = _alternating(bench, workloads, bench.scale.repeats, pilot=pilot)

    for kind, key in (("int", "workers-tell"), ("dataclass", "workers-tell-dataclass")):
        zactor_rates, raw = rates[f"zactor-{kind}"], rates[f"raw-{kind}"]
        _fill_floored(
            bench,
            key,
            zactor_rates.best,
            zactor_rates.n,
            raw.best,
            runs=zactor_rates.runs,
            floor_runs=raw.runs,
            floor_n=raw.n,
            workers=1,
        )


def _row_workers_ask(bench: BenchRun) -> None:
    scale = bench.scale
    asks, warmup = scale.thread_asks, scale.warmup
    floor = _latency_details(workers.raw_ask_latencies(asks, warmup))
    measured = {
        "": (
            work.run_async(bench.factory, workers.ask_across(asks, warmup)),
            work.run_async(bench.factory, work.ask_latencies(asks, warmup)),
        ),
        "-thread": (
            workers.thread_ask_across(asks, warmup, bench.loop),
            work.thread_ask_latencies(asks, warmup, bench.loop),
        ),
    }

    for of, (across, local) in measured.items():
        details = _latency_details(across)
        base = _latency_details(local)
        for stat, name in (("median", "p50_us"), ("p99", "p99_us")):
            _fill_floored(
                bench,
                f"workers-ask{of}-{stat}",
                details[name],
                len(across),
                floor[name],
                base=base[name],
                local=base,
                floor_latencies=floor,
                **details,
            )


def _row_workers_cpu(bench: BenchRun) -> None:
    scale = bench.scale
    jobs, n = scale.cpu_jobs, SPEEDUP_WORKERS
    size = workers.job_size()
    names = ("in-process", "raw-1", "workers-1", f"raw-{n}", f"workers-{n}")
    times: dict[str, list[float]] = {name: [] for name in names}

    # In alternation, so that every variant meets the same disturbances.
    for _ in range(scale.repeats):
        times["in-process"].append(workers.in_process_jobs(jobs, size))
        for count in (1, n):
            times[f"raw-{count}"].append(workers.raw_parallel_jobs(jobs, size, count))
            pooled = workers.pooled_jobs(jobs, size, count)
            times[f"workers-{count}"].append(work.run_async(bench.factory, pooled))

    best = {name: min(runs) for name, runs in times.items()}
    details: dict[str, Any] = {
        "jobs": jobs,
        "job_size": size,
        "job_ms": best["in-process"] / jobs * 1e3,
        "workers": n,
        "routees_per_worker": workers.ROUTEES_PER_WORKER,
        "seconds": best,
        "runs": times,
    }
    speedups = {
        "workers-cpu": (best["workers-1"] / best[f"workers-{n}"], float(n)),
        "workers-cpu-raw": (best["raw-1"] / best[f"raw-{n}"], float(n)),
        "workers-cpu-one": (best["in-process"] / best["workers-1"], 1.0),
    }
    for key, (value, ideal) in speedups.items():
        _fill_floored(bench, key, value, jobs, ideal, **details)


def _row_workers_start(bench: BenchRun) -> None:
    n = SPEEDUP_WORKERS
    first = workers.start_and_stop(n, bench.loop)
    runs: list[workers.LifeTimes] = []
    floors: list[workers.LifeTimes] = []
    for _ in range(bench.scale.lifecycle_repeats):
        floors.append(workers.raw_start_and_stop(n))
        runs.append(workers.start_and_stop(n, bench.loop))

    details: dict[str, Any] = {
        "workers": n,
        "first_start_s": first.start,
        "start_runs_s": [run.start for run in runs],
        "shutdown_runs_s": [run.stop for run in runs],
        "floor_start_runs_s": [run.start for run in floors],
        "floor_stop_runs_s": [run.stop for run in floors],
        "worker_pids": [pid for run in (first, *runs) for pid in run.pids],
    }
    start = min(run.start for run in runs)
    stop = min(run.stop for run in runs)
    floor_start = min(run.start for run in floors)
    floor_stop = min(run.stop for run in floors)
    _fill_floored(bench, "workers-start", start, n, floor_start, **details)
    _fill_floored(bench, "workers-shutdown", stop, n, floor_stop, **details)


ROW_RUNNERS: dict[str, Callable[[BenchRun], None]] = {
    "tell": _row_tell,
    "fanout": _row_fanout,
    "pingpong": _row_pingpong,
    "ask": _row_ask,
    "ask-thread": _row_ask_thread,
    "spawn": _row_spawn,
    "memory": _row_memory,
    "stop": _row_stop,
    "supervised": _row_supervised,
    "restart": _row_restart,
    "router": _row_router,
    "timers": _row_timers,
    "mailbox": _row_mailbox,
    "workers-tell": _row_workers_tell,
    "workers-ask": _row_workers_ask,
    "workers-cpu": _row_workers_cpu,
    "workers-start": _row_workers_start,
}


# -- peers ------------------------------------------------------------------------


def _run_peers(bench: BenchRun, rows: Sequence[str]) -> list[PeerRun]:
    workloads = [PEER_WORKLOADS[row] for row in rows if row in PEER_WORKLOADS]
    runs = []
    for name in PEERS:
        if workloads:
            _progress(f"peer {name}")
        peer = run_peer(
            name,
            workloads,
            quick=bench.scale.name == "quick",
            loop=bench.loop,
            timeout=bench.scale.peer_timeout,
        )
        _place_peer(bench, peer)
        runs.append(peer)
    return runs


def _peer_line_key(bench: BenchRun, key: str) -> str:
    if key == "spawn":
        return f"spawn-{min(bench.scale.actor_counts)}"
    return key


def _place_peer(bench: BenchRun, peer: PeerRun) -> None:
    if not peer.available:
        return
    for workload, outcome in peer.outcomes.items():
        for key in FIGURES[workload]:
            line = bench.lines.get(_peer_line_key(bench, key))
            if line is None:
                continue
            value = outcome.figures.get(key)
            reason = outcome.reason or (None if value is not None else "no figure")
            line.peers[peer.name] = PeerFigure(value, reason, outcome.n)


# -- notes ------------------------------------------------------------------------


def _notes(bench: BenchRun, rows: Iterable[str], peers: bool) -> list[str]:
    scale = bench.scale
    chosen = set(rows)
    counts = ", ".join(f"{c:,}" for c in scale.actor_counts)
    notes = {
        "tell": f"1-2: from the first tell to the last message handled, best of "
        f"{scale.repeats} run(s) of at least {scale.seconds:g} s; the sender is a "
        "coroutine on the system's loop that yields every 10,000 tells",
        "pingpong": "3: an actor tells another, which tells context.sender back; "
        "the floor is per 2 floor messages",
        "ask": f"4: await ref.ask(i, timeout) from a coroutine on the system's loop, "
        f"{scale.asks:,} asks after {scale.warmup:,} to warm up, each timed with "
        "perf_counter_ns; the floor is 2 floor messages",
        "ask-thread": f"5: ref.ask(i).result(timeout) from the main thread with "
        f"'with ActorSystem()' (loop on its own thread), {scale.thread_asks:,} asks",
        "spawn": f"6, 8: one parent actor spawns N idle children (context.spawn) in "
        f"a handler, N = {counts}; stop is parent.stop() awaited until all N + 1 "
        f"have terminated; best of {scale.lifecycle_repeats} at the smallest N; the "
        "floor is 1 floor message",
        "memory": f"7: {HOW['rss']} (tracemalloc where /proc is missing) when N "
        "idle actors (__slots__ = (), no state) are spawned under one parent, minus "
        "the growth for N instances of a plain class with __slots__ = (); the floor "
        "is one such plain instance",
    } | _feature_notes(scale)
    notes |= _worker_notes(scale)
    texts = [text for row, text in notes.items() if row in chosen]
    if "stop" in chosen and "spawn" not in chosen:
        texts.append(notes["spawn"])
    if "fanout" in chosen and "tell" not in chosen:
        texts.append(notes["tell"])
    texts.append(
        "ratio = zactor / floor in the line's unit: for rates more is better, for "
        "times and sizes less is better"
    )
    if chosen & {"supervised", "router", "mailbox"}:
        texts.append(
            "vs base = zactor / the plain workload the line is a variant of (the "
            "tell of row 1, or for scatter-gather asks to one actor), run in "
            "alternation with it in the same row; a target '-' means the line "
            "informs (status info)"
        )
    if peers:
        texts.append(
            "peers run smaller workloads than zactor (thousands of messages or "
            "actors; the n of each figure is in --json), each in a child process"
        )
    return texts


def _feature_notes(scale: Scale) -> dict[str, str]:
    return {
        "supervised": "9: the tell of row 1 to a child of a parent whose class sets "
        "OneForOne({ValueError: RESUME}, default=RESTART, backoff=Backoff(0.01, "
        "1.0)); nothing fails. Run in alternation with the plain tell (A B A B), "
        f"best of {scale.compare_repeats} each",
        "restart": f"10: {scale.restarts:,} tells to an actor that raises on each "
        "(OneForOne(max_restarts=None), no backoff), then one it handles, which "
        "stamps the clock once every failure is handled and every restart done "
        "(checked against statistics().restarts); the failures' log records are "
        f"built but filtered out; best of {scale.lifecycle_repeats}; the floor is "
        "1 floor message",
        "router": f"11: the tell of row 1 through a router to a pool of {ROUTEES} "
        "counting routees, in alternation with the plain tell, best of "
        f"{scale.repeats} each; broadcast counts deliveries (1 message, "
        f"{ROUTEES} deliveries); the floor counts the router's and the routee's "
        f"handling: 2 floor messages, {1 + 1 / ROUTEES:g} per broadcast delivery, "
        "3 for balancing (with the routee's notice that it is free). Scatter-gather: "
        f"awaited asks from a coroutine, each to all {ROUTEES} routees, against "
        f"awaited asks to one actor; the floor is {ROUTEES + 2} floor messages",
        "timers": f"12: one actor calls context.timers.once(key, delay, key) "
        f"{scale.timers:,} times in one handler, distinct keys, seeded random "
        f"delays in [0, {scale.timer_spread:g}) s; schedule = that loop per timer; "
        "ticks/s = timers / time from the first once() until the last tick was "
        f"handled, at most {scale.timers / scale.timer_spread:,.0f} when firing "
        f"keeps up with the delays (--json: after_due_ms); best of "
        f"{scale.lifecycle_repeats}",
        "mailbox": "13: the tell of row 1 to the same actor spawned with "
        "mailbox=Bounded(10,000,000) (never full) or Priority(key=lambda m: m & 3), "
        "and await ref.send(i, timeout) into Bounded("
        f"{BACKPRESSURE_CAPACITY:,}, overflow='backpressure'); in alternation with "
        f"the plain tell, best of {scale.repeats} each",
    }


def _worker_notes(scale: Scale) -> dict[str, str]:
    n = SPEEDUP_WORKERS
    method = workers.START_METHOD
    return {
        "workers-tell": f"14: ActorSystem(workers=1, start_method={method!r}); a "
        "coroutine in the head tells N messages to an actor in the worker, yielding "
        "every 10,000, then asks its count (checked); timed from the first tell to "
        "that answer; ints, or a dataclass(slots=True) with one int field, a new "
        "object each. Floor: a bare child process started the same way reads "
        f"length-prefixed frames from a pipe, each a list of {workers.BATCH:,} "
        f"messages pickled with protocol {workers.PROTOCOL}, and calls a bound method "
        "per message, while the parent pickles and writes; timed the same way. A "
        "fresh system or child per run, zactor and floor in alternation, best of "
        f"{scale.repeats} each",
        "workers-ask": f"15: {scale.thread_asks:,} asks one at a time, after "
        f"{scale.warmup:,} to warm up, to an actor in the worker of "
        "ActorSystem(workers=1): awaited from a coroutine in the head, or "
        ".result() from the main thread (the loop on its own thread); vs base = "
        "the same asks to a local actor (rows 4 and 5), run in this row; the floor "
        "is a bare round trip to a child process (pickle, pipe frame, unpickle, "
        "one bound method call and back), from a blocked thread",
        "workers-cpu": f"16: {scale.cpu_jobs} jobs of pure-Python work (sum of "
        f"squares, sized to {workers.JOB_SECONDS * 1e3:g} ms each in this process) "
        "asked at once of Router(Balancing(), pool=Pool(Cruncher, "
        f"{workers.ROUTEES_PER_WORKER} x N, worker='spread')) in the head, answers "
        f"checked, with N = 1 and N = {n} workers: speed-up = t(1) / t({n}), the "
        f"floor is the ideal ({n}), the target 0.85 x ideal; bare processes: the "
        f"same jobs split evenly over 1 and {n} child processes at once, what the "
        "machine gives; 1 worker / in-process: the jobs called in a loop here "
        f"against 1 worker (floor 1); best of {scale.repeats} alternated runs each",
        "workers-start": f"17: from ActorSystem(workers={n}).start() (threaded) "
        "until an actor spawned on each worker has answered an ask; shutdown = "
        "system.shutdown() until every worker has exited (checked with "
        f"os.kill(pid, 0)); best of {scale.lifecycle_repeats} after one untimed run "
        f"(--json: first_start_s); the floor starts {n} bare child processes the "
        "same way until each answers a round trip, then closes their pipes and "
        "joins them",
    }


# -- profiles ---------------------------------------------------------------------


Job = Callable[[], object]


def _profile_work(bench: BenchRun, row: str) -> list[tuple[str, Job]] | None:
    """The workloads to profile for ``row``, each with its name; None if none."""
    factory = bench.factory

    def job(coroutine: Callable[[], Coroutine[Any, Any, object]]) -> Job:
        return lambda: work.run_async(factory, coroutine())

    jobs: dict[str, Job] = {
        "tell": job(lambda: work.tell_throughput(200_000)),
        "fanout": job(lambda: work.fan_out(200_000, FAN_OUT_ACTORS)),
        "pingpong": job(lambda: work.ping_pong(100_000)),
        "ask": job(lambda: work.ask_latencies(20_000, 0)),
        "spawn": job(lambda: work.spawn_and_stop(100_000)),
        "supervised": job(lambda: features.supervised_tell_throughput(200_000)),
        "restart": job(lambda: features.restart_time(20_000)),
        "timers": job(lambda: features.timer_times(100_000, 0.5)),
    }
    jobs["spawn and stop"] = jobs["spawn"]
    lines: dict[str, Job] = {
        f"router-{kind}": job(partial(features.routed_tells, 200_000, kind, ROUTEES))
        for kind in ROUTER_KINDS
    }
    lines["router-scatter"] = job(partial(features.scattered_asks, 20_000, ROUTEES))
    lines |= {
        f"mailbox-{kind}": job(partial(_mailbox_workload(kind), 200_000))
        for kind in MAILBOX_KINDS
    }
    if row in LINE_CHOICES.values():
        return [(key, found) for key, found in lines.items() if key in bench.lines]
    name = "spawn and stop" if row in ("spawn", "stop") else row
    found = jobs.get(name)
    return None if found is None else [(name, found)]


def _profile_rows(bench: BenchRun, rows: Sequence[str]) -> None:
    """Print the functions that take the most time in each row's workload."""
    profiled: set[str] = set()
    for row in rows:
        named = _profile_work(bench, row)
        if named is None:
            print(
                f"\nprofile of {row}: not available in-process (the workload runs "
                "on another thread or process); profile it with py-spy"
            )
            continue
        for name, job in named:
            if name in profiled:
                continue
            profiled.add(name)
            _print_profile(name, job)


def _print_profile(name: str, job: Job) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    job()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(15)
    print(f"\nprofile of {name}:")
    print(stream.getvalue().strip())
