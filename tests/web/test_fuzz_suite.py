"""Hostile input: whatever a client sends, the answer is a clear refusal or a result, never a 500, a traceback, a
JSON body a strict parser rejects, a change to the database when refused, or a request that runs away with
the server's time or memory.

Attacks covered:

- **Query strings** (``test_hostile_query_values`` for a fixed list of known-bad values on every parameter of
  the main GET routes, ``test_generated_query_strings`` for generated ones): text with NUL and control
  characters, huge and negative numbers, 10^20, floats, NaN and Infinity, impossible dates (9999-12-31,
  0000-00-00), very long strings, unicode digits and right-to-left marks, SQL and HTML fragments, unknown
  parameters.
- **JSON bodies** (``test_hostile_json_bodies``, ``test_generated_json_bodies``) to the bulk, visit and tracing
  APIs: anything JSON can hold (hypothesis' recursive strategy, NaN included, as Python's parser accepts it),
  the APIs' own fields with wrong types, documents nested 100,000 deep, not JSON at all; the database must be
  unchanged after every refusal.
- **Uploads** (``test_hostile_uploads``, ``test_generated_uploads``) to ``POST /api/survey/import``: random
  bytes under every supported name, CSVs with formulas, NUL, huge fields, thousands of columns and repeated
  headers, ZIPs with too many members, a path-escaping member or a member that inflates a hundredfold and
  more, an XLSX whose sheet claims to span A1:XFD1048576, a KML with nested entities (billion laughs), a GPX
  without times, file names of 300 characters or with control characters. Each upload must finish in 10 s and
  allocate less than 300 MB; a refusal names the problem and leaves the database as it was.

The hypothesis tests are derandomized (the same examples on every run, so CI is reproducible) and do not
shrink (so a failure costs no more time than a pass); a failure prints the example that caused it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import resource
import signal
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart
from werkzeug.wrappers import Response

from outfalls.models import Outfall
from tests.web.test_scope_suite import ADMIN_IDS, FOREIGN_IDS, NOT_IDS, changed_tables, database_state, tile_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL_ROLES = ("crew", "analyst", "reviewer", "case_officer", "leader", "exporter")
XIAN = (108.94, 34.40)
MAX_SECONDS = 10.0
MAX_BYTES = 300 * 1024 * 1024

FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large),
)


# -- what every answer must be ------------------------------------------------------------------------------------
class TooSlow(BaseException):
    """Raised in the request by the alarm (a BaseException, so no ``except Exception`` in the code swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the request when it runs longer than ``seconds`` (a runaway parser must not hang the suite)."""

    def stop(_signum: int, _frame: Any) -> None:
        raise TooSlow(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def problems_of(response: Response) -> list[str]:
    """What is wrong with an answer: a server error, a traceback shown, JSON a strict parser refuses, a refusal
    that does not say what was wrong."""
    found = []
    body = response.get_data()
    if response.status_code >= 500:
        found.append(f"status {response.status_code}")
    text = body.decode("utf-8", "replace")
    if "Traceback (most recent call last)" in text or re.search(r'File "[^"]+\.py", line \d+', text):
        found.append("a traceback in the body")
    if response.mimetype == "application/json" or response.mimetype.endswith("+json"):
        try:
            parsed = json.loads(text, parse_constant=_no_constants)
        except ValueError as err:
            found.append(f"invalid JSON ({err})")
        else:
            if 400 <= response.status_code < 500 and isinstance(parsed, dict):
                message = parsed.get("message") or parsed.get("description")
                if not (isinstance(message, str) and message.strip()):
                    found.append(f"a {response.status_code} without a message")
    return found


def fetch(client: FlaskClient, method: str, url: str, **kw: Any) -> tuple[TestResponse | None, list[str]]:
    """The answer (read in full, within the time limit) and its problems; an exception is a problem too."""
    started = time.monotonic()
    try:
        with time_limit(MAX_SECONDS):
            response = client.open(url, method=method, headers={"X-CSRF-Token": client.csrf}, **kw)  # type: ignore[attr-defined]
            response.get_data()
            response.close()
    except TooSlow as err:
        return None, [f"took too long ({err})"]
    except Exception as err:  # noqa: BLE001 - in testing an unexpected error propagates: that is a 500
        return None, [f"raised {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"]
    problems = problems_of(response)
    if (seconds := time.monotonic() - started) > MAX_SECONDS:
        problems.append(f"took {seconds:.1f} s")
    return response, problems


def short(value: object, limit: int = 60) -> str:
    """A value as a report shows it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


# -- the world the requests see ------------------------------------------------------------------------------------
@pytest.fixture
def outfall(make_outfall: Callable[..., Outfall]) -> Outfall:
    return make_outfall(lonlat=XIAN, name="渭河南岸模糊测试排口")


@pytest.fixture
def user(make_user, login_as, outfall: Outfall) -> FlaskClient:
    """A national user holding every role but administration."""
    return login_as(make_user("fuzzer", roles=ALL_ROLES, national=True))


# -- query strings -------------------------------------------------------------------------------------------------
FILTERS = ("basin", "area", "type", "status", "q", "assigned", "category", "keep")
OGC_FILTERS = ("national_code", "local_code", "type_code", "status", "found_by", "basin", "area",
               "remediation_category", "assigned_to")  # fmt: skip
ROUTES: dict[str, tuple[str, ...]] = {
    "/outfalls": (*FILTERS, "page", "page_size"),
    "/outfalls.csv": FILTERS,
    "/api/outfalls": (*FILTERS, "page", "page_size"),
    "/api/map/outfalls": (*FILTERS, "bbox", "limit"),
    "/api/summary": FILTERS,
    "/outfalls/{id}": ("as_of",),
    "/dashboard": ("as_of", "by", "metric", "scope"),
    "/api/progress": ("as_of", "by", "metric"),
    "/api/progress/trend": ("as_of", "scope", "metric"),
    "/api/targets": ("as_of", "history"),
    "/ogc/collections/outfalls/items": ("bbox", "bbox-crs", "datetime", "limit", "offset", "crs", "f",
                                        *OGC_FILTERS),
    "/ogc/collections/outfalls/items/{id}": ("crs", "f"),
    "/registers": ("as_of", "basin", "area"),
    "/tiles/outfalls/{tile}.mvt": ("as_of", "state", "scope"),
}  # fmt: skip

# Known-bad values: every parameter gets the universal ones and those of its kind.
UNIVERSAL = ("\x00", "a\x00b", "\x01\x1b[31m\x7f\t\r\n", "x" * 10_000, "١٢", "\u202e1", str(2**64), "NaN")
NUMBERS = (str(10**20), str(2**31), str(2**63), "-" + str(2**63 + 1), "-1", "0", "1.5", "1e20", "Infinity", "１２")
DATES = ("9999-12-31", "0000-00-00", "2023-02-30", "-0001-01-01", "99999-01-01", "1970-01-01",
         "2023-01-01T00:00:00+99:00", "2023-01-01/..", "../..", "9999-12-31/9999-12-31")  # fmt: skip
BOXES = ("NaN,NaN,NaN,NaN", "inf,-inf,inf,-inf", "1e309,0,1e309,1", "-180,-90,180,90", "1,2,3", "1,2,3,4,5,6",
         "180,90,-180,-90", f"{2**64},0,1,1")  # fmt: skip
SCOPES = ("basin:", "county:" + "9" * 40, ":", "all:all", "county:\x00", "basin:HH:HH", "river:%")
TEXTS = ("' OR 1=1 --", "%", "_", "\\", "<script>x</script>", "9999-12-31", "-1", "me", "none")
KINDS = {"page": NUMBERS, "page_size": NUMBERS, "limit": NUMBERS, "offset": NUMBERS, "as_of": DATES,
         "datetime": DATES, "bbox": BOXES, "scope": SCOPES}  # fmt: skip
HOSTILE_VALUES = tuple(dict.fromkeys(UNIVERSAL + NUMBERS + DATES + BOXES + SCOPES + TEXTS))


def hostile_values(parameter: str) -> tuple[str, ...]:
    """The known-bad values sent as ``parameter``."""
    return UNIVERSAL + KINDS.get(parameter, TEXTS)


def _url(template: str, outfall: Outfall) -> str:
    x, y = tile_of(XIAN[0], XIAN[1], 12)
    return template.replace("{id}", str(outfall.id)).replace("{tile}", f"12/{x}/{y}")


# The known-bad values go to every parameter of these routes; the CSV list and the summary read their filters
# exactly as /api/outfalls does, and the list page is slow to render, so it gets those it shows back to the user
# (all of them go to every route in the generated test).
MATRIX = {t: ROUTES[t] for t in ROUTES if t not in ("/outfalls.csv", "/api/summary")} | {
    "/outfalls": ("q", "status", "page", "page_size")
}


def test_hostile_query_values(user: FlaskClient, outfall: Outfall):
    failures = []
    checked = 0
    for template, params in MATRIX.items():
        url = _url(template, outfall)
        for name in params:
            for value in hostile_values(name):
                _response, problems = fetch(user, "GET", url, query_string={name: value})
                checked += 1
                failures += [f"GET {url}?{name}={short(value)}: {p}" for p in problems]
    assert checked > 600
    assert failures == [], "\n".join(failures)


hostile_text = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=40),  # any unicode but lone surrogates (a URL cannot carry them)
    st.text(st.characters(codec="ascii"), max_size=20),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.lists(st.floats(allow_nan=True, allow_infinity=True).map(str), min_size=1, max_size=5).map(",".join),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "ä" * n),
)


