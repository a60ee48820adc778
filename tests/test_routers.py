"""Routers: routing logics, pools and groups, management messages, routee death."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import PATIENCE, Collector, Drive, Driver
from zactor import (
    STOP,
    Actor,
    ActorDeadError,
    ActorRef,
    ActorRestarted,
    AskTimeout,
    NotAnActorError,
    OneForOne,
    Reply,
    Terminated,
    UnhandledMessageError,
)
from zactor._routing import (
    AddRoutee,
    Balancing,
    Broadcast,
    ConsistentHashing,
    GetRoutees,
    NoRouteesError,
    Pool,
    Random,
    RemoveRoutee,
    Resize,
    RoundRobin,
    Router,
    RoutingLogic,
    ScatterGatherFirstCompleted,
    SmallestMailbox,
    ToAllRoutees,
)

# -- messages and routees -------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """Ask a Recorder for the messages it got, in order."""


@dataclass(frozen=True)
class WhoSent:
    """Ask a routee for the sender it sees."""


@dataclass(frozen=True)
class Word:
    """A message whose routee is chosen by its word."""

    word: str
    n: int


@dataclass(frozen=True)
class Keyed:
    """A message with a hash_key attribute."""

    hash_key: str


class Recorder(Actor):
    """Records what it gets and answers with its own name."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, Seen):
            return list(self.seen)
        if isinstance(message, WhoSent):
            return self.context.sender
        if message == "boom":
            raise RuntimeError("boom")
        self.seen.append(message)
        return self.context.name


class Gated(Recorder):
    """A Recorder that blocks its thread on "block"; for dispatcher='thread'.

    ``entered`` and ``gate`` are events from the driver, set across processes.
    """

    def __init__(self, entered: Any, gate: Any) -> None:
        super().__init__()
        self.entered = entered
        self.gate = gate

    def receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            self.gate.wait(PATIENCE)
            return None
        return super().receive(message)


class SlowFirst(Actor):
    """The routee named routee-1 takes 0.2 s per message; the others none."""

    async def receive(self, message: Any) -> str:
        if self.context.name == "routee-1":
            await asyncio.sleep(0.2)
        return self.context.name


class Delayed(Actor):
    """Answers with its label after a delay; raises if the label is "fail"."""

    def __init__(self, label: str, delay: float) -> None:
        self.label = label
        self.delay = delay

    async def receive(self, message: Any) -> str:
        await asyncio.sleep(self.delay)
        if self.label == "fail":
            raise ValueError(f"{self.context.name} is down")
        return self.label


class Requester(Actor):
    """Asks ``(router, question)`` from inside an actor and answers with the reply."""

    async def receive(self, message: tuple[ActorRef, Any]) -> Any:
        router, question = message
        return await router.ask(question, timeout=PATIENCE)


def word_of(message: Word) -> str:
    """The hashing key of a Word; a module function, so that it can be pickled."""
    return message.word


async def seen(d: Driver, refs: tuple[ActorRef, ...] | list[ActorRef]) -> list[Any]:
    """What each of ``refs`` recorded, in order."""
    return [await d.ask(ref, Seen()) for ref in refs]


async def counts(d: Driver, refs: tuple[ActorRef, ...] | list[ActorRef]) -> list[int]:
    """How many messages each of ``refs`` recorded."""
    return [len(messages) for messages in await seen(d, refs)]


def recorders(d: Driver, count: int) -> list[ActorRef]:
    """Spawn ``count`` Recorders under /user."""
    return [d.spawn(Recorder) for _ in range(count)]


# -- routing logics -------------------------------------------------------------


