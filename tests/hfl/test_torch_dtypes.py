"""Models in dtypes numpy lacks: a bfloat16 (or float8) model federates, its arrays travel as
float32 and load back into the module's own dtype; any other such dtype is named."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.hfl import FedAvg, simulate  # noqa: E402
from rengo.hfl.torch_client import TorchClient, get_parameters, set_parameters  # noqa: E402

X = torch.randn(48, 4, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long()


def _bf16_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).to(torch.bfloat16)


def test_a_bfloat16_models_arrays_are_its_values_exactly_in_float32() -> None:
    """get_parameters raised numpy's 'Got unsupported ScalarType BFloat16' (a TypeError)."""
    model = _bf16_model()
    arrays = get_parameters(model)
    for array, tensor in zip(arrays, model.state_dict().values(), strict=True):
        expected = np.float32 if tensor.is_floating_point() else np.int64
        assert array.dtype == expected
        assert np.array_equal(
            array, tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
        )
    copy = _bf16_model()
    with torch.no_grad():
        for p in copy.parameters():
            p.zero_()
    set_parameters(copy, arrays)
    assert all(
        a.dtype == b.dtype and torch.equal(a, b)
        for a, b in zip(copy.state_dict().values(), model.state_dict().values(), strict=True)
    )


def test_a_bfloat16_model_federates_and_its_final_model_loads_into_the_module() -> None:
    def client_fn(cid: str) -> TorchClient:
        rows = slice(int(cid) * 24, (int(cid) + 1) * 24)
        loader = DataLoader(TensorDataset(X[rows].bfloat16(), Y[rows]), batch_size=8)
        return TorchClient(_bf16_model(), loader, lr=0.1)

    history = simulate(client_fn, 2, FedAvg(), get_parameters(_bf16_model()), rounds=2)
    model = _bf16_model()
    set_parameters(model, history.parameters)
    assert model[0].weight.dtype == torch.bfloat16
    assert not torch.equal(model[0].weight, _bf16_model()[0].weight)  # it trained


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_a_buffer_numpy_cannot_hold_is_named() -> None:
    model = nn.Linear(2, 2)
    model.register_buffer("phase", torch.zeros(2, dtype=torch.complex32))
    with pytest.raises(TypeError, match=r"'phase' is a torch.complex32 tensor"):
        get_parameters(model)
