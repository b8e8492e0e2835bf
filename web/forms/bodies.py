"""JSON bodies of the API read into the domain's typed inputs; a bad value raises ``InvalidInput`` naming it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from flask import Request, current_app

from outfalls import clock
from outfalls.cases.sampling import ResultInput, VisitInput
from outfalls.cases.tracing import PartyInput, TraceInput
from outfalls.errors import InvalidInput
from outfalls.types import (
    DischargeState,
    FlowState,
    SampleMethod,
    TraceMethod,
)
from web.db import MAX_ID
from web.forms.params import _finite, _refuse_nul

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


# -- JSON bodies --------------------------------------------------------------------------------------------------
# Field teams type local (China Standard) time; the database stores UTC instants.


def _choice(enum: type[E], raw: str | None, name: str) -> E:
    try:
        return enum(raw or "")
    except ValueError as err:
        raise InvalidInput(f"{name}: unknown value {raw!r}", field=name, value=raw) from err


def _float(raw: str | None, name: str) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a number, not {raw!r}", field=name, value=raw, reason="number") from err
    return _finite(value, name, raw)


def json_object(request: Request) -> dict[str, Any]:
    """The request's body: a JSON object (in JSON proper: no NaN or Infinity), with no NUL in any text.

    Raises:
        InvalidInput: no JSON body, malformed JSON, something else than an object, or a text with a NUL character
            (``field`` names where).
    """
    if not request.is_json:
        raise InvalidInput("send a JSON object (Content-Type: application/json)", field="body")
    try:
        body = current_app.json.loads(request.get_data(cache=True))
    except ValueError as err:  # malformed, NaN or Infinity, nested beyond reason, not UTF-8
        raise InvalidInput(f"the body is not JSON: {err}", field="body") from err
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", field="body")
    _refuse_nul_inside(body, "")
    return body


def _refuse_nul_inside(value: Any, where: str) -> None:
    if isinstance(value, str):
        _refuse_nul(value, where or "body")
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k, where or "body")
            _refuse_nul_inside(v, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_nul_inside(v, f"{where}[{i}]")


def whole_number(value: object, name: str) -> int:
    """A whole number from a JSON body, at most a database integer (an id or a version).

    Raises:
        InvalidInput: not a whole number (true and false are not numbers), or out of range.
    """
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_ID}", field=name, value=str(value))
    return value


def _moment(raw: object, name: str) -> datetime:
    if raw is not None and not isinstance(raw, str):  # a number, list or object in the JSON body
        raise InvalidInput(f"{name} must be a date and time (YYYY-MM-DDTHH:MM), not {type(raw).__name__}",
                           field=name, reason="text")  # fmt: skip
    raw = (raw or "").strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date and time (YYYY-MM-DDTHH:MM), not {raw!r}", field=name) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())


def _text(data: Mapping[str, Any], name: str, where: str | None = None) -> str | None:
    """An optional text field of a JSON body: a string (trimmed; empty is None); a number, list or object is refused."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where or name} must be text, not {type(value).__name__}", field=where or name,
                           reason="text")  # fmt: skip
    return value.strip() or None


def parse_visit(data: Mapping[str, Any], units: Mapping[str, str]) -> VisitInput:
    """A monitoring visit from a JSON body (``results`` a list of ``{parameter, value, unit, method, …}``)."""
    results: list[ResultInput] = []
    if isinstance(data.get("results"), list):
        for i, r in enumerate(data["results"]):
            if not isinstance(r, dict):
                raise InvalidInput("each result is an object", field=f"results[{i}]")
            results.append(
                ResultInput(
                    parameter=str(r.get("parameter", "")),
                    value=_float(str(r["value"]) if r.get("value") is not None else None, f"results[{i}].value"),
                    unit=str(r.get("unit", units.get(str(r.get("parameter")), ""))),
                    method=_choice(SampleMethod, r.get("method", "field_quick"), f"results[{i}].method"),
                    below_detection=bool(r.get("below_detection", False)),
                    detection_limit=_float(
                        str(r["detection_limit"]) if r.get("detection_limit") is not None else None,
                        f"results[{i}].detection_limit",
                    ),
                    lab=_text(r, "lab", f"results[{i}].lab"),
                )
            )
    flow = _choice(FlowState, data.get("flow") or "not_measured", "flow")
    oil = data.get("oil_film")
    return VisitInput(
        visited_at=_moment(data.get("visited_at"), "visited_at"),
        discharge=_choice(DischargeState, data.get("discharge"), "discharge"),
        flow=flow,
        flow_m3s=_float(str(data["flow_m3s"]) if data.get("flow_m3s") not in (None, "") else None, "flow_m3s"),
        not_possible_reason=_text(data, "not_possible_reason"),
        colour=_text(data, "colour"),
        turbidity=_text(data, "turbidity"),
        odour=_text(data, "odour"),
        oil_film=None if oil in (None, "", "unknown") else oil in (True, "yes", "true", "on"),
        notes=_text(data, "notes"),
        results=tuple(results),
    )


def parse_trace(data: Mapping[str, Any]) -> TraceInput:
    """A tracing from a JSON body (``parties`` a list of ``{name, credit_code, …, is_main}``)."""
    parties: list[PartyInput] = []
    if isinstance(data.get("parties"), list):
        for i, p in enumerate(data["parties"]):
            if not isinstance(p, dict):
                raise InvalidInput("each party is an object", field=f"parties[{i}]")
            share = p.get("share_pct")
            parties.append(
                PartyInput(
                    name=_text(p, "name", f"parties[{i}].name") or "",
                    credit_code=_text(p, "credit_code", f"parties[{i}].credit_code"),
                    industry=_text(p, "industry", f"parties[{i}].industry"),
                    description=_text(p, "description", f"parties[{i}].description"),
                    share_pct=_float(str(share) if share is not None else None, f"parties[{i}].share_pct"),
                    is_main=bool(p.get("is_main", False)),
                )
            )
    default = data.get("government_default")
    return TraceInput(
        traced_on=_moment(data.get("traced_on"), "traced_on"),
        method=_choice(TraceMethod, data.get("method"), "method"),
        parties=tuple(parties),
        technique=_text(data, "technique"),
        sewage_source=_text(data, "sewage_source"),
        use_status=_text(data, "use_status"),
        environmental_risk=_text(data, "environmental_risk"),
        government_default=default in (True, "on", "yes", "true"),
        government_reason=_text(data, "government_reason"),
        notes=_text(data, "notes"),
    )