def test_round_robin_gives_each_routee_an_equal_share(drive: Drive) -> None:
    """Thirty messages over three routees in turn are ten each."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 3))

        for i in range(30):
            d.tell(router, i)
        routees = await d.ask(router, GetRoutees())

        assert await counts(d, routees) == [10, 10, 10]
        assert (await seen(d, routees))[1] == list(range(1, 30, 3))

    drive(scenario)


def test_broadcast_delivers_every_message_to_every_routee(drive: Drive) -> None:
    """Each routee of a broadcast router gets every message, in sending order."""

    async def scenario(d: Driver) -> None:
        group = recorders(d, 3)
        router = d.spawn(Router, Broadcast(), routees=group)

        for i in range(5):
            d.tell(router, i)
        await d.ask(router, GetRoutees())

        assert await seen(d, group) == [[0, 1, 2, 3, 4]] * 3

    drive(scenario)


def test_to_all_routees_reaches_every_routee_whatever_the_logic(drive: Drive) -> None:
    """ToAllRoutees bypasses the round-robin and reaches each routee once."""

    async def scenario(d: Driver) -> None:
        group = recorders(d, 3)
        router = d.spawn(Router, RoundRobin(), routees=group)

        d.tell(router, ToAllRoutees("flush"))
        answer = await d.ask(router, ToAllRoutees("ping"))

        assert answer == group[0].name
        assert await seen(d, group) == [["flush", "ping"]] * 3

    drive(scenario)


def test_random_with_a_seed_repeats_its_picks(drive: Drive) -> None:
    """Two routers with Random(seed=7) over the same routees pick the same ones."""

    async def scenario(d: Driver) -> None:
        group = recorders(d, 4)
        first = d.spawn(Router, Random(seed=7), routees=group)
        second = d.spawn(Router, Random(seed=7), routees=group)

        picks_first = [await d.ask(first, i) for i in range(20)]
        picks_second = [await d.ask(second, i) for i in range(20)]

        assert picks_first == picks_second
        assert len(set(picks_first)) > 1

    drive(scenario)


def test_consistent_hashing_sends_each_key_to_one_routee(drive: Drive) -> None:
    """Every message with the same word reaches the same routee."""

    async def scenario(d: Driver) -> None:
        logic = ConsistentHashing(key=word_of)
        router = d.spawn(Router, logic, pool=Pool(Recorder, 4))
        words = ["apple", "pear", "plum", "fig", "kiwi", "lime"]

        picks = [await d.ask(router, Word(w, n)) for n in range(5) for w in words]

        by_word = {
            w: {picks[n * len(words) + i] for n in range(5)}
            for i, w in enumerate(words)
        }
        assert all(len(names) == 1 for names in by_word.values())

    drive(scenario)


def test_consistent_hashing_keys_by_hash_key_or_the_message_itself() -> None:
    """Without a key function the key is the hash_key attribute, else the message."""
    logic = ConsistentHashing()

    assert logic.key_of(Keyed("apple")) == "apple"
    assert logic.key_of("pear") == "pear"
    assert ConsistentHashing(key=len).key_of("plum") == 4


def ring_of(d: Driver, count: int) -> tuple[ActorRef, ...]:
    """Routees with stable paths, so that the ring is the same on every run."""
    return tuple(d.spawn(Recorder, name=f"node-{i}") for i in range(count))


KEYS = [f"key-{i}" for i in range(2000)]


def test_consistent_hashing_moves_about_one_nth_of_keys_when_a_routee_joins(
    drive: Drive,
) -> None:
    """A routee joining ten moves at most 1/11 + 0.05 of keys, all to itself."""

    async def scenario(d: Driver) -> None:
        nodes = ring_of(d, 11)
        logic = ConsistentHashing()
        before = {key: logic.select(key, nodes[:10]) for key in KEYS}

        after = {key: logic.select(key, nodes) for key in KEYS}

        moved = [key for key in KEYS if before[key] != after[key]]
        assert 0 < len(moved) / len(KEYS) <= 1 / 11 + 0.05
        assert {after[key] for key in moved} == {nodes[10]}

    drive(scenario)


def test_consistent_hashing_moves_only_the_keys_of_a_routee_that_leaves(
    drive: Drive,
) -> None:
    """A routee leaving ten moves exactly its own keys, at most 1/10 + 0.05."""

    async def scenario(d: Driver) -> None:
        nodes = ring_of(d, 10)
        logic = ConsistentHashing()
        before = {key: logic.select(key, nodes) for key in KEYS}
        rest = tuple(ref for ref in nodes if ref != nodes[3])

        after = {key: logic.select(key, rest) for key in KEYS}

        moved = [key for key in KEYS if before[key] != after[key]]
        assert moved == [key for key in KEYS if before[key] == nodes[3]]
        assert 0 < len(moved) / len(KEYS) <= 1 / 10 + 0.05

    drive(scenario)


@pytest.mark.in_process(
    "SmallestMailbox reads the mailboxes of its own process; routees in other "
    "processes count as idle (docs/workers.md)"
)
def test_smallest_mailbox_avoids_the_routee_with_a_backlog(drive: Drive) -> None:
    """A busy routee with 20 queued messages gets none of the next 10."""

    async def scenario(d: Driver) -> None:
        entered, gate = d.event(), d.event()
        busy = d.spawn(Gated, entered, gate, dispatcher="thread")
        idle = recorders(d, 2)
        router = d.spawn(Router, SmallestMailbox(), routees=[busy, *idle])
        d.tell(busy, "block")
        assert await d.wait(entered)
        for i in range(20):
            d.tell(busy, f"direct-{i}")

        for i in range(10):
            d.tell(router, f"routed-{i}")
        await d.ask(router, GetRoutees())
        idle_counts = await counts(d, idle)
        gate.set()

        busy_seen = await d.ask(busy, Seen())
        assert busy_seen == [f"direct-{i}" for i in range(20)]
        assert sum(idle_counts) == 10

    drive(scenario)


# -- pools and groups -----------------------------------------------------------


def test_pool_spawns_its_routees_as_children_and_resizes(drive: Drive) -> None:
    """Resize grows and shrinks the pool to exact counts; the extras terminate."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 2), name="pool")
        start = await d.ask(router, GetRoutees())

        grown = await d.ask(router, Resize(5))
        shrunk = await d.ask(router, Resize(2))

        assert [ref.path for ref in start] == [
            "/user/pool/routee-1",
            "/user/pool/routee-2",
        ]
        assert [ref.name for ref in grown] == [f"routee-{i}" for i in range(1, 6)]
        assert shrunk == start
        assert [ref.is_alive() for ref in grown] == [True, True, False, False, False]
        assert d.system.lookup("/user/pool/routee-4") is None
        for i in range(4):
            d.tell(router, i)
        await d.ask(router, GetRoutees())
        assert await counts(d, shrunk) == [2, 2]

    drive(scenario)


