"""The protocol's gradients are the gradients of the paper's loss, whichever way they travel.

Each party assembles its gradient from the other's terms and its own per-row Jacobians
(:mod:`rengo.ftl.math`, :mod:`rengo.ftl.assembly`); here that assembly is checked against
PyTorch's autograd of the loss written out directly, for binary and multiclass labels, with
and without the target's own labels, and the encrypted assembly against the plaintext one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from rengo.crypto import decrypt_array, encrypt_array, generate_paillier_keypair
from rengo.ftl import class_probabilities, label_names
from rengo.ftl import encoders as enc
from rengo.ftl.assembly import source_gradient, source_loss, target_gradient
from rengo.ftl.math import (
    LossWeights,
    class_order,
    label_codes,
    source_gradient_matrices,
    source_terms,
    target_gradient_matrices,
    target_terms,
    translator,
)


def _case(classes: int, labelled: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    dim = 3
    f_a = enc.build_encoder(5, (4,), dim, "tanh", [seed, 1])
    f_b = enc.build_encoder(4, (3,), dim, "tanh", [seed, 2])
    x_a, x_b = rng.normal(size=(30, 5)), rng.normal(size=(8, 4))
    x_t = rng.normal(size=(labelled, 4))
    names = [str(v) for v in rng.integers(0, classes, size=30)]
    names[:classes] = [str(k) for k in range(classes)]
    order = class_order(names)
    binary = classes == 2
    codes = label_codes(names, order, binary)
    codes_t = label_codes([str(v) for v in rng.integers(0, classes, labelled)], order, binary)
    rows = rng.choice(30, 8, replace=False)
    w = LossWeights(1.0, 0.7, 0.3, 0.01, 8, labelled, binary)
    return dict(
        f_a=f_a, f_b=f_b, x_a=x_a, x_b=x_b, x_t=x_t, codes=codes, codes_t=codes_t, rows=rows, w=w
    )


def _protocol(case: dict) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """Both parties' gradients and the loss, as the roles assemble them (in plaintext)."""
    f_a, f_b, w = case["f_a"], case["f_b"], case["w"]
    x_a, rows, codes = case["x_a"], case["rows"], case["codes"]
    u_all = enc.represent(f_a, x_a)
    phi = translator(codes, u_all)
    c, m = source_terms(phi, codes[rows], u_all[rows], w)
    u_b, u_t = enc.represent(f_b, case["x_b"]), enc.represent(f_b, case["x_t"])
    theta_a, theta_b = enc.flat_parameters(f_a), enc.flat_parameters(f_b)
    wmat, r, q = target_terms(u_b, u_t, case["codes_t"], theta_b, w)
    mats_a = source_gradient_matrices(
        phi,
        codes[rows],
        u_all[rows],
        enc.translator_jacobian(f_a, x_a, codes),
        enc.row_jacobians(f_a, x_a[rows]),
        theta_a,
        w,
    )
    mats_b = target_gradient_matrices(
        u_b,
        enc.row_jacobians(f_b, case["x_b"]),
        u_t,
        enc.row_jacobians(f_b, case["x_t"]),
        case["codes_t"],
        theta_b,
        w,
    )
    r_b = r if w.labelled else None
    g_a = source_gradient(u_b, wmat, r_b, mats_a, 0)
    g_b = target_gradient(c, m, phi if w.labelled else None, mats_b, 0)
    loss = float(np.asarray(source_loss(u_b, wmat, r_b, q, mats_a, 0))[0])
    terms = dict(u_b=u_b, wmat=wmat, r=r_b, q=q, c=c, m=m, phi=phi, mats_a=mats_a, mats_b=mats_b)
    return np.asarray(g_a), np.asarray(g_b), loss, terms


