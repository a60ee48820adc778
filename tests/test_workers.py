"""Worker processes: placement, refs across processes, failures, limits, codecs."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import PATIENCE, Collector
from zactor import (
    STOP,
    Actor,
    ActorDeadError,
    ActorRef,
    ActorRestarted,
    ActorSystem,
    CodecError,
    DeadLetter,
    MessageTooLarge,
    OneForOne,
    RemoteError,
    Terminated,
    WorkerCrashed,
    WorkerStartupError,
)


class Echo(Actor):
    """Answers what it gets; a few words ask about its process and state."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "pid":
            return os.getpid()
        if message == "seen":
            return self.seen
        if message == "restarts":
            return self.context.restarts
        if message == "affinity":
            return sorted(os.sched_getaffinity(0))
        if isinstance(message, tuple) and message and message[0] == "sleep":
            time.sleep(message[1])
            return "slept"
        if message == "fail":
            raise ValueError("asked to fail")
        self.seen.append(message)
        return message


class Spawner(Actor):
    """Spawns a child (with the given placement) and answers questions about it."""

    def __init__(self) -> None:
        self.child: ActorRef | None = None

    def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "spawn":
            self.child = self.context.spawn(Echo, name="child", **message[1])
            return self.child
        if message == "pid":
            return os.getpid()
        return None


class Relay(Actor):
    """Passes ("via", target, payload) on to target, answering for it."""

    def receive(self, message: Any) -> Any:
        if message == "pid":
            return os.getpid()
        _, target, payload = message
        target.forward(payload)
        return None


class Caller(Actor):
    """Asks another actor (a ref it got in a message) and answers with the result."""

    async def receive(self, message: Any) -> Any:
        target, payload = message
        return await target.ask(payload, timeout=PATIENCE)


class Watcher(Actor):
    """Watches the ref it is told about; keeps the Terminated notices."""

    def __init__(self) -> None:
        self.notices: list[Terminated] = []

    def receive(self, message: Any) -> Any:
        if isinstance(message, ActorRef):
            self.context.watch(message)
            return True
        if isinstance(message, Terminated):
            self.notices.append(message)
            return None
        if message == "notices":
            return [(n.ref, type(n.cause).__name__) for n in self.notices]
        return None


class StopOnFailure(Actor):
    """A parent whose children stop when they fail."""

    supervisor_strategy = OneForOne(decider=lambda error: STOP)

    def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "spawn":
            child = self.context.spawn(Echo, name="fragile", worker=message[1])
            self.context.watch(child)
            return child
        if isinstance(message, Terminated):
            self.last = message
            return None
        if message == "last":
            last = getattr(self, "last", None)
            return None if last is None else type(last.cause).__name__
        return None


class Unpicklable(Actor):
    """Replies with things that cannot cross a process boundary."""

    def receive(self, message: Any) -> Any:
        if message == "lock":
            return threading.Lock()
        if message == "raise":
            error = LockedError("held")
            error.lock = threading.Lock()
            raise error
        return message


class LockedError(Exception):
    """An exception that carries a lock, so it cannot be pickled."""

    lock: Any = None


class Slow(Actor):
    """Takes a millisecond per message; counts them."""

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: Any) -> Any:
        if message == "count":
            return self.count
        time.sleep(0.001)
        self.count += 1
        return None


class Ticking(Actor):
    """Starts a one-off timer, a periodic one and a receive timeout; counts them."""

    def __init__(self, notify: ActorRef) -> None:
        self.notify = notify

    def on_start(self) -> None:
        self.seen: list[str] = []
        self.context.timers.once("once", 0.02, "once")
        self.context.timers.every("every", 0.02, "every")
        self.context.set_receive_timeout(0.2, "quiet")

    def receive(self, message: Any) -> Any:
        if message == "seen":
            return sorted(set(self.seen)), self.seen.count("every")
        if message == "stop every":
            return self.context.timers.cancel("every")
        if message == "quiet":
            self.notify.tell("quiet")  # told elsewhere: asking it would end the quiet
        self.seen.append(message)
        return None


class Summer(Actor):
    """Sums an array-like message; answers the sum and its length."""

    def receive(self, message: Any) -> Any:
        return float(message.sum()), len(message)


@dataclass(frozen=True)
class Point:
    """A registered message type for the code-free codecs."""

    x: int
    y: int