def test_pool_grows_again_with_new_names_after_shrinking(drive: Drive) -> None:
    """A pool shrunk to zero and grown to two spawns fresh routees."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 2))

        empty = await d.ask(router, Resize(0))
        regrown = await d.ask(router, Resize(2))

        assert empty == ()
        assert [ref.name for ref in regrown] == ["routee-3", "routee-4"]
        assert router.is_alive()

    drive(scenario)


def test_group_router_adds_and_removes_routees(drive: Drive) -> None:
    """AddRoutee and RemoveRoutee change the rotation; a removed actor lives on."""

    async def scenario(d: Driver) -> None:
        a, b, c = recorders(d, 3)
        router = d.spawn(Router, RoundRobin(), routees=[a, b])

        added = await d.ask(router, AddRoutee(c))
        again = await d.ask(router, AddRoutee(c))
        removed = await d.ask(router, RemoveRoutee(a))
        for i in range(4):
            d.tell(router, i)
        await d.ask(router, GetRoutees())

        assert added == again == (a, b, c)
        assert removed == (b, c)
        assert a.is_alive()
        assert await counts(d, [a, b, c]) == [0, 2, 2]

    drive(scenario)


def test_resize_of_a_group_router_fails_as_unhandled(drive: Drive) -> None:
    """A group has no pool to resize: the ask fails with UnhandledMessageError."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, RoundRobin(), routees=recorders(d, 2))

        with pytest.raises(UnhandledMessageError, match="cannot be resized"):
            await d.ask(router, Resize(4))

        assert len(await d.ask(router, GetRoutees())) == 2
        assert d.system.dead_letters.by_reason == {"unhandled": 1}

    drive(scenario)


