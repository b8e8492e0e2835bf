"""Lifecycle benchmark: the case timeline, the state as of a date and bulk assignment on a national-sized
catalogue with a long history, against hand-written SQL in the same run.

Run ``.venv/bin/python bench/lifecycle.py --outfalls 1000000 [--events-per-outfall 10] [--json] [--keep]``
(or ``--reuse DIR`` to build once and measure again).

The catalogue is built as in ``bench/catalogue.py`` (a throwaway cluster of the product's own
:class:`outfalls.db.cluster.Cluster`, Alembic, reference data, the same generated outfalls along the Shaanxi
rivers, written by ``outfalls.catalogue.lifecycle.create_outfalls``), except that each outfall's history is filled up
to E events (``created`` included) with the work a case brings between its state changes: monitoring visits,
incomplete tracings, standardisation checks, remediation progress, changed limits, each of a kind the
outfall's state allows on its day. The events go through ``create_outfalls`` in date order (its ``COPY``),
which checks every history against the transition table, so ids follow ``effective_at`` within an outfall.
Then ``VACUUM ANALYZE``, and three figures:

``case timeline``
    ``outfalls.catalogue.queries.get_outfall`` (the case page's detail: the outfall row, its type and administrative
    paths, the observation count and the event timeline) for random outfalls, a new session each call.
    Baseline: the same data in hand-written SQL, one ``SELECT`` of the row with the same joins, the observation
    count and both paths (recursive CTEs), then ``SELECT ... FROM events WHERE outfall_id = %s ORDER BY
    effective_at, id``; the events ``SELECT`` alone is reported beside it. Every call's events, version, count
    and paths are compared with the baseline's.
``state as of a date``
    ``outfalls.catalogue.lifecycle.status_as_of`` for random outfalls and random days (some before the outfall was
    found), a new session each call (its statement compiled once and sent straight through psycopg, see
    ``outfalls.db.engine.read_row``), as a national reader and, reported beside it, as a reader scoped to the
    outfall's city (the scope check joins the statement). Baseline: the latest state-changing event up to the
    end of that day (``ORDER BY effective_at DESC, id DESC LIMIT 1``) mapped to its state in SQL. Every answer
    is compared, and the replay without a date is compared with the state on the outfall row; the bench stops
    on a difference.
``bulk assignment``
    ``outfalls.cases.assignment.assign_cases`` of M random outfalls (10,000) to a case officer, commit included,
    several times with a new officer each time. Baseline: one statement in a transaction, the UPDATE of
    ``assigned_to``/``version`` of the outfalls that can take it (not finished, found by then, not already
    his) and the INSERT ... SELECT of their ``assigned`` events (a data-modifying ``WITH``). Ours and the
    baseline get disjoint random selections of the same size; both must change the same number of outfalls.

Latencies are medians (and p95) of calls after a warm-up, ours and the baseline alternating (which goes
first alternates too), each outfall read once untimed first so that neither side pays for its first read
from disk; the baseline uses one open psycopg connection, no prepared statements (as the product's engines).
Ours runs in a new session per call (pre-ping, ``BEGIN`` and ``ROLLBACK`` included) and, reported beside it,
on one session whose transaction is already open (the baseline's round trips, as in a request after its
identity was read).
Every ratio is our seconds divided by the baseline's seconds: lower is better, 1.0 means no overhead.
Progress goes to stderr; a table (or, with ``--json``, one JSON object) goes to stdout.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import os
import random
import re
import statistics
import sys
import time as clock
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import psycopg.sql
import sqlalchemy as sa
from catalogue import (
    ACTOR,
    DB_NAME,
    LAST_DAY,
    Progress,
    Result,
    _code_version,
    _fmt_s,
    _p95,
    generate,
    libpq_url,
    throwaway_cluster,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls import clock as programme_clock
from outfalls.cases.assignment import assign_cases
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, status_as_of
from outfalls.catalogue.queries import get_outfall
from outfalls.catalogue.transitions import apply_transition, changes_state, state_of_event_sql
from outfalls.db.cluster import Cluster, find_bin_dir
from outfalls.db.engine import make_engine, migrate, prepared_body
from outfalls.reference import load_reference
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, SurveyLevel

EVENTS_PER_OUTFALL = 10
LOOKUPS = 500
ASSIGN = 10_000
ASSIGN_REPEATS = 5
WARMUP = 5
END_DAY: date = LAST_DAY.astype(object)  # no generated history after this day
META_FILE = "lifecycle.json"  # what a --reuse folder holds

# -- the case work between state changes -------------------------------------------------------------------
# Per state, the events a case brings while the outfall is in it (kind, weight); each is allowed in that state
# by the transition table, which create_outfalls checks.
CASE_WORK: dict[OutfallStatus, tuple[tuple[EventKind, float], ...]] = {
    OutfallStatus.CANDIDATE: ((EventKind.ATTRIBUTES_CHANGED, 1.0),),
    OutfallStatus.SURVEYED: (
        (EventKind.SAMPLED, 0.5),
        (EventKind.TRACE_UPDATED, 0.3),
        (EventKind.ATTRIBUTES_CHANGED, 0.2),
    ),
    OutfallStatus.TRACED: (
        (EventKind.SAMPLED, 0.45),
        (EventKind.STANDARDISATION_CHECKED, 0.3),
        (EventKind.TRACE_UPDATED, 0.15),
        (EventKind.ATTRIBUTES_CHANGED, 0.1),
    ),
    OutfallStatus.REMEDIATING: (
        (EventKind.REMEDIATION_PROGRESS, 0.6),
        (EventKind.SAMPLED, 0.2),
        (EventKind.STANDARDISATION_CHECKED, 0.2),
    ),
    OutfallStatus.REMEDIATED: ((EventKind.SAMPLED, 0.5), (EventKind.STANDARDISATION_CHECKED, 0.5)),
    OutfallStatus.CLOSED: ((EventKind.STANDARDISATION_CHECKED, 0.8), (EventKind.ATTRIBUTES_CHANGED, 0.2)),
    OutfallStatus.REJECTED: ((EventKind.ATTRIBUTES_CHANGED, 1.0),),
    OutfallStatus.MERGED: ((EventKind.ATTRIBUTES_CHANGED, 1.0),),
}
_WORK_KINDS = {s: [k for k, _w in work] for s, work in CASE_WORK.items()}
_WORK_WEIGHTS = {s: list(np.cumsum([w for _k, w in work])) for s, work in CASE_WORK.items()}
STANDARDISATION_ITEMS = ("sampling_point", "inspection_well", "sign_board", "monitoring", "archive")
PARAMETERS = ("cod", "nh3n", "tp", "tn")


def _payload(kind: EventKind, r: random.Random, progress_pct: int) -> dict[str, Any]:
    """A payload of the shape the product's own functions write for ``kind``."""
    if kind is EventKind.SAMPLED:
        discharging = r.random() < 0.7
        over = [p for p in PARAMETERS if discharging and r.random() < 0.15]
        return {"discharge": "discharging" if discharging else "dry", "results": 5 if discharging else 0,
                "exceedances": over, "is_discharging": discharging}  # fmt: skip
    if kind is EventKind.TRACE_UPDATED:
        return {"method": r.choice(("records", "on_site", "technical")), "complete": False,
                "missing": ["main_party"], "government_default": False}  # fmt: skip
    if kind is EventKind.STANDARDISATION_CHECKED:
        return {"item": r.choice(STANDARDISATION_ITEMS), "done": r.random() < 0.8}
    if kind is EventKind.REMEDIATION_PROGRESS:
        return {"progress_pct": progress_pct}
    return {"limit_standard": "GB3838-2002", "limit_grade": r.choice(("III", "IV", "IV", "V"))}


