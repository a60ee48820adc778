"""Codecs: how messages, replies and errors become bytes between processes.

Three codecs share one interface, :class:`Codec`:

* :class:`PickleCodec` (the default) carries any picklable object, with large
  buffers (numpy arrays, ``bytearray``, ``PickleBuffer``) kept out of band so that
  the transport can move them through shared memory. Decoding may run code, so
  it is only for peers that are trusted.
* :class:`MsgpackCodec` and :class:`JsonCodec` never run code while decoding: they
  build basic values, actor refs, errors and instances of the types registered
  with them, nothing else.

Every failure is a :class:`~zactor._errors.CodecError` whose text names the type
that could not be encoded, or says what in the data could not be decoded.
"""

from __future__ import annotations

import abc
import builtins
import copyreg
import dataclasses
import functools
import io
import json
import pickle
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from . import _errors
from ._errors import CodecError, RemoteError

_PROTOCOL = 5

# How far the search for the innermost unpicklable value goes into a message.
_MAX_SEARCH_DEPTH = 64

# Extension codes of the msgpack codec.
_EXT_REF = 1
_EXT_OBJECT = 2
_EXT_ERROR = 3

# The key that marks a JSON object as something other than a plain dict.
_MARK = "__zactor__"

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

# Subclasses of these cross as the base type.
_BASE_TYPES: tuple[type[Any], ...] = (int, float, str, bytes, list, dict)

_actor_ref_type: type | None = None


class Codec(abc.ABC):
    """Turns a message into bytes and back, the same way in every process.

    ``name`` is what ``resolve_codec`` accepts, ``codec_id`` the byte that names
    the codec on the wire, and ``runs_code`` tells whether decoding may run code
    named by the data (only trusted peers may then send to us).
    """

    name: ClassVar[str]
    codec_id: ClassVar[int]
    runs_code: ClassVar[bool]

    @abc.abstractmethod
    def encode(self, obj: Any, buffers: list[memoryview] | None = None) -> bytes:
        """Encode ``obj``; with a ``buffers`` list, large buffers may go out of band.

        Out-of-band buffers are appended to ``buffers`` and left out of the
        returned bytes; the receiver passes them, in order, to :meth:`decode`.

        Raises:
            CodecError: ``obj`` (or something inside it) cannot be encoded.
        """

    @abc.abstractmethod
    def decode(
        self, data: bytes | memoryview, buffers: Sequence[memoryview] = ()
    ) -> Any:
        """Rebuild the object that :meth:`encode` turned into ``data``.

        Raises:
            CodecError: ``data`` is not something this codec produced.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# -- names and errors ---------------------------------------------------------------


def _type_label(kind: type) -> str:
    """The name of a class as messages show it: ``module.qualname``."""
    if kind.__module__ == "builtins":
        return kind.__qualname__
    module = "__main__" if kind.__module__ == "__mp_main__" else kind.__module__
    return f"{module}.{kind.__qualname__}"


def _error_text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<unprintable {_type_label(type(error))}>"


def _remote_error(error: BaseException) -> RemoteError:
    """The stand-in for an error that cannot cross as itself."""
    if isinstance(error, RemoteError):
        return error
    formatted = "".join(traceback.format_exception(error))
    return RemoteError(_type_label(type(error)), _error_text(error), formatted)


def portable_error(error: BaseException) -> BaseException:
    """``error`` itself if it survives pickling, else a :class:`RemoteError` for it.

    Replies carry errors to other processes: an exception that holds a lock or
    whose constructor does not accept its own ``args`` would break the reply,
    so it travels as its type name, text and formatted traceback instead.
    """
    try:
        pickle.loads(pickle.dumps(error, _PROTOCOL))
    except Exception:
        return _remote_error(error)
    return error


def _reason(error: BaseException) -> str:
    if isinstance(error, CodecError):
        return str(error)
    return f"{type(error).__name__}: {_error_text(error)}"


# -- pickle -------------------------------------------------------------------------


class _PortablePickler(pickle.Pickler):
    """A pickler that swaps errors which cannot cross for :class:`RemoteError`."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            portable = portable_error(obj)
            if portable is not obj:
                return portable.__reduce__()
        return NotImplemented