class PointActor(Actor):
    """Moves points."""

    def receive(self, message: Any) -> Any:
        if isinstance(message, Point):
            return Point(message.x + 1, message.y + 1)
        return message


def _ask(ref: ActorRef, message: Any, timeout: float = PATIENCE) -> Any:
    return ref.ask(message, timeout=timeout).result()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def _wait_until(condition: Any, timeout: float = PATIENCE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


@pytest.fixture(scope="module")
def system() -> Any:
    """One running system with two workers for the tests that only read from it."""
    with ActorSystem(workers=2) as shared:
        yield shared


# -- placement -------------------------------------------------------------------------


def test_actors_run_in_worker_processes_chosen_by_placement(
    system: ActorSystem,
) -> None:
    pids = system.worker_pids()
    assert len(pids) == 2
    assert os.getpid() not in pids

    first = system.spawn(Echo, worker=0)
    second = system.spawn(Echo, worker=1)
    here = system.spawn(Echo, worker="local")
    beside = system.spawn(Echo, near=second)

    assert _ask(first, "pid") == pids[0]
    assert _ask(second, "pid") == pids[1]
    assert _ask(here, "pid") == os.getpid()
    assert _ask(beside, "pid") == pids[1]


def test_automatic_placement_spreads_top_level_actors(system: ActorSystem) -> None:
    refs = [system.spawn(Echo) for _ in range(4)]
    pids = [_ask(ref, "pid") for ref in refs]
    assert sorted(set(pids)) == sorted(system.worker_pids())
    for ref in refs:
        assert ref.stop().result(PATIENCE) is True


def test_children_live_with_their_parent_unless_placed(system: ActorSystem) -> None:
    parent = system.spawn(Spawner, worker=0)
    child = _ask(parent, ("spawn", {}))
    assert isinstance(child, ActorRef)
    assert child.path == f"{parent.path}/child"
    assert _ask(child, "pid") == _ask(parent, "pid")

    other = system.spawn(Spawner, worker=0)
    placed = _ask(other, ("spawn", {"worker": 1}))
    assert _ask(placed, "pid") == system.worker_pids()[1]
    assert system.lookup(placed.path) == placed


def test_bad_placement_is_refused_with_the_reason(system: ActorSystem) -> None:
    with pytest.raises(ValueError, match="worker 7 does not exist"):
        system.spawn(Echo, worker=7)
    with pytest.raises(ValueError, match="worker must be"):
        system.spawn(Echo, worker="everywhere")  # type: ignore[arg-type]
    with ActorSystem() as plain, pytest.raises(ValueError, match="has no workers"):
        plain.spawn(Echo, worker=0)


def test_a_class_the_worker_cannot_import_fails_the_spawn(system: ActorSystem) -> None:
    class Local(Actor):
        def receive(self, message: Any) -> Any:
            return message

    with pytest.raises(TypeError, match=r"cannot load actor class .*Local"):
        system.spawn(Local)


def test_constructor_errors_raise_at_spawn(system: ActorSystem) -> None:
    with pytest.raises(TypeError, match="positional argument"):
        system.spawn(Echo, "unexpected", worker=0)


# -- messages --------------------------------------------------------------------------


def test_tells_arrive_in_order_and_asks_answer(system: ActorSystem) -> None:
    echo = system.spawn(Echo, worker=1)
    for number in range(10_000):
        echo.tell(number)
    assert _ask(echo, "seen") == list(range(10_000))


def test_a_burst_of_asks_all_answer(system: ActorSystem) -> None:
    echo = system.spawn(Echo, worker=0)
    replies = [echo.ask(number, timeout=10) for number in range(1000)]
    assert sorted(reply.result() for reply in replies) == list(range(1000))
    assert system.statistics().remote_asks_pending == 0


def test_refs_in_messages_work_across_workers(system: ActorSystem) -> None:
    echo = system.spawn(Echo, worker=1)
    caller = system.spawn(Caller, worker=0)
    assert _ask(caller, (echo, "hello")) == "hello"

    relay = system.spawn(Relay, worker=0)
    assert _ask(relay, ("via", echo, "forwarded")) == "forwarded"
    assert _ask(echo, "seen")[-1] == "forwarded"


def test_async_callers_await_remote_asks() -> None:
    async def scenario() -> list[Any]:
        async with ActorSystem(workers=1) as system:
            echo = system.spawn(Echo)
            return [await echo.ask(n, timeout=PATIENCE) for n in range(20)]

    assert asyncio.run(scenario()) == list(range(20))


def test_a_caller_timeout_wins_against_a_busy_worker(system: ActorSystem) -> None:
    sleeper = system.spawn(Echo, worker=0)
    sleeper.tell(("sleep", 2.0))

    async def wait() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_awaited(sleeper.ask("pid")), timeout=0.3)
        return time.monotonic() - started

    assert asyncio.run(wait()) < 1.0
    assert _wait_until(lambda: system.statistics().remote_asks_pending == 0)