def _autograd(case: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """The loss of Liu et al. 2020 (Taylor form) written out, differentiated by torch."""
    f_a, f_b, w = case["f_a"], case["f_b"], case["w"]
    p_a = {k: v.detach().clone().requires_grad_(True) for k, v in f_a.named_parameters()}
    p_b = {k: v.detach().clone().requires_grad_(True) for k, v in f_b.named_parameters()}
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    u_all = functional_call(f_a, p_a, (t(case["x_a"]),))
    codes = t(case["codes"])
    phi = codes.T @ u_all / len(u_all)
    rows = torch.from_numpy(case["rows"])
    u_a = u_all[rows]
    u_b = functional_call(f_b, p_b, (t(case["x_b"]),))

    binary = w.binary

    def taylor(y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """log(1 + e^-yp) ~ log 2 - yp/2 + p^2/8 (binary); the softmax cross-entropy
        ~ log C - (e_y - 1/C)^T p + (mean(p^2) - mean(p)^2)/2 (multiclass)."""
        p = u @ phi.T
        if binary:
            return (math.log(2.0) - 0.5 * y * p + 0.125 * p * p).sum()
        width = p.shape[1]
        spread = (p * p).mean(dim=1) - p.mean(dim=1) ** 2
        return (math.log(width) - (y * p).sum(dim=1) + 0.5 * spread).sum()

    loss = (w.alpha / w.n) * taylor(codes[rows], u_b)
    if w.labelled:
        u_t = functional_call(f_b, p_b, (t(case["x_t"]),))
        loss = loss + (w.beta / w.m) * taylor(t(case["codes_t"]), u_t)
    loss = loss + (w.gamma / w.n) * ((u_a - u_b) ** 2).sum()
    params = [*p_a.values(), *p_b.values()]
    loss = loss + 0.5 * w.l2 * sum((p * p).sum() for p in params)
    loss.backward()
    flat = lambda ps: np.concatenate([p.grad.numpy().ravel() for p in ps.values()])  # noqa: E731
    return flat(p_a), flat(p_b), float(loss.detach())


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("labelled", [0, 5])
def test_each_partys_assembled_gradient_is_the_gradient_of_the_papers_loss(
    classes: int, labelled: int
) -> None:
    case = _case(classes, labelled)
    g_a, g_b, loss, _ = _protocol(case)
    want_a, want_b, want_loss = _autograd(case)
    np.testing.assert_allclose(g_a, want_a, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_b, want_b, rtol=1e-9, atol=1e-12)
    assert loss == pytest.approx(want_loss, rel=1e-12)


def test_encrypted_assembly_decrypts_to_the_plaintext_gradient() -> None:
    case = _case(3, 4, seed=5)
    g_a, g_b, loss, t = _protocol(case)
    public, private = generate_paillier_keypair(512, seed=3)
    bits = 32

    def seal(x: np.ndarray | None):  # type: ignore[no-untyped-def]
        return None if x is None else encrypt_array(x, public, precision_bits=bits)

    enc_a = source_gradient(seal(t["u_b"]), seal(t["wmat"]), seal(t["r"]), t["mats_a"], 24)
    enc_b = target_gradient(seal(t["c"]), seal(t["m"]), seal(t["phi"]), t["mats_b"], 24)
    enc_loss = source_loss(
        seal(t["u_b"]), seal(t["wmat"]), seal(t["r"]), seal(t["q"]), t["mats_a"], 24
    )
    np.testing.assert_allclose(decrypt_array(enc_a, private), g_a, atol=1e-5)
    np.testing.assert_allclose(decrypt_array(enc_b, private), g_b, atol=1e-5)
    assert decrypt_array(enc_loss, private)[0] == pytest.approx(loss, abs=1e-5)


_label = st.one_of(
    st.none(),
    st.integers(-5, 20),
    st.sampled_from([0.0, 1.0, 2.0, float("nan")]),
    st.sampled_from(["0", "1", " yes ", "", "no"]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_label, min_size=1, max_size=20))
def test_label_names_agree_however_a_party_stores_its_labels(values: list) -> None:
    names = label_names(np.array(values, dtype=object))
    for value, name in zip(values, names, strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            assert name is None
        elif isinstance(value, (bool, int, float)):
            assert name == str(int(value))  # 1, 1.0 and True name one class
        else:
            assert name == value.strip()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(0, 8),
    st.floats(-50, 50, allow_nan=False),
)
def test_class_probabilities_are_probabilities(classes: int, rows: int, shift: float) -> None:
    scores = np.random.default_rng(rows).normal(size=(rows, classes)) * 10
    binary = classes == 1
    proba = class_probabilities(scores + shift, binary)
    assert np.all((proba >= 0) & (proba <= 1))
    if not binary:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        # a common shift of every class's score changes nothing (the expansion ignores it)
        np.testing.assert_allclose(proba, class_probabilities(scores, binary), atol=1e-12)
        for row, p in zip(scores, proba, strict=True):  # higher score, higher probability
            order = np.argsort(row, kind="stable")
            assert np.all(np.diff(p[order]) >= -1e-15)


def test_codes_refuse_a_class_the_source_does_not_have() -> None:
    from rengo.core.errors import DataError

    with pytest.raises(DataError, match="not among the source's classes"):
        label_codes(["0", "2"], ("0", "1"), True)
    assert class_order(["10", "2", "1"]) == ("1", "2", "10")