def with_case_work(items: list[NewOutfall], per_outfall: int, seed: int) -> int:
    """Fill each outfall's history (in place) up to ``per_outfall`` events, ``created`` included, with case work
    on random days between its discovery and ``END_DAY``, each of a kind its state on that day allows. An event
    on the day of a state change comes after it. Returns the number of events added.
    """
    r = random.Random(seed)
    added = 0
    for i, item in enumerate(items):
        k = per_outfall - 1 - len(item.history)
        if k <= 0:
            continue
        status = OutfallStatus.CANDIDATE if item.found_by is SurveyLevel.DRONE else OutfallStatus.SURVEYED
        change_days, states = [item.found_on.toordinal()], [status]
        for h in item.history:  # in date order, as the generator writes it
            after = apply_transition(status, h.kind)
            if after is not status:
                status = after
                change_days.append(h.on.toordinal())
                states.append(status)
        first, span = item.found_on.toordinal(), max(0, (END_DAY - item.found_on).days)
        work: list[HistoryItem] = []
        progress_pct = 0
        for day in sorted(first + r.randint(0, span) for _ in range(k)):
            state = states[bisect.bisect_right(change_days, day) - 1]
            kind = _WORK_KINDS[state][bisect.bisect_left(_WORK_WEIGHTS[state], r.random() * _WORK_WEIGHTS[state][-1])]
            if kind is EventKind.REMEDIATION_PROGRESS:
                progress_pct = min(95, progress_pct + r.choice((10, 15, 20, 25)))
            work.append(HistoryItem(kind, date.fromordinal(day), _payload(kind, r, progress_pct)))
        # sorted() is stable and the history comes first: on a shared day the state change goes before the work
        items[i] = dataclasses.replace(item, history=tuple(sorted((*item.history, *work), key=lambda h: h.on)))
        added += len(work)
    return added


# -- the cluster and the build -----------------------------------------------------------------------------
@contextmanager
def reused_cluster(progress: Progress, root: Path) -> Iterator[str]:
    """The cluster kept in ``root``: created, migrated and loaded with reference data the first time, migrated
    to the current schema on later runs; stopped (never removed) at the end.
    """
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the server runs as the unprivileged postgres user when this runs as root
    cluster = Cluster(root / "pg", fsync=False)
    progress.say(f"starting the cluster kept in {cluster.root}")
    cluster.start()
    try:
        if cluster.has_database(DB_NAME):
            url = cluster.url(DB_NAME)
            migrate(url)
        else:
            url = cluster.create_database(DB_NAME, extensions=("postgis",))
            progress.say("migrating (alembic) and loading reference data")
            migrate(url)
            engine = make_engine(url)
            try:
                with Session(engine) as session:
                    load_reference(session)
                    session.commit()
            finally:
                engine.dispose()
        yield url
    finally:
        cluster.stop()
        progress.say(f"cluster stopped; measure it again with --reuse {root}")


