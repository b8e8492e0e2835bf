"""Hostile and careless input on the web: NUL bytes, numbers that are not finite, pages and days beyond any
calendar, JSON nested beyond reason, ids and versions wider than the database's integers, file names longer than
a file system takes. Each answers a clear 4xx with the field it concerns, never a 500, and changes nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls.models import Attachment, Event, MonitoringVisit, Outfall, SampleResult

BEYOND_64_BITS = str(2**64)
DEEP_JSON = "[" * 50_000 + "]" * 50_000
LONG_NAME = "照片" * 43 + ".jpg"  # 262 bytes in UTF-8: longer than any file system takes as a name
FILE_NAME_TOO_LONG = "文件名过长：请将文件重命名为不超过 255 字节。"
VISIT = {
    "visited_at": "2023-06-01T10:30", "discharge": "discharging", "flow": "not_measured", "method": "field_quick",
    "result-cod": "48",
}  # fmt: skip
TRACE = {"traced_on": "2023-06-01T10:30", "method": "records", "party-0-name": "某厂", "main": "0",
         "sewage_source": "生活污水"}  # fmt: skip


@dataclass(frozen=True)
class Attack:
    """One hostile request: ``{id}`` in the path stands for the outfall's id, ``{version}`` in values for its
    version; ``files`` are (field, name) uploads; ``json`` is sent as given when it is a string.
    """

    method: str
    path: str
    status: int
    data: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: tuple[tuple[str, str], ...] = ()
    field: str | None = None  # the field the error names (JSON and OGC answers)
    shows: str | None = None  # what the page says (HTML answers)


def _attacks() -> list[Any]:
    nul = "西安\x00排口"
    cases = {
        # a NUL byte, which PostgreSQL text cannot hold
        "nul_byte-list_page-q": Attack("GET", "/outfalls", 422, {"q": nul}),
        "nul_byte-list_page-assigned": Attack("GET", "/outfalls", 422, {"assigned": nul}),
        "nul_byte-json_api-q": Attack("GET", "/api/outfalls", 422, {"q": nul}, field="q"),
        "nul_byte-json_api-assigned": Attack("GET", "/api/outfalls", 422, {"assigned": nul}, field="assigned"),
        "nul_byte-json_api-map": Attack("GET", "/api/map/outfalls", 422, {"q": nul}, field="q"),
        "nul_byte-ogc_items-basin": Attack("GET", "/ogc/collections/outfalls/items", 400, {"basin": nul},
                                           field="basin"),
        "nul_byte-ogc_items-rivers_basin": Attack("GET", "/ogc/collections/rivers/items", 400, {"basin": nul},
                                                  field="basin"),
        "nul_byte-case_form-notes": Attack("POST", "/outfalls/{id}/visits", 422, VISIT | {"notes": nul}),
        "nul_byte-bulk_api-filter": Attack("POST", "/api/outfalls/bulk", 422, json={
            "action": "unassign", "outfall_ids": [], "all_matching": "1", "f-q": nul}, field="q"),
        "nul_byte-bulk_api-officer": Attack("POST", "/api/outfalls/bulk", 422, json={
            "action": "assign", "outfall_ids": ["{id}"], "officer": nul}, field="officer"),
        # a page number whose offset no database integer holds
        "huge_page-list_page": Attack("GET", "/outfalls", 422, {"page": str(10**20)}),
        "huge_page-json_api": Attack("GET", "/api/outfalls", 422, {"page": str(10**20)}, field="page"),
        "huge_page-ogc_items": Attack("GET", "/ogc/collections/outfalls/items", 400, {"offset": str(10**20)},
                                      field="offset"),
        # a day at the end of the calendar (its end is past the last representable moment)
        "far_day-case_page-as_of": Attack("GET", "/outfalls/{id}", 422, {"as_of": "9999-12-31"}),
        # JSON nested far deeper than any real body
        "deep_json-json_api-visit": Attack("POST", "/api/outfalls/{id}/visits", 422, json=DEEP_JSON),
        "deep_json-json_api-trace": Attack("POST", "/api/outfalls/{id}/traces", 422, json=DEEP_JSON),
        "deep_json-bulk_api": Attack("POST", "/api/outfalls/bulk", 422, json=DEEP_JSON),
        # ids and versions wider than 64 bits
        "wide_id-case_page": Attack("GET", f"/outfalls/{BEYOND_64_BITS}", 404),
        "wide_id-json_api": Attack("GET", f"/api/outfalls/{BEYOND_64_BITS}", 404),
        "wide_id-json_api-monitoring": Attack("GET", f"/api/outfalls/{BEYOND_64_BITS}/monitoring", 404),
        "wide_id-json_api-attachment": Attack("GET", f"/attachments/{BEYOND_64_BITS}", 404),
        "wide_id-ogc_item": Attack("GET", f"/ogc/collections/outfalls/items/{BEYOND_64_BITS}", 404),
        "wide_id-case_form": Attack("POST", f"/outfalls/{BEYOND_64_BITS}/visits", 404, VISIT),
        "wide_id-case_form-merge_into": Attack("POST", "/outfalls/{id}/remediation/plan", 422, {
            "category": "merge", "on": "2023-06-01", "measures": "并入", "merge_into_id": BEYOND_64_BITS}),
        "wide_id-json_api-visit": Attack("POST", f"/api/outfalls/{BEYOND_64_BITS}/visits", 404, json={}),
        "wide_id-bulk_api": Attack("POST", "/api/outfalls/bulk", 422, json={
            "action": "unassign", "outfall_ids": [2**64]}, field="outfall_ids"),
        "wide_id-bulk_form": Attack("POST", "/outfalls/bulk", 422, {"action": "unassign", "id": BEYOND_64_BITS}),
        "wide_version-case_form": Attack("POST", "/outfalls/{id}/visits", 422, VISIT | {"version": BEYOND_64_BITS}),
        "wide_version-json_api-visit": Attack("POST", "/api/outfalls/{id}/visits", 422, json={
            "version": 2**64, "visited_at": "2023-06-01T10:30", "discharge": "dry"}, field="version"),
        "wide_version-bulk_api": Attack("POST", "/api/outfalls/bulk", 422, json={
            "action": "unassign", "outfall_ids": ["{id}"], "versions": {"{id}": 2**64}}, field="versions"),
        "wide_version-bulk_form": Attack("POST", "/outfalls/bulk", 422, {
            "action": "unassign", "id": "{id}", "v-{id}": BEYOND_64_BITS}),
        # an uploaded file whose name no file system takes
        "long_file_name-case_form-visit_photo": Attack("POST", "/outfalls/{id}/visits", 422, VISIT,
                                                       files=(("photo-sampling_point", LONG_NAME),),
                                                       shows=FILE_NAME_TOO_LONG),
        "long_file_name-case_form-trace_evidence": Attack("POST", "/outfalls/{id}/traces", 422, TRACE,
                                                          files=(("evidence", LONG_NAME),), shows=FILE_NAME_TOO_LONG),
        "long_file_name-case_form-checklist": Attack("POST", "/outfalls/{id}/standardisation", 422, {
            "item": "sign_board", "is_done": "on", "on": "2023-06-01"}, files=(("evidence", LONG_NAME),),
            shows=FILE_NAME_TOO_LONG),
    }
    return [pytest.param(attack, id=name) for name, attack in cases.items()]


def _fill(value: Any, outfall: Outfall) -> Any:
    if isinstance(value, str):
        text = value.replace("{id}", str(outfall.id)).replace("{version}", str(outfall.version))
        return int(text) if value == "{id}" else text
    if isinstance(value, list):
        return [_fill(v, outfall) for v in value]
    if isinstance(value, dict):
        return {_fill(k, outfall): _fill(v, outfall) for k, v in value.items()}
    return value


def _send(client: FlaskClient, attack: Attack, outfall: Outfall) -> Any:
    path = _fill(attack.path, outfall)
    if attack.method == "GET":
        return client.get(path, query_string=_fill(attack.data, outfall))
    headers = {"X-CSRF-Token": client.csrf}  # type: ignore[attr-defined]
    if attack.json is not None:
        body = attack.json if isinstance(attack.json, str) else json.dumps(_fill(attack.json, outfall))
        return client.post(path, data=body, content_type="application/json", headers=headers)
    data: dict[str, Any] = {"version": str(outfall.version), "csrf_token": client.csrf}  # type: ignore[attr-defined]
    data |= _fill(attack.data, outfall)
    for name, filename in attack.files:
        data[name] = (io.BytesIO(b"\xff\xd8\xff\xe0 evidence"), filename)
    return client.post(path, data=data, content_type="multipart/form-data")


def _state(session: Session) -> tuple[Any, ...]:
    counts = [session.scalar(sa.select(sa.func.count()).select_from(t)) for t in
              (Event, MonitoringVisit, SampleResult, Attachment)]  # fmt: skip
    versions = session.execute(sa.select(Outfall.id, Outfall.version).order_by(Outfall.id)).all()
    return (*counts, tuple(versions))


@pytest.fixture
def officer(make_user: Callable[..., Any], login_as: Callable[..., FlaskClient]) -> FlaskClient:
    return login_as(make_user("officer", roles=("case_officer",), areas=("610100",)))


@pytest.mark.parametrize("attack", _attacks())
def test_malformed_input_is_a_clear_4xx_and_changes_nothing(
    session: Session, make_outfall: Callable[..., Outfall], officer: FlaskClient, attack: Attack
):
    outfall = make_outfall()
    before = _state(session)
    response = _send(officer, attack, outfall)
    assert response.status_code == attack.status, response.get_data(as_text=True)[:800]
    if attack.field is not None:
        body = response.get_json(force=True)
        described = body["details"].get("field") if "details" in body else body["description"]
        assert attack.field in str(described), body
    if attack.shows is not None:
        assert attack.shows in response.get_data(as_text=True)
    session.expire_all()
    assert _state(session) == before


def _strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: NaN and Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"bare {name} in a JSON answer")

    return json.loads(text, parse_constant=refuse)


NOT_FINITE = ("nan", "NaN", "inf", "-Infinity")


@pytest.mark.parametrize("raw", NOT_FINITE)
@pytest.mark.parametrize(
    ("surface", "field"),
    [
        ("visit_form", "result-cod"),
        ("visit_form_flow", "flow_m3s"),
        ("trace_form_share", "party-0-share_pct"),
        ("json_visit", "results[0].value"),
        ("json_visit_flow", "flow_m3s"),
        ("json_visit_detection_limit", "results[0].detection_limit"),
        ("json_trace_share", "parties[0].share_pct"),
        ("map_bbox", "bbox"),
        ("ogc_bbox", "bbox"),
    ],
)
def test_numbers_that_are_not_finite_are_refused(
    session: Session, make_outfall: Callable[..., Outfall], officer: FlaskClient, surface: str, field: str, raw: str
):
    outfall = make_outfall()
    before = _state(session)
    headers = {"X-CSRF-Token": officer.csrf}  # type: ignore[attr-defined]
    form = {"version": str(outfall.version), "csrf_token": officer.csrf}  # type: ignore[attr-defined]
    visit = {"version": outfall.version, "visited_at": "2023-06-01T10:30", "discharge": "discharging"}
    trace = {"version": outfall.version, "traced_on": "2023-06-01T10:30", "method": "records",
             "sewage_source": "生活污水"}  # fmt: skip
    result = {"parameter": "cod", "value": 30, "unit": "mg/L"}
    send = {
        "visit_form": lambda: officer.post(f"/outfalls/{outfall.id}/visits", data=form | VISIT | {"result-cod": raw}),
        "visit_form_flow": lambda: officer.post(f"/outfalls/{outfall.id}/visits",
                                                data=form | VISIT | {"flow": "measured", "flow_m3s": raw}),
        "trace_form_share": lambda: officer.post(f"/outfalls/{outfall.id}/traces",
                                                 data=form | TRACE | {"party-0-share_pct": raw}),
        "json_visit": lambda: officer.post(f"/api/outfalls/{outfall.id}/visits", headers=headers,
                                           json=visit | {"results": [result | {"value": raw}]}),
        "json_visit_flow": lambda: officer.post(f"/api/outfalls/{outfall.id}/visits", headers=headers,
                                                json=visit | {"flow": "measured", "flow_m3s": raw}),
        "json_visit_detection_limit": lambda: officer.post(
            f"/api/outfalls/{outfall.id}/visits", headers=headers,
            json=visit | {"results": [result | {"value": None, "below_detection": True, "detection_limit": raw}]}),
        "json_trace_share": lambda: officer.post(
            f"/api/outfalls/{outfall.id}/traces", headers=headers,
            json=trace | {"parties": [{"name": "某厂", "is_main": True, "share_pct": raw}]}),
        "map_bbox": lambda: officer.get("/api/map/outfalls", query_string={"bbox": f"108,34,{raw},35"}),
        "ogc_bbox": lambda: officer.get("/ogc/collections/outfalls/items", query_string={"bbox": f"108,34,{raw},35"}),
    }  # fmt: skip
    response = send[surface]()
    assert response.status_code == (400 if surface.startswith("ogc") else 422), response.get_data(as_text=True)[:500]
    text = response.get_data(as_text=True)
    if surface.endswith("form") or "_form_" in surface:
        assert f'-{field}-error"' in text  # the mistake is shown at its field
    elif surface.startswith("ogc"):
        assert field in _strict_json(text)["description"]
    else:
        assert _strict_json(text)["details"]["field"] == field
    session.expire_all()
    assert _state(session) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("path", ["/api/outfalls/{id}/visits", "/api/outfalls/{id}/traces", "/api/outfalls/bulk"])
def test_the_json_reader_refuses_nan_and_infinity_literals(
    session: Session, make_outfall: Callable[..., Outfall], officer: FlaskClient, literal: str, path: str
):
    outfall = make_outfall()
    before = _state(session)
    body = (f'{{"version": {outfall.version}, "visited_at": "2023-06-01T10:30", "discharge": "discharging", '
            f'"traced_on": "2023-06-01T10:30", "method": "records", "sewage_source": "生活污水", '
            f'"action": "deadline", "deadline": null, "outfall_ids": [{outfall.id}], '
            f'"parties": [{{"name": "某厂", "is_main": true, "share_pct": {literal}}}], '
            f'"results": [{{"parameter": "cod", "value": {literal}, "unit": "mg/L"}}]}}')  # fmt: skip
    response = officer.post(path.replace("{id}", str(outfall.id)), data=body, content_type="application/json",
                            headers={"X-CSRF-Token": officer.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    answer = _strict_json(response.get_data(as_text=True))
    assert answer["details"]["field"] == "body" and literal in answer["message"]
    session.expire_all()
    assert _state(session) == before


def test_no_answer_carries_a_bare_nan(session: Session, make_outfall: Callable[..., Outfall], officer: FlaskClient):
    outfall = make_outfall()
    response = officer.post(f"/api/outfalls/{outfall.id}/visits", headers={"X-CSRF-Token": officer.csrf},
                            json={"version": outfall.version, "visited_at": "2023-06-01T10:30",
                                  "discharge": "discharging", "flow": "measured", "flow_m3s": 0.5,
                                  "results": [{"parameter": "cod", "value": 30, "unit": "mg/L"}]})  # fmt: skip
    assert response.status_code == 201
    # values stored before numbers that are not finite were refused
    visit_id = session.scalar(sa.select(MonitoringVisit.id).where(MonitoringVisit.outfall_id == outfall.id))
    session.add(SampleResult(visit_id=visit_id, parameter="tp", value=float("nan"), detection_limit=float("inf"),
                             unit="mg/L", method="field_quick", limit_max=float("-inf")))  # fmt: skip
    session.flush()
    monitoring = _strict_json(officer.get(f"/api/outfalls/{outfall.id}/monitoring").get_data(as_text=True))
    stored = monitoring["visits"][0]["results"][1]
    assert stored["parameter"] == "tp" and stored["value"] is None and stored["detection_limit"] is None
    assert stored["limit_max"] is None and monitoring["visits"][0]["results"][0]["value"] == 30


@dataclass(frozen=True)
class _Share:
    share: float
    when: date


def test_the_json_writers_write_numbers_that_are_not_finite_as_null(app: Flask):
    from web.api.json import dumps

    value = {"nan": float("nan"), "list": [float("inf"), 1.5, Decimal("NaN"), Decimal("2.5")],
             "row": _Share(float("-inf"), date(2024, 1, 2))}  # fmt: skip
    with app.app_context():
        written = _strict_json(app.json.dumps(value))
    assert written == {"nan": None, "list": [None, 1.5, None, "2.5"], "row": {"share": None, "when": ANY}}
    assert _strict_json(dumps({"b": float("nan"), "a": [float("inf")]})) == {"b": None, "a": [None]}
    assert list(_strict_json(dumps({"b": 1, "a": 2}))) == ["b", "a"]  # hand-built answers keep their order


@pytest.mark.parametrize("when", [{"conflict": [None, 0.5]}, ["2023-06-01T10:30"], 20230601])
@pytest.mark.parametrize(("path", "field"), [("/api/outfalls/{id}/visits", "visited_at"),
                                             ("/api/outfalls/{id}/traces", "traced_on")])  # fmt: skip
def test_a_time_that_is_not_text_is_refused_by_name(session: Session, make_outfall: Callable[..., Outfall],
                                                    officer: FlaskClient, when: object, path: str,
                                                    field: str) -> None:  # fmt: skip
    outfall = make_outfall()
    before = _state(session)
    response = officer.post(path.replace("{id}", str(outfall.id)), headers={"X-CSRF-Token": officer.csrf},
                            json={"version": outfall.version, field: when, "discharge": "discharging"})  # fmt: skip
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert response.get_json()["details"]["field"] == field
    session.expire_all()
    assert _state(session) == before
