"""Codecs and shared-memory buffers: what crosses between processes, and how.

Every codec round-trips the values it supports, refuses what it cannot carry with
a CodecError that names the type, and turns garbage into a CodecError. Large
buffers leave the pickle stream out of band and cross through shared memory.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import secrets
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zactor
from zactor import Actor, ActorRef, ActorSystem, _shm
from zactor._codecs import (
    Codec,
    JsonCodec,
    MsgpackCodec,
    PickleCodec,
    codec_by_id,
    portable_error,
    resolve_codec,
)
from zactor._errors import CodecError, RemoteError, WorkerCrashed

CODECS = ("pickle", "msgpack", "json")
SAFE_CODECS = ("msgpack", "json")


class Point(NamedTuple):
    x: int
    y: int


@dataclasses.dataclass
class Job:
    id: int
    name: str
    tags: list[str]
    where: Point | None = None


@dataclasses.dataclass
class Holder:
    name: str
    lock: Any


@dataclasses.dataclass
class Task:
    steps: list[Any]


class Plain:
    """A class that is neither a dataclass nor a NamedTuple."""


class PicklableError(Exception):
    pass


class LockedError(Exception):
    """An error that cannot be pickled: it holds a lock."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lock = threading.Lock()


class TwoArgumentError(Exception):
    """Pickles, but cannot be unpickled: its constructor rejects its own args."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


class Idle(Actor):
    pass


def make_codec(name: str, types: tuple[type, ...] = (Job, Point)) -> Codec:
    if name == "msgpack":
        pytest.importorskip("msgpack")
    return resolve_codec(name, types)


def as_sent(value: Any) -> Any:
    """What a safe codec delivers for ``value``: every tuple becomes a list."""
    if isinstance(value, (list, tuple)) and not isinstance(value, Point):
        return [as_sent(item) for item in value]
    if isinstance(value, dict):
        return {key: as_sent(item) for key, item in value.items()}
    return value


def round_trip(codec: Codec, value: Any) -> Any:
    return codec.decode(codec.encode(value))


def raised(error: BaseException) -> BaseException:
    """``error`` after it was raised and caught, so that it has a traceback."""
    try:
        raise error
    except BaseException as caught:
        return caught


# -- values -------------------------------------------------------------------------

SAMPLES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.0,
    float("inf"),
    "",
    "héllo ☃ 𝄞",
    [],
    [1, "a", None, [2.5]],
    {},
    {"a": {"b": [1, 2.5]}, "c": None},
    (1, (2, "x")),
    {"__zactor__": "ref", "node": 1},
    {"nested": {"__zactor__": "obj", "type": "os.system"}},
]


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_basic_values_round_trip(name: str, value: Any) -> None:
    """Every codec returns equal basic values; safe codecs deliver tuples as lists."""
    codec = make_codec(name)

    result = round_trip(codec, value)

    if name == "pickle":
        assert result == value
        assert type(result) is type(value)
    else:
        assert result == as_sent(value)
        assert type(result) is type(as_sent(value))


@pytest.mark.parametrize("name", ["pickle", "msgpack"])
def test_bytes_and_basic_keys_round_trip(name: str) -> None:
    """pickle and msgpack carry bytes and dicts keyed by any basic value."""
    codec = make_codec(name)
    value = {b"raw": b"\x00\xff", 1: "one", 2.5: None, None: True, False: [b""]}

    assert round_trip(codec, value) == value


def test_json_refuses_bytes_by_name() -> None:
    codec = make_codec("json")

    with pytest.raises(CodecError, match="bytes") as caught:
        codec.encode({"payload": b"\x00"})

    assert "msgpack or pickle" in str(caught.value)


def test_json_refuses_keys_that_are_not_str() -> None:
    codec = make_codec("json")

    with pytest.raises(CodecError, match=r"keys must be str.*int"):
        codec.encode({1: "one"})


def test_msgpack_refuses_ints_beyond_64_bits() -> None:
    codec = make_codec("msgpack")

    with pytest.raises(CodecError, match="64 bits"):
        codec.encode([2**64])


def test_safe_codecs_carry_subclasses_of_basic_types_as_the_base() -> None:
    class Count(int):
        pass

    for name in SAFE_CODECS:
        result = round_trip(make_codec(name), {"n": Count(3), "s": [Count(4)]})

        assert result == {"n": 3, "s": [4]}
        assert type(result["n"]) is int


def basic(name: str) -> st.SearchStrategy[Any]:
    """Values the codec ``name`` supports, tuples included."""
    if name == "msgpack":
        text = st.text(st.characters(blacklist_categories=["Cs"]))
        scalars = (
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**64 - 1)
            | st.floats(allow_nan=False)
            | text
            | st.binary()
        )
        keys: st.SearchStrategy[Any] = scalars
    else:
        text = st.text()
        scalars = (
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | text
        )
        keys = text

    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.lists(inner, max_size=5).map(tuple)
            | st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=20,
    )


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_generated_values_round_trip(name: str, data: st.DataObject) -> None:
    codec = make_codec(name)
    value = data.draw(basic(name))

    result = round_trip(codec, value)

    assert result == (value if name == "pickle" else as_sent(value))


def test_msgpack_refuses_lone_surrogates() -> None:
    """msgpack strings are UTF-8, which has no lone surrogates; JSON escapes them."""
    with pytest.raises(CodecError, match="msgpack"):
        make_codec("msgpack").encode("\ud800")

    assert round_trip(make_codec("json"), "\ud800") == "\ud800"


@pytest.mark.parametrize("name", CODECS)
def test_codecs_decode_from_a_memoryview_slice(name: str) -> None:
    """Receivers decode a frame body in place, after its leading codec byte."""
    codec = make_codec(name)
    frame = bytes((codec.codec_id,)) + codec.encode({"job": Job(1, "a", ["t"])})

    assert codec.decode(memoryview(frame)[1:]) == {"job": Job(1, "a", ["t"])}


@pytest.mark.parametrize("name", CODECS)
def test_codecs_encode_from_many_threads_at_once(name: str) -> None:
    """One codec serves every thread: nested values never mix between threads."""
    codec = make_codec(name)

    def work(worker: int) -> list[Any]:
        return [
            round_trip(
                codec, Job(worker * 1000 + i, f"w{worker}", [], Point(i, worker))
            )
            for i in range(300)
        ]

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(work, worker) for worker in range(4)]
        results = [future.result(timeout=60) for future in futures]

    for worker, jobs in enumerate(results):
        assert jobs == [
            Job(worker * 1000 + i, f"w{worker}", [], Point(i, worker))
            for i in range(300)
        ]


# -- registered types ---------------------------------------------------------------


@pytest.mark.parametrize("name", CODECS)
def test_registered_dataclass_and_namedtuple_round_trip(name: str) -> None:
    codec = make_codec(name)
    job = Job(7, "build", ["fast", "safe"], Point(1, 2))

    result = round_trip(codec, {"job": job, "points": [Point(3, 4)]})

    assert result == {"job": job, "points": [Point(3, 4)]}
    assert type(result["job"]) is Job
    assert type(result["job"].where) is Point
    assert type(result["points"][0]) is Point


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_registered_types_carry_tuples_in_fields_as_lists(name: str) -> None:
    codec = make_codec(name, (Task,))

    result = round_trip(codec, Task([(1, 2), "x"]))

    assert result == Task([[1, 2], "x"])


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_unregistered_dataclass_is_refused_by_name(name: str) -> None:
    codec = make_codec(name)

    with pytest.raises(CodecError) as caught:
        codec.encode({"task": Task(["a"])})

    text = str(caught.value)
    assert "Task is not registered" in text
    assert "(types=[Task])" in text
    assert "codec_types=[Task]" in text


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_unregistered_namedtuple_is_refused_not_sent_as_a_list(name: str) -> None:
    codec = make_codec(name, (Job,))

    with pytest.raises(CodecError, match="Point is not registered"):
        codec.encode([Point(1, 2)])


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_plain_class_is_refused_with_how_to_register(name: str) -> None:
    codec = make_codec(name)

    with pytest.raises(
        CodecError, match="Plain is not registered; make it a dataclass"
    ):
        codec.encode(Plain())


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_builtin_type_without_support_is_named(name: str) -> None:
    codec = make_codec(name)

    with pytest.raises(CodecError, match="type set is not supported"):
        codec.encode({"s": {1, 2}})


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_only_registered_types_are_codec_types(name: str) -> None:
    with pytest.raises(TypeError, match="dataclasses or NamedTuple"):
        make_codec(name, (Plain,))


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_a_type_the_receiver_did_not_register_is_not_decoded(name: str) -> None:
    sender = make_codec(name, (Job, Point))
    receiver = make_codec(name, (Point,))

    with pytest.raises(CodecError, match=r"test_codecs\.Job' is not registered"):
        receiver.decode(sender.encode(Job(1, "a", [])))


def msgpack_ext(code: int, payload: Any) -> bytes:
    """msgpack data holding one extension value, built without the codec."""
    msgpack = pytest.importorskip("msgpack")
    packed: bytes = msgpack.packb(msgpack.ExtType(code, msgpack.packb(payload)))
    return packed


def forged_object(name: str, type_name: str) -> bytes:
    """Wire data that claims to hold an instance of ``type_name``."""
    if name == "json":
        marker = {"__zactor__": "obj", "type": type_name, "fields": {"file": "x"}}
        return json.dumps(marker).encode()
    return msgpack_ext(2, [type_name, {"file": "x"}])


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_decoding_never_imports_a_named_class(name: str) -> None:
    """Data naming a real, importable class is refused without importing it."""
    codec = make_codec(name)
    if "tabnanny" in sys.modules:
        pytest.skip("the probe module is already imported")

    with pytest.raises(CodecError, match=r"'tabnanny\.NannyNag' is not registered"):
        codec.decode(forged_object(name, "tabnanny.NannyNag"))

    assert "tabnanny" not in sys.modules


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_pickle_data_is_not_run_by_safe_codecs(name: str) -> None:
    codec = make_codec(name)
    hostile = PickleCodec().encode(Job(1, "a", []))

    with pytest.raises(CodecError, match=f"cannot decode {name} data"):
        codec.decode(hostile)


# -- pickle failures ----------------------------------------------------------------


def test_pickle_names_the_lock_inside_a_message() -> None:
    with pytest.raises(CodecError) as caught:
        PickleCodec().encode(Holder("db", threading.Lock()))

    text = str(caught.value)
    assert text.startswith(f"cannot encode a message of type {__name__}.Holder: ")
    assert "attribute 'lock' of type _thread.lock cannot be pickled" in text
    assert type(caught.value.__cause__) is TypeError


def test_pickle_names_a_lambda_deep_inside_a_message() -> None:
    message = {"tasks": [Task(["ok", lambda: 0])]}

    with pytest.raises(CodecError) as caught:
        PickleCodec().encode(message)

    text = str(caught.value)
    assert "message of type dict" in text
    assert "dict['tasks'][0].steps[1] of type function cannot be pickled" in text


def test_pickle_failure_leaves_the_buffer_list_as_it_was() -> None:
    np = pytest.importorskip("numpy")
    buffers: list[memoryview] = []
    message = [np.zeros(1 << 17), threading.Lock()]

    with pytest.raises(CodecError, match=r"_thread\.lock"):
        PickleCodec().encode(message, buffers)

    assert buffers == []


def test_pickle_refuses_a_message_nested_too_deeply() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]

    with pytest.raises(CodecError, match="nested too deeply"):
        PickleCodec().encode(deep)


# -- exceptions ---------------------------------------------------------------------


def test_pickle_carries_a_picklable_error_as_itself() -> None:
    result = round_trip(PickleCodec(), raised(PicklableError("boom")))

    assert type(result) is PicklableError
    assert result.args == ("boom",)


def test_pickle_carries_an_unpicklable_error_as_remote_error() -> None:
    result = round_trip(PickleCodec(), raised(LockedError("boom")))

    assert type(result) is RemoteError
    assert result.type_name == f"{__name__}.LockedError"
    assert result.text == "boom"
    assert "raise error" in result.remote_traceback


def test_pickle_swaps_an_unpicklable_error_inside_a_reply() -> None:
    result = round_trip(PickleCodec(), ("reply", 7, LockedError("late")))

    assert result[:2] == ("reply", 7)
    assert type(result[2]) is RemoteError
    assert result[2].text == "late"


def test_portable_error_keeps_what_survives_pickling() -> None:
    fine = ValueError("fine")
    locked = LockedError("locked")
    two = TwoArgumentError("a", "b")

    assert portable_error(fine) is fine
    assert type(portable_error(locked)) is RemoteError
    converted = portable_error(two)
    assert isinstance(converted, RemoteError)
    assert converted.type_name == f"{__name__}.TwoArgumentError"
    assert converted.text == "a b"


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_safe_codecs_rebuild_builtin_errors_as_themselves(name: str) -> None:
    codec = make_codec(name)

    result = round_trip(codec, [raised(ValueError("x")), KeyError("k")])

    assert [type(error) for error in result] == [ValueError, KeyError]
    assert [error.args for error in result] == [("x",), ("k",)]


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_safe_codecs_rebuild_zactor_errors_as_themselves(name: str) -> None:
    codec = make_codec(name)
    remote = RemoteError("pkg.Boom", "went wrong", "Traceback ...")

    crashed, forwarded = round_trip(codec, [WorkerCrashed("gone", -9), remote])

    assert type(crashed) is WorkerCrashed
    assert (str(crashed), crashed.exitcode) == ("gone", -9)
    assert type(forwarded) is RemoteError
    assert (forwarded.type_name, forwarded.text) == ("pkg.Boom", "went wrong")
    assert forwarded.remote_traceback == "Traceback ..."


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_safe_codecs_carry_custom_errors_as_remote_error(name: str) -> None:
    codec = make_codec(name)

    result = round_trip(codec, {"error": raised(PicklableError("boom"))})["error"]

    assert type(result) is RemoteError
    assert result.type_name == f"{__name__}.PicklableError"
    assert result.text == "boom"
    assert "Traceback" in result.remote_traceback
    assert "raise error" in result.remote_traceback


# -- actor refs ---------------------------------------------------------------------


@pytest.fixture
def refs() -> Iterator[list[ActorRef]]:
    with ActorSystem() as system:
        yield [system.spawn(Idle), system.spawn(Idle)]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, str]]:
    """Replaces the ref hooks of zactor._remote; records what went on the wire."""
    sent: list[tuple[int, int, str]] = []
    known: dict[tuple[int, int, str], ActorRef] = {}

    def ref_to_wire(ref: ActorRef) -> tuple[int, int, str]:
        key = (3, len(known) + 1, ref.path)
        known[key] = ref
        sent.append(key)
        return key

    def ref_from_wire(node: int, uid: int, path: str) -> ActorRef:
        return known[(node, uid, path)]

    fake = types.ModuleType("zactor._remote")
    monkeypatch.setattr(fake, "ref_to_wire", ref_to_wire, raising=False)
    monkeypatch.setattr(fake, "ref_from_wire", ref_from_wire, raising=False)
    monkeypatch.setitem(sys.modules, "zactor._remote", fake)
    monkeypatch.setattr(zactor, "_remote", fake, raising=False)
    return sent


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_safe_codecs_carry_refs_through_the_remote_hooks(
    name: str, refs: list[ActorRef], wire: list[tuple[int, int, str]]
) -> None:
    codec = make_codec(name)
    first, second = refs

    result = round_trip(codec, {"reply_to": first, "others": [second, first]})

    assert result == {"reply_to": first, "others": [second, first]}
    assert [path for _, _, path in wire] == [first.path, second.path, first.path]


@pytest.mark.parametrize("name", SAFE_CODECS)
def test_a_ref_with_bad_parts_is_a_codec_error(
    name: str, wire: list[tuple[int, int, str]]
) -> None:
    codec = make_codec(name)
    if name == "json":
        data = b'{"__zactor__":"ref","node":"1","uid":2,"path":"/user/a"}'
    else:
        data = msgpack_ext(1, ["1", 2, "/user/a"])

    with pytest.raises(CodecError, match="actor ref"):
        codec.decode(data)


# -- garbage ------------------------------------------------------------------------


def decode_problem(codec: Codec, data: bytes) -> str:
    """The CodecError text for ``data``, or "" when it decodes; nothing else escapes."""
    try:
        codec.decode(data)
    except CodecError as error:
        return str(error)
    return ""


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=256))
def test_random_bytes_decode_to_a_value_or_a_codec_error(
    name: str, blob: bytes
) -> None:
    codec = make_codec(name)

    problem = decode_problem(codec, blob)

    assert problem == "" or problem.startswith(f"cannot decode {name} data: ")


def rich_message() -> Any:
    return {
        "job": Job(1, "x", ["a"], Point(1, 2)),
        "error": ValueError("bad"),
        "custom": PicklableError("odd"),
        "values": [1, 2.5, "three", None, True],
    }


@pytest.mark.parametrize("name", CODECS)
def test_every_truncation_of_a_message_is_a_codec_error(name: str) -> None:
    codec = make_codec(name)
    data = codec.encode(rich_message())
    failures = 0

    for cut in range(len(data)):
        with pytest.raises(CodecError):
            codec.decode(data[:cut])
        failures += 1

    assert failures == len(data)


@pytest.mark.parametrize("name", SAFE_CODECS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_corrupted_messages_decode_to_a_value_or_a_codec_error(
    name: str, data: st.DataObject
) -> None:
    codec = make_codec(name)
    encoded = bytearray(codec.encode(rich_message()))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))

    problem = decode_problem(codec, bytes(encoded))

    assert problem == "" or problem.startswith(f"cannot decode {name} data: ")


# -- choosing codecs ----------------------------------------------------------------


def test_resolve_codec_by_name() -> None:
    pytest.importorskip("msgpack")

    assert type(resolve_codec(None)) is PickleCodec
    assert type(resolve_codec("pickle")) is PickleCodec
    assert type(resolve_codec("msgpack")) is MsgpackCodec
    assert type(resolve_codec("json")) is JsonCodec
    given_codec = JsonCodec()
    assert resolve_codec(given_codec) is given_codec


@pytest.mark.parametrize("spec", ["yaml", "Pickle", 5])
def test_resolve_codec_refuses_other_values_by_name(spec: Any) -> None:
    with pytest.raises(ValueError) as caught:
        resolve_codec(spec)

    text = str(caught.value)
    assert repr(spec) in text
    assert all(name in text for name in ("'pickle'", "'msgpack'", "'json'"))


def test_msgpack_codec_without_msgpack_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)

    with pytest.raises(ImportError, match=r"zactor\[msgpack\]"):
        resolve_codec("msgpack")


def test_codec_ids_and_flags() -> None:
    pytest.importorskip("msgpack")
    known = [PickleCodec(), MsgpackCodec(), JsonCodec()]

    assert [(c.name, c.codec_id, c.runs_code) for c in known] == [
        ("pickle", 1, True),
        ("msgpack", 2, False),
        ("json", 3, False),
    ]
    assert codec_by_id(3, known) is known[2]
    with pytest.raises(CodecError, match="unknown codec id 9"):
        codec_by_id(9, known)


# -- out-of-band buffers ------------------------------------------------------------

MEGABYTE = 1 << 20


def test_large_array_goes_out_of_band() -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(MEGABYTE // 8, dtype=np.float64)
    buffers: list[memoryview] = []
    codec = PickleCodec(oob_threshold=64 * 1024)

    data = codec.encode({"array": array, "label": "big"}, buffers)

    assert len(data) < 10_000
    assert [view.nbytes for view in buffers] == [MEGABYTE]
    result = codec.decode(data, buffers)
    assert result["label"] == "big"
    assert np.array_equal(result["array"], array)


def test_small_arrays_and_no_buffer_list_stay_in_band() -> None:
    np = pytest.importorskip("numpy")
    codec = PickleCodec(oob_threshold=64 * 1024)
    small = np.ones(1024, dtype=np.uint8)
    large = np.ones(MEGABYTE, dtype=np.uint8)
    buffers: list[memoryview] = []

    small_data = codec.encode(small, buffers)
    large_data = codec.encode(large)

    assert buffers == []
    assert len(large_data) > MEGABYTE
    assert np.array_equal(codec.decode(small_data), small)
    assert np.array_equal(codec.decode(large_data), large)


def test_missing_out_of_band_buffers_are_a_codec_error() -> None:
    np = pytest.importorskip("numpy")
    codec = PickleCodec()
    buffers: list[memoryview] = []
    data = codec.encode(np.zeros(MEGABYTE, dtype=np.uint8), buffers)

    with pytest.raises(CodecError, match="out-of-band"):
        codec.decode(data)


# -- shared memory ------------------------------------------------------------------

needs_shm = pytest.mark.skipif(not _shm.AVAILABLE, reason="no /dev/shm here")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A segment prefix of this test alone; its leftovers are swept afterwards."""
    value = f"zactor-test-{os.getpid()}-{secrets.token_hex(4)}-"
    yield value
    _shm.sweep(value)


