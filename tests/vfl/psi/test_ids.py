"""ID normalisation before PSI: one canonical byte string per logical ID, loud errors else."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.vfl.psi.ids import normalise_ids


def test_ints_become_decimal_strings() -> None:
    assert normalise_ids([7, -12, np.int32(5)], "p").values == [b"7", b"-12", b"5"]
    array = normalise_ids(np.array([3, 10**12], dtype=np.uint64), "p")
    assert array.values == [b"3", b"1000000000000"] and array.kind == "int"


def test_strings_are_nfc_utf8_and_bytes_pass_unchanged() -> None:
    text = normalise_ids(["cafe\u0301", "東京", np.str_("x ")], "p")
    assert text.values == ["café".encode(), "東京".encode(), b"x "] and text.kind == "text"
    assert normalise_ids(np.array(["a", "bc"]), "p").values == [b"a", b"bc"]
    raw = normalise_ids([b"\xff\x00", bytearray(b"k")], "p")
    assert raw.values == [b"\xff\x00", b"k"] and raw.kind == "bytes"
    assert normalise_ids(np.array([b"q"], dtype="S1"), "p").values == [b"q"]


def test_duplicates_after_normalisation_are_named() -> None:
    with pytest.raises(DataError, match=r"'café' at rows 0 and 1"):
        normalise_ids(["caf\u00e9", "cafe\u0301"], "p")


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([], "empty input"),
        (np.array([], dtype=np.int64), "empty input"),
        (["a", ""], "row 1: empty ID"),
        ([True, False], "boolean"),
        (np.array([True]), "boolean"),
        ([1, 2.5], "row 1: float ID"),
        (np.array([1.0, 2.0]), "float IDs"),
        ([np.float64("nan")], "missing ID"),
        (["a", None], "row 1: missing ID"),
        (["a", b"a"], "mix kinds: row 0 is text"),
        ([1, "1"], "mix kinds"),
        ([(1, 2)], "unsupported ID type tuple"),
        (np.array([[1, 2]]), "one-dimensional"),
    ],
)
def test_invalid_ids_raise_data_error_naming_the_party(ids: object, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        normalise_ids(ids, "partyX")  # type: ignore[arg-type]
    assert "partyX" in str(info.value)


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b\ud800"],  # all str: the fast path
        np.array(["a", "b\ud800"]),  # a numpy U array
        ["a", np.str_("b\ud800")],  # the general path
    ],
)
def test_text_with_no_utf8_form_is_a_data_error_naming_the_row(ids: object) -> None:
    with pytest.raises(DataError, match=r"p: row 1: text ID 'b\\ud800' has no UTF-8 form"):
        normalise_ids(ids, "p")  # type: ignore[arg-type]


def test_numpy_byte_arrays_have_lost_trailing_nuls_as_the_docs_say_and_lists_keep_them() -> None:
    assert normalise_ids(np.array([b"x\x00"]), "p").values == [b"x"]  # numpy's doing
    assert normalise_ids([b"x\x00"], "p").values == [b"x\x00"]
    assert normalise_ids(np.array([b"x\x00"], dtype=object), "p").values == [b"x\x00"]
