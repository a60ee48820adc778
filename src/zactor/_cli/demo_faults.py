"""Faults injected into the word-count demo's tokenizers, for ``--fail-rate``.

Whether a try of a chunk fails depends only on the seed, the chunk's place in
the tree (its file and offset) and the number of the try: not on which
tokenizer gets it, nor on timing. So a run fails the same tries every time, and
a chunk that failed gets a fresh draw when it is sent again.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

Origin = tuple[int, int]
"""Where a chunk comes from: the index of its file in the run, and its offset."""


class TokenizerFault(Exception):
    """A tokenizer failed a chunk on purpose; its supervisor restarts it.

    ``pid`` is the process the tokenizer ran in. The fault crosses processes
    as itself, so that the coordinator can tell it from a real error.
    """

    def __init__(
        self, tokenizer: str, chunk_id: int, attempt: int, pid: int | None = None
    ) -> None:
        super().__init__(
            f"{tokenizer} failed chunk {chunk_id} on purpose (try {attempt + 1})"
        )
        self.tokenizer = tokenizer
        self.chunk_id = chunk_id
        self.attempt = attempt
        self.pid = os.getpid() if pid is None else pid

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = (self.tokenizer, self.chunk_id, self.attempt, self.pid)
        return type(self), arguments


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which tries of which chunks fail: a fraction ``rate`` of them.

    Args:
        rate: the chance that one try of one chunk fails, 0 <= rate < 1.
        seed: picks which tries fail; the same seed fails the same tries.
    """

    rate: float = 0.0
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"the fail rate must be in [0, 1), got {self.rate!r}")

    def strikes(self, origin: Origin, attempt: int) -> bool:
        """Tell whether try ``attempt`` (0 for the first) of a chunk fails."""
        if self.rate == 0.0:
            return False
        file, offset = origin
        # A string seed is hashed with SHA-512, the same in every process.
        draw = random.Random(f"{self.seed}:{file}:{offset}:{attempt}").random()
        return draw < self.rate
