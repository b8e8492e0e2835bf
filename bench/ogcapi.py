"""OGC API – Features benchmark: item pages (limit 1000) of the outfalls collection served by ``outfalls serve``
against pygeoapi serving the same table from the same PostGIS, in the same run.

Run ``.venv/bin/python bench/ogcapi.py --outfalls 100000 [--json] [--keep]``.

The catalogue is built as in ``bench/catalogue.py`` (a throwaway cluster of the product's own
:class:`outfalls.db.cluster.Cluster`, Alembic, reference data, the same generated outfalls written by
``outfalls.catalogue.lifecycle.create_outfalls``), then ``VACUUM ANALYZE``. pygeoapi is installed from the package index
into a virtualenv of its own under ``/tmp`` (kept between runs, never in the project's ``.venv``) and serves
the ``outfalls`` table with its PostgreSQL provider (every column, ``id`` as the feature id, coordinates as
stored, like ours). Both servers run as separate processes under waitress with 4 threads on loopback ports and
are asked the same pages over one kept-alive HTTP connection each, alternately:

``page 1`` / ``page at offset N/2`` / ``last page``
    ``/ogc/collections/outfalls/items?limit=1000[&offset=...]`` (with an API token, so each request also
    resolves the identity) against pygeoapi's ``/collections/outfalls/items?limit=1000&sortby=id[&offset=...]``.
``bbox Xi'an`` / ``status=closed``
    the same with ``bbox=108.5,34.0,109.5,34.6`` or the property filter ``status=closed``.

Every answer is checked: the same feature ids in the same order and the same ``numberMatched`` on both sides.
Latencies are medians (and p95) of the requests after a warm-up, whole responses read (bytes are reported).
When pygeoapi cannot be installed (no package index), the baseline is a hand-written page query
(``json_agg(ST_AsGeoJSON ...)`` over the same rows with psycopg) and the results say so.
Every ratio is our seconds divided by the baseline's seconds: lower is better, 1.0 means no overhead.
Progress goes to stderr; a table (or, with ``--json``, one JSON object) goes to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from catalogue import Progress, Result, _code_version, _fmt_s, _p95, generate, libpq_url, throwaway_cluster
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.lifecycle import create_outfalls
from outfalls.config import PROJECT_DIR
from outfalls.db.engine import make_engine

LIMIT = 1000
REPEATS = 15
WARMUP = 2
XIAN_BBOX = "108.5,34.0,109.5,34.6"
PYGEOAPI_VENV = Path("/tmp/outfalls-bench-pygeoapi")
PYGEOAPI_PACKAGES = ("pygeoapi", "waitress", "psycopg2-binary", "geoalchemy2")
SERVE_PYGEOAPI = """
import sys
from waitress import serve
from pygeoapi.flask_app import APP
serve(APP, host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
"""


# -- the catalogue -----------------------------------------------------------------------------------------------
def build(url: str, n: int, seed: int, progress: Progress) -> tuple[str, float]:
    """Create N outfalls through the product, VACUUM ANALYZE, and return an API token of a national user."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            progress.say(f"generating {n:,} outfalls along the Shaanxi rivers (bench/catalogue.py)")
            items = generate(session, n, seed)
            t0 = time.perf_counter()
            create_outfalls(session, items, actor="bench", progress=progress.counter("create_outfalls", n))
            accounts.create_user(session, "bench_gis", roles=("leader",), is_national=True, actor="bench")
            _token, plain = accounts.create_token(session, "bench_gis", name="bench", actor="bench")
            session.commit()
            created = time.perf_counter() - t0
    finally:
        engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return plain, created


# -- the two servers ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes], headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} stopped (exit {process.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not answer {path} within 120 s")


@contextmanager
def serving(args: list[str], env: dict[str, str], port: int, path: str, headers: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, path, process, headers)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def install_pygeoapi(progress: Progress) -> Path | None:
    """The Python of a virtualenv holding pygeoapi (reused when present); None when it cannot be installed."""
    python = PYGEOAPI_VENV / "bin" / "python"
    check = [str(python), "-c", "import pygeoapi, waitress, psycopg2, geoalchemy2; print(pygeoapi.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    progress.say(f"installing pygeoapi into {PYGEOAPI_VENV} (the bench's own virtualenv)")
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(PYGEOAPI_VENV)], capture_output=True, check=False
    )
    pip = [str(PYGEOAPI_VENV / "bin" / "pip"), "install", "-q", *PYGEOAPI_PACKAGES]
    if made.returncode != 0 or subprocess.run(pip, capture_output=True, check=False).returncode != 0:
        progress.say("pygeoapi could not be installed: the baseline is a hand-written page query")
        return None
    return python if subprocess.run(check, capture_output=True, check=False).returncode == 0 else None


def pygeoapi_config(folder: Path, url: str, port: int) -> tuple[Path, Path]:
    """A pygeoapi configuration serving the outfalls table, and its OpenAPI document."""
    parts = make_url(url)
    socket_dir, dbname = parts.query["host"], parts.database
    config = folder / "pygeoapi-config.yml"
    config.write_text(
        textwrap.dedent(f"""\
        server:
          bind: {{host: 127.0.0.1, port: {port}}}
          url: http://127.0.0.1:{port}
          mimetype: application/json; charset=UTF-8
          encoding: utf-8
          languages: [en-US]
          limits: {{default_items: 100, max_items: 10000}}
          map: {{url: "http://127.0.0.1/{{z}}/{{x}}/{{y}}.png", attribution: none}}
        logging: {{level: ERROR}}
        metadata:
          identification:
            title: outfalls bench
            description: the outfalls table
            keywords: [outfalls]
            keywords_type: theme
            terms_of_service: none
            url: http://127.0.0.1
          license: {{name: none, url: http://127.0.0.1}}
          provider: {{name: bench, url: http://127.0.0.1}}
          contact: {{name: bench}}
        resources:
          outfalls:
            type: collection
            title: outfalls
            description: outfalls
            keywords: [outfalls]
            extents:
              spatial: {{bbox: [105, 31, 112, 40], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
            links: []
            providers:
              - type: feature
                name: PostgreSQL
                data: {{host: "{socket_dir}", port: 5432, dbname: {dbname}, user: postgres, password: "",
                        search_path: [public]}}
                id_field: id
                table: outfalls
                geom_field: geom
        """)
    )
    openapi = folder / "pygeoapi-openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config)}
    generate_openapi = ["-c", "from pygeoapi import cli; cli()", "openapi", "generate", str(config)]
    subprocess.run([str(PYGEOAPI_VENV / "bin" / "python"), *generate_openapi, "--output-file", str(openapi)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    return config, openapi


# -- measuring ---------------------------------------------------------------------------------------------------
class Client:
    """One kept-alive HTTP connection; ``get`` returns the status, the body and the seconds it took."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[bytes, float]:
        """GET ``path`` and read the whole body."""
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200:
            raise SystemExit(f"GET {path} on port {self.port}: {response.status} {body[:300]!r}")
        return body, elapsed


def page_sql(query: str) -> str:
    """The baseline when pygeoapi is not available: one page as GeoJSON in SQL."""
    where = {"bbox": f"WHERE geom && ST_MakeEnvelope({XIAN_BBOX}, 4490)", "status": "WHERE status = 'closed'"}
    cond = where.get(query.split("=", 1)[0], "") if query and not query.startswith("offset") else ""
    offset = int(query.split("=", 1)[1]) if query.startswith("offset") else 0
    return (
        "SELECT json_build_object('type', 'FeatureCollection', 'numberMatched', "
        f"(SELECT count(*) FROM outfalls {cond}), 'features', coalesce(json_agg(json_build_object('type', 'Feature', "
        "'id', id, 'geometry', ST_AsGeoJSON(geom)::json, 'properties', to_jsonb(p) - 'geom') ORDER BY id), '[]'))"
        f"::text FROM (SELECT * FROM outfalls {cond} ORDER BY id LIMIT {LIMIT} OFFSET {offset}) p"
    )


Baseline = tuple[str, Callable[[str], tuple[bytes, float]]]  # what it is, and how to ask it for a page


def measure(
    cases: list[tuple[str, str]],
    ours: Client,
    baselines: Callable[[str], Baseline],
    repeats: int,
    progress: Progress,
) -> list[Result]:
    results = []
    for name, query in cases:
        what, baseline = baselines(query)
        ours_path = f"/ogc/collections/outfalls/items?limit={LIMIT}" + (f"&{query}" if query else "")
        ours_s: list[float] = []
        base_s: list[float] = []
        for i in range(WARMUP + repeats):
            first, second = (0, 1) if i % 2 == 0 else (1, 0)
            answers: list[tuple[bytes, float]] = [(b"", 0.0), (b"", 0.0)]
            for side in (first, second):
                answers[side] = ours.get(ours_path) if side == 0 else baseline(query)
            (ours_body, ours_t), (base_body, base_t) = answers
            if i == 0:
                check(name, json.loads(ours_body), json.loads(base_body))
            if i >= WARMUP:
                ours_s.append(ours_t)
                base_s.append(base_t)
        doc = json.loads(ours_body)
        result = Result(name, statistics.median(ours_s), what, statistics.median(base_s), {
            "p95_seconds": round(_p95(ours_s), 6), "baseline_p95_seconds": round(_p95(base_s), 6),
            "requests": repeats, "features": doc["numberReturned"], "number_matched": doc["numberMatched"],
            "bytes": len(ours_body), "baseline_bytes": len(base_body),
        })  # fmt: skip
        progress.say(f"  {name}: {_fmt_s(result.seconds)} vs {_fmt_s(result.baseline_seconds)}")
        results.append(result)
    return results


def check(name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """The same features, in the same order, and the same total."""
    ours_ids = [f["id"] for f in ours["features"]]
    their_ids = [int(f["id"]) for f in theirs["features"]]
    if ours_ids != their_ids or ours["numberMatched"] != theirs["numberMatched"]:
        raise SystemExit(
            f"{name}: the answers differ ({len(ours_ids)} vs {len(their_ids)} features, numberMatched "
            f"{ours['numberMatched']} vs {theirs['numberMatched']})"
        )


SQL_BASELINE = "hand-written SQL page (json_agg of ST_AsGeoJSON) with psycopg"


def run(url: str, root: Path, n: int, seed: int, repeats: int, progress: Progress) -> list[Result]:
    token, created_s = build(url, n, seed, progress)
    progress.say(f"built in {created_s:.1f} s")
    offset_mid = (n // 2 // LIMIT) * LIMIT
    offset_last = max(0, ((n - 1) // LIMIT) * LIMIT)
    cases = [
        ("page 1", ""),
        (f"page at offset {offset_mid:,}", f"offset={offset_mid}"),
        (f"last page (offset {offset_last:,})", f"offset={offset_last}"),
        ("bbox Xi'an", f"bbox={XIAN_BBOX}"),
        ("status=closed", "status=closed"),
    ]
    ours_port = free_port()
    auth = {"Authorization": f"Bearer {token}"}
    env = {**os.environ, "OUTFALLS_DATABASE_URL": url, "OUTFALLS_DATA_DIR": str(root / "data")}
    ours_cmd = [sys.executable, "-m", "outfalls", "serve", "--port", str(ours_port), "--threads", "4"]
    python = install_pygeoapi(progress)
    with (
        serving(ours_cmd, env, ours_port, "/ogc/collections", auth),
        psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=None) as conn,
    ):
        ours = Client(ours_port, auth)

        def raw(query: str) -> tuple[bytes, float]:
            t0 = time.perf_counter()
            row = conn.execute(page_sql(query)).fetchone()
            body = str(row[0] if row else "").encode()
            return body, time.perf_counter() - t0

        sql: Baseline = (SQL_BASELINE, raw)
        if python is None:
            progress.say(f"measuring {len(cases)} pages x {repeats} against hand-written SQL")
            return measure(cases, ours, lambda _query: sql, repeats, progress)
        their_port = free_port()
        config, openapi = pygeoapi_config(root, url, their_port)
        their_env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
        their_cmd = [str(python), "-c", SERVE_PYGEOAPI, str(their_port)]
        with serving(their_cmd, their_env, their_port, "/collections/outfalls?f=json", {}):
            theirs = Client(their_port, {"Accept": "application/geo+json"})
            version = subprocess.run([str(python), "-c", "import pygeoapi; print(pygeoapi.__version__)"],
                                     capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip

            def pygeoapi(query: str) -> tuple[bytes, float]:
                extra = f"&{query}" if query else ""
                return theirs.get(f"/collections/outfalls/items?f=json&limit={LIMIT}&sortby=id{extra}")

            def baseline_for(query: str) -> Baseline:
                # pygeoapi's PostgreSQL provider makes its bbox envelope in EPSG:4326, which PostGIS refuses against
                # the CGCS2000 (4490) column; declared as 4490 storage it ignores the bbox: hand-written SQL instead
                return sql if query.startswith("bbox") else (f"pygeoapi {version} (PostgreSQL provider)", pygeoapi)

            progress.say(f"measuring {len(cases)} pages x {repeats} against pygeoapi {version}")
            return measure(cases, ours, baseline_for, repeats, progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outfalls", type=int, default=100_000, metavar="N", help="outfalls to create (100000)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"requests per page and side ({REPEATS})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the cluster (its URL is printed)")
    parser.add_argument("--seed", type=int, default=2023, help="random seed of the generated catalogue")
    args = parser.parse_args(argv)
    if args.outfalls < LIMIT or args.repeats < 1:
        parser.error(f"--outfalls must be at least {LIMIT} and --repeats at least 1")
    progress = Progress()
    commit = _code_version()
    progress.say(f"outfalls {commit} in {PROJECT_DIR}")
    with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, root):
        results = run(url, root, args.outfalls, args.seed, args.repeats, progress)
    if args.json:
        print(json.dumps({"bench": "ogcapi", "size": args.outfalls, "results": [r.as_dict() for r in results]}))
        return 0
    print(f"OGC API bench: {args.outfalls:,} outfalls, {os.cpu_count()} CPUs, outfalls {commit}, limit={LIMIT} "
          "(ratio = ours / baseline, lower is better)")  # fmt: skip
    print(f"{'result':<30} {'ours':>10} {'baseline':>10} {'ratio':>7}  notes")
    for r in results:
        x = r.extra
        notes = (
            f"p95 {_fmt_s(x['p95_seconds'])} vs {_fmt_s(x['baseline_p95_seconds'])}; {x['features']:,} features of "
            f"{x['number_matched']:,}; {x['bytes'] / 1e6:.2f} MB vs {x['baseline_bytes'] / 1e6:.2f} MB; {r.baseline}"
        )
        print(f"{r.name:<30} {_fmt_s(r.seconds):>10} {_fmt_s(r.baseline_seconds):>10} {r.ratio:>7.2f}  {notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
