"""Old import paths of the vertical and crypto modules keep working for one release, each
with a DeprecationWarning that names the new home."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from rengo.vfl.legacy import MOVED_MODULES

SAMPLE_NAMES = {
    "rengo.vfl.hetero_lr_config": "HeteroLRConfig",
    "rengo.vfl.hetero_lr_roles": "hetero_lr_guest",
    "rengo.vfl.hetero_lr_predict": "hetero_lr_predict_guest",
    "rengo.vfl.hetero_lr_math": "optimizer_step",
    "rengo.vfl.hetero_lr_masking": "mask_encrypted",
    "rengo.vfl.hetero_lr_gradient": "encrypted_matmul",
    "rengo.vfl.hetero_lr_obfuscators": "ObfuscatorSource",
    "rengo.vfl.psi_ids": "normalise_ids",
    "rengo.vfl.psi_csv": "align_csv",
    "rengo.vfl.psi_x25519": "BlindingPool",
}


def test_every_moved_module_has_a_sample_name() -> None:
    assert set(SAMPLE_NAMES) == set(MOVED_MODULES)


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_path_imports_with_a_warning_and_forwards_names(old: str) -> None:
    sys.modules.pop(old, None)
    moved = MOVED_MODULES[old]
    new = moved if isinstance(moved, str) else moved.new
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    name = SAMPLE_NAMES[old]
    home = new if isinstance(moved, str) else moved.names.get(name, new)
    assert getattr(module, name) is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_names_that_left_the_hetero_lr_module_warn_and_still_work() -> None:
    from rengo.vfl import common

    hetero_lr = importlib.import_module("rengo.vfl.hetero_lr")
    for name in ("PartyTable", "VerticalDataset", "align_rows", "as_vertical_dataset"):
        with pytest.warns(DeprecationWarning, match=f"rengo.vfl.common.{name}"):
            assert getattr(hetero_lr, name) is getattr(common, name)


def test_the_coordinator_name_is_defined_once_and_the_old_name_warns() -> None:
    from rengo.core.roles import COORDINATOR
    from rengo.transport import certs

    with pytest.warns(DeprecationWarning, match="rengo.core.roles.COORDINATOR"):
        assert certs.COORDINATOR_NAME == COORDINATOR == "coordinator"


def test_legacy_helpers_keep_their_old_signatures(keypair_512: tuple) -> None:
    from rengo.crypto import ObfuscatorPool, encrypt_array
    from rengo.vfl import legacy

    public, private = keypair_512
    enc = encrypt_array(np.array([1.0, -2.0]), public, precision_bits=8)
    with pytest.warns(DeprecationWarning):
        product = legacy.encrypted_matmul(enc, np.array([[1.0], [2.0]]))
    assert product.exponent == 8 + legacy.DEFAULT_FEATURE_PRECISION_BITS
    np.testing.assert_array_equal(product.decrypt(private), [-3.0])
    obfuscators = ObfuscatorPool(public).take(2)
    with pytest.warns(DeprecationWarning):
        made = legacy.encrypt_with(np.array([0.5, 1.5]), public, 4, obfuscators)
    np.testing.assert_array_equal(made.decrypt(private), [0.5, 1.5])
    with pytest.warns(DeprecationWarning):
        assert legacy.rerandomized(made, ObfuscatorPool(public).take(2)).fresh


@pytest.fixture(scope="module")
def keypair_512() -> tuple:
    from rengo.crypto import generate_paillier_keypair

    return generate_paillier_keypair(512, seed=5)


def test_the_generic_role_runners_moved_to_deploy_roles() -> None:
    from rengo.deploy import coordinator, party, roles

    with pytest.warns(DeprecationWarning, match="rengo.deploy.roles.serve_role"):
        assert coordinator.serve_role is roles.serve_role  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match="rengo.deploy.roles.run_role"):
        assert party.run_role is roles.run_role  # type: ignore[attr-defined]