@pytest.mark.in_process(
    "a routing logic object belongs to one process: spawned in a worker, each "
    "router gets its own copy"
)
def test_a_routing_logic_serves_one_router_only(drive: Drive) -> None:
    """Spawning a second router with the same logic instance raises ValueError."""

    async def scenario(d: Driver) -> None:
        logic = RoundRobin()
        d.spawn(Router, logic, routees=recorders(d, 1))

        with pytest.raises(ValueError, match="own RoutingLogic"):
            d.spawn(Router, logic, routees=recorders(d, 1))

    drive(scenario)


def test_router_rejects_a_pool_and_a_group_together(drive: Drive) -> None:
    """pool= and routees= together raise ValueError at spawn."""

    async def scenario(d: Driver) -> None:
        group = recorders(d, 1)

        with pytest.raises(ValueError, match="not both"):
            d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 1), routees=group)

    drive(scenario)


def test_a_router_refuses_to_be_its_own_routee(drive: Drive) -> None:
    """AddRoutee(router) fails an ask with ValueError and is a dead letter as a tell."""

    async def scenario(d: Driver) -> None:
        routees = recorders(d, 2)
        router = d.spawn(Router, Broadcast(), routees=routees, name="echo")

        with pytest.raises(ValueError, match=r"AddRoutee\(<ActorRef /user/echo>\)"):
            await d.ask(router, AddRoutee(router))
        d.tell(router, AddRoutee(router))
        d.tell(router, "once")
        after = await d.ask(router, GetRoutees())

        assert after == tuple(routees)
        assert await seen(d, routees) == [["once"], ["once"]]
        assert d.system.dead_letters.by_reason == {"invalid routee": 2}

    drive(scenario)


