"""The wire codec: exact round trips, no pickle, and hostile bytes always rejected cleanly."""

from __future__ import annotations

import contextlib
import json
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core import (
    CodecError,
    EvaluateResult,
    FitIns,
    FitResult,
    decode,
    encode,
    encode_chunks,
    envelope_from_bytes,
    envelope_to_bytes,
)
from rengo.core.codec import MAGIC, register_type
from rengo.core.envelope import Envelope


def test_round_trip_of_nested_values_is_exact():
    value = {
        "arrays": [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, -2], np.int64)],
        "scalars": (1, 2.5, True, None, "text", b"\x00\xff"),
        "special": [float("nan"), float("inf"), float("-inf")],
        "empty": np.zeros((0, 3)),
        "complex": np.array([1 + 2j]),
    }
    out = decode(encode(value))
    assert out["arrays"][0].dtype == np.float32
    np.testing.assert_array_equal(out["arrays"][0], value["arrays"][0])
    np.testing.assert_array_equal(out["arrays"][1], value["arrays"][1])
    assert out["scalars"] == value["scalars"]
    assert np.isnan(out["special"][0]) and out["special"][1:] == [float("inf"), float("-inf")]
    assert out["empty"].shape == (0, 3)
    assert out["complex"][0] == 1 + 2j


def test_subclasses_encode_exactly_as_the_builtin_types_they_extend():
    # dicts, lists, str, int and bytes have exact-type fast paths; subclasses and the
    # other byte types take the general path: the wire bytes must not differ
    class Text(str):
        pass

    class Map(dict):
        pass

    class Items(list):
        pass

    plain = {"k": [1, True, "s", b"ab", {"n": None}], "m": {"x": b"\x00"}}
    derived = Map(
        k=Items([1, True, Text("s"), bytearray(b"ab"), Map(n=None)]),
        m={Text("x"): memoryview(b"\x00")},
    )
    assert encode(derived) == encode(plain)
    assert decode(encode(derived)) == plain
    with pytest.raises(CodecError, match="dict keys must be str"):
        encode({"a": {1: b"x"}})


def test_messages_round_trip_as_their_types():
    ins = FitIns([np.ones((2, 2))], {"lr": 0.1, "seed": 7, "c": [np.zeros(3)]})
    assert isinstance(decode(encode(ins)), FitIns)
    res = decode(encode(FitResult([np.ones(2)], 5, {"loss": 0.5})))
    assert isinstance(res, FitResult) and res.num_examples == 5
    ev = decode(encode(EvaluateResult(0.25, 3, {"accuracy": 1.0})))
    assert ev.loss == 0.25 and ev.metrics == {"accuracy": 1.0}


def test_arrays_are_raw_bytes_not_per_element_text():
    array = np.random.default_rng(0).normal(size=100_000)
    chunks = encode_chunks([array])
    assert len(chunks) == 2 and chunks[1].nbytes == array.nbytes
    assert len(encode([array])) < array.nbytes + 200


def test_decoded_arrays_are_writable_copies_of_readonly_input():
    data = encode(np.arange(4.0))
    out = decode(data)
    out[0] = 42.0  # must not raise
    assert decode(data)[0] == 0.0


def test_non_contiguous_and_big_endian_arrays_encode_correctly():
    a = np.arange(20.0).reshape(4, 5)[:, ::2]
    np.testing.assert_array_equal(decode(encode(a)), a)
    b = np.arange(3, dtype=">i4")
    np.testing.assert_array_equal(decode(encode(b)), b)


def test_object_arrays_and_arbitrary_objects_are_refused():
    with pytest.raises(CodecError):
        encode(np.array([object()], dtype=object))
    with pytest.raises(CodecError):
        encode({"x": object()})
    with pytest.raises(CodecError):
        encode({1: "non-str key"})


def test_pickle_bytes_are_not_executed():
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    with pytest.raises(CodecError):
        decode(pickle.dumps(Boom()))


def test_header_claiming_an_object_dtype_is_rejected():
    bad = encode(np.arange(3, dtype=np.int64)).replace(b'"<i8"', b'"|O8"')
    with pytest.raises(CodecError, match=r"bad dtype|not allowed"):
        decode(bad)


