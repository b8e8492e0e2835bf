"""Migrations: the models and the migrated schema agree, the chain is linear and reversible, and every
upgrade keeps the rows that were there."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import Geometry, alembic_helpers
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.orm import Session

import imagery.models  # noqa: F401  (imagery's models join the metadata)
import outfalls.models  # noqa: F401  (registers the models on Base.metadata)
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.db.base import Base
from outfalls.db.cluster import Cluster
from outfalls.db.engine import MIGRATIONS_DIR, current_revision, downgrade, make_engine, migrate
from outfalls.models import Event, Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind, SurveyLevel

try:  # as migrations/env.py: imagery's models join the same metadata when the package has them
    import imagery.models  # type: ignore[import-not-found]  # noqa: F401
except ModuleNotFoundError:
    pass

# as migrations/env.py (which cannot be imported: it runs the migrations on import)
POSTGIS_TABLES = {"spatial_ref_sys", "layer", "topology"}
NOT_DATA = POSTGIS_TABLES | {"alembic_version"}
FILE_NAME = re.compile(r"^(\d{8}_\d{4})_(\w+?)_[a-z0-9_]+\.py$")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name in POSTGIS_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


@pytest.fixture(scope="module")
def script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


@pytest.fixture
def fresh_db(pg_cluster: Cluster) -> Iterator[Callable[[str], str]]:
    """Empty PostGIS databases, dropped after the test."""
    names: list[str] = []

    def create(name: str) -> str:
        pg_cluster.drop_database(name)
        names.append(name)
        return pg_cluster.create_database(name, extensions=("postgis",))

    yield create
    for name in names:
        pg_cluster.drop_database(name)


def _diff(url: str, metadata: sa.MetaData = Base.metadata) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()) - POSTGIS_TABLES
    finally:
        engine.dispose()


# -- models against migrations -------------------------------------------------------------------------
def test_models_match_migrations(clone_db: Callable[[str], str]) -> None:
    """Autogenerate finds nothing to do: every model change has its migration."""
    diff = _diff(clone_db("mig_nodiff"))
    assert diff == [], "models and migrations differ; write a migration:\n" + "\n".join(map(str, diff))


def test_no_diff_check_sees_a_missing_migration(clone_db: Callable[[str], str]) -> None:
    """The comparison above is not blind: a model column without a migration shows up."""
    metadata = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["outfalls"].append_column(sa.Column("depth_m", sa.Float))
    sa.Table("imaginary", metadata, sa.Column("id", sa.Integer, primary_key=True))

    diff = _diff(clone_db("mig_nodiff_probe"), metadata)

    assert {(d[0], d[2], d[3].name) for d in diff if d[0] == "add_column"} == {("add_column", "outfalls", "depth_m")}
    assert {d[1].name for d in diff if d[0] == "add_table"} == {"imaginary"}
    assert len(diff) == 2


# -- the chain -----------------------------------------------------------------------------------------
def test_chain_is_linear(script: ScriptDirectory) -> None:
    revisions = list(script.walk_revisions())  # head first
    assert revisions, "no migrations"
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}; merge them"
    assert len(script.get_bases()) == 1, f"several bases: {script.get_bases()}"
    assert revisions[0].revision == script.get_current_head()
    assert revisions[-1].down_revision is None
    for newer, older in zip(revisions, revisions[1:], strict=False):
        assert newer.down_revision == older.revision, f"{newer.revision} does not follow {older.revision}"
        assert not newer.is_merge_point and not newer.branch_labels


def test_revision_files_are_named_by_date(script: ScriptDirectory) -> None:
    """STYLE: ``YYYYMMDD_HHMM_<rev>_<slug>.py``, so sorting the files by name follows the chain."""
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    names = []
    for rev in revisions:
        assert rev.path is not None
        name = rev.path.rsplit("/", 1)[-1]
        match = FILE_NAME.match(name)
        assert match, f"{name} does not follow YYYYMMDD_HHMM_<rev>_<slug>.py"
        assert match.group(2) == rev.revision, name
        names.append(name)
    assert names == sorted(names)


def test_template_is_at_head(clone_db: Callable[[str], str], script: ScriptDirectory) -> None:
    assert current_revision(clone_db("mig_head")) == script.get_current_head()


# -- down and up ---------------------------------------------------------------------------------------
def test_downgrade_to_base_and_upgrade_again(clone_db: Callable[[str], str], script: ScriptDirectory) -> None:
    url = clone_db("mig_roundtrip")
    tables = _tables(url)
    assert {"outfalls", "events", "basins", "admin_areas", "code_lists", "observations"} <= tables

    downgrade(url, "base")

    assert _tables(url) <= {"alembic_version"}
    assert current_revision(url) is None
    assert not _has_append_only_guard(url)

    migrate(url)

    assert _tables(url) == tables
    assert current_revision(url) == script.get_current_head()
    assert _diff(url) == []
    assert _has_append_only_guard(url)


APPEND_ONLY_TRIGGERS = {
    f"{table}_append_only"
    for table in ("events", "observations", "audit_log", "monitoring_visits", "sample_results", "trace_records",
                  "trace_parties", "remediation_records", "standardisation_checks", "progress_targets")
}


def _has_append_only_guard(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            triggers = set(conn.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%append_only'")))
    finally:
        engine.dispose()
    assert triggers in (set(), APPEND_ONLY_TRIGGERS)
    return bool(triggers)


# -- rows survive upgrades -----------------------------------------------------------------------------
def _value(table: sa.Table, column: sa.Column[Any], n: int) -> Any:
    """A plausible value of ``column`` for row ``n`` (unique per row, so unique constraints hold)."""
    t = column.type
    if isinstance(t, Geometry):
        x, y = 108.9 + n * 0.01, 34.3
        box = f"(({x} {y},{x + 0.005} {y},{x + 0.005} {y + 0.005},{x} {y + 0.005},{x} {y}))"
        wkt = {
            "POINT": f"POINT({x} {y})",
            "LINESTRING": f"LINESTRING({x} {y},{x + 0.01} {y + 0.01})",
            "MULTILINESTRING": f"MULTILINESTRING(({x} {y},{x + 0.01} {y + 0.01}))",
            "POLYGON": f"POLYGON{box}",
            "MULTIPOLYGON": f"MULTIPOLYGON({box})",
            "GEOMETRY": f"POINT({x} {y})",
        }[str(t.geometry_type).upper()]
        return f"SRID={t.srid if t.srid and t.srid > 0 else 4490};{wkt}"
    if isinstance(t, sa.Boolean):
        return n % 2 == 1
    if isinstance(t, sa.Integer):
        return 1000 + n
    if isinstance(t, sa.Float | sa.Numeric):
        return n + 0.5
    if isinstance(t, sa.DateTime):
        return datetime(2022, 1, 1 + n, 8, 30, tzinfo=UTC)
    if isinstance(t, sa.Date):
        return date(2022, 1, 1 + n)
    if isinstance(t, JSON | JSONB | sa.JSON):
        return {"n": n, "note": "迁移前"}
    if isinstance(t, sa.ARRAY) and isinstance(t.item_type, sa.Integer):
        return [1000 + n, 2000 + n]
    if isinstance(t, sa.String):  # also Text and VARCHAR
        text = f"{column.name[:8]}{n}"
        return text[-t.length :] if t.length else text
    pytest.fail(f"teach _value to fill {table.name}.{column.name} ({t!r})")


# Columns a CHECK constraint requires to be empty when their alternative is set.
EXCLUSIVE_COLUMNS = {"user_scopes": ("basin_id",)}


def _seed_every_table(conn: sa.Connection, rows: int = 3) -> dict[str, int]:
    """Insert ``rows`` rows into every table of the schema as it is, parents first; returns the counts."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    inserted: dict[str, list[sa.Row[Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name in NOT_DATA:
            continue
        fk_columns = {c.name for fk in table.foreign_key_constraints for c in fk.columns}
        for n in range(rows):
            values: dict[str, Any] = {}
            for column in table.columns:
                if column.name in fk_columns:
                    continue
                if column.primary_key and (
                    column.autoincrement is True or column.server_default is not None or column.identity is not None
                ):
                    continue
                values[column.name] = _value(table, column, n)
            for fk in table.foreign_key_constraints:
                parent = fk.referred_table
                if parent is table or not inserted.get(parent.name):
                    continue  # self references stay empty (NULL)
                row = inserted[parent.name][n % len(inserted[parent.name])]._mapping
                for element in fk.elements:
                    values[element.parent.name] = row[element.column.name]
            for column_name in EXCLUSIVE_COLUMNS.get(table.name, ()):
                values[column_name] = None  # CHECK: exactly one of the alternatives is set
            inserted.setdefault(table.name, []).append(
                conn.execute(sa.insert(table).values(values).returning(*table.primary_key.columns,
                                                                         *table.columns)).one()
            )  # fmt: skip
    return {name: len(rows_) for name, rows_ in inserted.items()}