@dataclasses.dataclass(frozen=True, slots=True)
class Build:
    """What was built and how long it took (seconds)."""

    outfalls: int
    events: int
    events_per_outfall: int
    seed: int
    generate_s: float
    case_work_s: float
    create_s: float
    vacuum_s: float
    commit: str

    @property
    def total_s(self) -> float:
        """The whole build."""
        return self.generate_s + self.case_work_s + self.create_s + self.vacuum_s


def build(url: str, n: int, per_outfall: int, seed: int, commit: str, progress: Progress) -> Build:
    """N outfalls with about ``per_outfall`` events each, written by ``create_outfalls``; then VACUUM ANALYZE."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            progress.say(f"generating {n:,} outfalls along the Shaanxi rivers (bench/catalogue.py)")
            t0 = clock.perf_counter()
            items = generate(session, n, seed)
            generate_s = clock.perf_counter() - t0
            progress.say(f"generated in {generate_s:.1f} s; adding the case work up to {per_outfall} events an outfall")
            t0 = clock.perf_counter()
            added = with_case_work(items, per_outfall, seed + 1)
            case_work_s = clock.perf_counter() - t0
            history = sum(len(i.history) for i in items)
            progress.say(
                f"{added:,} events of case work in {case_work_s:.1f} s ({1 + history / n:.2f} events an outfall)"
            )
        progress.say("create_outfalls in one transaction")
        with Session(engine) as session:
            t0 = clock.perf_counter()
            create_outfalls(session, items, actor=ACTOR, progress=progress.counter("create_outfalls", n))
            session.commit()
            create_s = clock.perf_counter() - t0
        del items
    finally:
        engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        progress.say(f"written in {create_s:.1f} s; VACUUM ANALYZE")
        t0 = clock.perf_counter()
        conn.execute("VACUUM ANALYZE outfalls")
        conn.execute("VACUUM ANALYZE events")
        vacuum_s = clock.perf_counter() - t0
        n_events = _one(conn, "SELECT count(*) FROM events")
    return Build(n, n_events, per_outfall, seed, generate_s, case_work_s, create_s, vacuum_s, commit)


def _one(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


# -- timing ------------------------------------------------------------------------------------------------
class SqlTimer:
    """Statements sent through an engine and the seconds spent in them, per measured call, in all and by part
    (``label(statement)`` names the part; None leaves a statement out of the parts).
    """

    def __init__(
        self,
        engine: sa.Engine,
        label: Callable[[str], str | None] = lambda _s: None,
        baseline: psycopg.Connection[Any] | None = None,
    ) -> None:
        self.statements = 0
        self.seconds = 0.0
        self.parts: dict[str, float] = {}
        self._t0 = 0.0
        self._engine = engine
        self._label = label
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        # statements the product sends straight through the driver (outfalls.db.engine.read_row) pass no
        # SQLAlchemy event: they are seen at psycopg's Connection.execute, the baseline's own connection excepted
        self._driver_execute = psycopg.Connection.execute
        timer, driver_execute = self, self._driver_execute

        def execute(conn: psycopg.Connection[Any], query: Any, *args: Any, **kw: Any) -> Any:
            if conn is baseline:
                return driver_execute(conn, query, *args, **kw)
            timer._before()
            try:
                return driver_execute(conn, query, *args, **kw)
            finally:
                text = query.as_string(conn) if isinstance(query, psycopg.sql.Composable) else str(query)
                timer._after(None, None, prepared_body(text) or text)  # a prepared statement: what it runs

        psycopg.Connection.execute = execute  # type: ignore[method-assign,assignment]

    def _before(self, *_args: Any) -> None:
        self._t0 = clock.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = clock.perf_counter() - self._t0
        self.seconds += elapsed
        self.statements += 1
        part = self._label(statement)
        if part is not None:
            self.parts[part] = self.parts.get(part, 0.0) + elapsed

    def take(self) -> tuple[int, float, dict[str, float]]:
        """The statements, seconds and seconds by part since the last call."""
        out = (self.statements, self.seconds, self.parts)
        self.statements, self.seconds, self.parts = 0, 0.0, {}
        return out

    def close(self) -> None:
        """Stop listening."""
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)
        psycopg.Connection.execute = self._driver_execute  # type: ignore[method-assign]


def _events_read(statement: str) -> str | None:
    """The statement reading an outfall's events (the timeline, the replay)."""
    return "events" if _FROM_EVENTS.search(statement) else None


_FROM_EVENTS = re.compile(r"\bFROM events\b")


@dataclasses.dataclass(slots=True)
class Timings:
    """Per-call seconds of ours and the baseline, and ours' statements and SQL seconds per call."""

    ours: list[float] = dataclasses.field(default_factory=list)
    baselines: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    statements: list[int] = dataclasses.field(default_factory=list)
    sql: list[float] = dataclasses.field(default_factory=list)
    parts: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def add_ours(self, seconds: float, timer: SqlTimer) -> None:
        """Record one call of ours with what the timer saw during it."""
        statements, sql_s, parts = timer.take()
        self.ours.append(seconds)
        self.statements.append(statements)
        self.sql.append(sql_s)
        self.parts.append(parts)

    @property
    def raw(self) -> list[float]:
        """The main baseline's seconds."""
        return self.baselines.setdefault("raw", [])

    def part_median(self, part: str) -> float:
        """The median seconds of one part of our SQL."""
        return statistics.median(p.get(part, 0.0) for p in self.parts)