def test_shape_that_disagrees_with_buffer_is_rejected():
    bad = encode(np.arange(4, dtype=np.int64)).replace(b'"shape":[4]', b'"shape":[5]')
    with pytest.raises(CodecError, match="does not fill its buffer of 32 bytes"):
        decode(bad)


def test_truncated_payload_is_rejected_at_every_cut():
    data = encode({"a": np.arange(10.0), "b": "x"})
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            decode(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_raise_codec_error_only(data):
    with contextlib.suppress(CodecError):
        decode(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=200))
def test_corrupted_valid_payloads_raise_codec_error_only(noise, position):
    data = bytearray(encode(FitIns([np.ones(3)], {"lr": 0.1})))
    position = min(position, len(data))
    data[position : position + len(noise)] = noise
    with contextlib.suppress(CodecError):
        decode(bytes(data))


def test_envelope_round_trip_and_malformed_envelope():
    env = Envelope("alice", "bob", "grad/3", encode([1, 2]), run_id="r1", round=3)
    back = envelope_from_bytes(envelope_to_bytes(env))
    assert back == env
    with pytest.raises(CodecError):
        envelope_from_bytes(b"\xff\xff\xff\xff")


def test_zero_dimensional_arrays_keep_their_shape():
    out = decode(encode([np.array(5, dtype=np.int64), np.float32(2.5)]))
    assert out[0].shape == () and out[0] == 5


names = st.text(max_size=8)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8),
    st.binary(max_size=16),
)  # fmt: skip
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(names, inner, max_size=4),
        st.dictionaries(names, st.binary(max_size=16), max_size=4),  # maps of bytes
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_any_tree_of_plain_values_round_trips_exactly(tree):
    assert decode(encode(tree)) == tree


def test_a_map_of_bytes_is_one_node_over_consecutive_buffers():
    value = {"b": b"\x01\x02", "a": b"", "c": bytearray(b"\x03")}
    data = encode(value)
    (length,) = struct.unpack_from("<I", data, 4)
    header = json.loads(data[8 : 8 + length])
    assert header == {"tree": {"$t": "bmap", "k": ["b", "a", "c"], "b": 0}, "bufs": [2, 0, 1]}
    assert decode(encode(value)) == {"b": b"\x01\x02", "a": b"", "c": b"\x03"}
    assert list(decode(encode(value))) == ["b", "a", "c"]  # order kept


@pytest.mark.parametrize(
    ("node", "match"),
    [
        ({"$t": "bmap", "k": [], "b": 0}, "without a list of names"),
        ({"$t": "bmap", "k": ["a", 1], "b": 0}, "without a list of names"),
        ({"$t": "bmap", "k": ["a", "a"], "b": 0}, "repeated name"),
        ({"$t": "bmap", "k": ["a"], "b": True}, "bad buffer reference"),
        ({"$t": "bmap", "k": ["a", "b"], "b": 0}, "bad buffer reference 1"),
    ],
)
def test_malformed_bytes_maps_are_rejected(node, match):
    header = json.dumps({"tree": node, "bufs": [1]}).encode()
    payload = b"RGO1" + struct.pack("<I", len(header)) + header + b"x"
    with pytest.raises(CodecError, match=match):
        decode(payload)


def _payload(tree: object, buffers: list[bytes]) -> bytes:
    """A payload with a hand-written header (what a hostile peer can send)."""
    header = json.dumps({"tree": tree, "bufs": [len(b) for b in buffers]}).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(buffers)


def test_a_buffer_decodes_once_so_a_payload_cannot_amplify_itself() -> None:
    """Before, one 1 MiB buffer named a thousand times decoded to a thousand copies (a 1.2 MB
    reply ran a deployed coordinator out of memory)."""
    big = b"x" * 1024
    with pytest.raises(CodecError, match="buffer 0 referenced twice"):
        decode(_payload([{"$t": "bytes", "b": 0}] * 1000, [big]))
    with pytest.raises(CodecError, match="referenced twice"):
        decode(_payload([{"$t": "bytes", "b": 0}, {"$t": "bmap", "k": ["a"], "b": 0}], [big]))
    assert decode(_payload([{"$t": "bytes", "b": 0}, {"$t": "bytes", "b": 1}], [big, big])) == [
        big,
        big,
    ]


