"""The one party-name rule: what it takes is said exactly, and a name with umlauts or spaces
(``Universitätsklinikum Köln``) is answered with a name the rule takes."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.core.roles import validate_party_name


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("Universitätsklinikum Köln", "Universitaetsklinikum_Koeln"),
        ("Charité – Berlin", "Charite_Berlin"),
        ("Klinikum Straße", "Klinikum_Strasse"),
    ],
)
def test_a_name_with_umlauts_or_spaces_is_refused_with_one_the_rule_takes(
    name: str, suggested: str
) -> None:
    # the rule said "letters", which ä and ö are to a German reader
    with pytest.raises(ConfigError, match=rf"ASCII letters .*e\.g\. '{suggested}'$"):
        validate_party_name(name, "vfl.parties key")
    assert validate_party_name(suggested) == suggested


@pytest.mark.parametrize("name", ["../../etc", "coordinator ", "東京"])
def test_no_name_is_suggested_for_a_path_or_where_nothing_ascii_is_left(name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_party_name(name)
    assert "e.g." not in str(refused.value)