Snapshot = dict[str, tuple[list[str], dict[tuple[str, ...], tuple[str, ...]]]]


def _snapshot(url: str) -> Snapshot:
    """Every row of every data table: primary key -> a digest of each column."""
    engine = make_engine(url)
    out: Snapshot = {}
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            q = conn.dialect.identifier_preparer.quote
            for table in sorted(set(inspector.get_table_names()) - NOT_DATA):
                columns = sorted(c["name"] for c in inspector.get_columns(table))
                pk = inspector.get_pk_constraint(table)["constrained_columns"] or columns
                sql = "SELECT {} FROM {}".format(
                    ", ".join([f"{q(c)}::text" for c in pk] + [f"md5({q(c)}::text)" for c in columns]), q(table)
                )
                rows = {tuple(r[: len(pk)]): tuple(r[len(pk) :]) for r in conn.execute(sa.text(sql))}
                out[table] = (columns, rows)
    finally:
        engine.dispose()
    return out


def _assert_rows_survived(before: Snapshot, after: Snapshot) -> None:
    for table, (columns, rows) in before.items():
        assert table in after, f"table {table} is gone, with its {len(rows)} rows"
        new_columns, new_rows = after[table]
        assert new_rows.keys() == rows.keys(), f"rows of {table} were lost or added"
        kept = [i for i, c in enumerate(columns) if c in new_columns]
        moved = [new_columns.index(columns[i]) for i in kept]
        for key, values in rows.items():
            assert [values[i] for i in kept] == [new_rows[key][j] for j in moved], f"{table} {key} changed"