def test_a_routee_added_twice_keeps_one_place(drive: Drive) -> None:
    """AddRoutee of a pool routee already in the rotation changes nothing."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 2))
        before = await d.ask(router, GetRoutees())

        again = await d.ask(router, AddRoutee(before[0]))
        for i in range(4):
            d.tell(router, i)
        await d.ask(router, GetRoutees())

        assert again == before
        assert await counts(d, before) == [2, 2]

    drive(scenario)


def test_a_group_with_a_routee_given_twice_is_refused(drive: Drive) -> None:
    """routees=[a, a] raises ValueError at spawn, naming the ref."""

    async def scenario(d: Driver) -> None:
        (a,) = recorders(d, 1)

        with pytest.raises(ValueError, match="more than once") as raised:
            d.spawn(Router, RoundRobin(), routees=[a, a])

        assert a.path in str(raised.value)

    drive(scenario)


class AsyncRoutee(Actor):
    """A routee with an async handler, which cannot run on the thread dispatcher."""

    async def receive(self, message: Any) -> Any:
        return message


BAD_POOLS: dict[str, tuple[Callable[[], Pool], type[Exception], str]] = {
    "unknown dispatcher": (
        lambda: Pool(Recorder, 2, dispatcher="x"),  # type: ignore[arg-type]
        ValueError,
        "dispatcher must be 'default', 'thread' or None, got 'x'",
    ),
    "async routee on threads": (
        lambda: Pool(AsyncRoutee, 2, dispatcher="thread"),
        ValueError,
        "AsyncRoutee has async handlers",
    ),
    "negative size": (lambda: Pool(Recorder, -1), ValueError, "int >= 0, got -1"),
    "float size": (
        lambda: Pool(Recorder, 2.0),  # type: ignore[arg-type]
        ValueError,
        "int >= 0, got 2.0",
    ),
    "bool size": (
        lambda: Pool(Recorder, True),
        ValueError,
        "int >= 0, got True",
    ),
    "not an actor": (
        lambda: Pool(dict, 2),  # type: ignore[arg-type]
        NotAnActorError,
        "subclass of zactor.Actor",
    ),
    "a class name": (
        lambda: Pool("Recorder", 2),  # type: ignore[arg-type]
        NotAnActorError,
        "subclass of zactor.Actor",
    ),
    "supervisor by name": (
        lambda: Pool(Recorder, 2, supervisor="restart"),  # type: ignore[arg-type]
        TypeError,
        "SupervisorStrategy",
    ),
    "args as a list": (
        lambda: Pool(Recorder, 2, args=[1]),  # type: ignore[arg-type]
        TypeError,
        "args must be a tuple",
    ),
    "kwargs with a spawn keyword": (
        lambda: Pool(Recorder, 2, kwargs={"name": "x"}),
        ValueError,
        "cannot hold name",
    ),
}


@pytest.mark.parametrize("case", BAD_POOLS)
def test_a_pool_with_bad_arguments_is_refused_when_built(case: str) -> None:
    """Bad Pool arguments raise at Pool(...), before any router exists."""
    build, error, text = BAD_POOLS[case]

    with pytest.raises(error) as raised:
        build()

    assert text in str(raised.value)


def test_a_pool_with_every_argument_given_is_accepted(drive: Drive) -> None:
    """A thread-dispatched, supervised pool with kwargs builds and routes."""

    async def scenario(d: Driver) -> None:
        pool = Pool(
            Delayed,
            2,
            kwargs={"label": "ok", "delay": 0.0},
            dispatcher="default",
            supervisor=OneForOne(default=STOP),
        )
        threaded = Pool(Recorder, 1, dispatcher="thread", supervisor=None)
        router = d.spawn(Router, RoundRobin(), pool=pool)
        other = d.spawn(Router, RoundRobin(), pool=threaded)

        assert await d.ask(router, "hello") == "ok"
        assert await d.ask(other, "hello") == "routee-1"

    drive(scenario)


class Fragile(Recorder):
    """A Recorder whose constructor fails once the shared budget is spent."""

    def __init__(self, budget: list[int]) -> None:
        super().__init__()
        if not budget:
            raise RuntimeError("no budget left")
        budget.pop()


def test_a_resize_that_fails_part_way_keeps_the_routees_it_spawned(
    drive: Drive,
) -> None:
    """Growing by three with budget for two fails the ask and keeps the two."""

    async def scenario(d: Driver) -> None:
        budget = [1, 1, 1]
        router = d.spawn(Router, RoundRobin(), pool=Pool(Fragile, 1, args=(budget,)))

        with pytest.raises(RuntimeError, match="no budget left"):
            await d.ask(router, Resize(4))
        routees = await d.ask(router, GetRoutees())

        assert [ref.name for ref in routees] == ["routee-1", "routee-2", "routee-3"]
        assert router.is_alive()

    drive(scenario)


# -- one hop: answers and senders -----------------------------------------------

LOGICS: dict[str, Callable[[], RoutingLogic]] = {
    "round-robin": RoundRobin,
    "random": lambda: Random(seed=1),
    "broadcast": Broadcast,
    "consistent-hashing": ConsistentHashing,
    "smallest-mailbox": SmallestMailbox,
    "balancing": Balancing,
    "scatter-gather": lambda: ScatterGatherFirstCompleted(within=PATIENCE),
}


@pytest.mark.parametrize("logic", LOGICS)
def test_routee_answers_the_ask_and_sees_the_original_sender(
    drive: Drive, logic: str
) -> None:
    """Through every router the routee answers the ask and sees the asker."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, LOGICS[logic](), pool=Pool(Recorder, 3))
        requester = d.spawn(Requester)

        from_actor = await d.ask(requester, (router, WhoSent()))
        from_outside = await d.ask(router, WhoSent())
        name = await d.ask(router, "hello")

        assert from_actor == requester
        assert from_outside is None
        assert name in {"routee-1", "routee-2", "routee-3"}

    drive(scenario)


