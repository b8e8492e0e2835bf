"""Languages: Chinese by default, English by a switch remembered in a cookie (Flask-Babel catalogues in
``web/translations``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound as HTTPNotFound

from outfalls import clock
from outfalls.config import Settings
from web.auth import public

LOCALES = ("zh", "en")
COOKIE = "lang"
TRANSLATIONS = Path(__file__).parent / "translations"

bp = Blueprint("i18n", __name__)

STATUS_LABELS = {
    "candidate": _l("Candidate"),
    "surveyed": _l("Surveyed"),
    "traced": _l("Traced"),
    "remediating": _l("Remediating"),
    "remediated": _l("Remediated"),
    "closed": _l("Closed out"),
    "rejected": _l("Rejected"),
    "merged": _l("Merged"),
}
FOUND_BY_LABELS = {
    "drone": _l("Level 1: drone imagery"),
    "foot": _l("Level 2: foot survey"),
    "expert": _l("Level 3: expert check"),
    "public": _l("Public report"),
}
PROVENANCE_LABELS = {"unknown": _l("Not known yet"), "known": _l("Known"), "sign": _l("Read from the sign")}
EVENT_LABELS = {
    "created": _l("Recorded"),
    "surveyed": _l("Verified on site"),
    "rejected": _l("Rejected"),
    "sampled": _l("Sampled"),
    "traced": _l("Source traced"),
    "remediation_planned": _l("Remediation planned"),
    "remediated": _l("Remediation completed"),
    "closed": _l("Closed out"),
    "merged": _l("Merged"),
    "observation_linked": _l("Field record linked"),
    "observation_unlinked": _l("Field record unlinked"),
    "location_changed": _l("Location changed"),
    "attributes_changed": _l("Attributes changed"),
    "trace_updated": _l("Tracing recorded"),
    "remediation_progress": _l("Remediation progress"),
    "standardisation_checked": _l("Standardisation checked"),
    "assigned": _l("Case assigned"),
    "deadline_set": _l("Case deadline set"),
    "absorbed": _l("A duplicate merged into it"),
    "split": _l("Split off again"),
    "split_off": _l("A merged duplicate split off"),
    "coded": _l("Code given"),
    "report_linked": _l("Public report linked"),
}
REPORT_STATUS_LABELS = {
    "received": _l("Received, not yet handled"),
    "checking": _l("Being checked by a crew"),
    "confirmed": _l("Confirmed outfall"),
    "not_outfall": _l("Not an outfall"),
    "duplicate": _l("Duplicate report"),
    "all": _l("All"),
}
REPORT_EVENT_LABELS = {
    "received": _l("Report received"),
    "linked": _l("Linked to an outfall"),
    "candidate": _l("Turned into a candidate"),
    "closed": _l("Report closed"),
}
LOCATION_SOURCE_LABELS = {"gps": _l("phone position"), "map": _l("placed on the map")}
METRIC_LABELS = {
    "surveyed": _l("Surveyed"),
    "sampled": _l("Sampled"),
    "traced": _l("Traced"),
    "remediating": _l("Remediation under way"),
    "remediated": _l("Remediated"),
    "closed": _l("Closed out"),
}
SCOPE_KIND_LABELS = {
    "all": _l("Whole scope"),
    "basin": _l("Basin"),
    "sub_basin": _l("Sub-basin"),
    "river": _l("River"),
    "province": _l("Province"),
    "city": _l("City"),
    "county": _l("County"),
    "area": _l("Administrative area"),
}
GAP_CLASS_LABELS = {
    "met": _l("Target met"),
    "near": _l("Behind by up to 10 points"),
    "behind": _l("Behind by 10 to 25 points"),
    "far": _l("Behind by more than 25 points"),
    "none": _l("No target or no outfalls"),
}
REMEDIATION_LABELS = {
    "ban": _l("Ban (依法取缔)"),
    "merge": _l("Merge (清理合并)"),
    "standardise": _l("Bring up to standard (规范整治)"),
    "none_needed": _l("No remediation needed"),
}
ROLE_LABELS = {
    "crew": _l("Survey crew"),
    "analyst": _l("Imagery analyst"),
    "reviewer": _l("Reviewer"),
    "case_officer": _l("Case officer"),
    "leader": _l("Leadership"),
    "exporter": _l("Exporter"),
    "admin": _l("Administrator"),
}
AUDIT_LABELS = {
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "logout": _l("Logged out"),
    "password_changed": _l("Password changed"),
    "token_created": _l("Token created"),
    "token_revoked": _l("Token revoked"),
    "token_used": _l("Token used"),
    "token_refused": _l("Token refused"),
    "user_created": _l("User created"),
    "user_updated": _l("User changed"),
    "export": _l("Export"),
}
MONITORING_LABELS = {
    "not_sampled": _l("Not yet sampled"),
    "sampled": _l("Sampled"),
    "dry": _l("Dry at the last visit"),
    "not_possible": _l("Not possible at the last visit"),
}
DISCHARGE_LABELS = {
    "discharging": _l("Discharging water"),
    "dry": _l("Dry (no flow)"),
    "not_possible": _l("Not possible"),
}
FLOW_LABELS = {"measured": _l("Flow measured"), "not_measured": _l("Flow not measured"),
               "not_measurable": _l("Flow not measurable")}  # fmt: skip
METHOD_LABELS = {"field_quick": _l("Field quick test"), "lab": _l("Laboratory")}
PARAMETER_LABELS = {
    "ph": "pH", "cod": _l("COD"), "nh3n": _l("NH3-N"), "tn": _l("TN"), "tp": _l("TP"), "bod5": _l("BOD5"),
    "codmn": _l("CODMn"), "do": _l("Dissolved oxygen"), "oil": _l("Petroleum oil"), "ss": _l("Suspended solids"),
    "water_temp": _l("Water temperature"), "conductivity": _l("Conductivity"), "fecal_coliform": _l("Fecal coliforms"),
}  # fmt: skip
TRACE_METHOD_LABELS = {
    "records": _l("From records (资料溯源)"),
    "on_site": _l("On-site investigation (人工排查)"),
    "technical": _l("Technical tracing (技术溯源)"),
}
STEP_LABELS = {
    "plan": _l("Plan"),
    "progress": _l("Progress"),
    "completion": _l("Completion"),
    "acceptance": _l("Accepted and closed out"),
}
GAP_LABELS = {
    "plan": _l("a remediation plan"),
    "traced": _l("a completed source tracing"),
    "completion": _l("the completion of the works"),
    "completion_evidence": _l("evidence of completion"),
    "followup_sample": _l("a follow-up sample after completion"),
    "acceptance_by_other": _l("acceptance by someone other than who completed it"),
}
PHOTO_LABELS = {
    "sampling_point": _l("Photo: sampling point"),
    "operation": _l("Photo: sampling and flow work"),
    "sample": _l("Photo: water sample"),
    "quick_test": _l("Photo: quick-test result"),
}
CHECKLIST_LABELS = {
    "sampling_point": _l("Sampling point"),
    "inspection_well": _l("Inspection well"),
    "sign_board": _l("Sign board"),
    "monitoring": _l("Video or online monitoring"),
    "archive": _l("Archive"),
}
BULK_REASONS = {
    "not_found": _l("Not found (or outside your area)"),
    "stale_edit": _l("Changed by someone else since the list was loaded"),
    "invalid_transition": _l("Not possible in the outfall's current state"),
    "outside_officer_scope": _l("Outside the case officer's area"),
    "invalid_input": _l("Not valid for this outfall"),
}
SURVEY_FIELD_LABELS = {
    "lon": _l("Longitude"), "lat": _l("Latitude"), "x": _l("X (easting)"), "y": _l("Y (northing)"),
    "client_id": _l("Record id"), "name": _l("Outfall name"), "national_code": _l("National code"),
    "local_code": _l("Local code"), "type": _l("Outfall type"), "receiving_water": _l("Receiving water"),
    "township": _l("Township"), "surveyor": _l("Surveyor"), "surveyed_at": _l("Survey time"),
    "photos": _l("Photo file names"), "discharge": _l("Discharging"), "notes": _l("Notes"),
}  # fmt: skip
ROW_CODES = {
    "too_long": _l("Too long for the catalogue"),
    "missing_coordinates": _l("Coordinates missing"),
    "bad_coordinates": _l("Coordinates not readable or not valid"),
    "outside_region": _l("Outside the deployment's region"),
    "swapped_lat_lon": _l("Latitude and longitude swapped"),
    "longitude_sign": _l("Longitude with the wrong sign"),
    "latitude_sign": _l("Latitude with the wrong sign"),
    "far_from_batch": _l("Far from the rest of the upload"),
    "impossible_date": _l("Impossible date"),
    "duplicate_row": _l("Same as an earlier row"),
    "duplicate_id": _l("Record id used twice"),
    "conflicting_resend": _l("Record id received before with other content"),
    "duplicate_code": _l("National code given twice"),
    "nul_character": _l("A NUL character in a value"),
    "outside_your_area": _l("Outside your area"),
    "unknown_type": _l("Unknown type, recorded as not yet determined"),
    "photo_unmatched": _l("No record names this photo and none is near enough in place and time"),
    "photo_ambiguous": _l("Two records are about equally near: name the photo in the record"),
    "photo_unreadable": _l("Not a readable photo"),
}
REVIEW_REASONS = {
    "several_candidates": _l("Several outfalls nearby"),
    "type_conflict": _l("The outfall nearby has another type"),
    "drone_candidate": _l("A drone candidate nearby"),
    "near_in_batch": _l("Another row of the same upload nearby"),
    "field_conflict": _l("A phone record made before the outfall changed"),
}
NOTE_LABELS = {
    "encoding detected: GBK/GB18030": _l("Text encoding detected: GBK/GB18030"),
    "encoding detected: Big5": _l("Text encoding detected: Big5"),
    "encoding detected: UTF-16": _l("Text encoding detected: UTF-16"),
    "no .cpg file: attribute encoding detected as GBK/GB18030": _l(
        "The Shapefile has no .cpg file: its attribute encoding was detected as GBK/GB18030"
    ),
    "no .cpg file: attribute encoding detected as UTF-8": _l(
        "The Shapefile has no .cpg file: its attribute encoding was detected as UTF-8"
    ),
    "coordinates read as WGS84 (no datum declared)": _l("No datum was declared: coordinates were read as WGS84"),
    "read with GDAL (.xls)": _l("The .xls workbook was read with GDAL"),
}
JOB_STAGES = {
    "validated": _l("Rows checked"),
    "stored": _l("Records stored"),
    "reconciled": _l("Records matched with outfalls"),
    "created": _l("New outfalls created"),
    "done": _l("Done"),
}
LEVEL_LABELS = {
    "basin": _l("Basin"),
    "sub_basin": _l("Sub-basin"),
    "province": _l("Province"),
    "city": _l("City"),
    "county": _l("County"),
}

# Registers (名录) and the dossier
FORMAT_LABELS = {
    "xlsx": _l("Excel workbook (XLSX)"),
    "csv": _l("CSV (UTF-8 with BOM)"),
    "gpkg": _l("GeoPackage"),
    "shp": _l("Shapefile (zipped)"),
    "geojson": _l("GeoJSON"),
    "kml": _l("KML"),
    "fgb": _l("FlatGeobuf"),
    "html": _l("Map to take away (one HTML file, opens offline)"),
}
EXPORT_STAGES = {
    "querying": _l("Reading the catalogue"),
    "reading": _l("Reading the register rows"),
    "writing": _l("Writing the file"),
    "written": _l("Done"),
}


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as the programme's clock shows it (``{{ e.at|local }}``); every time on a page goes through here."""
    return clock.local(moment).strftime(fmt) if moment is not None else "—"


