"""The text encoding of a table file (CSV, Shapefile attributes): told from the bytes, never guessed into mojibake."""

from __future__ import annotations

import codecs

from outfalls.survey.limits import UnusableFile

# --- encodings ---------------------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, otherwise GB18030 (a superset of GBK and
    GB2312, which is what Chinese Windows tools write).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if _decodes(data, "utf-8"):
        return "utf-8"
    if not _decodes(data, "gb18030"):
        raise UnusableFile(
            "the file is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV or give --encoding",
            field="encoding",
        )
    return "gb18030"


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