async def _awaited(reply: Any) -> Any:
    return await reply


# -- encoding --------------------------------------------------------------------------


def test_messages_that_cannot_be_encoded_fail_at_send(system: ActorSystem) -> None:
    echo = system.spawn(Echo, worker=0)
    with pytest.raises(CodecError, match="function"):
        echo.tell(lambda: None)
    with pytest.raises(CodecError, match="lock"):
        echo.ask({"lock": threading.Lock()})
    assert _ask(echo, "still fine") == "still fine"


def test_replies_and_errors_that_cannot_be_encoded_reach_the_asker(
    system: ActorSystem,
) -> None:
    odd = system.spawn(Unpicklable, worker=1)
    with pytest.raises(CodecError, match="lock"):
        _ask(odd, "lock")
    with pytest.raises(RemoteError) as caught:
        _ask(odd, "raise")
    assert caught.value.type_name.endswith("LockedError")
    assert caught.value.text == "held"
    with pytest.raises(ValueError, match="asked to fail"):
        _ask(system.spawn(Echo, worker=1), "fail")


def test_oversized_messages_fail_at_send_and_the_link_stays_usable() -> None:
    collector = Collector()
    with ActorSystem(workers=1, max_message_size=1_000_000) as system:
        system.events.subscribe(DeadLetter, collector)
        echo = system.spawn(Echo)
        fits = os.urandom(900_000)
        assert _ask(echo, fits) == fits

        too_big = echo.ask(os.urandom(2_000_000), timeout=PATIENCE)
        assert too_big.done()  # failed at the send, not after a timeout
        with pytest.raises(MessageTooLarge, match="1000000"):
            too_big.result()

        echo.tell(os.urandom(2_000_000))
        letters = collector.wait_for(1)
        assert len(letters) == 1
        assert "more than the limit of 1000000" in letters[0].reason
        assert _ask(echo, b"small") == b"small"


def test_a_slow_worker_holds_its_sender_back_instead_of_its_memory() -> None:
    import tracemalloc

    payload = b"x" * 64 * 1024
    count = 1500  # about 100 MB encoded: far more than the link may hold
    with ActorSystem(workers=1) as system:
        slow = system.spawn(Slow)
        assert _ask(slow, "count") == 0
        tracemalloc.start()
        try:
            for _ in range(count):
                slow.tell(payload)  # from this thread: waits while congested
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert _ask(slow, "count", timeout=60) == count
    assert peak < 24 * 1024 * 1024, f"the head held {peak} bytes"


def test_large_buffers_cross_through_shared_memory_without_a_copy() -> None:
    numpy = pytest.importorskip("numpy")
    array = numpy.arange(1_000_000, dtype=numpy.float64)  # 8 MB
    with ActorSystem(workers=1) as system:
        summer = system.spawn(Summer)
        assert _ask(summer, numpy.zeros(4)) == (0.0, 4)
        before = system.statistics().bytes_sent
        assert _ask(summer, array) == (float(array.sum()), 1_000_000)
        sent = system.statistics().bytes_sent - before
    assert sent < 64 * 1024, f"{sent} bytes went through the socket"


def test_code_free_codecs_carry_registered_types() -> None:
    pytest.importorskip("msgpack")
    for codec in ("msgpack", "json"):
        with ActorSystem(
            workers=1, codec=codec, codec_types=[Point], allow_pickle=False
        ) as system:
            mover = system.spawn(PointActor)
            assert _ask(mover, Point(1, 2)) == Point(2, 3)
            assert _ask(mover, (1, "a")) == [1, "a"]  # tuples arrive as lists
            with pytest.raises(CodecError, match="register"):
                mover.tell(object())