def local_day(moment: datetime | None) -> str:
    """The programme's calendar day of a moment (``{{ t.created_at|day }}``)."""
    return clock.day_of(moment).isoformat() if moment is not None else "—"


def init_app(app: Flask, settings: Settings) -> None:
    """Set up Flask-Babel, the language switch and template helpers."""

    def select_locale() -> str:
        chosen = request.cookies.get(COOKIE)
        return chosen if chosen in LOCALES else settings.server.default_locale

    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    app.register_blueprint(bp)
    app.add_template_filter(local_time, "local")
    app.add_template_filter(local_day, "day")

    @app.context_processor
    def labels() -> dict[str, object]:
        locale = str(get_locale() or settings.server.default_locale)
        return {
            "lang": locale,
            "html_lang": "zh-CN" if locale == "zh" else "en",
            "status_labels": STATUS_LABELS,
            "found_by_labels": FOUND_BY_LABELS,
            "provenance_labels": PROVENANCE_LABELS,
            "event_labels": EVENT_LABELS,
            "report_status_labels": REPORT_STATUS_LABELS,
            "report_event_labels": REPORT_EVENT_LABELS,
            "location_source_labels": LOCATION_SOURCE_LABELS,
            "remediation_labels": REMEDIATION_LABELS,
            "level_labels": LEVEL_LABELS,
            "role_labels": ROLE_LABELS,
            "audit_labels": AUDIT_LABELS,
            "monitoring_labels": MONITORING_LABELS,
            "discharge_labels": DISCHARGE_LABELS,
            "flow_labels": FLOW_LABELS,
            "method_labels": METHOD_LABELS,
            "param_labels": PARAMETER_LABELS,
            "trace_method_labels": TRACE_METHOD_LABELS,
            "step_labels": STEP_LABELS,
            "gap_labels": GAP_LABELS,
            "photo_labels": PHOTO_LABELS,
            "checklist_labels": CHECKLIST_LABELS,
            "bulk_reasons": BULK_REASONS,
            "field_labels": SURVEY_FIELD_LABELS,
            "row_codes": ROW_CODES,
            "review_reasons": REVIEW_REASONS,
            "job_stages": JOB_STAGES,
            "note_labels": NOTE_LABELS,
            "job_stages_json": json.dumps({k: str(v) for k, v in JOB_STAGES.items()}, ensure_ascii=False).replace(
                "<", "\\u003c"
            ),
            "local_tz": clock.zone(),
        }


def current_locale() -> str:
    """The language of the current request (``zh`` or ``en``)."""
    return str(get_locale() or "zh")


def is_local_path(target: str | None) -> bool:
    """A path on this site; browsers read a backslash like a slash, and ignore tabs and newlines."""
    if not target or not target.startswith("/"):
        return False
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    return not target.startswith("//")


def _same_site_path(referrer: str | None) -> str | None:
    """The path and query of a referrer on this site (its host equals the request's), else None."""
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.get("/lang/<code>")
@public
def switch(code: str) -> ResponseReturnValue:
    """Switch the language and go back to the page the user was on."""
    if code not in LOCALES:
        raise HTTPNotFound()
    target = request.args.get("next") or _same_site_path(request.referrer)
    if target is None or not is_local_path(target):
        # only local paths: an open redirect would let a link send users elsewhere
        target = url_for("catalogue.map_page")
    response = redirect(target)
    response.set_cookie(COOKIE, code, max_age=5 * 365 * 24 * 3600, httponly=True, samesite="Lax")
    return response
