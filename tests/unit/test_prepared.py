"""Statements prepared in SQL by ``read_row``: the ``PREPARE`` made from driver SQL and the ``EXECUTE`` of values."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg.sql

from outfalls.db.engine import Prepared, prepared_body


def test_a_prepare_numbers_each_parameter_once_in_order_and_keeps_literal_percent_signs() -> None:
    p = Prepared.of("SELECT 'a%%' || %(x)s, %(y)s FROM t WHERE c LIKE %(x)s")
    assert p.order == ("x", "y")
    assert p.prepare == f"PREPARE {p.name} AS SELECT 'a%' || $1, $2 FROM t WHERE c LIKE $1"
    assert Prepared.of("SELECT 'a%%' || %(x)s, %(y)s FROM t WHERE c LIKE %(x)s").name == p.name  # same SQL, same name
    assert Prepared.of("SELECT %(x)s").name != p.name


def test_an_execute_writes_its_values_as_quoted_literals() -> None:
    p = Prepared.of("SELECT %(a)s, %(b)s, %(c)s, %(d)s")
    moment = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)
    text = p.execute(["it's; DROP TABLE x", None, 42, moment]).as_string(None)
    assert text.startswith(f'EXECUTE "{p.name}"(') and "'it''s; DROP TABLE x'" in text and ", NULL, 42, " in text
    assert "2026-12-07 17:30:00+00:00'::timestamptz" in text
    assert prepared_body(text) == "SELECT $1, $2, $3, $4"
    assert Prepared.of("SELECT 1").execute([]).as_string(None) == f'EXECUTE "{Prepared.of("SELECT 1").name}"'
    assert prepared_body("SELECT 1") is None and isinstance(p.execute([1]), psycopg.sql.Composed)
