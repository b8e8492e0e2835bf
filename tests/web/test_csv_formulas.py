"""Every CSV a page hands out neutralises text a spreadsheet would run as a formula (a leading ``=``, ``+``,
``-``, ``@``, tab or carriage return gets a single quote in front), and keeps numbers as numbers."""

from __future__ import annotations

import csv
import io

import pytest


def test_outfall_list_csv_neutralises_formulas(make_outfall, client) -> None:
    names = ("=HYPERLINK(\"http://x.example\",\"点我\")", "=cmd|' /C calc'!A0", "+1+2", "@SUM(1,1)", "-2+3", "\t=1")
    for name in names:
        make_outfall(name=name, local_code="-7", lonlat=(109.0, 34.40))
    raw = client.get("/outfalls.csv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert sorted(r["name"] for r in rows) == sorted("'" + n.strip() for n in names)  # names are stored trimmed
    assert {r["local_code"] for r in rows} == {"'-7"}
    assert all(float(r["lon"]) == pytest.approx(109.0) and int(r["id"]) > 0 for r in rows)