# -- routee death, dead letters -------------------------------------------------


def test_router_drops_a_stopped_routee_and_keeps_routing(drive: Drive) -> None:
    """With r2 stopped, 30 messages all reach r1 and r3 and none is a dead letter."""

    async def scenario(d: Driver) -> None:
        r1, r2, r3 = recorders(d, 3)
        router = d.spawn(Router, RoundRobin(), routees=[r1, r2])
        d.tell(router, AddRoutee(r3))
        assert await d.stop(r2)

        for i in range(30):
            d.tell(router, i)
        routees = await d.ask(router, GetRoutees())

        assert router.is_alive()
        assert routees == (r1, r3)
        assert sum(await counts(d, [r1, r3])) == 30
        assert d.system.dead_letters.count == 0

    drive(scenario)


def test_router_without_routees_turns_messages_into_dead_letters(drive: Drive) -> None:
    """Tells count as dead letters "no routees"; an ask fails with NoRouteesError."""

    async def scenario(d: Driver) -> None:
        (only,) = recorders(d, 1)
        router = d.spawn(Router, RoundRobin(), routees=[only])
        assert await d.stop(only)

        for i in range(5):
            d.tell(router, i)
        with pytest.raises(NoRouteesError, match="no routees"):
            await d.ask(router, "question")

        assert router.is_alive()
        assert await d.ask(router, GetRoutees()) == ()
        assert d.system.dead_letters.by_reason == {"no routees": 6}

    drive(scenario)


def test_router_stops_with_its_last_routee_when_configured(drive: Drive) -> None:
    """stop_when_empty=True stops the router once its last routee terminates."""

    async def scenario(d: Driver) -> None:
        group = recorders(d, 2)
        router = d.spawn(Router, RoundRobin(), routees=group, stop_when_empty=True)
        ended = d.system.watch(router)

        for ref in group:
            assert await d.stop(ref)

        notice = await d.result(ended, timeout=PATIENCE)
        assert notice.ref == router
        assert not router.is_alive()

    drive(scenario)


def test_failing_key_function_fails_the_ask_and_keeps_the_router(drive: Drive) -> None:
    """A key that raises fails that ask; the router and its routees carry on."""

    async def scenario(d: Driver) -> None:
        logic = ConsistentHashing(key=word_of)
        router = d.spawn(Router, logic, pool=Pool(Recorder, 2))
        before = await d.ask(router, GetRoutees())

        with pytest.raises(AttributeError, match="word"):
            await d.ask(router, 42)
        name = await d.ask(router, Word("apple", 1))

        assert await d.ask(router, GetRoutees()) == before
        assert name in {"routee-1", "routee-2"}
        assert d.system.statistics().restarts == 0
        assert d.system.dead_letters.by_reason == {"routing failed": 1}

    drive(scenario)


# -- supervision ----------------------------------------------------------------


def test_failing_pool_routee_is_restarted_and_keeps_its_place(drive: Drive) -> None:
    """A routee that raises restarts in place: the rotation and shares go on."""

    async def scenario(d: Driver) -> None:
        restarts = Collector()
        d.system.events.subscribe(ActorRestarted, restarts)
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 3))
        before = await d.ask(router, GetRoutees())

        for message in ("first", "boom", "third"):
            d.tell(router, message)
        assert len(await d.blocking(restarts.wait_for, 1)) == 1
        for i in range(30):
            d.tell(router, i)

        assert await d.ask(router, GetRoutees()) == before
        assert restarts.items[0].ref == before[1]
        assert await counts(d, before) == [11, 10, 11]

    drive(scenario)