def _dumps_portable(obj: Any, callback: Callable[[Any], bool] | None) -> bytes:
    stream = io.BytesIO()
    _PortablePickler(stream, _PROTOCOL, buffer_callback=callback).dump(obj)
    return stream.getvalue()


def _pickles(obj: Any) -> BaseException | None:
    """None if ``obj`` pickles, else the error pickling it raised."""
    try:
        _dumps_portable(obj, None)
    except Exception as exc:
        return exc
    return None


def _reduced_parts(obj: Any) -> Iterator[tuple[str, Any, Any]]:
    """The (kind, key, value) parts that pickle saves for an arbitrary object."""
    reducer = copyreg.dispatch_table.get(type(obj))
    try:
        reduced = reducer(obj) if reducer is not None else obj.__reduce_ex__(_PROTOCOL)
    except Exception:
        return
    if not isinstance(reduced, tuple):
        return

    arguments = reduced[1] if len(reduced) > 1 else ()
    for index, argument in enumerate(arguments):
        if not isinstance(argument, type):
            yield "argument", index, argument

    state = reduced[2] if len(reduced) > 2 else None
    if isinstance(state, tuple) and len(state) == 2:
        for part in state:
            if isinstance(part, dict):
                yield from (("attribute", k, v) for k, v in part.items())
    elif isinstance(state, dict):
        yield from (("attribute", k, v) for k, v in state.items())
    elif state is not None:
        yield "state", None, state

    if len(reduced) > 3 and reduced[3] is not None:
        yield from (("item", i, v) for i, v in enumerate(reduced[3]))
    if len(reduced) > 4 and reduced[4] is not None:
        yield from (("item", k, v) for k, v in reduced[4])


def _parts(obj: Any) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield "key", key, key
            yield "item", key, value
    elif isinstance(obj, (list, tuple)):
        yield from (("item", i, v) for i, v in enumerate(obj))
    elif isinstance(obj, (set, frozenset)):
        yield from (("element", None, v) for v in obj)
    else:
        yield from _reduced_parts(obj)


def _innermost_failure(obj: Any) -> tuple[list[tuple[str, Any]], Any]:
    """The path to the deepest value that fails to pickle on its own, and it."""
    path: list[tuple[str, Any]] = []
    seen = {id(obj)}
    current = obj
    while len(path) < _MAX_SEARCH_DEPTH:
        for kind, key, value in _parts(current):
            if id(value) in seen or _pickles(value) is None:
                continue
            seen.add(id(value))
            path.append((kind, key))
            current = value
            break
        else:
            break
    return path, current


def _render_path(root: str, path: list[tuple[str, Any]]) -> str:
    text = root
    for kind, key in path:
        if kind == "attribute":
            text += f".{key}"
        elif kind == "item":
            text += f"[{key!r}]"
        elif kind == "key":
            text += f"<key {key!r}>"
        elif kind == "argument":
            text += f"<argument {key}>"
        else:
            text += f"<{kind}>"
    return text


def _pickle_failure(obj: Any, error: BaseException) -> CodecError:
    """A CodecError that names the innermost value of ``obj`` that cannot pickle."""
    top = type(obj)
    prefix = f"cannot encode a message of type {_type_label(top)}"
    if isinstance(error, RecursionError):
        return CodecError(
            f"{prefix}: it is nested too deeply (or is a cycle) to pickle"
        )

    path, culprit = _innermost_failure(obj)
    if not path:
        return CodecError(f"{prefix}: {_reason(error)}")

    inner_error = _pickles(culprit) or error
    inner = _type_label(type(culprit))
    if len(path) == 1 and path[0][0] == "attribute":
        where = f"attribute {path[0][1]!r}"
    else:
        where = _render_path(top.__qualname__, path)
    return CodecError(
        f"{prefix}: {where} of type {inner} cannot be pickled: {_reason(inner_error)}"
    )