def _upgrade_keeps_rows(url: str, start: str) -> dict[str, int]:
    """Migrate an empty database to ``start``, fill every table, upgrade to head; the rows must survive."""
    migrate(url, start)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            counts = _seed_every_table(conn)
    finally:
        engine.dispose()
    before = _snapshot(url)
    assert all(rows for _columns, rows in before.values()), "some tables got no rows"

    migrate(url)

    _assert_rows_survived(before, _snapshot(url))
    return counts


def test_every_upgrade_keeps_rows(script: ScriptDirectory, fresh_db: Callable[[str], str]) -> None:
    """For each revision with a parent: rows written at the parent survive the upgrade to head."""
    revisions = list(script.walk_revisions())
    steps = [(rev.down_revision, rev.revision) for rev in revisions if rev.down_revision is not None]
    assert len(steps) == len(revisions) - 1  # linear: all but the first revision have one parent
    for parent, revision in steps:
        assert isinstance(parent, str), f"{revision} merges {parent}"
        counts = _upgrade_keeps_rows(fresh_db(f"mig_up_{revision}"), parent)
        assert {"basins", "admin_areas", "code_lists", "outfalls", "events"} & counts.keys()


def test_upgrade_at_head_keeps_generic_rows(fresh_db: Callable[[str], str]) -> None:
    """The same check from head to head (a no-op today), so the machinery above is exercised every run."""
    url = fresh_db("mig_head_generic")
    counts = _upgrade_keeps_rows(url, "head")
    assert counts == {name: 3 for name in Base.metadata.tables}  # every table got its rows

    # and the row check is not blind: a changed value and a lost row are both reported
    before = _snapshot(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE outfalls SET name = 'changed' WHERE id = (SELECT min(id) FROM outfalls)"))
        with pytest.raises(AssertionError, match="outfalls .* changed"):
            _assert_rows_survived(before, _snapshot(url))
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM attachments WHERE id = (SELECT min(id) FROM attachments)"))
        with pytest.raises(AssertionError, match="rows of attachments were lost"):
            _assert_rows_survived(_snapshot(url) | {"attachments": before["attachments"]}, _snapshot(url))
    finally:
        engine.dispose()


def test_upgrade_at_head_with_catalogue_is_a_no_op(clone_db: Callable[[str], str], script: ScriptDirectory) -> None:
    url = clone_db("mig_head_data")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            ids = create_outfalls(
                session,
                [
                    NewOutfall(lonlat=(108.94, 34.40), name="迁移测试1", type_code="4.8",
                               found_by=SurveyLevel.DRONE, found_on=date(2022, 5, 1),
                               history=(HistoryItem(EventKind.SURVEYED, date(2022, 6, 1)),)),
                    NewOutfall(lonlat=(107.03, 33.07), name="迁移测试2", type_code="1.1.1",
                               found_by=SurveyLevel.FOOT, found_on=date(2022, 5, 2), national_code="MIG-2"),
                ],
                actor="migration-test",
            )  # fmt: skip
            record_event(
                session,
                ids[0],
                EventKind.TRACED,
                actor="t",
                expected_version=1,
                on=date(2022, 7, 1),
                scope=Scope.national(),
            )
            session.commit()
        before = _snapshot(url)
        assert len(before["outfalls"][1]) == 2 and len(before["events"][1]) == 4
        assert len(before["admin_areas"][1]) == 118

        migrate(url)

        assert current_revision(url) == script.get_current_head()
        _assert_rows_survived(before, _snapshot(url))
        with Session(engine) as session:  # sequences and constraints still work after the upgrade
            (new_id,) = create_outfalls(
                session,
                [NewOutfall(lonlat=(108.94, 34.40), name="迁移后", type_code="4.8",
                            found_by=SurveyLevel.FOOT, found_on=date(2023, 1, 1))],
                actor="t",
            )  # fmt: skip
            assert new_id > max(ids)
            outfall = session.get(Outfall, ids[0])
            assert outfall is not None and outfall.version == 2 and outfall.sub_basin is not None
            assert outfall.sub_basin.code == "HH-08"
            assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 5
            session.rollback()
    finally:
        engine.dispose()