def test_pool_supervisor_that_stops_a_routee_takes_it_out_of_rotation(
    drive: Drive,
) -> None:
    """With Pool(supervisor=stop), a failed routee leaves and the rest share."""

    async def scenario(d: Driver) -> None:
        pool = Pool(Recorder, 3, supervisor=OneForOne(default=STOP))
        router = d.spawn(Router, RoundRobin(), pool=pool)
        first, failing, third = await d.ask(router, GetRoutees())
        ended = d.system.watch(failing)

        d.tell(router, "one")
        d.tell(router, "boom")
        assert (await d.result(ended, timeout=PATIENCE)).cause is not None
        after = await d.ask(router, GetRoutees())
        for i in range(10):
            d.tell(router, i)
        await d.ask(router, GetRoutees())

        assert after == (first, third)
        assert await counts(d, [first, third]) == [6, 5]
        assert d.system.dead_letters.count == 0

    drive(scenario)


# -- balancing and scatter-gather -----------------------------------------------


def test_balancing_pool_gives_a_slow_routee_little_work(drive: Drive) -> None:
    """Of 40 messages, the routee taking 0.2 s each handles at most 3."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, Balancing(), pool=Pool(SlowFirst, 4))

        replies = [router.ask(i, timeout=PATIENCE) for i in range(40)]
        names = Counter([await d.result(reply) for reply in replies])

        assert sum(names.values()) == 40
        assert names["routee-1"] <= 3
        assert set(names) <= {"routee-1", "routee-2", "routee-3", "routee-4"}

    drive(scenario)


def test_balancing_pool_answers_with_the_routee_error(drive: Drive) -> None:
    """A routee that raises fails the ask with its error and takes more work."""

    async def scenario(d: Driver) -> None:
        router = d.spawn(Router, Balancing(), pool=Pool(Recorder, 1))

        with pytest.raises(RuntimeError, match="boom"):
            await d.ask(router, "boom")
        name = await d.ask(router, "after")

        assert name == "routee-1"

    drive(scenario)


@pytest.mark.in_process(
    "the scenario orders a stop, sent to the router, before an event that the "
    "routee waits on, set through another channel"
)
def test_stopping_balancing_router_fails_the_asks_it_still_holds(
    drive: Drive,
) -> None:
    """Asks queued in a balancing router fail with ActorDeadError when it stops."""

    async def scenario(d: Driver) -> None:
        entered, gate = d.event(), d.event()
        pool = Pool(Gated, 1, args=(entered, gate), dispatcher="thread")
        router = d.spawn(Router, Balancing(), pool=pool)
        running = router.ask("block", timeout=PATIENCE)
        assert await d.wait(entered)
        queued = [router.ask(n, timeout=PATIENCE) for n in range(2)]
        assert len(await d.ask(router, GetRoutees())) == 1  # both are now held

        stopping = router.stop()
        gate.set()

        assert await d.result(stopping, timeout=PATIENCE) is True
        assert await d.result(running) is None
        for reply in queued:
            with pytest.raises(ActorDeadError, match="stopped before a routee"):
                await d.result(reply)

    drive(scenario)


def scatter_group(d: Driver, *routees: tuple[str, float]) -> list[ActorRef]:
    """Delayed routees from (label, delay) pairs."""
    return [d.spawn(Delayed, label, delay) for label, delay in routees]


def test_scatter_gather_answers_with_the_first_reply(drive: Drive) -> None:
    """The fastest routee's answer answers the ask."""

    async def scenario(d: Driver) -> None:
        group = scatter_group(d, ("slow", 0.3), ("fast", 0.0), ("middle", 0.1))
        router = d.spawn(Router, ScatterGatherFirstCompleted(within=2), routees=group)

        answer = await d.ask(router, "question")

        assert answer == "fast"

    drive(scenario)


def test_scatter_gather_times_out_when_no_routee_answers_within(drive: Drive) -> None:
    """No answer within 0.05 s fails the ask with AskTimeout from the router."""

    async def scenario(d: Driver) -> None:
        group = scatter_group(d, ("late", 0.3), ("later", 0.3))
        logic = ScatterGatherFirstCompleted(within=0.05)
        router = d.spawn(Router, logic, routees=group)

        with pytest.raises(AskTimeout, match="no routee of router"):
            await d.ask(router, "question")

        assert d.system.dead_letters.count == 0

    drive(scenario)


