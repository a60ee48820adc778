"""Memory per idle actor, measured in a fresh process of its own.

The parent side, :func:`measure_memory`, starts ``python -m zactor._cli.bench_memory``
so that nothing the other rows allocated (and the allocator kept) shows up in the
figure. The child spawns N idle actors (a class with ``__slots__ = ()`` and no state)
under one parent actor and reads how much the process grew; then it creates N
instances of a plain class with ``__slots__ = ()`` and reads that growth too. The
framework's overhead per actor is the first growth minus the second, over N.

Growth is the resident set size (``VmRSS``) where ``/proc`` has it: what the
machine really pays, pages and allocator slack included. Elsewhere it is the
memory ``tracemalloc`` traces, which needs no ``/proc`` but slows spawning down.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, get_args

from zactor import ActorSystem

from .bench_zactor import PATIENCE, LoopName, Parent, loop_factory, run_async

_STATUS = Path("/proc/self/status")

RSS = "rss"
TRACED = "tracemalloc"

HOW = {
    RSS: "growth of the resident set (VmRSS) in a fresh process",
    TRACED: "growth of the memory tracemalloc traces, in a fresh process",
}


class Plain:
    """The plain-Python twin of the idle actor: no state, ``__slots__ = ()``."""

    __slots__ = ()


def measure_memory(actors: int, loop: LoopName, timeout: float) -> dict[str, Any]:
    """Run the measurement in a child process and return what it printed.

    Raises:
        RuntimeError: the child failed or printed no result.
        subprocess.TimeoutExpired: the child ran longer than ``timeout`` seconds.
    """
    command = [sys.executable, "-m", __name__, str(actors), "--loop", loop]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child exited with {done.returncode}: {tail}")

    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _resident_bytes() -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def _traced_bytes() -> int:
    return tracemalloc.get_traced_memory()[0]


def _meter() -> tuple[str, Callable[[], int]]:
    if _STATUS.exists():
        return RSS, _resident_bytes
    tracemalloc.start()
    return TRACED, _traced_bytes


def _settled(read: Callable[[], int]) -> int:
    gc.collect()
    return read()


async def _measure(actors: int) -> None:
    method, read = _meter()
    async with ActorSystem() as system:
        parent = system.spawn(Parent)
        await parent.ask(10, PATIENCE)  # the first spawns warm caches up

        before = _settled(read)
        start = time.perf_counter()
        await parent.ask(actors, PATIENCE)
        seconds = time.perf_counter() - start
        spawned = _settled(read)
        plain = [Plain() for _ in range(actors)]
        held = _settled(read)

        framework = spawned - before
        instances = held - spawned - sys.getsizeof(plain)
        _report_and_exit(
            {
                "actors": actors,
                "method": method,
                "how": HOW[method],
                "actor_bytes": framework,
                "plain_bytes": instances,
                "per_actor": (framework - instances) / actors,
                "plain_per_instance": instances / actors,
                "spawn_seconds": seconds,
                "live_actors": system.statistics().actors,
            }
        )


def _report_and_exit(result: dict[str, Any]) -> NoReturn:
    print(json.dumps(result), flush=True)
    # Why: the figure is taken; stopping the actors and tearing a million objects
    # down would only cost time, and nothing outside this process depends on it.
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print one JSON line, and end the process without tearing down."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("actors", type=int)
    parser.add_argument("--loop", choices=get_args(LoopName), default="auto")
    args = parser.parse_args(argv)

    factory, _ = loop_factory(args.loop)
    run_async(factory, _measure(args.actors))
    return 1  # _measure ends the process when it has its figure


if __name__ == "__main__":
    sys.exit(main())
