"""Every reason the domain gives for a refusal has words in the interface, so a Chinese page never shows the
domain's English sentence for it."""

from __future__ import annotations

import re
from pathlib import Path

from web.forms.base import REASONS
from web.words import REASON_WORDS

ROOT = Path(__file__).resolve().parents[2]
# reason="key" given to an error, and FieldError("field", "message", "key" ...) with the reason third
_KEYWORD = re.compile(r"\breason=\"([a-z_]+)\"")
_FIELD_ERROR = re.compile(r"(?:FieldError|\.fail)\(\s*[^,()]+,\s*(?:f?\"(?:[^\"\\]|\\.)*\"\s*)+,\s*\"([a-z_]+)\"", re.S)
NOT_REFUSALS = {"locked"}  # the audit log's reason for a failed login, not an error shown to anyone


def _reasons_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in ("outfalls", "imagery"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            for pattern in (_KEYWORD, _FIELD_ERROR):
                for m in pattern.finditer(source):
                    found.setdefault(m.group(1), f"{path.relative_to(ROOT)}:{source.count(chr(10), 0, m.start()) + 1}")
    return found


def test_every_refusal_reason_the_domain_gives_has_words() -> None:
    used = _reasons_in_code()
    assert {"outside_range", "too_many_pixels", "conflicting_resend"} <= set(used)  # the scan does find them
    missing = {r: where for r, where in used.items() if r not in REASONS and r not in REASON_WORDS
               and r not in NOT_REFUSALS}  # fmt: skip
    assert missing == {}
