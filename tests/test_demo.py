"""``zactor demo``: an exact word count of a directory tree, done by actors."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from io import BufferedReader
from pathlib import Path

import pytest

from zactor import Actor, ActorSystem, GetRoutees, Pool, Router
from zactor._cli import demo, demo_actors, demo_text
from zactor._cli.demo_actors import Batch, Progress
from zactor._cli.demo_faults import FaultPlan
from zactor._cli.demo_routing import Partitioner, counter_logic
from zactor._cli.demo_text import Tally, find_text_files, words
from zactor._cli.main import main

# The words of the tree built by ``make_tree``, counted by hand.
EXPECTED = Counter(
    {
        "apple": 5,
        "banana": 4,
        "42": 1,
        "bread": 1,
        "caf": 1,
        "cherry": 1,
        "cherry_pie": 1,
        "def": 1,
        "don": 1,
        "ol": 1,
        "return": 1,
        "split": 1,
        "t": 1,
    }
)

# Most frequent first; equal counts in alphabetical order.
EXPECTED_TOP = [
    ("apple", 5),
    ("banana", 4),
    ("42", 1),
    ("bread", 1),
    ("caf", 1),
    ("cherry", 1),
    ("cherry_pie", 1),
    ("def", 1),
    ("don", 1),
    ("ol", 1),
    ("return", 1),
    ("split", 1),
    ("t", 1),
]

TEXT_FILES = {
    "a.txt": b"apple banana apple\nCherry apple BANANA\n",
    "sub/b.py": b"def apple(): return cherry_pie  # 42\n",
    "sub/deeper/c.md": b"Banana split, banana bread. Don't\n",
    # Latin-1 bytes are not UTF-8: the stray \xe9 becomes U+FFFD and ends "caf";
    # the real UTF-8 "\xc3\xa9" is a letter outside ASCII and ends "ol".
    "notes.RST": b"caf\xe9 ol\xc3\xa9 APPLE",
}

IGNORED_FILES = {
    "image.bin": b"\x00\x01apple apple",
    "fake.txt": b"apple\x00\x00banana\n",  # a text name, but binary content
    "__pycache__/cached.py": b"apple\n",
    ".hidden/secret.txt": b"apple\n",
    "site-packages/pkg/mod.py": b"apple\n",
}


def make_tree(root: Path) -> Path:
    """Write the text and ignored files under ``root``; return ``root``."""
    for name, content in {**TEXT_FILES, **IGNORED_FILES}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree of known words, with a binary file and nested directories."""
    return make_tree(tmp_path / "tree")


def run_demo(*args: str) -> int:
    """Run ``zactor demo`` in this process without a progress line."""
    return main(["demo", "--no-progress", *args])


def top_lines(output: str) -> list[tuple[str, int]]:
    """The (word, count) pairs of the ranking printed on stdout, in order."""
    ranked = re.findall(r"^\s+\d+\s+([\d,]+)\s+(\S+)$", output, re.MULTILINE)
    return [(word, int(count.replace(",", ""))) for count, word in ranked]