def test_a_codec_can_be_chosen_per_message_type() -> None:
    with ActorSystem(
        workers=1, type_codecs={Point: "json"}, codec_types=[Point]
    ) as system:
        mover = system.spawn(PointActor)
        assert _ask(mover, Point(5, 6)) == Point(6, 7)  # JSON both ways
        assert _ask(mover, (1, "a")) == (1, "a")  # other types: pickle, tuples kept
        # Proof that Point goes through JSON: pickle would carry bytes, JSON cannot.
        with pytest.raises(CodecError, match="bytes"):
            mover.tell(Point(b"raw", 0))  # type: ignore[arg-type]
        assert _ask(mover, b"raw") == b"raw"


def test_allow_pickle_needs_a_code_free_codec() -> None:
    with pytest.raises(ValueError, match="allow_pickle=False"):
        ActorSystem(workers=1, allow_pickle=False)


# -- death watch and supervision -------------------------------------------------------


def test_watch_and_stop_across_processes(system: ActorSystem) -> None:
    target = system.spawn(Echo, worker=1)
    watcher = system.spawn(Watcher, worker=0)
    notice = system.watch(target)
    assert _ask(watcher, target) is True

    assert target.stop().result(PATIENCE) is True
    assert notice.result(PATIENCE) == Terminated(target, None)
    assert _wait_until(lambda: _ask(watcher, "notices") == [(target, "NoneType")])
    assert not target.is_alive()
    with pytest.raises(ActorDeadError):
        _ask(target, "pid")


def test_failures_in_workers_restart_the_actor_in_place(system: ActorSystem) -> None:
    collector = Collector()
    subscription = system.events.subscribe(ActorRestarted, collector)
    echo = system.spawn(Echo, worker=0)
    echo.tell("before")
    with pytest.raises(ValueError, match="asked to fail"):
        _ask(echo, "fail")
    assert collector.wait_for(1)[0].ref == echo
    assert _ask(echo, "restarts") == 1
    assert _ask(echo, "seen") == []  # a new instance
    subscription.cancel()


def test_the_supervisor_in_another_process_decides(system: ActorSystem) -> None:
    parent = system.spawn(StopOnFailure, worker="local")
    child = _ask(parent, ("spawn", "auto"))
    with pytest.raises(ValueError):
        _ask(child, "fail")
    assert _wait_until(lambda: _ask(parent, "last") == "ValueError")
    assert not child.is_alive()


# -- worker crashes --------------------------------------------------------------------


def test_a_killed_worker_fails_asks_and_its_actors_restart_elsewhere() -> None:
    with ActorSystem(workers=2) as system:
        victim_pid, survivor_pid = system.worker_pids()
        sleeper = system.spawn(Echo, worker=0)
        survivor = system.spawn(Echo, worker=1)
        watcher = system.spawn(Watcher, worker=1)
        stopped = system.spawn(StopOnFailure, worker="local")
        fragile = _ask(stopped, ("spawn", 0))
        assert _ask(fragile, "pid") == victim_pid
        _ask(watcher, fragile)

        pending = sleeper.ask(("sleep", 30), timeout=30)  # queued or running there
        killed = time.monotonic()
        os.kill(victim_pid, signal.SIGKILL)

        with pytest.raises(WorkerCrashed) as caught:
            pending.result(timeout=1.0)
        assert time.monotonic() - killed < 1.0
        assert caught.value.exitcode == -signal.SIGKILL
        assert "SIGKILL" in str(caught.value)

        # The watcher of the actor that stopped learns, with the cause.
        assert _wait_until(
            lambda: _ask(watcher, "notices") == [(fragile, "WorkerCrashed")]
        )

        # The restarted actor answers again, from a live worker; until it has
        # moved there, asks fail with WorkerCrashed as the docs say.
        def answers() -> bool:
            try:
                return _ask(sleeper, "pid", timeout=10) in system.worker_pids()
            except WorkerCrashed:
                return False

        assert _wait_until(answers, 10)
        assert _ask(survivor, "pid") == survivor_pid
        assert _wait_until(lambda: len(system.worker_pids()) == 2, 10)
        assert victim_pid not in system.worker_pids()
    assert _gone(victim_pid)


def test_shutdown_leaves_no_worker_behind() -> None:
    system = ActorSystem(workers=2).start()
    pids = system.worker_pids()
    echo = system.spawn(Echo)
    echo.tell(("sleep", 0.2))
    started = time.monotonic()
    system.shutdown(5)
    assert time.monotonic() - started < 5.5
    assert all(_wait_until(lambda pid=pid: _gone(pid), 2) for pid in pids)