def segment_exists(name: str) -> bool:
    return os.path.exists(os.path.join(_shm.SHM_DIR, name))


@needs_shm
def test_out_of_band_array_crosses_through_shared_memory(prefix: str) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(MEGABYTE // 8, dtype=np.float64)
    codec = PickleCodec()
    buffers: list[memoryview] = []
    data = codec.encode(array, buffers)

    names = [_shm.export(view, prefix) for view in buffers]
    assert all(name.startswith(prefix) for name in names)
    assert all(segment_exists(name) for name in names)
    mapped = [_shm.attach(name, view.nbytes) for name, view in zip(names, buffers)]
    result = codec.decode(data, mapped)

    assert not any(segment_exists(name) for name in names)
    assert np.array_equal(result, array)
    assert np.shares_memory(result, np.asarray(mapped[0]))


@needs_shm
def test_attach_gives_the_exported_bytes(prefix: str) -> None:
    payload = bytes(range(256)) * 16

    name = _shm.export(memoryview(payload), prefix)
    view = _shm.attach(name, len(payload))

    assert bytes(view) == payload
    assert not segment_exists(name)


@needs_shm
def test_export_copies_multidimensional_views(prefix: str) -> None:
    source = memoryview(bytearray(range(24))).cast("B", (4, 6))

    name = _shm.export(source, prefix)

    assert bytes(_shm.attach(name, 24)) == bytes(range(24))


@needs_shm
def test_export_refuses_empty_buffers_and_foreign_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        _shm.export(memoryview(b""), prefix)
    with pytest.raises(ValueError, match="zactor-"):
        _shm.export(memoryview(b"x"), "other-")
    with pytest.raises(ValueError, match="zactor-"):
        _shm.export(memoryview(b"x"), "zactor-../")


@needs_shm
@pytest.mark.parametrize("name", ["../x", "zactor-a/b", "other-1", "zactor-", ""])
def test_attach_refuses_bad_names(name: str) -> None:
    with pytest.raises(CodecError, match="segment name"):
        _shm.attach(name, 10)


@needs_shm
def test_attach_refuses_a_missing_segment(prefix: str) -> None:
    with pytest.raises(CodecError, match="cannot open"):
        _shm.attach(f"{prefix}missing", 10)


@needs_shm
@pytest.mark.parametrize("size", [99, 101, 0])
def test_attach_refuses_a_wrong_size_and_frees_the_segment(
    prefix: str, size: int
) -> None:
    name = _shm.export(memoryview(bytes(100)), prefix)

    with pytest.raises(CodecError):
        _shm.attach(name, size)

    assert segment_exists(name) == (size == 0)


@needs_shm
def test_remove_unlinks_and_skips_missing(prefix: str) -> None:
    names = [_shm.export(memoryview(b"abc"), prefix) for _ in range(2)]

    _shm.remove([*names, f"{prefix}gone"])

    assert [segment_exists(name) for name in names] == [False, False]
    with pytest.raises(ValueError, match="segment name"):
        _shm.remove(["../etc"])


@needs_shm
def test_sweep_removes_only_segments_with_the_prefix(prefix: str) -> None:
    other = f"{prefix}other-"
    mine = [_shm.export(memoryview(b"leftover"), f"{prefix}mine-") for _ in range(3)]
    kept = _shm.export(memoryview(b"keep"), other)

    removed = _shm.sweep(f"{prefix}mine-")

    assert removed == 3
    assert [segment_exists(name) for name in mine] == [False, False, False]
    assert segment_exists(kept)
    assert _shm.sweep(f"{prefix}mine-") == 0
