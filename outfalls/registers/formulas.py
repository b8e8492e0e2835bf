"""Spreadsheet formula injection (CSV injection): text a spreadsheet would run as a formula when it opens a CSV
(a name such as ``=HYPERLINK(…)`` or ``=cmd|' /C calc'!A0`` from a crew's file). Every CSV the product writes
puts a single quote before text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (OWASP's
rule); numbers, dates and empty cells are written as they are. XLSX files write such text as text cells instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` as a CSV cell: text starting like a formula gets a leading single quote; anything else (numbers,
    negative ones included, dates, None) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through ``neutralise``."""
    return [neutralise(v) for v in values]


def neutralise_sql(expr: str) -> str:
    """The same rule as SQL on a text expression (NULL stays NULL), for CSV files written by ``COPY``."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return f"CASE WHEN left({expr}, 1) IN ({starts}) THEN '''' || {expr} ELSE {expr} END"


def mark_text(cells: Iterable[Any]) -> None:
    """Give openpyxl cells holding text the text data type (``s``): openpyxl otherwise writes text starting
    with ``=`` as a formula, which Excel would run.
    """
    for cell in cells:
        if isinstance(cell.value, str):
            cell.data_type = "s"