def test_counts_every_word_of_the_tree_exactly(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The merged count equals the hand count, and the figures match the tree."""
    figures_file = tmp_path / "figures.json"

    status = run_demo("--path", str(tree), "--json", str(figures_file))

    out = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert status == 0
    assert figures["words"] == sum(EXPECTED.values()) == 20
    assert figures["distinct_words"] == len(EXPECTED)
    assert figures["files"] == 4
    assert figures["skipped"] == 1
    assert figures["bytes"] == sum(len(data) for data in TEXT_FILES.values())
    assert "files: 4 (1 skipped: binary or unreadable)" in out
    assert "words: 20 (13 distinct)" in out


def test_ranking_puts_higher_counts_first_and_breaks_ties_by_word(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The top list is by count descending, then alphabetical among equal counts."""
    status = run_demo("--path", str(tree))

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("top 13 words:\n")
    assert top_lines(out) == EXPECTED_TOP


def test_top_option_limits_the_ranking(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--top N prints only the N most frequent words."""
    status = run_demo("--path", str(tree), "--top", "3")

    out = capsys.readouterr().out
    assert status == 0
    assert top_lines(out) == EXPECTED_TOP[:3]


def test_verify_agrees_with_the_actors(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--verify recounts without actors, prints 'verify: ok' and exits 0."""
    status = run_demo("--path", str(tree), "--verify")

    out = capsys.readouterr().out
    assert status == 0
    assert out.rstrip().endswith("verify: ok")


def test_verify_reports_the_words_that_differ(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recount that disagrees is printed word by word and exits with status 1."""

    def wrong_recount(paths: list[Path]) -> Tally:
        counts = EXPECTED.copy()
        counts["apple"] += 1
        counts["zebra"] = 2
        return Tally(files=4, skipped=1, bytes=123, counts=counts)

    monkeypatch.setattr(demo, "count_sequentially", wrong_recount)

    status = run_demo("--path", str(tree), "--verify")

    out = capsys.readouterr().out
    assert status == 1
    assert "verify: FAILED: 2 words counted differently" in out
    assert "  'apple': actors 5, sequential 6" in out
    assert "  'zebra': actors 0, sequential 2" in out
    assert "  words: actors 20, sequential 23" in out
    assert "verify: ok" not in out


def test_json_file_holds_the_figures_and_the_ranking(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json writes files, bytes, words, supervision, messages, seconds, top list."""
    figures_file = tmp_path / "out" / "figures.json"
    figures_file.parent.mkdir()

    status = run_demo("--path", str(tree), "--verify", "--json", str(figures_file))

    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert status == 0
    assert figures["path"] == str(tree)
    assert figures["chunks"] == 4
    assert (figures["retries"], figures["failures"], figures["restarts"]) == (0, 0, 0)
    assert figures["messages"] > 0
    assert figures["seconds"] > 0
    assert figures["messages_per_second"] > 0
    assert figures["verified"] is True
    assert figures["top"] == [{"word": w, "count": n} for w, n in EXPECTED_TOP]


def test_json_file_that_cannot_be_written_exits_with_status_2(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --json FILE in a missing directory is reported and exits with status 2."""
    status = run_demo("--path", str(tree), "--json", str(tmp_path / "no" / "f.json"))

    err = capsys.readouterr().err
    assert status == 2
    assert "--json" in err
    assert "cannot write it" in err


def test_missing_path_exits_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --path that does not exist is a clear error with exit status 2."""
    missing = tmp_path / "missing"

    status = run_demo("--path", str(missing))

    captured = capsys.readouterr()
    assert status == 2
    assert f"--path {missing}: no such directory" in captured.err
    assert captured.out == ""


def test_path_to_a_file_exits_with_status_2(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --path that names a file rather than a directory exits with status 2."""
    status = run_demo("--path", str(tree / "a.txt"))

    assert status == 2
    assert "not a directory" in capsys.readouterr().err


def test_empty_directory_counts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tree without text files completes at once with zero files and words."""
    status = run_demo("--path", str(tmp_path), "--verify")

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("top 0 words:\n")
    assert "files: 0 (0 skipped: binary or unreadable)" in out
    assert "words: 0 (0 distinct)" in out
    assert "verify: ok" in out


def test_walk_skips_caches_hidden_directories_site_packages_and_other_suffixes(
    tree: Path,
) -> None:
    """Only text suffixes are listed, in sorted order, outside skipped directories."""
    found = find_text_files(tree)

    assert [path.relative_to(tree).as_posix() for path in found] == [
        "a.txt",
        "fake.txt",
        "notes.RST",
        "sub/b.py",
        "sub/deeper/c.md",
    ]


@pytest.mark.parametrize(
    ("readers", "tokenizers", "counters", "window"),
    [(1, 1, 1, 1), (3, 5, 7, 2), (2, 4, 4, 64)],
)
def test_any_pipeline_shape_gives_the_same_counts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    readers: int,
    tokenizers: int,
    counters: int,
    window: int,
) -> None:
    """Chunks cut on line boundaries and any actor counts give the exact counts."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "lines.txt").write_bytes(b"alpha beta\nGamma alpha\n" * 500)
    (root / "long_line.txt").write_bytes(b"delta " * 300)  # no newline at all
    (root / "empty.txt").write_bytes(b"")
    figures_file = tmp_path / "figures.json"

    status = run_demo(
        "--path", str(root), "--chunk-size", "64", "--verify",
        "--readers", str(readers), "--tokenizers", str(tokenizers),
        "--counters", str(counters), "--window", str(window),
        "--json", str(figures_file),
    )  # fmt: skip

    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert status == 0
    assert figures["top"] == [
        {"word": "alpha", "count": 1000},
        {"word": "beta", "count": 500},
        {"word": "gamma", "count": 500},
        {"word": "delta", "count": 300},
    ]
    assert figures["files"] == 3
    assert figures["chunks"] > 100
    assert "verify: ok" in capsys.readouterr().out


def make_lined_tree(root: Path) -> Path:
    """The tree of ``make_tree`` plus 20 files of 10 short lines each."""
    make_tree(root)
    lines = root / "lines"
    lines.mkdir()
    for i in range(20):
        (lines / f"f{i:02}.txt").write_bytes(b"alpha beta\nGamma alpha\n" * 5)
    return root


def test_failing_tokenizers_are_restarted_and_their_chunks_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --fail-rate 0.3 the counts are still exact, with restarts and retries."""
    root = make_lined_tree(tmp_path / "tree")
    calm, faulty = tmp_path / "calm.json", tmp_path / "faulty.json"
    options = ["--path", str(root), "--chunk-size", "1", "--verify"]

    calm_status = run_demo(*options, "--json", str(calm))
    faulty_status = run_demo(*options, "--fail-rate", "0.3", "--json", str(faulty))

    out = capsys.readouterr().out
    without, with_faults = (
        json.loads(f.read_text(encoding="utf-8")) for f in (calm, faulty)
    )
    assert (calm_status, faulty_status) == (0, 0)
    assert out.count("verify: ok") == 2
    assert with_faults["verified"] is True
    assert with_faults["top"] == without["top"]
    assert with_faults["top"][:5] == [
        {"word": "alpha", "count": 200},
        {"word": "beta", "count": 100},
        {"word": "gamma", "count": 100},
        {"word": "apple", "count": 5},
        {"word": "banana", "count": 4},
    ]
    assert with_faults["words"] == without["words"] == 20 + 400
    assert with_faults["chunks"] == without["chunks"] == 205
    assert without["retries"] == without["failures"] == without["restarts"] == 0
    assert with_faults["retries"] > 0
    assert with_faults["restarts"] > 0
    assert with_faults["failures"] == with_faults["retries"]
    assert with_faults["restarts"] <= with_faults["failures"]
    tokenizers = with_faults["routers"]["tokenizers"]["routees"].values()
    assert sum(routee["faults"] for routee in tokenizers) == with_faults["retries"]
    assert f"{with_faults['retries']} retries" in out


def test_a_chunk_that_fails_every_try_gives_the_run_up(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When every try fails, the run exits with status 1 and names the chunk."""
    status = run_demo("--path", str(tree), "--fail-rate", "0.999999", "--retries", "3")

    captured = capsys.readouterr()
    assert status == 1
    found = re.search(
        r"the count failed: chunk \d+ of (.+) \(bytes 0 to \d+\) failed on all 4 of "
        r"its tries \(3 retries\); the last error: TokenizerFault: "
        r"/user/demo/tokenizers/routee-\d failed chunk \d+ on purpose \(try 4\)$",
        captured.err,
        re.MULTILINE,
    )
    assert found is not None
    assert Path(found.group(1)).relative_to(tree).as_posix() in TEXT_FILES
    assert captured.out == ""


@pytest.mark.parametrize("rate", ["1", "1.5", "-0.1", "nan", "often"])
def test_fail_rate_outside_zero_to_one_exits_with_status_2(
    tree: Path, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    """A --fail-rate that is not a number in [0, 1) is refused with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        run_demo("--path", str(tree), "--fail-rate", rate)

    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "argument --fail-rate: expected a" in captured.err
    assert captured.out == ""


def test_report_shows_the_routers_and_what_each_routee_did(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The work goes through a balancing and a consistent-hashing router."""
    figures_file = tmp_path / "figures.json"

    status = run_demo(
        "--path", str(tree), "--tokenizers", "3", "--counters", "5",
        "--json", str(figures_file),
    )  # fmt: skip

    out = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    tokenizers = figures["routers"]["tokenizers"]
    counters = figures["routers"]["counters"]
    assert status == 0
    assert tokenizers["path"] == "/user/demo/tokenizers"
    assert tokenizers["logic"] == "Balancing(prefetch=1)"
    assert list(tokenizers["routees"]) == [
        f"/user/demo/tokenizers/routee-{i}" for i in (1, 2, 3)
    ]
    assert sum(r["chunks"] for r in tokenizers["routees"].values()) == 4
    assert counters["path"] == "/user/demo/counters"
    assert counters["logic"] == "ConsistentHashing(virtual_nodes=100)"
    assert len(counters["routees"]) == 5
    distinct = [r["distinct_words"] for r in counters["routees"].values()]
    assert sum(distinct) == figures["distinct_words"] == len(EXPECTED)
    kinds = figures["messages_by_kind"]
    assert kinds["readers"] == 5  # one ReadNext per file, as each fits one chunk
    assert kinds["tokenizers"] == 4
    assert kinds["aggregator"] == 5
    assert kinds["routers"] > 0
    assert sum(kinds.values()) == figures["messages"]
    assert "tokenizers: Balancing(prefetch=1) at /user/demo/tokenizers" in out
    assert (
        "counters: ConsistentHashing(virtual_nodes=100) at /user/demo/counters" in out
    )
    assert "supervision: 0 failures, 0 restarts, 0 retries" in out


def test_readers_stay_within_the_window_of_uncounted_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flow control: chunks read minus chunks tokenized never exceeds --window."""
    root = tmp_path / "many"
    root.mkdir()
    for i in range(40):
        (root / f"f{i:02}.txt").write_bytes(b"one two three\n" * 50)
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def read_chunk(file: BufferedReader, size: int) -> bytes:
        data = demo_text.read_chunk(file, size)
        with lock:
            in_flight[0] += bool(data)
            peak[0] = max(peak[0], in_flight[0])
        return data

    def counting_words(data: bytes) -> list[str]:
        with lock:
            in_flight[0] -= 1
        return words(data)

    monkeypatch.setattr(demo_actors, "read_chunk", read_chunk)
    monkeypatch.setattr(demo_actors, "words", counting_words)

    status = run_demo(
        "--path", str(root), "--chunk-size", "100", "--window", "3",
        "--readers", "4", "--tokenizers", "2",
    )  # fmt: skip

    assert status == 0
    assert in_flight[0] == 0
    assert 1 <= peak[0] <= 3


def test_a_failing_reader_fails_the_run_instead_of_hanging(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception in a reader ends the run at once with status 1 and why."""

    def broken(*args: object) -> object:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(demo_actors, "read_chunk", broken)

    status = run_demo("--path", str(tree), "--readers", "1", "--tokenizers", "1")

    captured = capsys.readouterr()
    assert status == 1
    assert (
        "the count failed: actor /user/demo/reader-0 failed: "
        "ValueError: broken on purpose"
    ) in captured.err
    assert captured.out == ""


def test_a_tokenizer_that_always_raises_gives_up_on_the_chunk(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chunk that raises on every try is retried, then fails the run, named."""

    def broken(data: bytes) -> list[str]:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(demo_actors, "words", broken)

    status = run_demo(
        "--path", str(tree), "--readers", "1", "--tokenizers", "1", "--retries", "2"
    )

    captured = capsys.readouterr()
    assert status == 1
    assert re.search(
        r"the count failed: chunk \d+ of .+ \(bytes 0 to \d+\) failed on all 3 of "
        r"its tries \(2 retries\); the last error: "
        r"ValueError: broken on purpose$",
        captured.err,
        re.MULTILINE,
    )
    assert captured.out == ""


class Whoami(Actor):
    """Answers every message with its own path."""

    def receive(self, message: object) -> str:
        return self.context.path


def test_partitioner_groups_words_as_the_counters_router_routes_them() -> None:
    """Every word of a group goes, through the router, to the group's counter."""
    vocabulary = Counter({f"word{i}": i + 1 for i in range(200)})

    with ActorSystem("partitions") as system:
        router = system.spawn(Router, counter_logic(), pool=Pool(Whoami, 3))
        routees = router.ask(GetRoutees()).result(timeout=5)
        partitioner = Partitioner(routees)
        groups = partitioner.group(vocabulary)
        routed = {
            word: router.ask(Batch(0, word, {})).result(timeout=5)
            for word in vocabulary
        }

    assert len(groups) == 3
    assert sum(len(group) for group in groups) == len(vocabulary)
    for group in groups:
        owners = {partitioner.owner(word) for word in group}
        assert len(owners) == 1
        assert {routed[word] for word in group} == {owners.pop().path}


def test_fault_plan_fails_a_reproducible_fraction_of_the_tries() -> None:
    """The same seed fails the same tries; about a fraction P of them fail."""
    tries = [((file, 64 * offset), attempt) for file in range(20)
             for offset in range(25) for attempt in range(2)]  # fmt: skip
    plan = FaultPlan(0.3, seed=7)

    first = [plan.strikes(origin, attempt) for origin, attempt in tries]
    again = [FaultPlan(0.3, seed=7).strikes(o, a) for o, a in tries]
    other = [FaultPlan(0.3, seed=8).strikes(o, a) for o, a in tries]

    assert first == again
    assert first != other
    assert 0.25 * len(tries) < sum(first) < 0.35 * len(tries)
    assert not any(FaultPlan(0.0).strikes(o, a) for o, a in tries)


def test_words_are_lowercased_runs_of_ascii_letters_digits_and_underscores() -> None:
    """The documented definition of a word: [a-z0-9_]+ on the lowercased text."""
    assert words("Don't STOP_now, 42x — naïve\n".encode()) == [
        "don",
        "t",
        "stop_now",
        "42x",
        "na",
        "ve",
    ]


def test_progress_line_is_redrawn_in_place_on_a_terminal() -> None:
    """On a terminal the progress line is rewritten with a carriage return."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = demo.ProgressLine(stream)

    line.show(Progress(files_done=3, files_total=10, bytes_read=2_500_000), 1.25)
    line.show(Progress(files_done=10, files_total=10, bytes_read=9_000_000), 2.5)
    line.clear()

    assert stream.getvalue() == (
        "\rfiles 3/10  2.5 MB  1.2 s"
        "\rfiles 10/10  9.0 MB  2.5 s"
        "\r" + " " * len("files 10/10  9.0 MB  2.5 s") + "\r"
    )


def test_progress_lines_appear_on_stderr_while_the_run_goes_on(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--progress writes 'files done/total, MB, elapsed' lines during the run."""
    shown = threading.Event()
    show = demo.ProgressLine.show

    def show_and_signal(line: demo.ProgressLine, progress: Progress, t: float) -> None:
        show(line, progress, t)
        shown.set()

    def read_after_a_progress_line(file: BufferedReader, size: int) -> bytes:
        shown.wait(timeout=10)
        return demo_text.read_chunk(file, size)

    monkeypatch.setattr(demo.ProgressLine, "show", show_and_signal)
    monkeypatch.setattr(demo_actors, "read_chunk", read_after_a_progress_line)

    status = main(["demo", "--path", str(tree), "--progress"])

    captured = capsys.readouterr()
    assert status == 0
    assert shown.is_set()
    assert re.search(r"^files [0-5]/5  0\.0 MB  \d+\.\d s$", captured.err, re.M)
    assert top_lines(captured.out) == EXPECTED_TOP


INTERRUPTIBLE = """
import sys, time
from zactor._cli import demo_actors
from zactor._cli.main import main

real_words = demo_actors.words

def slow_words(data):
    sys.stderr.write("tokenizing\\n")
    sys.stderr.flush()
    time.sleep(0.05)
    return real_words(data)

demo_actors.words = slow_words
sys.exit(main(["demo", "--no-progress", "--path", sys.argv[1]]))
"""


def test_ctrl_c_shuts_down_and_exits_with_status_130(tmp_path: Path) -> None:
    """SIGINT during a run prints 'interrupted' and exits 130 without a traceback."""
    root = tmp_path / "slow"
    root.mkdir()
    for i in range(200):
        (root / f"f{i:03}.txt").write_bytes(b"some words here\n")
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert process.stderr.readline() == "tokenizing\n"

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    assert "did not stop" not in err
    assert "top " not in out


# -- worker processes ---------------------------------------------------------------

WORKER_LINE = re.compile(
    r"^  worker (\d+) \(pid (\d+)\): ([\d,]+) files, ([\d,]+) chunks \(([\d,]+) "
    r"failed tries\), ([\d,]+) words tokenized; ([\d,]+) batches, ([\d,]+) words "
    r"counted$",
    re.MULTILINE,
)


def worker_lines(output: str) -> list[dict[str, int]]:
    """The per-worker lines of the report, as numbers."""
    keys = ("worker", "pid", "files", "chunks", "faults", "words_tokenized",
            "batches", "words_counted")  # fmt: skip
    return [
        {key: int(value.replace(",", "")) for key, value in zip(keys, found)}
        for found in WORKER_LINE.findall(output)
    ]


def make_split_tree(root: Path) -> Path:
    """The lined tree plus a file of 400 lines, cut into pieces by a small task."""
    make_lined_tree(root)
    (root / "big.txt").write_bytes(b"omega psi\n" * 400)
    return root


def assert_gone(pids: list[int]) -> None:
    """Each of ``pids`` names no process any more."""
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_count_exactly_and_report_what_each_worker_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --workers 2 the count verifies, and the per-worker figures add up."""
    root = make_split_tree(tmp_path / "tree")
    figures_file = tmp_path / "figures.json"

    status = run_demo(
        "--path", str(root), "--workers", "2", "--chunk-size", "512", "--verify",
        "--json", str(figures_file),
    )  # fmt: skip

    out = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    workers = worker_lines(out)
    assert status == 0
    assert "verify: ok" in out
    assert figures["words"] == 20 + 400 + 800
    assert (figures["files"], figures["skipped"]) == (4 + 20 + 1, 1)
    assert "workers: 2 processes" in out
    assert [worker["worker"] for worker in workers] == [0, 1]
    assert len({worker["pid"] for worker in workers} | {os.getpid()}) == 3
    assert sum(w["files"] for w in workers) == figures["files"]
    assert sum(w["chunks"] for w in workers) == figures["chunks"] > 2
    assert sum(w["words_tokenized"] for w in workers) == figures["words"]
    assert sum(w["words_counted"] for w in workers) == figures["words"]
    assert sum(w["faults"] for w in workers) == 0
    assert figures["workers"] == workers
    assert "readers" not in figures["messages_by_kind"]
    assert figures["top"][:3] == [
        {"word": "omega", "count": 400},
        {"word": "psi", "count": 400},
        {"word": "alpha", "count": 200},
    ]
    assert_gone([worker["pid"] for worker in workers])


def test_workers_restart_failing_tokenizers_and_keep_the_count_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fail-rate with workers: tries fail in the workers, restarts, exact totals."""
    root = make_lined_tree(tmp_path / "tree")
    figures_file = tmp_path / "figures.json"

    status = run_demo(
        "--path", str(root), "--workers", "2", "--chunk-size", "64",
        "--fail-rate", "0.2", "--verify", "--json", str(figures_file),
    )  # fmt: skip

    out = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    workers = figures["workers"]
    tokenizers = figures["routers"]["tokenizers"]["routees"].values()
    assert status == 0
    assert "verify: ok" in out
    assert figures["words"] == 20 + 400
    assert figures["top"][:3] == [
        {"word": "alpha", "count": 200},
        {"word": "beta", "count": 100},
        {"word": "gamma", "count": 100},
    ]
    assert figures["retries"] > 0
    assert figures["restarts"] > 0
    assert figures["failures"] == figures["retries"]
    assert sum(routee["faults"] for routee in tokenizers) == figures["retries"]
    assert sum(worker["faults"] for worker in workers) == figures["retries"]
    assert sum(worker["words_counted"] for worker in workers) == figures["words"]
    assert {worker["worker"] for worker in workers} == {0, 1}


@pytest.mark.parametrize("count", ["-1", "two"])
def test_a_bad_number_of_workers_is_refused_with_status_2(
    tree: Path, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    """--workers takes a whole number >= 0 or 'auto'; anything else is refused."""
    with pytest.raises(SystemExit) as exit_info:
        run_demo("--path", str(tree), "--workers", count)

    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "argument --workers: expected a" in captured.err
    assert ">= 0 or 'auto'" in captured.err
    assert captured.out == ""


def test_pieces_of_files_hold_every_line_once(tmp_path: Path) -> None:
    """Cut anywhere, the pieces of a file are its lines, each exactly once."""
    path = tmp_path / "lines.txt"
    content = b"one\ntwo three\n\nfour\nfive six seven\neight"
    path.write_bytes(content)

    for size in range(1, len(content) + 2):
        pieces = [p for task in demo_text.plan_pieces([path], size) for p in task]
        read = [demo_text.read_piece(piece) for piece in pieces]
        assert b"".join(part or b"" for part in read) == content
        assert pieces[-1].stop is None


def wait_until_gone(group: int, timeout: float) -> bool:
    """Wait until no process is left in process group ``group``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_with_workers_shuts_every_process_down(tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it: status 130."""
    root = tmp_path / "slow"
    root.mkdir()
    (root / "long.txt").write_bytes(b"some words here and there\n" * 1_500_000)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "zactor._cli", "demo", "--path", str(root),
            "--workers", "2", "--tokenizers", "1", "--window", "1", "--progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    assert process.stderr.readline().startswith("files 0/1")

    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    assert "top " not in out
    assert wait_until_gone(process.pid, timeout=10)
