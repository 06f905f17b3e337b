"""Parameter helpers: flatten/unflatten inverse, validation catches every bad update."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core import ClientFailure, flatten, num_values, unflatten, validate_update


def test_flatten_unflatten_are_inverse():
    params = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([7.0])]
    vec = flatten(params)
    assert vec.shape == (num_values(params),)
    back = unflatten(vec, params)
    assert all(
        np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(back, params, strict=True)
    )


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ([np.ones(3)], "sent 1 arrays"),
        ([np.ones(4), np.ones(2)], "shape"),
        ([np.array([1.0, np.nan, 0.0]), np.ones(2)], "NaN"),
        ([np.array([1.0, np.inf, 0.0]), np.ones(2)], "NaN or Inf"),
        ([np.array(["a", "b", "c"]), np.ones(2)], "dtype"),
    ],
)
def test_validate_update_names_what_is_wrong(update, reason):
    with pytest.raises(ClientFailure, match=reason):
        validate_update("c1", update, [np.ones(3), np.ones(2)])
