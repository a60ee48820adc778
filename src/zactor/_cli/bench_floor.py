"""The floor of ``zactor bench``: the least that queueing and handling a message costs.

A message that goes through any runtime is at least appended to a queue, popped from
it and handed to a bound method. The floor loop does exactly that and nothing else,
written the way a fast Python loop is written (local aliases, no attribute lookups
in the loop), so that the ratio zactor/floor says how much the framework adds on top
of the interpreter's own cost, on this machine, in this process, right now.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


class _Tally:
    """Work left, as the benchmark actors count it."""

    __slots__ = ("done", "left")

    def __init__(self, left: int) -> None:
        self.left = left
        self.done = False


class _Sink:
    """Stands in for an actor: its method body is the benchmark actors' own.

    The floor's handler does the same work as the handler of the actors it is
    compared with (count down a shared tally, note the end), so that the ratio
    measures the runtime and not a difference between two handlers.
    """

    __slots__ = ("tally",)

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def receive(self, message: object) -> None:
        tally = self.tally
        tally.left -= 1
        if not tally.left:
            tally.done = True


@dataclass(frozen=True)
class Floor:
    """The floor rate, best of several runs, and every run's rate.

    Attributes:
        rate: messages per second of the fastest run.
        samples: the rate of each run, in the order they ran.
        messages: the messages of one run.
    """

    rate: float
    samples: tuple[float, ...]
    messages: int

    @property
    def seconds_per_message(self) -> float:
        """The time one message costs at the floor."""
        return 1.0 / self.rate


def floor_rate(messages: int) -> float:
    """Run the floor loop over ``messages`` messages; returns messages per second."""
    queue: deque[int] = deque()
    append = queue.append
    popleft = queue.popleft
    handle = _Sink(_Tally(messages)).receive
    clock = time.perf_counter

    start = clock()
    for message in range(messages):
        append(message)
        handle(popleft())
    elapsed = clock() - start

    return messages / elapsed


def measure_floor(messages: int, repeats: int) -> Floor:
    """Measure the floor ``repeats`` times and keep the best run.

    The best run is the one least disturbed by the rest of the machine, which is
    the fair figure to compare a best-of-N framework figure with.
    """
    samples = tuple(floor_rate(messages) for _ in range(repeats))
    return Floor(rate=max(samples), samples=samples, messages=messages)
