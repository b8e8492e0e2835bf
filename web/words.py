"""Words instead of codes on the pages: which links a user may follow (from the access the route itself declares),
the details of an error, an audit entry and a rejected upload row in the reader's language, and what each register
column holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from outfalls.errors import OutfallsError
from web.auth import access_of
from web.i18n import AUDIT_LABELS, ROLE_LABELS, ROW_CODES, SURVEY_FIELD_LABELS

# The names of the fields an error or a rejected row can point at, beyond the survey fields.
FIELD_WORDS: dict[str, Any] = SURVEY_FIELD_LABELS | {
    "geometry": _l("Position"), "row": _l("Whole row"), "format": _l("Format"), "as_of": _l("As of"),
    "basin": _l("Basin"), "area": _l("Administrative area"), "crs": _l("Coordinate system"), "by": _l("Excel sheets"),
    "role": _l("Role"), "scope_code": _l("Scope"), "scope_kind": _l("Scope"), "file": _l("File"),
    "datum": _l("Coordinate system"), "login": _l("User name"), "password": _l("Password"), "metric": _l("Metric"),
    "deadline": _l("Deadline"), "share": _l("Share"), "version": _l("Version of the record"),
    "page": _l("Page number"), "page_size": _l("Rows per page"),
}  # fmt: skip
AUDIT_KEYS: dict[str, Any] = {
    "login": _l("User name"), "roles": _l("Roles"), "areas": _l("Areas"), "basins": _l("Basins"),
    "national": _l("Whole country"), "display_name": _l("Name"), "active": _l("Active"), "reason": _l("Reason"),
    "sessions_ended": _l("Sessions ended"), "tokens_revoked": _l("Tokens revoked"), "token_id": _l("Token"),
    "name": _l("Name"), "prefix": _l("Token begins with"), "what": _l("What"), "format": _l("Format"),
    "rows": _l("Rows"), "as_of": _l("As of"), "scope": _l("Scope"), "crs": _l("Coordinate system"),
    "sha256": _l("Checksum (SHA-256)"), "job": _l("Job"),
}  # fmt: skip
AUDIT_REASONS: dict[str, Any] = {
    "unknown": _l("unknown user or token"), "password": _l("wrong password"), "disabled": _l("account disabled"),
    "locked": _l("too many failed logins"), "revoked": _l("token revoked"), "expired": _l("token expired"),
    "owner": _l("token of another user"),
}  # fmt: skip
# What each register column holds (the register's own column list names them).
COLUMN_NOTES: dict[str, Any] = {
    "outfall_id": _l("The outfall's number in this system"), "national_code": _l("National unified code"),
    "national_code_source": _l("Not known yet / known / read from the sign"), "local_code": _l(
        "Provincial or municipal code"), "local_code_source": _l("Not known yet / known / read from the sign"),
    "name": _l("The outfall's name"), "name_source": _l("Not known yet / known / read from the sign"),
    "type_scheme": _l("Classification: HJ 1312-2023, or an older vocabulary (SX2020, YR2021)"),
    "type1_code": _l("Code of the level-1 class"), "type1": _l("Level-1 class"),
    "type2_code": _l("Code of the level-2 class"), "type2": _l("Level-2 class"),
    "type3_code": _l("Code of the level-3 class"), "type3": _l("Level-3 class"),
    "type_raw": _l("The type as written in the field"), "province_code": _l("Administrative division code (GB/T 2260)"),
    "province": _l("Province"), "city_code": _l("Administrative division code (GB/T 2260)"),
    "city": _l("Prefecture-level city"), "county_code": _l("Administrative division code (GB/T 2260)"),
    "county": _l("County or district"), "receiving_water": _l("The receiving water as recorded"),
    "river": _l("Nearest river of the reference data"), "basin_code": _l("Basin code of the reference data"),
    "basin": _l("Basin"), "sub_basin_code": _l("Sub-basin code"), "sub_basin": _l("Sub-basin"),
    "lon": _l("Decimal degrees, 7 places, in the coordinate system of the CRS column"),
    "lat": _l("Decimal degrees, 7 places, in the coordinate system of the CRS column"),
    "crs": _l("EPSG:4490 (CGCS2000) or EPSG:4326 (WGS 84)"),
    "found_level": _l("1 drone imagery, 2 foot survey, 3 expert check"),
    "found_by": _l("How the outfall was found in the three-level survey"), "found_on": _l("The day it was found"),
    "status": _l("The state's code (candidate … closed)"), "status_label": _l("The lifecycle state that day"),
    "status_since": _l("When it reached that state"), "discharging": _l("Yes / no (dry) / not monitored"),
    "monitored_on": _l("Latest monitoring visit"), "monitoring_state": _l("Discharging / dry / not possible"),
    "exceedances": _l("Results of the latest visit over the applicable limit"),
    "monitoring_summary": _l("Parameter, value and unit of the latest visit; （超标） marks a result over the limit"),
    "responsible_party": _l("The main responsible party (or the government as last resort)"),
    "remediation_category": _l("Remediation code: ban, merge, standardise, none needed"),
    "remediation": _l("Ban / clean up and merge / standardise / none needed"),
    "remediation_state": _l("Latest remediation record: plan / progress / completion / acceptance"),
    "remediation_pct": _l("Per cent done at the latest progress record"),
    "closed_on": _l("The day it was closed out"),
    "field_records": _l("Numbers of the field records behind the line, separated by ;"),
    "record_url": _l("The outfall's page on the server, with its history and field records"),
    "is_demo": _l("1 = generated demo record, not real data"),
}  # fmt: skip


def can(endpoint: str) -> bool:
    """Whether the current user may open ``endpoint``: the same access check the route runs before it answers."""
    access = access_of(current_app, endpoint)
    if access is None:
        return False
    if access.public:
        return True
    identity = g.get("identity")
    return identity is not None and (not access.roles or identity.has_any(access.roles))


def _is_english() -> bool:
    return str(get_locale() or "zh") == "en"


def _listing(values: object, labels: Mapping[str, Any] | None = None) -> str:
    items = values if isinstance(values, list | tuple) else [values]
    return "、".join(str(labels.get(str(v), v)) if labels else str(v) for v in items) or "—"


# Refusals whose reason says more than the field and value they point at.
REASON_WORDS = {
    "track_outside_region": _l("A track in %(value)s lies outside the region this service covers."),
    "track_outside_area": _l("A track in %(value)s lies outside your area."),
}


def error_detail(err: OutfallsError) -> str | None:
    """The detail line of an error page: the domain's message in English; in Chinese, what it points at in words
    (the roles a page needs, the field and value refused), or the message translated; only when there is neither
    the domain's own sentence, which says more than no detail at all.
    """
    roles = err.params.get("roles")
    if roles:
        items = roles.split(",") if isinstance(roles, str) else roles if isinstance(roles, list | tuple) else [roles]
        needed = [str(r).strip() for r in items]
        return str(_("This needs one of these roles: %(roles)s", roles=_listing(needed, ROLE_LABELS)))
    if _is_english():
        return err.message
    reason = REASON_WORDS.get(str(err.params.get("reason")))
    if reason is not None:  # a refusal the page words by its reason, with the value it names
        return str(reason) % {"value": err.params.get("value", "")}
    translated = str(_(err.message))
    if translated != err.message:
        return translated
    field = err.params.get("field")
    if not field:
        # nothing to word it by: the domain's own sentence says why (which area, which value, who changed it),
        # which tells the user more than no detail at all
        return err.message
    label = FIELD_WORDS.get(str(field))
    value = err.params.get("value")
    if not label or value in (None, ""):
        return err.message  # no value to point at: the domain's own sentence says what is wrong
    # the value in words, and the domain's sentence, which says why it was refused (until it has a translation)
    return str(_("The value concerned: %(what)s", what=f"{label}（{value}）"))


def audit_details(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An audit entry's details as (what, value) words: roles by name, yes/no, reasons in words."""
    out = []
    for key, value in details.items():
        if key == "roles":
            text = _listing(value, ROLE_LABELS)
        elif key == "reason":
            text = str(AUDIT_REASONS.get(str(value), value))
        elif isinstance(value, bool):
            text = _("yes") if value else _("no")
        elif key == "what" and str(value) == "register":
            text = _("Outfall register")
        elif key == "action":
            text = str(AUDIT_LABELS.get(str(value), value))
        elif isinstance(value, list | tuple):
            text = _listing(value)
        else:
            text = "—" if value is None else str(value)
        out.append((str(AUDIT_KEYS.get(key, key)), text))
    return out