@pytest.mark.parametrize("template", list(ROUTES))
@FUZZ
@given(data=st.data())
def test_generated_query_strings(user: FlaskClient, outfall: Outfall, template: str, data: st.DataObject):
    names = st.sampled_from(ROUTES[template]) | st.text(min_size=1, max_size=10)  # known and unknown parameters
    query = data.draw(st.dictionaries(names, hostile_text, min_size=1, max_size=3), label="query")
    url = _url(template, outfall)
    _response, problems = fetch(user, "GET", url, query_string=query)
    assert problems == [], f"GET {url} {query!r}"


# -- ids in paths ------------------------------------------------------------------------------------------------
PATH_IDS = (0, 2**31, 2**63, 10**20)  # beyond PostgreSQL's integer, bigint, and any 64-bit number


def test_huge_ids_in_paths(app: Flask, session: Session, user: FlaskClient, make_user, login_as):
    """Every route taking an id, with every method, given ids no column can hold: not found (or refused for the
    input it lacks: these requests carry nothing but the CSRF token), and nothing changed."""
    admin = login_as(make_user("fuzzadmin", roles=("admin",), national=True))
    failures = []
    before = database_state(session)
    rules = [r for r in app.url_map.iter_rules() if set(r.arguments) & {*FOREIGN_IDS, *ADMIN_IDS}]
    for rule in sorted(rules, key=lambda r: r.rule):
        for number in PATH_IDS:
            values = {a: number if a in FOREIGN_IDS or a in ADMIN_IDS else NOT_IDS[a] for a in rule.arguments}
            with app.test_request_context():
                url = url_for(rule.endpoint, **values)
            client = admin if set(rule.arguments) & ADMIN_IDS else user
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response, problems = fetch(client, method, url, data={"csrf_token": client.csrf})  # type: ignore[attr-defined]
                if response is not None and response.status_code not in (403, 404, 422):
                    problems.append(f"status {response.status_code}, not 404")
                failures += [f"{method} {url}: {p}" for p in problems]
    assert len(rules) >= 30
    assert changed_tables(before, database_state(session)) == []
    assert failures == [], "\n".join(failures)


