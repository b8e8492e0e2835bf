"""Parsing of query strings and forms into domain values; a bad value raises ``InvalidInput`` naming the
parameter, which the error table turns into a 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from werkzeug.datastructures import MultiDict

from outfalls import clock
from outfalls.cases.sampling import ResultInput, VisitInput
from outfalls.cases.tracing import PartyInput, TraceInput
from outfalls.catalogue.queries import OutfallFilter
from outfalls.config import Settings
from outfalls.errors import InvalidInput
from outfalls.types import (
    BBox,
    DischargeState,
    FlowState,
    OutfallStatus,
    RemediationCategory,
    SampleMethod,
    TraceMethod,
)

E = TypeVar("E", bound=StrEnum)


def _clean(args: MultiDict[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    return value or None


def parse_filter(args: MultiDict[str, str], *, me: str | None = None) -> OutfallFilter:
    """Filters from ``basin``, ``area``, ``type``, ``status``, ``q``, ``assigned`` (a login, ``me`` or ``none``),
    ``category`` and ``keep``.
    """
    status = _clean(args, "status")
    if status is not None and status not in OutfallStatus.__members__.values():
        choices = ", ".join(s.value for s in OutfallStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of {choices}", field="status", value=status)
    category = _clean(args, "category")
    if category is not None and category not in RemediationCategory.__members__.values():
        choices = ", ".join(c.value for c in RemediationCategory)
        raise InvalidInput(f"unknown category {category!r}; use one of {choices}", field="category", value=category)
    assigned = _clean(args, "assigned")
    return OutfallFilter(
        basin=_clean(args, "basin"),
        area=_clean(args, "area"),
        type_code=_clean(args, "type"),
        status=OutfallStatus(status) if status else None,
        q=_clean(args, "q"),
        assigned_to=(me if assigned == "me" else assigned) if assigned not in (None, "none") else None,
        unassigned=assigned == "none",
        category=RemediationCategory(category) if category else None,
        keep=_clean(args, "keep") in ("1", "on", "true"),
    )


def parse_int(
    args: MultiDict[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """An integer parameter within bounds."""
    raw = _clean(args, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}", field=name, value=raw) from err
    if value < minimum or (maximum is not None and value > maximum):
        limit = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidInput(f"{name} must be {limit}, not {value}", field=name, value=value)
    return value


def parse_paging(args: MultiDict[str, str], settings: Settings) -> tuple[int, int]:
    """``page`` and ``page_size`` with the configured default and maximum."""
    page = parse_int(args, "page", 1)
    size = parse_int(args, "page_size", settings.list.page_size, maximum=settings.list.max_page_size)
    return page, size


def parse_date(args: MultiDict[str, str], name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` parameter."""
    raw = _clean(args, name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), not {raw!r}", field=name, value=raw) from err


def parse_bbox(args: MultiDict[str, str]) -> BBox | None:
    """``bbox=min_lon,min_lat,max_lon,max_lat`` (CGCS2000 degrees)."""
    raw = _clean(args, "bbox")
    if raw is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in raw.split(","))
    except ValueError as err:
        raise InvalidInput(
            "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat", field="bbox", value=raw
        ) from err
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(
            "bbox must be min_lon,min_lat,max_lon,max_lat within -180..180, -90..90", field="bbox", value=raw
        )
    return (x0, y0, x1, y1)


# Field teams type local (China Standard) time into the forms; the database stores UTC instants.


def _choice(enum: type[E], raw: str | None, name: str) -> E:
    try:
        return enum(raw)
    except ValueError as err:
        raise InvalidInput(f"{name}: unknown value {raw!r}", field=name, value=raw) from err


def _float(raw: str | None, name: str) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a number, not {raw!r}", field=name, value=raw) from err


def _moment(raw: str | None, name: str) -> datetime:
    raw = (raw or "").strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date and time (YYYY-MM-DDTHH:MM), not {raw!r}", field=name) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())


def parse_visit(data: Mapping[str, Any], units: Mapping[str, str]) -> VisitInput:
    """A monitoring visit from a form (``result-<parameter>`` fields) or a JSON body (``results`` list)."""
    results: list[ResultInput] = []
    if isinstance(data.get("results"), list):  # JSON API
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
                    lab=r.get("lab"),
                )
            )
    else:  # HTML form: one value field per parameter, one method for the visit
        method = _choice(SampleMethod, data.get("method") or "field_quick", "method")
        lab = (data.get("lab") or "").strip() or None
        for code, unit in units.items():
            value = _float(data.get(f"result-{code}"), f"result-{code}")
            if value is not None:
                results.append(ResultInput(code, value, unit, method, lab=lab))
    flow = _choice(FlowState, data.get("flow") or "not_measured", "flow")
    oil = data.get("oil_film")
    return VisitInput(
        visited_at=_moment(data.get("visited_at"), "visited_at"),
        discharge=_choice(DischargeState, data.get("discharge"), "discharge"),
        flow=flow,
        flow_m3s=_float(str(data["flow_m3s"]) if data.get("flow_m3s") not in (None, "") else None, "flow_m3s"),
        not_possible_reason=data.get("not_possible_reason") or None,
        colour=(data.get("colour") or "").strip() or None,
        turbidity=(data.get("turbidity") or "").strip() or None,
        odour=(data.get("odour") or "").strip() or None,
        oil_film=None if oil in (None, "", "unknown") else oil in (True, "yes", "true", "on"),
        notes=(data.get("notes") or "").strip() or None,
        results=tuple(results),
    )


MAX_PARTY_ROWS = 5


def parse_trace(data: Mapping[str, Any]) -> TraceInput:
    """A tracing from a form (``party-<n>-<field>`` rows, ``main`` = the main row's number) or JSON (``parties``)."""
    parties: list[PartyInput] = []
    if isinstance(data.get("parties"), list):  # JSON API
        for i, p in enumerate(data["parties"]):
            if not isinstance(p, dict):
                raise InvalidInput("each party is an object", field=f"parties[{i}]")
            share = p.get("share_pct")
            parties.append(
                PartyInput(
                    name=str(p.get("name") or ""),
                    credit_code=p.get("credit_code") or None,
                    industry=p.get("industry") or None,
                    description=p.get("description") or None,
                    share_pct=_float(str(share) if share is not None else None, f"parties[{i}].share_pct"),
                    is_main=bool(p.get("is_main", False)),
                )
            )
    else:  # HTML form
        main = (data.get("main") or "").strip()
        for n in range(MAX_PARTY_ROWS):
            name = (data.get(f"party-{n}-name") or "").strip()
            if not name:
                continue
            parties.append(
                PartyInput(
                    name=name,
                    credit_code=(data.get(f"party-{n}-credit_code") or "").strip() or None,
                    industry=(data.get(f"party-{n}-industry") or "").strip() or None,
                    description=(data.get(f"party-{n}-description") or "").strip() or None,
                    share_pct=_float(data.get(f"party-{n}-share_pct"), f"party-{n}-share_pct"),
                    is_main=main == str(n),
                )
            )
    default = data.get("government_default")
    return TraceInput(
        traced_on=_moment(data.get("traced_on"), "traced_on"),
        method=_choice(TraceMethod, data.get("method"), "method"),
        parties=tuple(parties),
        technique=data.get("technique") or None,
        sewage_source=data.get("sewage_source") or None,
        use_status=data.get("use_status") or None,
        environmental_risk=data.get("environmental_risk") or None,
        government_default=default in (True, "on", "yes", "true"),
        government_reason=data.get("government_reason") or None,
        notes=data.get("notes") or None,
    )