def interleaved(
    cases: Sequence[Any],
    ours: Callable[[Any], Any],
    baselines: dict[str, Callable[[Any], Any]],
    check: Callable[[Any, Any, dict[str, Any]], None],
    timer: SqlTimer,
    warm: Callable[[Any], Any] | None = None,
) -> Timings:
    """Time ``ours(case)`` and each baseline for every case, rotating which goes first; ``warm(case)`` runs
    untimed before each round. ``check(case, ours_result, baseline_results)`` raises on a disagreement.
    """
    out = Timings()
    sides: list[tuple[str, Callable[[Any], Any]]] = [("ours", ours), *baselines.items()]
    for case in cases[:WARMUP]:
        for _name, fn in sides:
            fn(case)
    for i, case in enumerate(cases):
        if warm is not None:
            warm(case)
        results: dict[str, Any] = {}
        for name, fn in sides[i % len(sides) :] + sides[: i % len(sides)]:
            timer.take()
            t0 = clock.perf_counter()
            results[name] = fn(case)
            elapsed = clock.perf_counter() - t0
            if name == "ours":
                out.add_ours(elapsed, timer)
            else:
                out.baselines.setdefault(name, []).append(elapsed)
        ours_result = results.pop("ours")
        check(case, ours_result, results)
    return out


def _result(name: str, t: Timings, baseline: str, extra: dict[str, Any]) -> Result:
    return Result(
        name,
        statistics.median(t.ours),
        baseline,
        statistics.median(t.raw),
        {
            "p95_seconds": round(_p95(t.ours), 6),
            "baseline_p95_seconds": round(_p95(t.raw), 6),
            "calls": len(t.ours),
            "statements_per_call": round(statistics.median(t.statements), 1),
            "sql_seconds": round(statistics.median(t.sql), 6),
            **extra,
        },
    )


class Disagreement(SystemExit):
    """Ours and the hand-written SQL answered differently: the figures would mean nothing."""


# -- the three figures -------------------------------------------------------------------------------------
TIMELINE_SQL = """
SELECT id, kind, effective_at, recorded_at, actor, payload FROM events
WHERE outfall_id = %s ORDER BY effective_at, id
"""


# Everything else the case page shows, in one statement: the outfall row (as the list's, the case officer's name
# included), its provenance and case columns, the count of linked observations, and the type and administrative
# paths from the top down.
PAGE_SQL = """
SELECT o.id, o.name, o.national_code, o.local_code, o.type_code, c.label_zh, c.label_en, o.status, o.status_since,
       tb.name, sb.name, r.name, a.code, a.name, o.found_by, o.found_on, ST_X(o.geom), ST_Y(o.geom), o.is_demo,
       o.exceeds_limit, o.version, o.assigned_to, o.case_deadline, o.remediation_category, u.display_name,
       o.national_code_provenance, o.local_code_provenance, o.name_provenance, o.type_scheme, o.type_raw,
       o.receiving_water, o.responsible_party, o.is_discharging, o.last_sampled_on,
       (SELECT count(*) FROM observation_links l WHERE l.outfall_id = o.id AND l.unlinked_at IS NULL),
       (WITH RECURSIVE up (code, zh, en, parent, depth) AS (
          SELECT code, label_zh, label_en, parent_code, 0 FROM code_lists
          WHERE scheme = o.type_scheme AND code = o.type_code
          UNION ALL
          SELECT p.code, p.label_zh, p.label_en, p.parent_code, up.depth + 1
          FROM code_lists p JOIN up ON p.scheme = o.type_scheme AND p.code = up.parent)
        SELECT json_agg(json_build_array(code, zh, en) ORDER BY depth DESC) FROM up),
       (WITH RECURSIVE up (code, name, parent, depth) AS (
          SELECT code, name, parent_id, 0 FROM admin_areas WHERE id = o.admin_area_id
          UNION ALL
          SELECT p.code, p.name, p.parent_id, up.depth + 1 FROM admin_areas p JOIN up ON p.id = up.parent)
        SELECT json_agg(json_build_array(code, name) ORDER BY depth DESC) FROM up)
FROM outfalls o
LEFT JOIN code_lists c ON c.scheme = o.type_scheme AND c.code = o.type_code
LEFT JOIN basins tb ON tb.id = o.basin_id
LEFT JOIN basins sb ON sb.id = o.sub_basin_id
LEFT JOIN rivers r ON r.id = o.river_id
LEFT JOIN admin_areas a ON a.id = o.admin_area_id
LEFT JOIN users u ON u.login = o.assigned_to
WHERE o.id = %s
"""


def _open_session(engine: sa.Engine) -> Session:
    """A session whose transaction is already open, as a request's is once its identity has been read: a call on it
    pays neither the pool's pre-ping nor ``BEGIN`` nor the ``ROLLBACK`` at its end, like the baseline's connection.
    """
    session = Session(engine)
    session.execute(sa.text("SELECT 1"))
    return session


def _open_session_figures(t: Timings) -> dict[str, Any]:
    """The same calls of ours on an already open session (see ``_open_session``) and their ratio to the baseline."""
    seconds = statistics.median(t.baselines["open session"])
    return {"open_session_seconds": round(seconds, 6),
            "open_session_p95_seconds": round(_p95(t.baselines["open session"]), 6),
            "open_session_ratio": round(seconds / statistics.median(t.raw), 3)}  # fmt: skip


