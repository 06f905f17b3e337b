"""A party model file's version is a JSON integer: JSON ``true``, ``1.0`` or ``"2"`` are not
versions 1 or 2, though Python compares ``True == 1 == 1.0``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rengo.core.errors import DataError
from rengo.vfl.party_model_file import DocumentKind, check_header, header

KIND = DocumentKind("rengo-toy-party-model", 2, "toy", "write it again", older=(1,))


def _document(version: Any) -> dict[str, Any]:
    return {**header(KIND, "shop", "bank", "ab" * 16), "version": version}


@pytest.mark.parametrize("version", [True, 1.0, 2.0, "2"])
def test_a_version_that_is_not_a_json_integer_is_refused_naming_it(version: Any) -> None:
    with pytest.raises(DataError, match=re.escape(f"toy model version {version!r}; this rengo")):
        check_header(_document(version), "shop.json", KIND)


@pytest.mark.parametrize("version", [1, 2])
def test_the_versions_it_reads_are_read(version: int) -> None:
    assert check_header(_document(version), "shop.json", KIND).party == "shop"