def _out_of_band(buffers: list[memoryview], threshold: int) -> Callable[[Any], bool]:
    """A ``buffer_callback`` that takes buffers of ``threshold`` bytes or more."""

    def keep_in_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            view = buffer.raw()
        except BufferError:
            return True  # not contiguous: pickle copies it into the stream
        if view.nbytes < threshold:
            return True
        buffers.append(view)
        return False

    return keep_in_band


class PickleCodec(Codec):
    """Pickle protocol 5: any picklable object, large buffers out of band.

    With a ``buffers`` list, every pickled buffer of ``oob_threshold`` bytes or
    more (a numpy array's data, a ``PickleBuffer``) is left out of the bytes and
    appended to the list as a contiguous memoryview; smaller ones stay in band.
    An error that cannot be pickled (it holds a lock, or its constructor rejects
    its own ``args``) travels as a :class:`~zactor._errors.RemoteError`.

    Decoding runs whatever code the data names: use it only between trusted
    processes.
    """

    name: ClassVar[str] = "pickle"
    codec_id: ClassVar[int] = 1
    runs_code: ClassVar[bool] = True

    def __init__(self, oob_threshold: int = 64 * 1024) -> None:
        if oob_threshold < 0:
            raise ValueError(f"oob_threshold must be >= 0, got {oob_threshold}")
        self.oob_threshold = oob_threshold

    def encode(self, obj: Any, buffers: list[memoryview] | None = None) -> bytes:
        if isinstance(obj, BaseException):
            obj = portable_error(obj)
        if buffers is None:
            try:
                return pickle.dumps(obj, _PROTOCOL)
            except Exception as exc:
                return self._encode_portably(obj, None, exc)

        mark = len(buffers)
        callback = _out_of_band(buffers, self.oob_threshold)
        try:
            return pickle.dumps(obj, _PROTOCOL, buffer_callback=callback)
        except Exception as exc:
            del buffers[mark:]
            return self._encode_portably(obj, buffers, exc)

    def _encode_portably(
        self, obj: Any, buffers: list[memoryview] | None, error: BaseException
    ) -> bytes:
        """Retry with errors swapped for RemoteError, then explain the failure."""
        if isinstance(error, RecursionError):
            raise _pickle_failure(obj, error) from error

        callback = None
        mark = 0
        if buffers is not None:
            mark = len(buffers)
            callback = _out_of_band(buffers, self.oob_threshold)
        try:
            return _dumps_portable(obj, callback)
        except Exception:
            if buffers is not None:
                del buffers[mark:]
        raise _pickle_failure(obj, error) from error

    def decode(
        self, data: bytes | memoryview, buffers: Sequence[memoryview] = ()
    ) -> Any:
        try:
            return pickle.loads(data, buffers=buffers)
        except Exception as exc:
            raise CodecError(f"cannot decode pickle data: {_reason(exc)}") from exc

    def __repr__(self) -> str:
        return f"<PickleCodec oob_threshold={self.oob_threshold}>"


# -- registered types ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    """How one registered class crosses: its wire name and its fields."""

    name: str
    cls: type
    fields: tuple[str, ...]
    is_tuple: bool

    def fields_of(self, obj: Any) -> Any:
        """The fields of ``obj``: a list for a NamedTuple, a dict for a dataclass."""
        if self.is_tuple:
            return list(obj)
        return {name: getattr(obj, name) for name in self.fields}

    def build(self, fields: Any) -> Any:
        """A new instance from what :meth:`fields_of` gave on the other side."""
        if self.is_tuple:
            if not isinstance(fields, list):
                raise CodecError(f"the fields of {self.name} must be a list")
            return self.cls(*fields)
        if not isinstance(fields, dict):
            raise CodecError(f"the fields of {self.name} must be a map")
        return self.cls(**fields)


def _entry(cls: type) -> _Entry:
    # A worker started by spawn or forkserver imports the program's main module as
    # __mp_main__: its classes must have the names they have in the program.
    module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
    name = f"{module}.{cls.__qualname__}"
    if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return _Entry(name, cls, tuple(cls._fields), is_tuple=True)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        return _Entry(name, cls, names, is_tuple=False)
    raise TypeError(
        f"codec types must be dataclasses or NamedTuple classes, got {cls!r}"
    )