def bench_timeline(engine: sa.Engine, conn: psycopg.Connection[Any], ids: list[int], progress: Progress) -> Result:
    """The case page's detail with its timeline against the same data in hand-written SQL (the page's row with its
    joins, count and paths, then the events), and against the events SELECT alone (reported beside it).
    """
    progress.say(f"case timeline: get_outfall for {len(ids):,} random outfalls")
    scope = Scope.national()

    def ours(oid: int) -> Any:
        with Session(engine) as session:
            return get_outfall(session, oid, scope=scope)

    open_session = _open_session(engine)

    def on_open_session(oid: int) -> Any:
        return get_outfall(open_session, oid, scope=scope)

    def page(oid: int) -> tuple[Any, list[Any]]:
        row = conn.execute(PAGE_SQL, (oid,)).fetchone()
        return row, conn.execute(TIMELINE_SQL, (oid,)).fetchall()

    def events_only(oid: int) -> list[Any]:
        return conn.execute(TIMELINE_SQL, (oid,)).fetchall()

    sizes: list[int] = []

    def check(oid: int, detail: Any, baselines: dict[str, Any]) -> None:
        row, events = baselines["raw"]
        if baselines["open session"] != detail:
            raise Disagreement(f"outfall {oid}: get_outfall on an open session differs")
        ids = [e.id for e in detail.events]
        if ids != [r[0] for r in baselines["events"]] or ids != [r[0] for r in events]:
            raise Disagreement(f"outfall {oid}: get_outfall's timeline differs from the events SELECT")
        admin_path = [tuple(x) for x in row[-1] or []]
        type_path = [tuple(x) for x in row[-2] or []]
        if (detail.row.name, detail.version, detail.observation_count, detail.admin_path, detail.type_path) != (
            row[1], row[20], row[-3], admin_path, type_path,
        ):  # fmt: skip
            raise Disagreement(f"outfall {oid}: get_outfall and the page SQL disagree")
        sizes.append(len(events))

    timer = SqlTimer(engine, _events_read, conn)
    try:
        t = interleaved(ids, ours, {"raw": page, "events": events_only, "open session": on_open_session}, check,
                        timer, warm=page)  # fmt: skip
    finally:
        timer.close()
        open_session.close()
    events_s = statistics.median(t.baselines["events"])
    return _result(
        "case timeline (get_outfall)", t,
        "the page's data: one SELECT (joins, observation count, recursive type and area paths) + the events SELECT",
        {"events_per_timeline": round(statistics.mean(sizes), 2),
         "events_statement_seconds": round(t.part_median("events"), 6),
         "events_sql_seconds": round(events_s, 6),
         "events_sql_p95_seconds": round(_p95(t.baselines["events"]), 6),
         "events_ratio": round(statistics.median(t.ours) / events_s, 3),
         "events_sql": "SELECT ... FROM events WHERE outfall_id = %s ORDER BY effective_at, id",
         **_open_session_figures(t)},
    )  # fmt: skip


def _state_kinds() -> str:
    """The event kinds that set a state (``created`` and ``split`` included), from the transition table."""
    kinds = [kind.value for kind in EventKind if kind is EventKind.CREATED or changes_state(kind)]
    return ", ".join(f"'{k}'" for k in kinds)


AS_OF_SQL = f"""
SELECT {state_of_event_sql(kind="kind", payload="payload")} FROM events
WHERE outfall_id = %s AND effective_at < %s AND kind IN ({_state_kinds()})
ORDER BY effective_at DESC, id DESC LIMIT 1
"""


