"""Run id lookup accepts unique prefixes like git and names the problem otherwise."""

from __future__ import annotations

import pytest

from rengo.tracking import AmbiguousRunError, RunStore, UnknownRunError


def test_unique_prefix_resolves_to_the_full_run(store: RunStore) -> None:
    run_id = store.start_run("horizontal", {})
    other = store.start_run("horizontal", {})
    # Both ids share the timestamp part; the shortest distinguishing prefix includes the hex.
    common = len(_common_prefix(run_id, other))
    assert store.get_run(run_id[: common + 1]).run_id == run_id
    assert store.get_run(other[: common + 1]).run_id == other
    assert store.resolve_run_id(run_id) == run_id
    assert store.round_metrics(run_id[: common + 1]) == {}


def test_ambiguous_prefix_lists_the_candidates(store: RunStore) -> None:
    first = store.start_run("horizontal", {})
    second = store.start_run("horizontal", {})
    prefix = _common_prefix(first, second)
    with pytest.raises(AmbiguousRunError, match="several runs") as info:
        store.get_run(prefix)
    assert first in str(info.value)
    assert second in str(info.value)


def test_unknown_id_raises_unknown_run_error_naming_it(store: RunStore) -> None:
    store.start_run("horizontal", {})
    with pytest.raises(UnknownRunError, match="'zzz'"):
        store.get_run("zzz")
    with pytest.raises(UnknownRunError):
        store.events("zzz")


def test_empty_id_is_refused(store: RunStore) -> None:
    with pytest.raises(ValueError, match="run id"):
        store.get_run("")


def _common_prefix(a: str, b: str) -> str:
    length = 0
    while length < min(len(a), len(b)) and a[length] == b[length]:
        length += 1
    return a[:length]


def test_latest_names_the_run_started_last(store: RunStore) -> None:
    first = store.start_run("horizontal", {})
    last = store.start_run("horizontal", {})
    assert store.resolve_run_id("latest") == last
    assert store.get_run(" latest ").run_id == last
    for run_id in (first, last):
        store.finish_run(run_id, "interrupted", {})
    store.resume_run(first, "horizontal")  # resumed later, but not started last
    assert store.resolve_run_id("latest") == last


def test_latest_in_an_empty_store_says_there_are_no_runs(store: RunStore) -> None:
    with pytest.raises(UnknownRunError, match=r"no runs in .*, so no latest one"):
        store.resolve_run_id("latest")