def test_scatter_gather_skips_failures_and_fails_only_if_all_fail(drive: Drive) -> None:
    """A failing routee does not win; when every one fails the ask gets an error."""

    async def scenario(d: Driver) -> None:
        mixed = scatter_group(d, ("fail", 0.0), ("ok", 0.05))
        broken = scatter_group(d, ("fail", 0.0), ("fail", 0.01))
        one = d.spawn(Router, ScatterGatherFirstCompleted(within=2), routees=mixed)
        two = d.spawn(Router, ScatterGatherFirstCompleted(within=2), routees=broken)

        answer = await d.ask(one, "question")
        with pytest.raises(ValueError, match="is down"):
            await d.ask(two, "question")

        assert answer == "ok"

    drive(scenario)


# -- large pools ----------------------------------------------------------------

LARGE = 20_000


class Parent(Actor):
    """Spawns and watches plain children; "stop all" answers once all terminated."""

    def __init__(self) -> None:
        self.children: list[ActorRef] = []
        self.waiting: Reply[int] | None = None
        self.left = 0

    def receive(self, message: Any) -> Any:
        if isinstance(message, int):
            spawn, watch = self.context.spawn, self.context.watch
            self.children = [watch(spawn(Recorder)) for _ in range(message)]
            return len(self.children)
        if isinstance(message, Terminated):
            self.left -= 1
            if self.left == 0 and self.waiting is not None:
                self.waiting.set_result(len(self.children))
            return None
        assert message == "stop all"
        self.waiting = self.context.defer_reply()
        self.left = len(self.children)
        for child in self.children:
            self.context.stop(child)
        return None


async def timed(d: Driver, ref: ActorRef, message: Any) -> tuple[Any, float]:
    """The answer to an ask and the seconds it took."""
    start = time.perf_counter()
    answer = await d.ask(ref, message, timeout=60)
    return answer, time.perf_counter() - start


@pytest.mark.in_process(
    "it compares build costs in one process; from a worker, the 20,000 refs that "
    "GetRoutees answers also cross to this process, which plain spawns do not"
)
def test_building_a_large_pool_costs_about_as_much_as_spawning_children(
    drive: Drive,
) -> None:
    """A pool of 20,000 routees builds within 5x the time of 20,000 plain children."""

    async def scenario(d: Driver) -> None:
        spawned, plain = await timed(d, d.spawn(Parent), LARGE)

        start = time.perf_counter()
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, LARGE))
        routees = await d.ask(router, GetRoutees(), timeout=60)
        pool = time.perf_counter() - start

        assert spawned == len(routees) == LARGE
        assert pool < 5 * plain, f"pool {pool:.3f} s, plain children {plain:.3f} s"

    drive(scenario)


def test_resizing_a_large_pool_costs_about_as_much_as_plain_children(
    drive: Drive,
) -> None:
    """Growing by and shrinking by 20,000 stay within 5x of plain spawns and stops."""

    async def scenario(d: Driver) -> None:
        parent = d.spawn(Parent)
        _, plain_spawn = await timed(d, parent, LARGE)
        _, plain_stop = await timed(d, parent, "stop all")
        router = d.spawn(Router, RoundRobin(), pool=Pool(Recorder, 1))

        grown, grow = await timed(d, router, Resize(LARGE + 1))
        shrunk, shrink = await timed(d, router, Resize(1))

        assert (len(grown), len(shrunk)) == (LARGE + 1, 1)
        assert not grown[-1].is_alive()
        assert grow < 5 * plain_spawn, f"grow {grow:.3f} s, plain {plain_spawn:.3f} s"
        assert shrink < 5 * plain_stop, (
            f"shrink {shrink:.3f} s, plain {plain_stop:.3f} s"
        )

    drive(scenario)


def test_a_logic_that_cannot_pick_a_routee_is_refused_when_defined() -> None:
    """A RoutingLogic subclass without select() raises TypeError at definition."""
    with pytest.raises(TypeError, match="must define select"):

        class Nowhere(RoutingLogic):
            pass