# -- JSON bodies -----------------------------------------------------------------------------------------------
JSON_APIS = ("/api/outfalls/bulk", "/api/outfalls/{id}/visits", "/api/outfalls/{id}/traces")
FIELDS = {
    "/api/outfalls/bulk": ("action", "outfall_ids", "versions", "officer", "deadline", "category", "measures",
                           "reason", "on"),
    "/api/outfalls/{id}/visits": ("version", "visited_at", "discharge", "flow", "flow_m3s", "not_possible_reason",
                                  "colour", "turbidity", "oil_film", "results", "notes"),
    "/api/outfalls/{id}/traces": ("version", "traced_on", "method", "parties", "technique", "sewage_source",
                                  "use_status", "environmental_risk", "government_default", "government_reason",
                                  "notes"),
}  # fmt: skip
ITEM_FIELDS = ("parameter", "value", "unit", "method", "below_detection", "detection_limit", "lab", "name",
               "credit_code", "industry", "description", "share_pct", "is_main")  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(HOSTILE_VALUES),
)  # fmt: skip
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip


def shaped(api: str, outfall: Outfall) -> st.SearchStrategy[dict[str, Any]]:
    """The API's own fields, each with any value (the real version and ids often, so parsing goes deep)."""
    items = st.fixed_dictionaries({}, optional={k: json_values for k in ITEM_FIELDS})
    special: dict[str, st.SearchStrategy[Any]] = {
        "version": st.just(outfall.version) | json_values,
        "outfall_ids": st.just([outfall.id]) | st.lists(st.integers(min_value=-(2**70), max_value=2**70)) | json_values,
        "versions": st.just({str(outfall.id): outfall.version}) | json_values,
        "action": st.sampled_from(["assign", "unassign", "deadline", "category"]) | json_values,
        "results": st.lists(items, max_size=3) | json_values,
        "parties": st.lists(items, max_size=3) | json_values,
    }  # fmt: skip
    return st.fixed_dictionaries({}, optional={k: special.get(k, json_values) for k in FIELDS[api]})


