"""The stylesheet's colours meet WCAG AA: every text colour against every background it is used on (4.5:1), focus
rings against what surrounds them (3:1). Every colour is a variable in :root, so this list covers them all."""

from __future__ import annotations

import re

import pytest

from adsvc.settings import REPO_ROOT

STYLE = (REPO_ROOT / "templates" / "static" / "style.css").read_text()

TEXT_ON = {
    # text colours on the page background and on cards
    **{(text, ground): 4.5 for text in ("--fg", "--muted", "--warn", "--link", "--ok", "--bad")
       for ground in ("--bg", "--surface")},
    ("--fg", "--code-bg"): 4.5,
    ("--on-bar", "--bar"): 4.5,
    # white text on coloured badges: pills, HTTP methods, response statuses (a status without class is --muted)
    **{("--on-accent", accent): 4.5 for accent in ("--ok", "--bad", "--warn", "--muted", "--get", "--post", "--put",
                                                    "--patch", "--delete")},
    # the visible focus ring (WCAG 1.4.11, non-text: 3:1)
    ("--focus", "--bg"): 3, ("--focus", "--surface"): 3, ("--focus-on-bar", "--bar"): 3,
}  # fmt: skip
# colours that carry no text and no state on their own (table rules and card borders)
DECORATIVE = {"--line"}


def _variables(css: str) -> dict[str, str]:
    root = re.search(r":root\s*{([^}]*)}", css)
    assert root, "style.css has no :root block"
    return dict(re.findall(r"(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{6})\b", root.group(1)))


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(one: str, other: str) -> float:
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_ratio_matches_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss


@pytest.mark.parametrize(("text", "ground"), sorted(TEXT_ON))
def test_stylesheet_colour_pair_meets_wcag_aa(text, ground):
    colours = _variables(STYLE)
    ratio = contrast_ratio(colours[text], colours[ground])
    assert ratio >= TEXT_ON[(text, ground)], f"{text} {colours[text]} on {ground} {colours[ground]}: {ratio:.2f}"


def test_every_colour_is_a_root_variable_checked_here():
    colours = _variables(STYLE)
    outside_root = re.sub(r":root\s*{[^}]*}", "", STYLE)
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", outside_root), "use a :root variable"
    checked = {name for pair in TEXT_ON for name in pair}
    assert set(colours) - checked == DECORATIVE
    used = set(re.findall(r"var\((--[\w-]+)\)", outside_root))
    assert used <= set(colours), used - set(colours)
