"""The typed payload codec: Python values <-> bytes, with no pickle anywhere.

A payload is ``MAGIC | u32 header length | JSON header | raw buffers``. The JSON header holds
the value tree; numpy arrays and ``bytes`` sit in the raw buffers, referenced by index with
their dtype and shape, so a 40 MB model costs one memcpy and never a per-element conversion.
Only numeric dtypes decode; anything malformed, truncated or hostile raises
:class:`~rengo.core.errors.CodecError` (and nothing else) and never executes code. A raw
buffer decodes once: each reference must name its own, so what a payload decodes to is no
larger than the payload (a buffer named a thousand times would otherwise be copied a
thousand times).

Supported values: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``,
``tuple``, ``dict`` with ``str`` keys, ``numpy.ndarray`` (numeric), numpy scalars, and any
type registered with :func:`register_type` (messages, Paillier ciphertexts, keys...).

A ``dict`` whose values are all bytes (keys, sealed shares, signatures by client name: the
commonest node of protocol messages) travels as one node listing its keys over consecutive
raw buffers, not one tagged node per value.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import CodecError

MAGIC = b"RGO1"
_HEADER_LEN = struct.Struct("<I")
_ALLOWED_DTYPE_KINDS = frozenset("biufc")
_MAX_DEPTH = 64
_MAX_HEADER = 64 * 1024 * 1024
_MAX_DIMENSIONS = 32
_MAX_EXTENT = 1 << 48  # one dimension; numpy refuses more than about 2**63 elements
_FREE_CONTAINERS = 100_000  # lists and maps any header may hold, however short
_BYTES_PER_CONTAINER = 8  # past that, a header holds at most one per this many bytes
_WIRE_DTYPE = re.compile(r"[<>|=]?[biufc][0-9]{1,2}")  # what the encoder writes: "<f8", "|b1"
# errors a hostile header can provoke in numpy or in a registered type's from_tree
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    ArithmeticError,
    SyntaxError,
)
_BYTES_LIKE = (bytes, bytearray, memoryview)
_HEADER_JSON = json.JSONEncoder(separators=(",", ":"))
"""Made once, with ``json.dumps``' other defaults (the same bytes): ``json.dumps`` with a
non-default option builds an encoder per call, and a SecAgg+ round writes a few hundred
small headers."""


@dataclass(frozen=True)
class _Registered:
    name: str
    cls: type
    to_tree: Callable[[Any], Any]
    from_tree: Callable[[Any], Any]


_BY_NAME: dict[str, _Registered] = {}
_BY_CLASS: dict[type, _Registered] = {}


def register_type(
    name: str, cls: type, to_tree: Callable[[Any], Any], from_tree: Callable[[Any], Any]
) -> None:
    """Teach the codec a new payload type.

    ``to_tree(obj)`` must return a value the codec already supports; ``from_tree(tree)`` must
    rebuild the object and validate it (raise ``ValueError``/``TypeError`` on bad input, which
    the codec turns into :class:`CodecError`). Names are global: one name, one class.

    Parameters
    ----------
    name
        The type's name on the wire (global: one name, one class).
    cls
        The class whose instances ``to_tree`` encodes.
    to_tree
        ``obj -> tree``: a value the codec already supports.
    from_tree
        ``tree -> obj``: rebuilds and validates an instance.

    Raises
    ------
    ValueError
        If ``name`` is already registered for another class.
    """
    existing = _BY_NAME.get(name)
    if existing is not None and existing.cls is not cls:
        raise ValueError(f"payload type name {name!r} already registered for {existing.cls}")
    entry = _Registered(name, cls, to_tree, from_tree)
    _BY_NAME[name] = entry
    _BY_CLASS[cls] = entry


class _Encoder:
    def __init__(self) -> None:
        self.buffers: list[memoryview] = []

    def _buffer(self, data: memoryview) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def tree(self, value: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise CodecError("value nested too deeply to encode")
        # The commonest nodes first (protocol messages are trees of dicts, lists, strings and
        # short bytes): one type lookup instead of the chain of isinstance tests below.
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            return value
        if kind is bytes:
            return {"$t": "bytes", "b": self._buffer(memoryview(value))}
        if isinstance(value, dict):
            for k in value:
                if not isinstance(k, str):
                    raise CodecError(f"dict keys must be str, got {type(k).__name__}")
            if value and all(isinstance(v, _BYTES_LIKE) for v in value.values()):
                first = len(self.buffers)
                for v in value.values():
                    self._buffer(memoryview(v).cast("B"))
                return {"$t": "bmap", "k": list(value), "b": first}
            return {"$t": "map", "v": {k: self.tree(v, depth + 1) for k, v in value.items()}}
        if isinstance(value, list):
            return [self.tree(v, depth + 1) for v in value]
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return {"$t": "float", "v": repr(value)}
            return value
        if isinstance(value, np.ndarray):
            return self._array(value)
        if isinstance(value, np.generic):
            return self.tree(value.item(), depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"$t": "bytes", "b": self._buffer(memoryview(value).cast("B"))}
        if isinstance(value, tuple):
            return {"$t": "tuple", "v": [self.tree(v, depth + 1) for v in value]}
        entry = _BY_CLASS.get(type(value))
        if entry is None:
            raise CodecError(f"cannot encode values of type {type(value).__qualname__}")
        return {"$t": "ext", "n": entry.name, "v": self.tree(entry.to_tree(value), depth + 1)}

    def _array(self, array: np.ndarray) -> dict[str, Any]:
        if array.dtype.kind not in _ALLOWED_DTYPE_KINDS:
            raise CodecError(f"cannot encode arrays of dtype {array.dtype}")
        # ascontiguousarray makes 0-d arrays 1-d; keep the caller's shape on the wire.
        contiguous = np.ascontiguousarray(array).reshape(array.shape)
        dtype = contiguous.dtype.newbyteorder("<") if contiguous.dtype.byteorder == ">" else None
        if dtype is not None:
            contiguous = contiguous.astype(dtype)
        raw: memoryview = (
            memoryview(contiguous.data).cast("B") if contiguous.size else memoryview(b"")
        )
        return {
            "$t": "nd",
            "b": self._buffer(raw),
            "dtype": contiguous.dtype.str,
            "shape": list(array.shape),
        }


def encode_chunks(value: Any) -> list[memoryview | bytes]:
    """Encode ``value`` as a list of byte chunks (header first, then raw buffers, no copies).

    Parameters
    ----------
    value
        A supported value (see the module docstring).

    Returns
    -------
    list[memoryview | bytes]
        The magic, header length and JSON header as one chunk, then each raw buffer (views
        of the arrays' own memory); joined, they are :func:`encode`'s bytes.

    Raises
    ------
    CodecError
        If ``value`` holds a type the codec does not support (see the module docstring), a
        dict key that is not a string, an array of a non-numeric dtype, or nests too
        deeply.
    """
    enc = _Encoder()
    tree = enc.tree(value)
    header = _HEADER_JSON.encode({"tree": tree, "bufs": [b.nbytes for b in enc.buffers]}).encode()
    return [MAGIC + _HEADER_LEN.pack(len(header)) + header, *enc.buffers]


def encode(value: Any) -> bytes:
    """Encode ``value`` to one ``bytes`` object.

    Parameters
    ----------
    value
        A supported value (see the module docstring).

    Returns
    -------
    bytes
        The payload, for :func:`decode`.

    Raises
    ------
    CodecError
        If ``value`` holds a type the codec does not support (see the module docstring), a
        dict key that is not a string, an array of a non-numeric dtype, or nests too
        deeply.
    """
    return b"".join(encode_chunks(value))


def unencodable_part(parts: Iterable[tuple[str, Any]]) -> tuple[str, Any] | None:
    """The first ``(where, value)`` of ``parts`` that :func:`encode` refuses, or None: for
    naming, after a whole message failed to encode, the part that made it fail."""
    for where, value in parts:
        try:
            encode(value)
        except CodecError:
            return where, value
    return None


class _Decoder:
    def __init__(self, buffers: list[memoryview], writable: bool) -> None:
        self.buffers = buffers
        self.writable = writable
        self.used = bytearray(len(buffers))

    def _buf(self, index: Any) -> memoryview:
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < len(self.buffers)
        ):
            raise CodecError(f"bad buffer reference {index!r}")
        if self.used[index]:
            raise CodecError(f"buffer {index} referenced twice")
        self.used[index] = 1
        return self.buffers[index]

    def value(self, node: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise CodecError("payload nested too deeply")
        if type(node) is not dict:  # parsed JSON has exact types; tagged objects are commonest
            if node is None or isinstance(node, (bool, int, float, str)):
                return node
            if isinstance(node, list):
                return [self.value(v, depth + 1) for v in node]
            raise CodecError(f"unexpected node {type(node).__name__}")
        tag = node.get("$t")
        if tag == "bytes":
            return bytes(self._buf(node.get("b")))
        if tag == "map":
            items = node.get("v")
            if not isinstance(items, dict):
                raise CodecError("map node without an object")
            return {k: self.value(v, depth + 1) for k, v in items.items()}
        if tag == "bmap":
            return self._bytes_map(node)
        if tag == "nd":
            return self._array(node)
        if tag == "tuple":
            items = node.get("v")
            if not isinstance(items, list):
                raise CodecError("tuple node without a list")
            return tuple(self.value(v, depth + 1) for v in items)
        if tag == "float":
            text = node.get("v")
            if text not in ("nan", "inf", "-inf"):
                raise CodecError(f"bad special float {text!r}")
            return float(text)
        if tag == "ext":
            name = node.get("n")
            entry = _BY_NAME.get(name) if isinstance(name, str) else None
            if entry is None:
                raise CodecError(f"unknown payload type {str(name)[:80]!r}")
            inner = self.value(node.get("v"), depth + 1)
            try:
                return entry.from_tree(inner)
            except CodecError:
                raise
            except _DECODE_ERRORS as exc:
                raise CodecError(f"invalid {entry.name} payload: {exc}") from exc
        raise CodecError(f"unknown node tag {tag!r}")

    def _bytes_map(self, node: dict[str, Any]) -> dict[str, bytes]:
        keys, first = node.get("k"), node.get("b")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise CodecError("bytes map node without a list of names")
        if len(set(keys)) != len(keys):
            raise CodecError("bytes map node with a repeated name")
        if not isinstance(first, int) or isinstance(first, bool):
            raise CodecError(f"bad buffer reference {first!r}")
        return {k: bytes(self._buf(first + i)) for i, k in enumerate(keys)}

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        buf = self._buf(node.get("b"))
        shape = node.get("shape")
        text = node.get("dtype")
        # checked before numpy parses it: numpy's parser of comma-separated dtype strings
        # runs Python's, slowly and with its own errors, on whatever the peer wrote
        if not isinstance(text, str) or not _WIRE_DTYPE.fullmatch(text):
            raise CodecError(f"bad dtype {str(text)[:40]!r}")
        try:
            dtype = np.dtype(text)
        except (TypeError, ValueError) as exc:
            raise CodecError(f"bad dtype {text!r}") from exc
        if dtype.kind not in _ALLOWED_DTYPE_KINDS or dtype.fields is not None or dtype.subdtype:
            raise CodecError(f"dtype {dtype} is not allowed on the wire")
        if (
            not isinstance(shape, list)
            or len(shape) > _MAX_DIMENSIONS
            or not all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= _MAX_EXTENT
                for s in shape
            )
        ):
            raise CodecError(f"bad shape {str(shape)[:80]}")
        count = 1
        for s in shape:
            count *= s
        if count * dtype.itemsize != buf.nbytes:
            raise CodecError(
                f"an array of {len(shape)} dimensions and dtype {dtype} does not fill its "
                f"buffer of {buf.nbytes} bytes"
            )
        array = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
        return array if self.writable else array.copy()


def decode_owned(data: bytes | bytearray | memoryview) -> Any:
    """Decode like :func:`decode`, into values that share no memory with ``data``: each
    array is copied out of it, whatever buffer ``data`` is (a writable one too).

    What ``decode(bytearray(data))`` gave, without copying the whole payload into a
    ``bytearray`` first: the arrays are copied out of ``data`` once instead of the payload
    being copied and the arrays made views of the copy (a 95 MiB model: about 28 ms instead
    of 112 ms a message; the peak memory is the same). A kept array holds only its own
    memory, never the whole message it came in.

    Parameters
    ----------
    data
        A payload made by :func:`encode`.

    Returns
    -------
    Any
        The value that was encoded, its arrays writable and owning their memory.

    Raises
    ------
    CodecError
        As :func:`decode`.
    """
    return decode(memoryview(data).toreadonly())


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode bytes made by :func:`encode`. Arrays are writable: they share memory with a
    writable input (``bytearray``) and are copied out of a read-only one (``bytes``).

    Parameters
    ----------
    data
        A payload made by :func:`encode` (or the joined chunks of :func:`encode_chunks`).

    Returns
    -------
    Any
        The value that was encoded (tuples come back as tuples, registered types rebuilt).

    Raises
    ------
    CodecError
        If the payload is malformed, truncated, hostile (a header too large or too dense, a
        buffer referenced twice) or names an unknown type or a non-numeric dtype; nothing
        else is raised.
    """
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
    if view.nbytes < len(MAGIC) + _HEADER_LEN.size or bytes(view[: len(MAGIC)]) != MAGIC:
        raise CodecError("not a rengo payload (bad magic or too short)")
    (header_len,) = _HEADER_LEN.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _HEADER_LEN.size
    if header_len > _MAX_HEADER or start + header_len > view.nbytes:
        raise CodecError("truncated payload header")
    text = bytes(view[start : start + header_len])
    # An empty list or dict is 2-3 bytes of JSON and 60-70 of Python: a header of nothing
    # else decoded to 21x its size (measured: 1.2 MB -> 26 MB). Past 100,000 lists and
    # maps, at most one per 8 header bytes (protocol messages hold one per 14-30: a bytes
    # node alone is {"$t":"bytes","b":N}): 7-9x then. Short strings remain (~12x for
    # two-character ones), as any JSON does.
    containers = text.count(b"[") + text.count(b"{")
    if containers > max(_FREE_CONTAINERS, header_len // _BYTES_PER_CONTAINER):
        raise CodecError(
            f"payload header of {header_len} bytes holds {containers} lists and maps: past "
            f"{_FREE_CONTAINERS}, at most one per {_BYTES_PER_CONTAINER} bytes decode"
        )
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise CodecError(f"malformed payload header: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("bufs"), list):
        raise CodecError("malformed payload header")
    offset = start + header_len
    buffers: list[memoryview] = []
    for size in header["bufs"]:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CodecError(f"bad buffer size {size!r}")
        if offset + size > view.nbytes:
            raise CodecError("truncated payload buffers")
        buffers.append(view[offset : offset + size])
        offset += size
    if offset != view.nbytes:
        raise CodecError(f"{view.nbytes - offset} trailing bytes after payload")
    try:
        return _Decoder(buffers, writable=not view.readonly).value(header.get("tree"))
    except RecursionError as exc:
        raise CodecError("payload nested too deeply") from exc
    except CodecError:
        raise
    except _DECODE_ERRORS as exc:  # whatever a check above missed is still the peer's fault
        raise CodecError(f"malformed payload: {type(exc).__name__}: {str(exc)[:200]}") from exc