def bench_as_of(
    engine: sa.Engine, conn: psycopg.Connection[Any], ids: list[int], rng: np.random.Generator, progress: Progress
) -> Result:
    """The state replayed by ``status_as_of`` against the latest state-changing event in SQL."""
    found = dict(conn.execute("SELECT id, found_on FROM outfalls WHERE id = ANY(%s)", (ids,)).fetchall())
    city = dict(conn.execute(  # a city-scoped reader of each outfall (its scope check is part of the statement)
        "SELECT o.id, left(a.code, 4) || '00' FROM outfalls o JOIN admin_areas a ON a.id = o.admin_area_id "
        "WHERE o.id = ANY(%s)", (ids,)).fetchall())  # fmt: skip
    cases: list[tuple[int, date]] = []
    for oid in ids:  # from 60 days before discovery (no state yet) to the last day with history
        first = found[oid] - timedelta(days=60)
        cases.append((oid, first + timedelta(days=int(rng.integers(0, (END_DAY - first).days + 1)))))
    progress.say(f"state as of a date: status_as_of for {len(cases):,} random outfalls and days")
    scope = Scope.national()

    def ours(case: tuple[int, date]) -> str | None:
        with Session(engine) as session:
            status = status_as_of(session, case[0], case[1], scope=scope)
        return status.value if status else None

    open_session = _open_session(engine)

    def on_open_session(case: tuple[int, date]) -> str | None:
        status = status_as_of(open_session, case[0], case[1], scope=scope)
        return status.value if status else None

    def city_scoped(case: tuple[int, date]) -> str | None:
        with Session(engine) as session:
            status = status_as_of(session, case[0], case[1], scope=Scope(area_codes=(city[case[0]],)))
        return status.value if status else None

    def raw(case: tuple[int, date]) -> str | None:
        row = conn.execute(AS_OF_SQL, (case[0], programme_clock.end_of_day(case[1]))).fetchone()
        return row[0] if row else None

    # The same SQL prepared on its connection (planned once there), as status_as_of prepares its statements.
    prepared_conn = psycopg.connect(libpq_url(engine.url.render_as_string(hide_password=False)), autocommit=True,
                                    options="-c jit=off")  # fmt: skip

    def raw_prepared(case: tuple[int, date]) -> str | None:
        row = prepared_conn.execute(AS_OF_SQL, (case[0], programme_clock.end_of_day(case[1])), prepare=True).fetchone()
        return row[0] if row else None

    answers: dict[str | None, int] = {}

    def check(case: tuple[int, date], a: str | None, baselines: dict[str, Any]) -> None:
        b = baselines["raw"]
        others = (baselines["open session"], baselines["city-scoped reader"], baselines["raw prepared"])
        if a != b or any(o != b for o in others):
            raise Disagreement(f"outfall {case[0]} as of {case[1]}: status_as_of says {a}, the SQL says {b}")
        answers[a] = answers.get(a, 0) + 1

    timer = SqlTimer(engine, _events_read, conn)
    try:
        t = interleaved(cases, ours, {"raw": raw, "open session": on_open_session, "city-scoped reader": city_scoped,
                                      "raw prepared": raw_prepared}, check, timer, warm=raw)  # fmt: skip
    finally:
        timer.close()
        open_session.close()
        prepared_conn.close()
    # the replay without a date must equal the state denormalised on the outfall row, and so must the SQL
    current = dict(conn.execute("SELECT id, status FROM outfalls WHERE id = ANY(%s)", (ids[:200],)).fetchall())
    with Session(engine) as session:
        for oid in ids[:200]:
            replayed = status_as_of(session, oid, scope=scope)
            sql = raw((oid, date.max - timedelta(days=1)))
            if replayed is None or replayed.value != current[oid] or sql != current[oid]:
                raise Disagreement(f"outfall {oid}: row says {current[oid]}, replay {replayed}, SQL {sql}")
    return _result(
        "state as of a date (status_as_of)", t,
        "latest state-changing event up to the day's end: ORDER BY effective_at DESC, id DESC LIMIT 1",
        {"events_statement_seconds": round(t.part_median("events"), 6),
         "answers": {str(k): v for k, v in sorted(answers.items(), key=lambda kv: -kv[1])},
         "checked_against_row": min(200, len(ids)),
         "city_scoped_seconds": round(statistics.median(t.baselines["city-scoped reader"]), 6),
         "city_scoped_ratio": round(statistics.median(t.baselines["city-scoped reader"]) / statistics.median(t.raw), 3),
         "raw_prepared_seconds": round(statistics.median(t.baselines["raw prepared"]), 6),
         "ratio_to_raw_prepared": round(statistics.median(t.ours) / statistics.median(t.baselines["raw prepared"]), 3),
         "city_scoped_ratio_to_raw_prepared": round(statistics.median(t.baselines["city-scoped reader"])
                                                    / statistics.median(t.baselines["raw prepared"]), 3),
         **_open_session_figures(t)},
    )  # fmt: skip


FINISHED = ("closed", "rejected", "merged")  # cases that are no longer handed out
ASSIGN_SQL = f"""
WITH chosen AS (
  SELECT id, assigned_to AS previous FROM outfalls
  WHERE id = ANY(%(ids)s) AND status NOT IN {FINISHED} AND found_on <= %(day)s
    AND assigned_to IS DISTINCT FROM %(officer)s
  ORDER BY id FOR UPDATE
), changed AS (
  UPDATE outfalls o SET assigned_to = %(officer)s, version = o.version + 1, updated_at = now()
  FROM chosen c WHERE o.id = c.id
  RETURNING o.id, o.version, c.previous
)
INSERT INTO events (outfall_id, kind, payload, actor, effective_at, outfall_version)
SELECT id, 'assigned', jsonb_build_object('officer', %(officer)s::text, 'previous', previous), %(actor)s, %(at)s,
       version
FROM changed
"""
ELIGIBLE_SQL = f"""
SELECT count(*) FILTER (WHERE status NOT IN {FINISHED} AND found_on <= %(day)s
                        AND assigned_to IS DISTINCT FROM %(officer)s), count(*)
FROM outfalls WHERE id = ANY(%(ids)s)
"""
DONE_SQL = """
SELECT (SELECT count(*) FROM outfalls WHERE id = ANY(%(ids)s) AND assigned_to = %(officer)s),
       (SELECT count(*) FROM events WHERE outfall_id = ANY(%(ids)s) AND kind = 'assigned'
          AND payload->>'officer' = %(officer)s)
"""


ASSIGN_PARTS = ("officer", "lock", "update", "insert events")


def _assign_part(statement: str) -> str:
    """Which step of a bulk assignment a statement is."""
    head = statement.lstrip()[:40].upper()
    if head.startswith("UPDATE OUTFALLS"):
        return "update"
    if head.startswith("INSERT INTO EVENTS"):
        return "insert events"
    if "FOR UPDATE" in statement:
        return "lock"
    return "officer"  # the officer, his roles and his scope


