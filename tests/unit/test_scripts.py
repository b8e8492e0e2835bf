"""The product's own scripts never put data into the page as HTML: no ``innerHTML``/``insertAdjacentHTML``,
and every Leaflet tooltip or popup (which Leaflet sets as HTML when given a string) gets an element or
escaped text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "web" / "static" / "js").glob("*.js"))
# The content of a tooltip or popup: one of the escaping builders, or a function (content made when first shown)
# that returns one at once.
SAFE_CONTENT = re.compile(
    r"^\s*(function\s*\(\)\s*\{\s*return\s+)?(textNode\(|link\b|tooltip\(|'<strong>' \+ esc\(|esc\()"
)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_no_data_reaches_the_page_as_html(script: Path) -> None:
    code = script.read_text(encoding="utf-8")
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", code)
    for match in re.finditer(r"\.bind(?:Tooltip|Popup)\(", code):
        assert SAFE_CONTENT.match(code[match.end():]), f"{script.name}: {code[match.start():match.start() + 80]}"