class _Registry:
    """The classes a safe codec may build, by class and by wire name."""

    def __init__(self, types: Iterable[type], codec: str) -> None:
        self.codec = codec
        self.by_class: dict[type, _Entry] = {}
        self.by_name: dict[str, _Entry] = {}
        for cls in types:
            entry = _entry(cls)
            known = self.by_name.get(entry.name)
            if known is not None and known.cls is not cls:
                raise ValueError(f"two codec types share the name {entry.name}")
            self.by_class[cls] = entry
            self.by_name[entry.name] = entry

    def lookup(self, name: Any) -> _Entry:
        """The entry for a wire name; CodecError if it is not registered."""
        entry = self.by_name.get(name) if isinstance(name, str) else None
        if entry is None:
            raise CodecError(
                f"type {name!r} is not registered with the {self.codec} codec, "
                "so it is not decoded"
            )
        return entry

    def unregistered(self, kind: type) -> str:
        """The explanation for an object whose class was not registered."""
        label = _type_label(kind)
        if kind.__module__ == "builtins":
            return (
                f"type {label} is not supported by the {self.codec} codec, which "
                "carries basic values, actor refs, errors and registered "
                "dataclasses or NamedTuples"
            )
        short = kind.__qualname__
        codec_class = "MsgpackCodec" if self.codec == "msgpack" else "JsonCodec"
        try:
            _entry(kind)
        except TypeError:
            hint = "make it a dataclass or NamedTuple and "
        else:
            hint = ""
        return (
            f"type {label} is not registered; {hint}register it with "
            f"{codec_class}(types=[{short}]) or "
            f"ActorSystem(..., codec_types=[{short}])"
        )


# -- refs and errors for the safe codecs --------------------------------------------


def _is_ref(obj: object) -> bool:
    global _actor_ref_type
    if _actor_ref_type is None:
        from ._ref import ActorRef

        _actor_ref_type = ActorRef
    return isinstance(obj, _actor_ref_type)


def _ref_to_wire(ref: Any) -> list[Any]:
    from . import _remote

    node, uid, path = _remote.ref_to_wire(ref)
    return [node, uid, path]


def _ref_from_wire(node: Any, uid: Any, path: Any) -> Any:
    if type(node) is not int or type(uid) is not int or type(path) is not str:
        raise CodecError("an actor ref must be (node: int, uid: int, path: str)")
    from . import _remote

    return _remote.ref_from_wire(node, uid, path)


def _is_basic(value: object) -> bool:
    return type(value) in _JSON_SCALARS


def _rebuildable(type_name: str) -> type | None:
    """The class a safe codec may rebuild an error as, if any.

    Builtin exceptions and zactor's own errors run no user code when constructed;
    anything else arrives as a RemoteError.
    """
    if "." not in type_name:
        found = getattr(builtins, type_name, None)
        if isinstance(found, type) and issubclass(found, Exception):
            return found
        return None
    module, _, name = type_name.rpartition(".")
    if module == _errors.__name__:
        found = getattr(_errors, name, None)
        if isinstance(found, type) and issubclass(found, _errors.ZactorError):
            return found
    return None


def _error_fields(error: BaseException) -> list[Any]:
    """``[type name, text, traceback, args or None]`` for an error marker."""
    type_name = _type_label(type(error))
    arguments: list[Any] | None = None
    if _rebuildable(type_name) is not None:
        reduced = error.__reduce__()
        if isinstance(reduced, tuple) and len(reduced) > 1:
            candidate = reduced[1]
            if isinstance(candidate, tuple) and all(map(_is_basic, candidate)):
                arguments = list(candidate)

    formatted = "".join(traceback.format_exception(error))
    return [type_name, _error_text(error), formatted, arguments]