def _one_worker_fails_init() -> None:
    """Records this worker's pid; the first worker to get here fails to start."""
    folder = os.environ["ZACTOR_TEST_FOLDER"]
    with open(os.path.join(folder, f"{os.getpid()}.pid"), "w"):
        pass
    try:
        os.close(os.open(os.path.join(folder, "first"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return
    raise OSError("address already in use (from worker_init)")


def test_a_worker_that_fails_to_start_makes_the_start_raise(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZACTOR_TEST_FOLDER", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(WorkerStartupError, match="OSError: address already in use"):
        # spawn: each worker starts afresh, with this environment
        ActorSystem(
            workers=2, worker_init=_one_worker_fails_init, start_method="spawn"
        ).start()
    assert time.monotonic() - started < 5
    pids = [int(path.stem) for path in tmp_path.glob("*.pid")]
    assert len(pids) >= 1
    assert all(_wait_until(lambda pid=pid: _gone(pid), 5) for pid in pids)


def test_timers_and_receive_timeouts_run_in_workers(system: ActorSystem) -> None:
    listener = system.spawn(Echo, worker="local")
    ticking = system.spawn(Ticking, listener, worker=1)

    def ticked() -> bool:
        kinds, periodic = _ask(ticking, "seen")
        return bool(kinds == ["every", "once"] and periodic >= 3)

    assert _wait_until(ticked)
    assert _ask(ticking, "stop every") is True
    # With the periodic timer gone, the actor falls quiet: its receive timeout fires.
    assert _wait_until(lambda: "quiet" in _ask(listener, "seen"))


def test_cpu_affinity_pins_each_worker() -> None:
    available = sorted(os.sched_getaffinity(0))
    with ActorSystem(workers=2, cpu_affinity=True) as system:
        pinned = [_ask(system.spawn(Echo, worker=i), "affinity") for i in range(2)]
    assert pinned == [[available[i % len(available)]] for i in range(2)]


# -- the program's own module, and leftovers -------------------------------------------

MAIN_SCRIPT = """
import os, sys
from zactor import Actor, ActorSystem

class Fresh(Actor):
    def receive(self, message):
        return ("pong", os.getpid())

if __name__ == "__main__":
    system = ActorSystem(workers=1, start_method=sys.argv[1]).start()
    answer, pid = system.spawn(Fresh).ask("ping", timeout=10).result()
    print(answer, pid != os.getpid(), system.worker_pids()[0], flush=True)
    if sys.argv[2] == "shutdown":
        system.shutdown(5)
"""


def _run_script(tmp_path: Any, *args: str) -> list[str]:
    import subprocess
    import sys

    script = tmp_path / "fresh_main.py"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_classes_of_the_main_module_run_in_workers(tmp_path: Any, method: str) -> None:
    answer, remote, pid = _run_script(tmp_path, method, "shutdown")
    assert (answer, remote) == ("pong", "True")
    assert _wait_until(lambda: _gone(int(pid)), 5)


def test_a_program_that_exits_without_shutdown_leaves_no_worker(tmp_path: Any) -> None:
    answer, remote, pid = _run_script(tmp_path, "forkserver", "no-shutdown")
    assert (answer, remote) == ("pong", "True")
    assert _wait_until(lambda: _gone(int(pid)), 5)


def test_a_crashed_worker_is_replaced_within_the_budget() -> None:
    with ActorSystem(workers=3, worker_restarts=(1, 60.0)) as system:
        pids = system.worker_pids()
        os.kill(pids[0], signal.SIGKILL)
        assert _wait_until(
            lambda: (
                len(system.worker_pids()) == 3 and pids[0] not in system.worker_pids()
            ),
            10,
        )
        assert set(pids[1:]) <= set(system.worker_pids())
        refs = [system.spawn(Echo, worker=i) for i in range(3)]
        assert [_ask(ref, i) for i, ref in enumerate(refs)] == [0, 1, 2]

        # The budget (one replacement a minute) is spent: the next crash is final.
        replaced = system.worker_pids()[0]
        os.kill(replaced, signal.SIGKILL)
        assert _wait_until(lambda: len(system.worker_pids()) == 2, 5)
        assert _ask(system.spawn(Echo), "still") == "still"