def bench_assign(
    engine: sa.Engine,
    conn: psycopg.Connection[Any],
    all_ids: list[int],
    size: int,
    repeats: int,
    rng: np.random.Generator,
    progress: Progress,
) -> Result:
    """``assign_cases`` of ``size`` outfalls against one UPDATE + INSERT ... SELECT, ``repeats`` times each."""
    run = f"{int(clock.time()) % 1_000_000:06d}"
    officers = [f"bench-officer-{run}-{r}" for r in range(repeats + 1)]  # the first round is a warm-up
    with Session(engine) as session:
        for login in officers:
            accounts.create_user(session, login, roles=("case_officer",), is_national=True, actor=ACTOR)
        session.commit()
    scope = Scope.national()
    day = datetime.now(UTC).date()
    at = datetime.combine(day, time(4, 0), tzinfo=UTC)  # the product's moment for a local day (noon in China)
    progress.say(f"bulk assignment: assign_cases of {size:,} outfalls, {repeats} times, against SQL")
    t, warm_up = Timings(), Timings()
    changed: list[int] = []
    timer = SqlTimer(engine, _assign_part, conn)
    try:
        for r, officer in enumerate(officers):
            tt = warm_up if r == 0 else t
            pick = [int(i) for i in rng.choice(all_ids, size=2 * size, replace=False)]
            ours_ids, raw_ids = sorted(pick[:size]), sorted(pick[size:])
            eligible = {}
            for side, ids in (("ours", ours_ids), ("raw", raw_ids)):  # untimed: also reads the rows into memory
                row = conn.execute(ELIGIBLE_SQL, {"ids": ids, "day": day, "officer": officer}).fetchone()
                assert row is not None
                eligible[side] = row[0]
            for side in ("ours", "raw") if r % 2 == 0 else ("raw", "ours"):
                if side == "ours":
                    timer.take()
                    t0 = clock.perf_counter()
                    with Session(engine) as session:
                        report = assign_cases(session, ours_ids, officer, actor=ACTOR, scope=scope, on=day)
                        session.commit()
                    tt.add_ours(clock.perf_counter() - t0, timer)
                    n_changed = sum(1 for x in report.results if x.ok and x.code is None)
                else:
                    t0 = clock.perf_counter()
                    with conn.transaction():
                        cur = conn.execute(ASSIGN_SQL, {"ids": raw_ids, "day": day, "officer": officer,
                                                        "actor": ACTOR, "at": at})  # fmt: skip
                    tt.raw.append(clock.perf_counter() - t0)
                    n_changed = cur.rowcount
                if n_changed != eligible[side]:
                    raise Disagreement(f"{side}: {n_changed:,} outfalls assigned, {eligible[side]:,} could be")
            for side, ids in (("ours", ours_ids), ("raw", raw_ids)):
                done = conn.execute(DONE_SQL, {"ids": ids, "officer": officer}).fetchone()
                assert done is not None
                rows, events = done
                if rows != eligible[side] or events != eligible[side]:
                    raise Disagreement(f"{side}: {rows:,} outfalls and {events:,} events for {eligible[side]:,}")
            if r > 0:
                changed.append(eligible["ours"])
            progress.say(
                f"  {officer}{' (warm-up)' if r == 0 else ''}: ours {_fmt_s(tt.ours[-1])}, SQL {_fmt_s(tt.raw[-1])}; "
                f"{eligible['ours']:,} and {eligible['raw']:,} changed"
            )
    finally:
        timer.close()
    return Result(
        f"bulk assignment of {size:,} (assign_cases)",
        statistics.median(t.ours),
        "one UPDATE outfalls ... WHERE id = ANY(...) + INSERT INTO events ... SELECT (one WITH statement), commit",
        statistics.median(t.raw),
        {
            "repeats": repeats,
            "warm_up_seconds": round(warm_up.ours[0], 6),
            "baseline_warm_up_seconds": round(warm_up.raw[0], 6),
            "max_seconds": round(max(t.ours), 6),
            "baseline_max_seconds": round(max(t.raw), 6),
            "outfalls": size,
            "changed": round(statistics.median(changed)),
            "statements_per_call": round(statistics.median(t.statements), 1),
            "sql_seconds": round(statistics.median(t.sql), 6),
            "sql_seconds_by_statement": {p: round(t.part_median(p), 6) for p in ASSIGN_PARTS},
            "outfalls_per_s": round(size / statistics.median(t.ours)),
            "baseline_outfalls_per_s": round(size / statistics.median(t.raw)),
        },
    )