def _deep(depth: int) -> list[tuple[str, bytes]]:
    return [
        (f"lists nested {depth} deep", b"[" * depth + b"]" * depth),
        (f"objects nested {depth} deep", b'{"a":' * depth + b"1" + b"}" * depth),
        (f"results nested {depth} deep", b'{"version":1,"results":[' + b"[" * depth + b"]" * depth + b"]}"),
    ]


def _post_json(client: FlaskClient, url: str, raw: bytes) -> tuple[TestResponse | None, list[str]]:
    return fetch(client, "POST", url, data=raw, content_type="application/json")


def _checked_post(session: Session, client: FlaskClient, url: str, raw: bytes) -> list[str]:
    before = database_state(session)
    response, problems = _post_json(client, url, raw)
    if response is not None and 400 <= response.status_code < 500:
        if changed := changed_tables(before, database_state(session)):
            problems.append(f"{response.status_code} but changed {changed}")
    return problems


def test_hostile_json_bodies(session: Session, user: FlaskClient, outfall: Outfall):
    bodies: list[tuple[str, bytes]] = [
        *_deep(100_000), *_deep(2_000),
        ("not JSON", b"{'version': 1"), ("NUL", b'{"version": 1, "notes": "a\\u0000b"}'), ("empty", b""),
        ("a list", b"[1, 2]"), ("NaN version", b'{"version": NaN}'), ("huge number", b'{"version": 1e400}'),
        ("a 2^70 version", b'{"version": 1180591620717411303424}'),
        ("invalid UTF-8", b'{"notes": "\xff\xfe"}'), ("BOM", b'\xef\xbb\xbf{"version": 1}'),
    ]  # fmt: skip
    special = {
        "/api/outfalls/bulk": [
            {"action": "deadline", "outfall_ids": [2**63], "deadline": "2030-01-01"},
            {"action": "deadline", "outfall_ids": [outfall.id], "deadline": "9999-12-31",
             "versions": {str(outfall.id): outfall.version}},
            {"action": "deadline", "outfall_ids": [outfall.id], "deadline": "2030-01-01",
             "versions": {str(2**70): 1}},
            {"action": "assign", "outfall_ids": [outfall.id] * 10_000, "officer": "fuzzer"},
            {"action": "category", "outfall_ids": [outfall.id], "category": "ban", "measures": "\x00"},
        ],
        "/api/outfalls/{id}/visits": [
            {"version": outfall.version, "visited_at": "2023-06-01T10:00:00+08:00", "discharge": "dry",
             "colour": 5},
            {"version": outfall.version, "visited_at": "9999-12-31T00:00:00+08:00", "discharge": "flowing"},
            {"version": outfall.version, "visited_at": "2023-06-01T10:00:00+08:00", "discharge": "flowing",
             "results": [{"parameter": "COD", "value": "NaN"}, {"parameter": "COD", "value": 1e308}]},
            {"version": outfall.version, "visited_at": "2023-06-01T10:00:00+08:00", "discharge": "flowing",
             "results": [{"parameter": "\x00", "value": 1, "lab": {"a": [1]}}]},
            {"version": outfall.version, "visited_at": "2023-06-01T10:00:00+08:00", "discharge": "flowing",
             "flow": "measured", "flow_m3s": "Infinity"},
        ],
        "/api/outfalls/{id}/traces": [
            {"version": outfall.version, "traced_on": "2023-06-01", "method": "on_site", "technique": ["x"]},
            {"version": outfall.version, "traced_on": "0000-00-00", "method": "on_site"},
            {"version": outfall.version, "traced_on": "2023-06-01", "method": "on_site",
             "parties": [{"name": "甲", "share_pct": "NaN", "is_main": True}]},
            {"version": outfall.version, "traced_on": "2023-06-01", "method": "on_site",
             "parties": [{"name": "\x00" * 3, "credit_code": 91610000, "is_main": True}]},
            {"version": outfall.version, "traced_on": "2023-06-01", "method": "on_site", "notes": "x" * 1_000_000},
        ],
    }  # fmt: skip
    failures = []
    for api in JSON_APIS:
        url = _url(api, outfall)
        cases = [*bodies, *((short(b, 90), json.dumps(b).encode()) for b in special[api])]
        for label, raw in cases:
            failures += [f"POST {url} {label}: {p}" for p in _checked_post(session, user, url, raw)]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("api", JSON_APIS)