def problem_detail(problem: Any) -> str:
    """A rejected or changed upload row's detail: the domain's sentence in English; in Chinese, its values in words."""
    message = problem.get("message") if isinstance(problem, dict) else problem.message
    if _is_english():
        return str(message)
    p = (problem.get("params") if isinstance(problem, dict) else problem.params) or {}
    parts = []
    if "x" in p and "y" in p:
        parts.append(_("Position read: (%(x)s, %(y)s)", x=p["x"], y=p["y"]))
    if "lon" in p and "lat" in p:
        parts.append(_("Position: (%(lon)s, %(lat)s)", lon=p["lon"], lat=p["lat"]))
    if "km" in p:
        parts.append(_("%(km)s km from the rest of the upload", km=p["km"]))
    if p.get("fix"):
        parts.append(str(ROW_CODES.get(str(p["fix"]), p["fix"])))
    if "same_as" in p:
        parts.append(_("Same as row %(row)s", row=p["same_as"]))
    if "limit" in p:
        parts.append(_("At most %(n)s characters are kept", n=p["limit"]))
    if "column" in p:
        parts.append(_("Column: %(column)s", column=p["column"]))
    if p.get("value") not in (None, ""):
        parts.append(_("Value given: %(value)s", value=p["value"]))
    return "；".join(parts)


def init_words(app: Flask) -> None:
    """Make the helpers available to every template."""
    app.add_template_global(can)
    app.add_template_filter(audit_details, "audit_details")
    app.add_template_filter(problem_detail, "problem_detail")
    app.jinja_env.globals.update(field_words=FIELD_WORDS, column_notes=COLUMN_NOTES)
