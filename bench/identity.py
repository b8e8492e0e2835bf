"""Identity benchmark: who a request is, from a session cookie or an API token, against the same single SELECT by
hand.

Run ``.venv/bin/python bench/identity.py [--users 1000] [--repeats 300] [--json] [--keep]``.

A throwaway PostGIS cluster is started with the product's own cluster code, migrated and loaded with the reference
data (as in ``bench/catalogue.py``); ``--users`` users are created, each with two roles, a city scope, a web
session and an API token, and the measured user is the last one. Measured:

``identity, session cookie``
    ``web.auth``'s identity check as a request runs it (a request context holding the cookie, the request's
    database session from the pool, the SELECT of session, user, roles and scope, the teardown that gives the
    connection back), with the session seen recently, as on nearly every request.
    The identity is kept by the process (``outfalls.identity.kept_identities``) until a change of identity is
    committed, so this is a request that sends no SQL to know who it is.
``identity, API token (Bearer)``
    The same with ``Authorization: Bearer``, the token used recently.
``identity, session cookie, not kept`` / ``identity, API token (Bearer), not kept``
    The same with the kept identities dropped before each call: the prepared SELECT on a pooled connection.
``identity, session cookie, former way``
    For comparison, the way requests resolved a cookie before the single SELECT: ``accounts.resolve_session`` and
    ``accounts.identity_of`` (the session with its user, then the roles and the scope rows as the ORM loads
    them: three SELECTs) and a commit.
``a request's session, SELECT 1``
    What a view's first read adds to any request: a request context and its database session sending ``SELECT 1``
    in a transaction (pool checkout, pinged only when the connection sat idle, ``BEGIN``, the statement,
    ``ROLLBACK`` at teardown), against ``SELECT 1`` by hand. The identity SELECT itself runs outside the
    transaction, so the identity figures above do not include ``BEGIN`` and ``ROLLBACK``.

Baseline, in the same run: the very same SELECT sent with psycopg on one open connection (no prepared statements);
``prepared_baseline_seconds`` and ``ratio_to_prepared``: against the SELECT prepared on its connection, as the
product sends it since it prepares its identity statements.
Ratio = our seconds ÷ baseline seconds, medians over ``--repeats`` calls, ours and the baseline alternating; the
goal is ≤ 2 ms for ours. ``statements_per_request`` counts the SQL statements one check sends, ``writes`` the
UPDATE/INSERT among them. Progress goes to stderr; a table (or, with ``--json``, one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from catalogue import Progress, Result, _code_version, _p95, _timed_pair, libpq_url, make_app, throwaway_cluster
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.db.engine import make_engine
from outfalls.identity import SESSION_IDENTITY, TOKEN_IDENTITY, kept_identities

CITIES = ("610100", "610200", "610300", "610400", "610500", "610600", "610700", "610800", "610900", "611000")


def _psycopg_sql(statement: sa.TextClause) -> str:
    return str(statement).replace(":now", "%(now)s").replace(":id", "%(id)s").replace(":hash", "%(hash)s")


def make_users(url: str, n: int, progress: Progress) -> tuple[str, str]:
    """``n`` users with roles, a city, a session and a token; the cookie and token of the last one."""
    progress.say(f"creating {n} users, each with a session and a token")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            cookie = token = ""
            for i in range(n):
                login = f"user{i:05d}"
                user = accounts.create_user(session, login, roles=("crew", "case_officer"),
                                            areas=(CITIES[i % len(CITIES)],), actor="bench")  # fmt: skip
                cookie, _ = accounts.start_session(session, user)
                _, token = accounts.create_token(session, login, name="QGIS", actor="bench")
            session.commit()
    finally:
        engine.dispose()
    return cookie, token


def bench(app: Flask, url: str, cookie: str, token: str, repeats: int, progress: Progress) -> list[Result]:
    """Median and p95 of the identity check against the same SELECT by hand."""
    from web.auth import SESSION_COOKIE, _resolve_identity
    from web.db import primary_db as db

    engine: sa.Engine = app.extensions["outfalls.sessions"].kw["bind"]
    cases: list[tuple[str, dict[str, str], str, dict[str, Any]]] = [
        ("identity, session cookie", {"Cookie": f"{SESSION_COOKIE}={cookie}"}, _psycopg_sql(SESSION_IDENTITY),
         {"id": accounts.sha256_hex(cookie)}),
        ("identity, API token (Bearer)", {"Authorization": f"Bearer {token}"}, _psycopg_sql(TOKEN_IDENTITY),
         {"hash": accounts.sha256_hex(token)}),
    ]  # fmt: skip
    results = []
    driver_execute = psycopg.Connection.execute
    with (
        psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=None) as conn,
        psycopg.connect(libpq_url(url), autocommit=True) as prepared_conn,
    ):
        for name, headers, sql, params in cases:
            progress.say(f"latency: {name}")

            def ours(headers: dict[str, str] = headers, name: str = name) -> Any:
                with app.test_request_context("/api/outfalls", headers=headers):
                    identity = _resolve_identity()
                if identity is None:
                    raise SystemExit(f"{name}: no identity")
                return identity

            def raw(sql: str = sql, params: dict[str, Any] = params, name: str = name) -> Any:
                row = conn.execute(sql, params | {"now": datetime.now(UTC)}).fetchone()
                if row is None:
                    raise SystemExit(f"{name}: the raw SELECT found nothing")
                return row

            ours()  # marks the session seen, the token used: the state of nearly every request
            sent: list[str] = []

            def record(_conn: Any, _cursor: Any, statement: str, *_args: Any, sent: list[str] = sent) -> None:
                sent.append(statement.lstrip().split(None, 1)[0].upper())

            def by_driver(self: Any, query: Any, *args: Any, sent: list[str] = sent, **kw: Any) -> Any:
                sent.append(str(query).lstrip().split(None, 1)[0].upper())
                return driver_execute(self, query, *args, **kw)

            # statements through SQLAlchemy, and those sent straight to the driver (the identity SELECT)
            event.listen(engine, "before_cursor_execute", record)
            psycopg.Connection.execute = by_driver  # type: ignore[method-assign]
            try:
                ours()
            finally:
                psycopg.Connection.execute = driver_execute  # type: ignore[method-assign]
                event.remove(engine, "before_cursor_execute", record)

            def raw_prepared(sql: str = sql, params: dict[str, Any] = params) -> Any:  # as ours sends it
                return prepared_conn.execute(sql, params | {"now": datetime.now(UTC)}, prepare=True).fetchone()

            kept = kept_identities(engine)

            def not_kept(ours: Callable[[], Any] = ours, kept: Any = kept) -> Any:
                if kept is not None:
                    kept.clear()
                return ours()

            a, b = _timed_pair(ours, raw, repeats, 10)
            a2, p = _timed_pair(ours, raw_prepared, repeats, 10)
            a3, b3 = _timed_pair(not_kept, raw, repeats, 10)
            a4, p4 = _timed_pair(not_kept, raw_prepared, repeats, 10)
            results.append(Result(f"{name}, not kept", statistics.median(a3),
                                  "the same single SELECT via psycopg, open connection", statistics.median(b3), {
                                      "p95_seconds": round(_p95(a3), 6), "baseline_p95_seconds": round(_p95(b3), 6),
                                      "repeats": repeats, "prepared_baseline_seconds": round(statistics.median(p4), 6),
                                      "ratio_to_prepared": round(statistics.median(a4) / statistics.median(p4), 3),
                                  }))  # fmt: skip
            results.append(Result(name, statistics.median(a), "the same single SELECT via psycopg, open connection",
                                  statistics.median(b), {
                                      "p95_seconds": round(_p95(a), 6), "baseline_p95_seconds": round(_p95(b), 6),
                                      "repeats": repeats, "statements_per_request": len(sent),
                                      "writes": sum(s in ("UPDATE", "INSERT", "DELETE") for s in sent),
                                      "prepared_baseline_seconds": round(statistics.median(p), 6),
                                      "ratio_to_prepared": round(statistics.median(a2) / statistics.median(p), 3),
                                  }))  # fmt: skip
        progress.say("latency: the former way (three SELECTs and a commit)")

        def former() -> Any:  # the session, then its user's roles and scope rows as the ORM loads them; a commit
            with app.test_request_context("/api/outfalls"):
                session = db()
                web_session = accounts.resolve_session(session, cookie)
                if web_session is None:
                    raise SystemExit("the former way: no session")
                identity = accounts.identity_of(web_session.user)
                session.commit()
                return identity

        a, b = _timed_pair(former, lambda: conn.execute(cases[0][2], cases[0][3] | {"now": datetime.now(UTC)}),
                           repeats, 10)  # fmt: skip
        results.append(Result(
            "identity, session cookie, former way", statistics.median(a),
            "the same single SELECT via psycopg, open connection", statistics.median(b),
            {"p95_seconds": round(_p95(a), 6), "repeats": repeats,
             "note": "accounts.resolve_session + identity_of + commit, as requests did before the single SELECT"},
        ))  # fmt: skip
        progress.say("latency: a request's session alone")

        def bare() -> Any:  # a request's session with a transaction: checkout, BEGIN, the statement, ROLLBACK
            with app.test_request_context("/api/outfalls"):
                return db().execute(sa.text("SELECT 1")).scalar()

        a, b = _timed_pair(bare, lambda: conn.execute("SELECT 1").fetchone(), repeats, 10)
        results.append(Result(
            "a request's session, SELECT 1", statistics.median(a), "SELECT 1 via psycopg, open connection",
            statistics.median(b), {"p95_seconds": round(_p95(a), 6), "repeats": repeats,
                                   "note": "a session's fixed cost with a transaction (checkout, BEGIN, ROLLBACK)"},
        ))  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1000, metavar="N", help="users, sessions and tokens (1000)")
    parser.add_argument("--repeats", type=int, default=300, help="calls per figure (300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the cluster (and print how to stop it)")
    args = parser.parse_args(argv)
    progress = Progress()
    commit = _code_version()
    with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, root):
        app = make_app(url, root / "data")
        cookie, token = make_users(url, args.users, progress)
        results = bench(app, url, cookie, token, args.repeats, progress)
    if args.json:
        print(json.dumps({"bench": "identity", "size": args.users, "commit": commit,
                          "results": [r.as_dict() for r in results]}, ensure_ascii=False))  # fmt: skip
    else:
        print(f"identity of a request, {args.users} users (outfalls {commit})")
        for r in results:
            x = r.extra
            prepared = (f"; prepared by hand {x['prepared_baseline_seconds'] * 1000:.2f} ms, ratio "
                        f"{x['ratio_to_prepared']:.2f}") if "prepared_baseline_seconds" in x else ""  # fmt: skip
            print(f"  {r.name:30} {r.seconds * 1000:7.2f} ms   by hand {r.baseline_seconds * 1000:7.2f} ms   "
                  f"ratio {r.ratio:.2f}   {x.get('statements_per_request', '-')} statement(s), "
                  f"{x.get('writes', '-')} write(s){prepared}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