@FUZZ
@given(data=st.data())
def test_generated_json_bodies(session: Session, user: FlaskClient, outfall: Outfall, api: str,
                               data: st.DataObject):  # fmt: skip
    body = data.draw(json_values | shaped(api, outfall), label="body")
    url = _url(api, outfall)
    problems = _checked_post(session, user, url, json.dumps(body, allow_nan=True).encode())
    assert problems == [], f"POST {url}"


# -- uploads ---------------------------------------------------------------------------------------------------
HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "调查时间"]
SUFFIXES = (".csv", ".xlsx", ".zip", ".gpkg", ".kml", ".gpx", ".kmz", ".geojson", ".shp", ".xls", ".txt")


def _csv(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _many_members(n: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("rows.csv", _csv([["m1", "甲", *XIAN, "4.8", ""]]))
        for i in range(n):
            z.writestr(f"photos/{i}.txt", b"")
    return buffer.getvalue()


def _inflating(megabytes: int) -> bytes:
    """A ZIP of about ``megabytes`` / 1000 MB holding a CSV of ``megabytes`` MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z, z.open("rows.csv", "w", force_zip64=True) as w:
        w.write(",".join(HEADER).encode() + b"\n")
        block = b"0" * (1 << 20)
        for _ in range(megabytes):
            w.write(block)
    return buffer.getvalue()


def _xlsx_claiming_the_whole_sheet() -> bytes:
    """A one-row workbook whose sheet says it spans A1:XFD1048576 (readers that trust it allocate it all)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(["x1", "甲", *XIAN, "4.8", "2023-05-06 09:00"])
    plain = io.BytesIO()
    book.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    patched = io.BytesIO()
    with zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data)
                assert n == 1
            out.writestr(item, data)
    return patched.getvalue()


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY l0 "ha">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE kml [' + "".join(entities) + "]>\n"
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&l9;</name>'
        f"<Point><coordinates>{XIAN[0]},{XIAN[1]}</coordinates></Point></Placemark></Document></kml>"
    ).encode()


def _gpx_without_time() -> bytes:
    return (
        '<?xml version="1.0"?>\n<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        f'<wpt lat="{XIAN[1]}" lon="{XIAN[0]}"><name>无时间</name></wpt>'
        f'<trk><trkseg><trkpt lat="{XIAN[1]}" lon="{XIAN[0]}"/><trkpt lat="{XIAN[1] + 0.001}" lon="{XIAN[0]}"/>'
        "</trkseg></trk></gpx>"
    ).encode()


def hostile_files() -> list[tuple[str, str, bytes]]:
    """(what it is, file name, content) of the hand-made hostile uploads."""
    row = ["h1", "甲", *XIAN, "4.8", "2023-05-06 09:00"]
    return [
        ("formulas", "formulas.csv", _csv([["=cmd|' /C calc'!A0", "+SUM(1)", *XIAN, "@x", "-1+1"]])),
        ("NUL in cells", "nul.csv", _csv([["n\x001", "a\x00b", *XIAN, "4.8\x00", ""]])),
        ("NUL in coordinates", "nulxy.csv", _csv([["n2", "甲", "108.94\x00", "34.40", "4.8", ""]])),
        ("a 5 MB field", "huge-field.csv", _csv([[*row[:1], "x" * 5_000_000, *row[2:]]])),
        ("a 100 kB field", "big-field.csv", _csv([[*row[:1], "名" * 100_000, *row[2:]]])),
        ("5,000 columns", "wide.csv", _csv([row + ["v"] * 4994], HEADER + [f"c{i}" for i in range(4994)])),
        ("repeated headers", "repeated.csv", _csv([row + row], HEADER + HEADER)),
        ("only a header", "header.csv", _csv([])),
        ("NaN coordinates", "nan.csv",
         _csv([["q1", "甲", "NaN", "nan", "4.8", ""], ["q2", "乙", "inf", "1e400", "", ""]])),
        ("a date of year 9999 and of year 0", "dates.csv",
         _csv([["d1", "甲", *XIAN, "4.8", "9999-12-31 23:59"], ["d2", "乙", *XIAN, "4.8", "0000-00-00"]])),
        ("20,001 ZIP members", "many.zip", _many_members(20_001)),
        ("1,000 ZIP members", "some.zip", _many_members(1_000)),
        ("a path-escaping member", "slip.zip", _zip({"../../escape.csv": _csv([row]), "a/../../b.csv": b"x"})),
        ("a ZIP inflating to 48 MB", "inflating.zip", _inflating(48)),
        ("a ZIP inside a ZIP", "nested.zip", _zip({"inner.zip": _zip({"rows.csv": _csv([row])})})),
        ("an XLSX claiming A1:XFD1048576", "whole-sheet.xlsx", _xlsx_claiming_the_whole_sheet()),
        ("a KML with nested entities", "laughs.kml", _billion_laughs()),
        ("a GPX without times", "no-time.gpx", _gpx_without_time()),
        ("a 300-character file name", "长" * 100 + "a" * 200 + ".csv", _csv([row])),
        ("control characters in the file name", "a\x01\x1b[2Jb.csv", _csv([row])),
        ("NUL in the file name", "a\x00b.csv", _csv([row])),
        ("a file name of dots", "...", _csv([row])),
        ("a file name with a path", "../../../etc/rows.csv", _csv([row])),
        ("an empty file", "empty.csv", b""),
        ("UTF-16 text", "utf16.csv", _csv([row]).decode().encode("utf-16")),
    ]  # fmt: skip


def upload(session: Session, client: FlaskClient, name: str, data: bytes) -> list[str]:
    """Upload one file: its problems, judged on the answer, the time, the memory and the database."""
    # the multipart body is made in memory: the test client's own encoder spools large ones to a temporary file
    # it never closes
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename=name)})
    before = database_state(session)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        response, problems = fetch(client, "POST", "/api/survey/import", data=body,
                                   content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before)
    if grown > MAX_BYTES:
        problems.append(f"allocated {grown / 2**20:.0f} MB")
    if response is not None and response.status_code >= 400:
        if response.status_code < 500 and not (response.get_json(silent=True) or {}).get("message"):
            problems.append(f"refused ({response.status_code}) without saying why")
        if changed := changed_tables(before, database_state(session)):
            problems.append(f"refused ({response.status_code}) but changed {changed}")
    return problems