def _error_from_fields(fields: Any) -> BaseException:
    """The error an error marker describes; runs no code outside builtins/zactor."""
    if not isinstance(fields, list) or len(fields) != 4:
        raise CodecError("an error must be [type name, text, traceback, args]")
    type_name, text, formatted, arguments = fields
    if not (type(type_name) is str and type(text) is str and type(formatted) is str):
        raise CodecError("an error's type name, text and traceback must be strings")

    cls = _rebuildable(type_name)
    if cls is not None and isinstance(arguments, list):
        try:
            rebuilt: BaseException = cls(*arguments)
        except Exception:
            pass
        else:
            return rebuilt
    return RemoteError(type_name, text, formatted)


class _Unencodable(Exception):
    """Raised inside a codec hook: the text explains what cannot be encoded."""


def _encode_failure(codec: str, obj: Any, error: BaseException) -> CodecError:
    detail = str(error) if isinstance(error, _Unencodable) else _reason(error)
    if isinstance(error, RecursionError):
        detail = "it is nested too deeply (or is a cycle)"
    return CodecError(
        f"cannot encode a message of type {_type_label(type(obj))} "
        f"with {codec}: {detail}"
    )


def _decode_failure(codec: str, error: BaseException) -> CodecError:
    return CodecError(f"cannot decode {codec} data: {_reason(error)}")


# -- msgpack ------------------------------------------------------------------------


class _Packers(threading.local):
    """Idle packers of one thread; hooks pack nested values while one is busy."""

    def __init__(self) -> None:
        self.idle: list[Any] = []


