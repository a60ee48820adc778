"""How the word-count demo routes its work: two routers and a shared hash ring.

**Tokenizers: a balancing pool.** ``Router(Balancing(), pool=Pool(Tokenizer, N))``
keeps the chunks in one queue and hands the next one to whichever tokenizer is
free, so a tokenizer busy with a big chunk never holds up a small one. The
coordinator *asks* the router for each chunk: the router forwards the ask, and
the tokenizer's answer (or its exception) answers it, which is how the
coordinator learns that a chunk failed and must be sent again.

**Counters: a consistent-hashing pool.** The counters are
``Router(ConsistentHashing(key=batch_key), pool=Pool(PartitionCounter, N))``, so
the router's hash ring decides which counter owns a word. Consistent hashing
routes a *message* by one key, though, while a chunk has thousands of words: one
message per word would cost thousands of messages per chunk, and one message
per chunk would send all of its words to one counter. So:

1. The coordinator asks the counters' router for its routees once
   (``GetRoutees``), before the tokenizers start, and builds a
   :class:`Partitioner` over them: a :class:`ConsistentHashing` of its own with
   the same ``virtual_nodes`` and the same routees, hence the same ring (its
   points are stable hashes of the routees' paths), shared by the tokenizers.
2. A tokenizer groups the words of a chunk by their owner on that ring, and
   sends each group as one :class:`~.demo_actors.Batch` *through the router*,
   keyed by one of the group's own words.
3. The router hashes that word on its ring and routes the batch to its owner,
   which owns every word of the group.

That keeps one message per (chunk, counter) that has words, and it is exact:
each batch reaches exactly one counter, once, so the sum of the partitions is
the count whatever the rings say; and since the two rings are the same, each
word always reaches the same counter, so the partitions are disjoint (the
aggregator checks that, which would catch rings that disagree).

**With worker processes** (``--workers N``) both pools spread their routees over
the workers, while the routers stay in the head. A tokenizer then tells each
batch straight to the counter that owns its words, which is the routee the
router would pick: going through the router would carry every batch to the
head and back, decoded and encoded once more on the way, for the same choice.
A tokenizer's partitioner is a copy of the head's, rebuilt in its worker from
the routees alone; refs to counters in the same worker are local there, so
those batches are never encoded at all.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from zactor import (
    STOP,
    ActorRef,
    Balancing,
    ConsistentHashing,
    OneForOne,
    SupervisorStrategy,
)

VIRTUAL_NODES = 100
"""Points per counter on the hash ring, in the router and in every tokenizer."""

OWNERS_REMEMBERED = 1 << 21
"""At most this many words' owners are remembered in a run."""


class Keyed(Protocol):
    """A message routed by a key of its own: the demo's batches."""

    @property
    def key(self) -> str:
        """The word that decides the counter."""
        ...


def batch_key(message: Keyed) -> str:
    """The key the counters' router hashes: the batch's representative word."""
    return message.key


def counter_logic() -> ConsistentHashing:
    """The routing logic of the counters' router, one instance per router."""
    return ConsistentHashing(key=batch_key, virtual_nodes=VIRTUAL_NODES)


def tokenizer_logic() -> Balancing:
    """The routing logic of the tokenizers' router: the next free tokenizer."""
    return Balancing()


def tokenizer_supervision() -> SupervisorStrategy:
    """Restart a failed tokenizer every time, without a limit.

    A tokenizer keeps no state worth keeping, and the coordinator sends the
    failed chunk again: it is the coordinator's bound on the tries of each chunk
    (``--retries``) that ends a run whose chunks keep failing, not a restart
    limit, which would stop the tokenizer and escalate to its router.
    """
    return OneForOne(max_restarts=None)


def counter_supervision() -> SupervisorStrategy:
    """Stop a failed counter: a fresh one would have lost its partition.

    The failure also fails the run (see ``count_with_actors``), since its count
    can no longer be exact.
    """
    return OneForOne(default=STOP)


class Partitioner:
    """Groups words by the counter that the counters' router routes them to.

    It holds its own :class:`ConsistentHashing` over the router's routees, built
    like the router's (same ``virtual_nodes``), so it picks the same owner for
    every word. Hashing is what costs here, so the owner of each word is
    remembered: it never changes while the routees stay the same.

    One partitioner serves all the tokenizers of a run, and outlives their
    restarts. That shares no state of theirs: what it keeps is a memo of a pure
    function of the word, over a ring that is built once, here, and only read
    after, so sharing it changes no outcome, only how often a word is hashed.
    Shared, it hashes each distinct word of the tree once; one per tokenizer
    incarnation, it would hash most of them again after every restart.

    Args:
        routees: the counters, as the router answered ``GetRoutees``.
    """

    def __init__(self, routees: tuple[ActorRef, ...]) -> None:
        if not routees:
            raise ValueError("the counters' router has no routees")
        self._routees = routees
        self._ring = ConsistentHashing(virtual_nodes=VIRTUAL_NODES)
        self._ring.select("", routees)  # builds the ring now, never again
        self._index = {ref: index for index, ref in enumerate(routees)}
        self._owners: dict[str, int] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the routees cross to a worker: the ring is rebuilt there, the same,
        # and shared by the tokenizers of that worker.
        return shared_partitioner, (self._routees,)

    @property
    def routees(self) -> tuple[ActorRef, ...]:
        """The counters, in the order of the router's rotation."""
        return self._routees

    def owner(self, word: str) -> ActorRef:
        """The counter that owns ``word``."""
        return self._routees[self._owner_index(word)]

    def group(self, counts: Counter[str]) -> list[dict[str, int]]:
        """Split ``counts`` into one non-empty dict per counter that owns words."""
        return [group for _, group in self.group_by_owner(counts)]

    def group_by_owner(
        self, counts: Counter[str]
    ) -> list[tuple[ActorRef, dict[str, int]]]:
        """Like :meth:`group`, each group with the counter that owns its words."""
        groups: list[dict[str, int]] = [{} for _ in self._routees]
        owners = self._owners
        for word, count in counts.items():
            index = owners.get(word)
            if index is None:
                index = self._owner_index(word)
            groups[index][word] = count
        return [
            (self._routees[index], group) for index, group in enumerate(groups) if group
        ]

    def _owner_index(self, word: str) -> int:
        index = self._index[self._ring.select(word, self._routees)]
        if len(self._owners) < OWNERS_REMEMBERED:
            self._owners[word] = index
        return index


_SHARED: dict[tuple[ActorRef, ...], Partitioner] = {}


def shared_partitioner(routees: tuple[ActorRef, ...]) -> Partitioner:
    """This process's partitioner over ``routees``, built on first use.

    What a worker rebuilds a partitioner with: its tokenizers arrive one by
    one, each with a copy, and sharing one memo hashes each word once per
    worker rather than once per tokenizer. Only the latest routees are kept.
    """
    found = _SHARED.get(routees)
    if found is None:
        _SHARED.clear()
        found = _SHARED[routees] = Partitioner(routees)
    return found