def measure(url: str, lookups: int, assign: int, repeats: int, seed: int, progress: Progress) -> list[Result]:
    """The three figures on the built database."""
    rng = np.random.default_rng(seed + 2)
    engine = make_engine(url)
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=None) as conn:
            all_ids = [r[0] for r in conn.execute("SELECT id FROM outfalls ORDER BY id")]
            pick = [int(i) for i in rng.choice(all_ids, size=min(lookups, len(all_ids)), replace=False)]
            results = [bench_timeline(engine, conn, pick, progress)]
            pick = [int(i) for i in rng.choice(all_ids, size=min(lookups, len(all_ids)), replace=False)]
            results.append(bench_as_of(engine, conn, pick, rng, progress))
            size = min(assign, len(all_ids) // 2)
            results.append(bench_assign(engine, conn, all_ids, size, repeats, rng, progress))
    finally:
        engine.dispose()
    return results


# -- output ------------------------------------------------------------------------------------------------
def print_table(b: Build, commit: str, results: list[Result]) -> None:
    print(
        f"lifecycle bench: {b.outfalls:,} outfalls, {b.events:,} events when built, {os.cpu_count()} CPUs, "
        f"outfalls {commit} (ratio = ours / baseline, lower is better)"
    )
    print(f"{'result':<40} {'ours':>10} {'baseline':>10} {'ratio':>7}  notes")
    for r in results:
        x = r.extra
        if "repeats" in x:
            notes = (
                f"max {_fmt_s(x['max_seconds'])} vs {_fmt_s(x['baseline_max_seconds'])} of {x['repeats']}; "
                f"{x['changed']:,} changed; {x['statements_per_call']:g} statements, SQL {_fmt_s(x['sql_seconds'])} ("
                + ", ".join(f"{k} {_fmt_s(v)}" for k, v in x["sql_seconds_by_statement"].items())
                + ")"
            )
        else:
            notes = (
                f"p95 {_fmt_s(x['p95_seconds'])} vs {_fmt_s(x['baseline_p95_seconds'])} over {x['calls']} calls; "
                f"{x['statements_per_call']:g} statements, SQL {_fmt_s(x['sql_seconds'])} "
                f"(events {_fmt_s(x['events_statement_seconds'])})"
            )
            if "open_session_seconds" in x:
                notes += (
                    f"; on an open session {_fmt_s(x['open_session_seconds'])} "
                    f"(p95 {_fmt_s(x['open_session_p95_seconds'])}), ratio {x['open_session_ratio']:.2f}"
                )
            if "city_scoped_seconds" in x:
                notes += (
                    f"; a city-scoped reader {_fmt_s(x['city_scoped_seconds'])}, ratio {x['city_scoped_ratio']:.2f}"
                )
            if "raw_prepared_seconds" in x:
                notes += (
                    f"; the SQL prepared {_fmt_s(x['raw_prepared_seconds'])}: ratio {x['ratio_to_raw_prepared']:.2f}, "
                    f"city-scoped {x['city_scoped_ratio_to_raw_prepared']:.2f}"
                )
            if "events_sql_seconds" in x:
                notes += (
                    f"; {x['events_per_timeline']} events; the events SELECT alone {_fmt_s(x['events_sql_seconds'])} "
                    f"(p95 {_fmt_s(x['events_sql_p95_seconds'])}), ratio {x['events_ratio']:.2f}"
                )
        print(f"{r.name:<40} {_fmt_s(r.seconds):>10} {_fmt_s(r.baseline_seconds):>10} {r.ratio:>7.2f}  {notes}")
    print(
        f"build (outfalls {b.commit}): generating {b.generate_s:.1f} s, case work {b.case_work_s:.1f} s, "
        f"create_outfalls {b.create_s:.1f} s, VACUUM ANALYZE {b.vacuum_s:.1f} s; {b.total_s:.1f} s in all"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outfalls", type=int, default=1_000_000, metavar="N", help="outfalls to create (1000000)")
    parser.add_argument("--events-per-outfall", type=int, default=EVENTS_PER_OUTFALL, metavar="E",
                        help=f"events an outfall, created included ({EVENTS_PER_OUTFALL})")  # fmt: skip
    parser.add_argument("--lookups", type=int, default=LOOKUPS, help=f"outfalls per latency figure ({LOOKUPS})")
    parser.add_argument("--assign", type=int, default=ASSIGN, metavar="M", help=f"outfalls per assignment ({ASSIGN})")
    parser.add_argument("--assign-repeats", type=int, default=ASSIGN_REPEATS,
                        help=f"assignments each side ({ASSIGN_REPEATS})")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep", action="store_true", help="keep the cluster (its URL is printed) instead of removing it"
    )
    keep.add_argument(
        "--reuse", type=Path, metavar="DIR", help="keep the cluster in DIR; measure DIR's build again if it has one"
    )
    parser.add_argument("--seed", type=int, default=2023, help="random seed of the generated catalogue")
    args = parser.parse_args(argv)
    if min(args.outfalls, args.lookups, args.assign_repeats) < 1 or args.outfalls < 2 or args.events_per_outfall < 1:
        parser.error("--outfalls must be at least 2, --events-per-outfall, --lookups and --assign-repeats at least 1")
    progress = Progress()
    commit = _code_version()  # the code imported now is the code measured
    progress.say(f"outfalls {commit}, PostgreSQL from {find_bin_dir()}")
    wanted = {"outfalls": args.outfalls, "events_per_outfall": args.events_per_outfall, "seed": args.seed}
    if args.reuse is None:
        with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, _root):
            b = build(url, args.outfalls, args.events_per_outfall, args.seed, commit, progress)
            results = measure(url, args.lookups, args.assign, args.assign_repeats, args.seed, progress)
    else:
        meta = args.reuse / META_FILE
        with reused_cluster(progress, args.reuse) as url:
            if meta.exists():
                b = Build(**json.loads(meta.read_text()))
                if {k: getattr(b, k) for k in wanted} != wanted:
                    raise SystemExit(f"{args.reuse} holds a build of {b}; use another folder for {wanted}")
                progress.say(f"reusing the build of {b.outfalls:,} outfalls and {b.events:,} events ({b.commit})")
            else:
                with psycopg.connect(libpq_url(url)) as conn:
                    if _one(conn, "SELECT count(*) FROM outfalls"):
                        raise SystemExit(f"{args.reuse} holds an unfinished build: remove the folder first")
                b = build(url, args.outfalls, args.events_per_outfall, args.seed, commit, progress)
                meta.write_text(json.dumps(dataclasses.asdict(b)))
            results = measure(url, args.lookups, args.assign, args.assign_repeats, args.seed, progress)
    if args.json:
        print(json.dumps({"bench": "lifecycle", "size": args.outfalls, "results": [r.as_dict() for r in results]}))
    else:
        print_table(b, commit, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