class MsgpackCodec(Codec):
    """msgpack: basic values, bytes, actor refs, errors and registered types.

    Supported: None, bool, int (64-bit), float, str, bytes, list, dict (keys may be
    None, bool, int, float, str or bytes), actor refs, exceptions, and instances
    of the dataclasses and NamedTuple classes given as ``types``. Tuples arrive as
    lists; subclasses of int, float, str, bytes, list and dict arrive as the base
    type. A builtin exception or a zactor error arrives as itself, any other
    exception as a :class:`~zactor._errors.RemoteError`. Decoding never imports
    or calls anything but the registered classes' constructors.
    """

    name: ClassVar[str] = "msgpack"
    codec_id: ClassVar[int] = 2
    runs_code: ClassVar[bool] = False

    def __init__(self, types: Iterable[type] = ()) -> None:
        try:
            import msgpack  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ImportError(
                "the msgpack codec needs the msgpack package: "
                "install `zactor[msgpack]` (or `pip install msgpack`)"
            ) from exc

        self._msgpack: Any = msgpack
        self._registry = _Registry(types, "msgpack")
        self._packers = _Packers()
        # timestamp=2: msgpack's own timestamp extension decodes to a plain int.
        self._unpackb: Callable[[Any], Any] = functools.partial(
            msgpack.unpackb,
            ext_hook=self._ext_hook,
            raw=False,
            strict_map_key=False,
            timestamp=2,
        )

    def _pack(self, value: Any) -> bytes:
        idle = self._packers.idle
        packer = idle.pop() if idle else self._new_packer()
        data: bytes = packer.pack(value)
        idle.append(packer)  # a packer that raised is dropped, never reused
        return data

    def _new_packer(self) -> Any:
        return self._msgpack.Packer(
            default=self._default, use_bin_type=True, strict_types=True, autoreset=True
        )

    def _default(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is tuple:
            return list(obj)
        entry = self._registry.by_class.get(kind)
        if entry is not None:
            payload = self._pack([entry.name, entry.fields_of(obj)])
            return self._msgpack.ExtType(_EXT_OBJECT, payload)
        if _is_ref(obj):
            return self._msgpack.ExtType(_EXT_REF, self._pack(_ref_to_wire(obj)))
        if isinstance(obj, BaseException):
            return self._msgpack.ExtType(_EXT_ERROR, self._pack(_error_fields(obj)))
        if kind is int:
            raise _Unencodable(f"the int {obj} does not fit in 64 bits")
        return self._base_value(obj)

    def _base_value(self, obj: Any) -> Any:
        if isinstance(obj, tuple):
            raise _Unencodable(self._registry.unregistered(type(obj)))
        for base in _BASE_TYPES:
            if isinstance(obj, base):
                return base(obj)
        raise _Unencodable(self._registry.unregistered(type(obj)))

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_OBJECT:
            fields = self._unpackb(data)
            if not isinstance(fields, list) or len(fields) != 2:
                raise CodecError("bad object extension")
            return self._registry.lookup(fields[0]).build(fields[1])
        if code == _EXT_REF:
            parts = self._unpackb(data)
            if not isinstance(parts, list) or len(parts) != 3:
                raise CodecError("bad actor ref extension")
            return _ref_from_wire(*parts)
        if code == _EXT_ERROR:
            return _error_from_fields(self._unpackb(data))
        raise CodecError(f"unknown extension code {code}")

    def encode(self, obj: Any, buffers: list[memoryview] | None = None) -> bytes:
        """Encode ``obj``; msgpack keeps everything in band, so ``buffers`` stays."""
        try:
            return self._pack(obj)
        except Exception as exc:
            raise _encode_failure("msgpack", obj, exc) from exc

    def decode(
        self, data: bytes | memoryview, buffers: Sequence[memoryview] = ()
    ) -> Any:
        try:
            return self._unpackb(data)
        except Exception as exc:
            raise _decode_failure("msgpack", exc) from exc


# -- JSON ---------------------------------------------------------------------------


class JsonCodec(Codec):
    """JSON (UTF-8): basic values, actor refs, errors and registered types.

    Supported: None, bool, int, float (NaN and infinities as Python's json writes
    them), str, list, dict with str keys, actor refs, exceptions, and instances of
    the dataclasses and NamedTuple classes given as ``types``. Tuples arrive as
    lists; subclasses of int, float, str, list and dict arrive as the base type.
    bytes cannot be carried: use msgpack or pickle for them. A builtin exception
    or a zactor error arrives as itself, any other exception as a
    :class:`~zactor._errors.RemoteError`. Objects with the key ``"__zactor__"``
    are reserved for refs, errors and registered types; plain dicts that use that
    key are escaped, so they round-trip. Decoding never imports or calls anything
    but the registered classes' constructors.
    """

    name: ClassVar[str] = "json"
    codec_id: ClassVar[int] = 3
    runs_code: ClassVar[bool] = False

    def __init__(self, types: Iterable[type] = ()) -> None:
        self._registry = _Registry(types, "json")
        self._encoder = json.JSONEncoder(separators=(",", ":"), default=self._default)
        self._decoder = json.JSONDecoder(object_hook=self._object_hook)

    def _prepare(self, value: Any) -> Any:
        """``value`` with what json would take for plain containers made explicit.

        json writes any tuple as a list and turns int keys into strings; this walk
        marks registered NamedTuples, refuses other tuple subclasses and keys that
        are not str, and escapes dicts that use the reserved key.
        """
        kind = type(value)
        if kind in _JSON_SCALARS:
            return value
        if kind is list or kind is tuple:
            return [v if type(v) in _JSON_SCALARS else self._prepare(v) for v in value]
        if kind is dict:
            return self._prepare_dict(value)

        entry = self._registry.by_class.get(kind)
        if entry is not None and entry.is_tuple:
            fields = self._prepare(entry.fields_of(value))
            return {_MARK: "obj", "type": entry.name, "fields": fields}
        if isinstance(value, tuple):
            raise _Unencodable(self._registry.unregistered(kind))
        if isinstance(value, list):
            return self._prepare(list(value))
        if isinstance(value, dict):
            return self._prepare_dict(value)
        return value

    def _prepare_dict(self, value: dict[Any, Any]) -> dict[str, Any]:
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unencodable(
                    f"JSON object keys must be str, got a key of type "
                    f"{_type_label(type(key))}"
                )
            result[key] = item if type(item) in _JSON_SCALARS else self._prepare(item)
        if _MARK in result:
            pairs = [[key, item] for key, item in result.items()]
            return {_MARK: "dict", "pairs": pairs}
        return result

    def _default(self, obj: Any) -> Any:
        entry = self._registry.by_class.get(type(obj))
        if entry is not None:
            fields = self._prepare(entry.fields_of(obj))
            return {_MARK: "obj", "type": entry.name, "fields": fields}
        if _is_ref(obj):
            node, uid, path = _ref_to_wire(obj)
            return {_MARK: "ref", "node": node, "uid": uid, "path": path}
        if isinstance(obj, BaseException):
            type_name, text, formatted, arguments = _error_fields(obj)
            return {
                _MARK: "error",
                "type": type_name,
                "text": text,
                "traceback": formatted,
                "args": arguments,
            }
        if isinstance(obj, (bytes, bytearray, memoryview)):
            raise _Unencodable(
                f"JSON cannot carry bytes (a {_type_label(type(obj))} value); "
                "use the msgpack or pickle codec for bytes"
            )
        raise _Unencodable(self._registry.unregistered(type(obj)))

    def _object_hook(self, obj: dict[str, Any]) -> Any:
        if _MARK not in obj:
            return obj
        kind = obj[_MARK]
        if kind == "obj":
            return self._registry.lookup(obj["type"]).build(obj["fields"])
        if kind == "ref":
            return _ref_from_wire(obj["node"], obj["uid"], obj["path"])
        if kind == "error":
            fields = [obj["type"], obj["text"], obj["traceback"], obj["args"]]
            return _error_from_fields(fields)
        if kind == "dict":
            return _escaped_dict(obj["pairs"])
        raise CodecError(f"unknown {_MARK} kind {kind!r}")

    def encode(self, obj: Any, buffers: list[memoryview] | None = None) -> bytes:
        """Encode ``obj``; JSON keeps everything in band, so ``buffers`` stays."""
        try:
            text: str = self._encoder.encode(self._prepare(obj))
        except Exception as exc:
            raise _encode_failure("json", obj, exc) from exc
        return text.encode("utf-8")

    def decode(
        self, data: bytes | memoryview, buffers: Sequence[memoryview] = ()
    ) -> Any:
        try:
            return self._decoder.decode(str(data, "utf-8"))
        except Exception as exc:
            raise _decode_failure("json", exc) from exc


def _escaped_dict(pairs: Any) -> dict[str, Any]:
    if not isinstance(pairs, list):
        raise CodecError("an escaped dict needs a list of pairs")
    result = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is str):
            raise CodecError("bad pair in an escaped dict")
        result[pair[0]] = pair[1]
    return result


