"""The text encoding of a table file (CSV, Shapefile attributes): told from the bytes, never guessed into mojibake.

A byte-order mark decides (UTF-8 or UTF-16); text that decodes as UTF-8 is UTF-8. Otherwise the Chinese legacy
encodings are told apart with charset-normalizer: GBK/GB18030 (mainland China) and Big5 (Taiwan, Hong Kong) share
their byte ranges, so Big5 text decodes as GBK without an error, into nonsense; only how the decoded text reads
tells them apart. When neither reads as plausible text, or both do equally well, the file is refused with a
message naming ``--encoding``.
"""

from __future__ import annotations

import codecs

from outfalls.survey.limits import UnusableFile

# Python's codec for each candidate: cp950 is Big5 with the Microsoft extensions Excel writes in Taiwan.
_CODECS = {"gb18030": "gb18030", "big5": "cp950"}
NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "gb18030": "GBK/GB18030", "cp950": "Big5"}
MAX_CHAOS = 0.1  # charset-normalizer's "mess" of the decoded text above which a decoding is not trusted
MIN_MARGIN = 0.02  # how much less mess the chosen decoding must show than the other


def detect_encoding(data: bytes) -> str:
    """The Python codec that reads ``data``: ``utf-8-sig``, ``utf-16``, ``utf-8``, ``gb18030`` or ``cp950`` (Big5).

    Raises:
        UnusableFile: the text cannot be decoded with confidence (field ``encoding``).
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _decodes(data, "utf-16"):
        return "utf-16"
    if _decodes(data, "utf-8"):
        return "utf-8"
    chosen = _legacy_chinese(data)
    if chosen is None or not _decodes(data, chosen):
        raise UnusableFile(
            "the text encoding cannot be told with confidence (it is neither UTF-8, GBK/GB18030 nor Big5 that reads "
            "as plain text): save the file as UTF-8 CSV, or give the encoding (--encoding, e.g. gb18030, big5)",
            field="encoding",
        )
    return chosen


def _legacy_chinese(data: bytes) -> str | None:
    """GB18030 or cp950 (Big5) when exactly one of them reads clearly better than the other, else None."""
    from charset_normalizer import from_bytes

    mess: dict[str, float] = {}
    for match in from_bytes(data, cp_isolation=list(_CODECS), threshold=0.3):
        if match.encoding in _CODECS:
            mess[match.encoding] = min(mess.get(match.encoding, 1.0), float(match.chaos))
    if not mess:
        return None
    ranked = sorted(mess.items(), key=lambda kv: kv[1])
    best, chaos = ranked[0]
    if chaos > MAX_CHAOS or (len(ranked) > 1 and ranked[1][1] - chaos < MIN_MARGIN):
        return None
    return _CODECS[best]


def _decodes(data: bytes, encoding: str) -> bool:
    """True when all of ``data`` decodes, checked a megabyte at a time (never the whole text in memory)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    try:
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
