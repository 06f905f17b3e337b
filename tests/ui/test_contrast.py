"""The dashboard's colours meet WCAG 2.1 AA, computed from ``app.css`` itself: text at least
4.5:1 against the background it is drawn on (1.4.3), a focus ring at least 3:1 against what
surrounds it (1.4.11). A colour changed in the stylesheet is checked here without a browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "src" / "rengo" / "ui" / "static" / "app.css"

TEXT = 4.5
NON_TEXT = 3.0


def _rules(css: str) -> dict[str, dict[str, str]]:
    """Selector -> declarations of every innermost rule (a media block's rules included)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for declaration in body.split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                declarations[name.strip()] = value.strip()
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


RULES = _rules(CSS.read_text(encoding="utf-8"))
VARIABLES = RULES[":root"]


def _colour(selector: str, prop: str) -> str:
    value = RULES[selector][prop]
    value = value.replace("!important", "").strip()
    if value.startswith("2px solid ") or value.startswith("3px solid "):
        value = value.split(" ", 2)[2]
    while value.startswith("var("):
        value = VARIABLES[value[4:-1]]
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", value), f"{selector} {prop}: {value} is not #rrggbb"
    return value


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two #rrggbb colours, from 1 to 21."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_the_wcag_ratio() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


BADGES = sorted(s for s in RULES if s.startswith(".badge.") and "background" in RULES[s])

# (what, the text's selector and property, the background's selector and property)
TEXT_PAIRS = [
    ("body text", ("body", "color"), ("body", "background")),
    ("muted text on the page", (".muted", "color"), ("body", "background")),
    ("muted text on a card", (".muted", "color"), (".card", "background")),
    ("section hint", (".section-head .hint", "color"), ("body", "background")),
    ("table header", ("table.grid th", "color"), ("table.grid th", "background")),
    ("run id in the list", (".run-id", "color"), (".card", "background")),
    ("KPI label", (".kpi .label", "color"), (".card", "background")),
    ("footer", (".foot", "color"), ("body", "background")),
    ("run meta label", (".meta b", "color"), ("body", "background")),
    ("matrix axis", (".matrix-axis", "color"), (".card", "background")),
    ("failure reason", (".reason", "color"), (".card", "background")),
    ("best value", (".best", "color"), (".card", "background")),
    ("link on the page", ("a", "color"), ("body", "background")),
    ("pill", (".pill", "color"), (".pill", "background")),
    ("primary button", (".button.primary", "color"), (".button.primary", "background")),
    ("error box", (".error-box", "color"), (".error-box", "background")),
    ("brand subtitle", (".brand-sub", "color"), (".topbar", "background")),
    ("top navigation", (".topnav a", "color"), (".topbar", "background")),
    ("connection status", (".live", "color"), (".topbar", "background")),
    ("skip link", (".skip-link", "color"), (".skip-link", "background")),
] + [(f"{badge} badge", (badge, "color"), (badge, "background")) for badge in BADGES]

FOCUS_PAIRS = [
    ("focus ring on the page", (":focus-visible", "outline"), ("body", "background")),
    ("focus ring on a card", (":focus-visible", "outline"), (".card", "background")),
    ("focus ring in the top bar", (".topbar :focus-visible", "outline"), (".topbar", "background")),
]


@pytest.mark.parametrize(("what", "text", "background"), TEXT_PAIRS, ids=[p[0] for p in TEXT_PAIRS])
def test_text_contrast_is_at_least_4_5_to_1(
    what: str, text: tuple[str, str], background: tuple[str, str]
) -> None:
    fg, bg = _colour(*text), _colour(*background)
    assert contrast(fg, bg) >= TEXT, f"{what}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


@pytest.mark.parametrize(
    ("what", "ring", "background"), FOCUS_PAIRS, ids=[p[0] for p in FOCUS_PAIRS]
)
def test_the_focus_ring_stands_out_3_to_1(
    what: str, ring: tuple[str, str], background: tuple[str, str]
) -> None:
    fg, bg = _colour(*ring), _colour(*background)
    assert contrast(fg, bg) >= NON_TEXT, f"{what}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


def test_every_status_badge_is_checked() -> None:
    assert {".badge.running", ".badge.completed", ".badge.failed", ".badge.interrupted"} <= set(
        BADGES
    )