def test_a_header_of_empty_containers_cannot_amplify_itself() -> None:
    """A 1 MB header of empty lists decoded to about 30 MB of Python objects (14-42x)."""
    hostile = _payload([[]] * 400_000, [])
    with pytest.raises(CodecError, match="lists and maps: past 100000"):
        decode(hostile)
    assert decode(_payload([[]] * 1_000, [])) == [[]] * 1_000  # a few are nothing unusual
    # what protocol messages hold: a map per row, small bytes values
    rows = [{"id": f"c{i}", "score": [i, i + 1]} for i in range(150_000)]
    assert decode(encode(rows)) == rows
    chunks = [bytes([i % 256]) * 4 for i in range(150_000)]
    assert decode(encode(chunks)) == chunks


@pytest.mark.parametrize(
    "shape",
    [[0, 10**30], [0] * 65, [2**70], [1] * 40, [-1], [True], "4", None],
)
def test_hostile_shapes_raise_codec_errors_only(shape: object) -> None:
    node = {"$t": "nd", "b": 0, "dtype": "<f8", "shape": shape}
    with pytest.raises(CodecError):
        decode(_payload(node, [b""]))


def test_a_dimension_of_thousands_of_digits_is_a_codec_error() -> None:
    digits = b"1" + b"0" * 5000  # past Python's int-to-str limit, which broke a message
    header = b'{"tree":{"$t":"nd","b":0,"dtype":"<f8","shape":[0,' + digits + b']},"bufs":[0]}'
    with pytest.raises(CodecError):
        decode(MAGIC + struct.pack("<I", len(header)) + header)


@pytest.mark.parametrize("dtype", [",f8", "(,)f8", "f8," * 1000, "<U4", "|O8", "<M8", 8, None])
def test_hostile_dtype_strings_are_refused_before_numpy_parses_them(dtype: object) -> None:
    """numpy parses comma-separated dtype strings with Python's own parser: a SyntaxError
    escaped, and a long one took seconds and a gigabyte before the codec refused it."""
    with pytest.raises(CodecError, match="bad dtype"):
        decode(_payload({"$t": "nd", "b": 0, "dtype": dtype, "shape": [1]}, [b"\0" * 8]))


@pytest.mark.parametrize("name", [["bytes"], {"a": 1}, 7, None])
def test_a_type_name_that_is_not_a_string_is_an_unknown_type(name: object) -> None:
    with pytest.raises(CodecError, match="unknown payload type"):
        decode(_payload({"$t": "ext", "n": name, "v": 1}, []))


def test_any_error_a_registered_type_raises_on_bad_input_becomes_a_codec_error() -> None:
    class Huge:
        pass

    def overflowing(tree: object) -> Huge:
        return float(10**400)  # type: ignore[return-value]  # OverflowError, as a loss did

    register_type("test.huge", Huge, lambda value: 1, overflowing)
    with pytest.raises(CodecError, match=r"invalid test\.huge payload"):
        decode(_payload({"$t": "ext", "n": "test.huge", "v": 1}, []))


def test_result_metrics_hold_plain_values_only() -> None:
    """A metric holding a message (or any registered type) is refused at decoding: the run
    store could not keep it, and storing it ended a deployed run."""
    plain = {"acc": 0.5, "tag": b"\x01", "per_class": [1, 2.5], "extra": {"n": np.arange(2)}}
    assert decode(encode(FitResult([np.zeros(1)], 3, plain))).metrics["tag"] == b"\x01"
    nested = FitResult([np.zeros(1)], 3, {"x": [FitIns([], {})]})  # type: ignore[list-item]
    with pytest.raises(CodecError, match="metric 'x' holds a list"):
        decode(encode(nested))
    with pytest.raises(CodecError, match="metric 'x' holds a FitIns"):
        decode(encode(EvaluateResult(0.5, 3, {"x": FitIns([], {})})))  # type: ignore[dict-item]