# -- choosing a codec ---------------------------------------------------------------

_NAMES = ("pickle", "msgpack", "json")


def resolve_codec(spec: str | Codec | None, types: Iterable[type] = ()) -> Codec:
    """The codec that ``spec`` names: None or ``"pickle"``, ``"msgpack"``, ``"json"``.

    A :class:`Codec` instance is returned as it is. ``types`` are the classes the
    msgpack and JSON codecs may build (pickle needs no list).

    Raises:
        ValueError: ``spec`` is none of the accepted names.
        ImportError: ``"msgpack"`` without the msgpack package installed.
    """
    if isinstance(spec, Codec):
        return spec
    if spec is None or spec == "pickle":
        return PickleCodec()
    if spec == "msgpack":
        return MsgpackCodec(types)
    if spec == "json":
        return JsonCodec(types)
    accepted = ", ".join(repr(name) for name in _NAMES)
    raise ValueError(
        f"unknown codec {spec!r}: use one of {accepted}, None, or a Codec instance"
    )


def codec_by_id(codec_id: int, known: Iterable[Codec]) -> Codec:
    """The codec among ``known`` whose wire byte is ``codec_id``.

    Raises:
        CodecError: none of ``known`` has that id.
    """
    candidates = list(known)
    for codec in candidates:
        if codec.codec_id == codec_id:
            return codec
    names = ", ".join(f"{c.name}={c.codec_id}" for c in candidates) or "none"
    raise CodecError(f"unknown codec id {codec_id!r} (known: {names})")