@pytest.fixture
def crew(make_user, login_as) -> FlaskClient:
    return login_as(make_user("fuzzcrew", roles=("crew",), national=True))


def test_hostile_uploads(session: Session, crew: FlaskClient):
    failures = []
    for what, name, data in hostile_files():
        problems = upload(session, crew, name, data)
        failures += [f"POST /api/survey/import {what} ({short(name, 40)}): {p}" for p in problems]
    assert failures == [], "\n".join(failures)


hostile_cells = st.one_of(
    st.text(max_size=30), st.sampled_from(HOSTILE_VALUES),
    st.sampled_from(["=1+1", "+1", "-1", "@SUM(A1)", "=HYPERLINK(\"http://x\")", "\t=1", "\r=1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str),
)  # fmt: skip
csv_files = st.builds(
    lambda header, rows: _csv(rows, header),
    st.lists(st.sampled_from(HEADER) | st.text(max_size=8), min_size=1, max_size=10),
    st.lists(st.lists(hostile_cells, max_size=10), max_size=5),
)


@FUZZ
@given(name=st.text(max_size=12), suffix=st.sampled_from(SUFFIXES), data=st.binary(min_size=1, max_size=4096))
def test_generated_uploads(session: Session, crew: FlaskClient, name: str, suffix: str, data: bytes):
    problems = upload(session, crew, (name + suffix).replace("/", "_"), data)
    assert problems == []


@FUZZ
@given(data=csv_files)
def test_generated_csv_uploads(session: Session, crew: FlaskClient, data: bytes):
    problems = upload(session, crew, "generated.csv", data)
    assert problems == []


def test_the_checks_themselves():
    """The judge of an answer catches what it must: NaN in JSON, a traceback, a refusal without a message."""

    def answer(body: str, status: int = 200, mimetype: str = "application/json") -> Response:
        return Response(body, status, mimetype=mimetype)

    assert problems_of(answer('{"a": NaN}')) and problems_of(answer('{"a": Infinity}'))
    assert problems_of(answer("<pre>Traceback (most recent call last):\n", mimetype="text/html"))
    assert problems_of(answer('{"error": "x"}', 422)) and not problems_of(answer('{"message": "bad"}', 422))
    assert problems_of(answer("oops", 500, "text/html")) and not problems_of(answer('{"a": 1.5}'))
    assert math.isnan(json.loads("NaN"))  # the parser Flask uses takes NaN: the check above must be strict
