"""A transfer-learning party's kept model file: the encoder's architecture and every
float64 weight (and the source's Phi) back bit for bit; the target's file holds no Phi; a
file that does not fit its architecture, or an encoder the party brought, is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.ftl import EncoderSpec, SourceModel, TargetModel
from rengo.ftl.model_file import read_party_model, write_party_model

encoders = pytest.importorskip("rengo.ftl.encoders", reason="the encoders need the torch extra")


def _weights(spec: EncoderSpec, seed: int) -> list[np.ndarray]:
    module = encoders.build_encoder(
        spec.in_features, spec.hidden, spec.dim, spec.activation, [seed]
    )
    return list(encoders.parameter_arrays(module))


SPEC = EncoderSpec(3, (5,), "tanh", 4)


def _source() -> SourceModel:
    phi = np.random.default_rng(2).normal(size=(1, 4)) / 3.0  # full float64 mantissas
    return SourceModel(SPEC, _weights(SPEC, 1), phi, ("0", "1"), "binary", [0.9, 0.8], 2, 2)


def test_the_sources_encoder_and_phi_read_back_bit_for_bit(tmp_path: Path) -> None:
    model = _source()
    path = write_party_model(tmp_path / "bank.json", model, "bank", "bank", "cd" * 16)
    back = read_party_model(path, "bank")
    kept = back.model
    assert isinstance(kept, SourceModel) and back.training_run == "cd" * 16
    assert kept.encoder == SPEC and kept.classes == ("0", "1") and kept.losses == [0.9, 0.8]
    assert kept.phi.dtype == np.float64 and kept.phi.tobytes() == model.phi.tobytes()
    assert [w.tobytes() for w in kept.weights] == [w.tobytes() for w in model.weights]


def test_the_targets_file_holds_its_encoder_and_no_phi(tmp_path: Path) -> None:
    spec = EncoderSpec(2, (), "relu", 4)
    model = TargetModel(spec, _weights(spec, 3), ("0", "1"), "binary", 10, 2, [{"loss": 0.5}], 1)
    path = write_party_model(tmp_path / "shop.json", model, "shop", "bank")
    assert "phi" not in json.loads(path.read_text())
    kept = read_party_model(path, "shop").model
    assert isinstance(kept, TargetModel) and kept.validation == [{"loss": 0.5}]
    assert [w.tobytes() for w in kept.weights] == [w.tobytes() for w in model.weights]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["encoder"].update(hidden=[6]), "encoder array 0 has shape [5, 3]"),
        (lambda d: d["encoder"].update(activation="gelu"), "encoder activation 'gelu'"),
        (lambda d: d["phi"].update(shape=[2, 4]), "phi has shape [2, 4]"),
        (lambda d: d.update(version=0), "transfer learning model version 0"),
        (lambda d: d.update(party="shop"), "the model of party 'shop', not of 'bank'"),
    ],
)
def test_a_file_that_does_not_fit_is_refused_naming_it(
    tmp_path: Path, change: object, message: str
) -> None:
    path = write_party_model(tmp_path / "bank.json", _source(), "bank", "bank")
    document = json.loads(path.read_text())
    change(document)  # type: ignore[operator]
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=str(path)) as refused:
        read_party_model(path, "bank")
    assert message in str(refused.value)


def test_an_encoder_the_party_brought_is_not_written_as_code(tmp_path: Path) -> None:
    brought = SourceModel(
        EncoderSpec(3, (), "custom", 4), _weights(SPEC, 1), np.zeros((1, 4)), ("0", "1"), "binary"
    )
    with pytest.raises(DataError, match="a module of its own"):
        write_party_model(tmp_path / "bank.json", brought, "bank", "bank")
    assert not (tmp_path / "bank.json").exists()


def test_a_version_1_file_still_loads_and_scores_as_it_did() -> None:
    """Files written before the encoders read z-scored columns (version 1) hold encoders that
    read their columns as given: they load as such (no input scaling) and score the rows
    exactly as the release that wrote them did (``data/v1``)."""
    from tests.ftl.test_raw_columns import _fit, _tables

    folder = Path(__file__).parent / "data" / "v1"
    bank = read_party_model(folder / "bank.json", "bank")
    shop = read_party_model(folder / "shop.json", "shop")
    assert isinstance(bank.model, SourceModel) and isinstance(shop.model, TargetModel)
    assert bank.model.inputs is None and shop.model.inputs is None
    expected = json.loads((folder / "shop_scores.json").read_text())
    tables, y, own = _tables(1.0, 0.0, 1.0, 0.0)
    model = _fit(tables, y, own)  # an estimator of the same parties, the old models in place
    model._models = {**model.models_, "bank": bank.model, "shop": shop.model}
    ids, x = tables["shop"]
    assert [str(i) for i in ids] == expected["ids"]
    np.testing.assert_allclose(model.predict_proba((ids, x)), expected["proba"], rtol=0, atol=1e-12)
