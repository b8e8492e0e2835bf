"""What the public may see of an outfall (信息公开): only outfalls that exist (never candidates, rejected or
merged-away records), only the fields ``[public] fields`` lists, and never personal data (crews, officers,
reviewers, phone numbers, the audit log are not even read here). The sign boards, the public pages and the public
GeoJSON all read ``public_outfalls``, so they cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.transitions import ACTIVE
from outfalls.config import PublicSettings
from outfalls.errors import NotFound
from outfalls.types import BBox, OutfallStatus

PUBLIC_STATES = tuple(s.value for s in (*ACTIVE, OutfallStatus.CLOSED))


@dataclass(frozen=True, slots=True)
class PublicOutfall:
    """An outfall as the public may know it (``id`` is for the server's own use and is never shown)."""

    id: int
    ref: str
    name: str
    local_code: str | None
    national_code: str | None
    type: str | None
    receiving_water: str | None
    basin: str | None
    area: str | None
    river: str | None
    responsible_party: str | None
    remediation_category: str | None
    status: str
    status_since: date
    standardisation: dict[str, bool]
    monitoring: dict[str, Any] | None
    photo: int | None  # the sign board's photo (an attachment), if one was recorded
    lon: float
    lat: float

    def properties(self, settings: PublicSettings) -> dict[str, Any]:
        """The fields ``settings.fields`` lists, in that order (``monitoring`` only with ``show_monitoring``)."""
        values: dict[str, Any] = {
            "ref": self.ref, "name": self.name, "local_code": self.local_code, "national_code": self.national_code,
            "type": self.type, "receiving_water": self.receiving_water, "basin": self.basin, "area": self.area,
            "river": self.river, "responsible_party": self.responsible_party,
            "remediation_category": self.remediation_category, "status": self.status,
            "status_since": self.status_since.isoformat(), "standardisation": self.standardisation,
            "monitoring": self.monitoring, "photo": self.photo is not None,
        }  # fmt: skip
        return {f: values[f] for f in settings.fields if f != "monitoring" or settings.show_monitoring}


_SELECT = """
    SELECT o.id, o.public_ref AS ref, o.name, o.local_code, o.national_code, cl.label_zh AS type, o.receiving_water,
           b.name AS basin, a.name AS area, r.name AS river, o.responsible_party, o.remediation_category, o.status,
           o.status_since, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat,
           (SELECT coalesce(jsonb_object_agg(x.item, x.is_done), '{{}}') FROM (
              SELECT DISTINCT ON (s.item) s.item, s.is_done FROM standardisation_checks s WHERE s.outfall_id = o.id
              ORDER BY s.item, s."on" DESC, s.id DESC) x) AS standardisation,
           (SELECT f.id FROM standardisation_checks s
              CROSS JOIN LATERAL jsonb_array_elements_text(s.evidence) AS e(att)
              JOIN attachments f ON f.id = e.att::int AND f.outfall_id = o.id AND left(f.media_type, 6) = 'image/'
              WHERE s.outfall_id = o.id AND s.item = 'sign_board' AND s.is_done
              ORDER BY s."on" DESC, s.id DESC, f.id LIMIT 1) AS photo,
           {monitoring} AS monitoring
    FROM outfalls o
    LEFT JOIN code_lists cl ON cl.scheme = o.type_scheme AND cl.code = o.type_code
    LEFT JOIN basins b ON b.id = o.basin_id
    LEFT JOIN admin_areas a ON a.id = o.admin_area_id
    LEFT JOIN rivers r ON r.id = o.river_id
    WHERE o.status = ANY(:states) AND {where}
    ORDER BY o.id
"""
# The latest monitoring visit: discharging or dry, and the mandatory indicators measured then.
_MONITORING = """
    (SELECT jsonb_build_object(
        'visited_on', to_char(v.visited_at AT TIME ZONE :zone, 'YYYY-MM-DD'), 'discharge', v.discharge,
        'exceedances', v.exceedances,
        'results', (SELECT coalesce(jsonb_agg(jsonb_build_object('parameter', p.label_zh, 'value', sr.value,
                                                                 'unit', sr.unit, 'exceeds', sr.exceeds)
                                              ORDER BY p.sort_order), '[]')
                    FROM sample_results sr JOIN parameters p ON p.code = sr.parameter
                    WHERE sr.visit_id = v.id AND p.is_mandatory))
     FROM monitoring_visits v WHERE v.outfall_id = o.id ORDER BY v.visited_at DESC, v.id DESC LIMIT 1)
"""


def _fetch(session: Session, where: str, params: dict[str, Any], *, monitoring: bool) -> list[PublicOutfall]:
    sql = _SELECT.format(where=where, monitoring=_MONITORING if monitoring else "NULL::jsonb")
    rows = session.execute(text(sql), {"states": list(PUBLIC_STATES), "zone": clock.zone_name(), **params})
    out = []
    for r in rows:
        std = r.standardisation if isinstance(r.standardisation, dict) else json.loads(r.standardisation or "{}")
        out.append(PublicOutfall(
            id=r.id, ref=r.ref, name=r.name, local_code=r.local_code, national_code=r.national_code, type=r.type,
            receiving_water=r.receiving_water, basin=r.basin, area=r.area, river=r.river,
            responsible_party=r.responsible_party, remediation_category=r.remediation_category, status=r.status,
            status_since=r.status_since, standardisation={str(k): bool(v) for k, v in std.items()},
            monitoring=r.monitoring, photo=r.photo, lon=float(r.lon), lat=float(r.lat),
        ))  # fmt: skip
    return out


def public_outfall(session: Session, ref: str, settings: PublicSettings) -> PublicOutfall:
    """The public outfall with this reference.

    Raises:
        NotFound: no such reference, or one of a candidate, a rejected or a merged-away record.
    """
    found = _fetch(session, "o.public_ref = :ref", {"ref": ref.strip().lower()[:16]},
                   monitoring=settings.show_monitoring and "monitoring" in settings.fields)  # fmt: skip
    if not found:
        raise NotFound("no public outfall has this reference", entity="outfall", ref=ref)
    return found[0]


def public_outfalls(session: Session, settings: PublicSettings, *, bbox: BBox | None = None,
                    ids: list[int] | None = None) -> list[PublicOutfall]:  # fmt: skip
    """Every public outfall (within ``bbox``, CGCS2000 degrees; or of ``ids``), by id."""
    where, params = "TRUE", dict[str, Any]()
    if bbox is not None:
        where = "o.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
        params = dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    if ids is not None:
        where += " AND o.id = ANY(:ids)"
        params["ids"] = list(ids)
    return _fetch(session, where, params, monitoring=settings.show_monitoring and "monitoring" in settings.fields)


def public_geojson(session: Session, settings: PublicSettings, *, bbox: BBox | None = None) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the public outfalls: public fields only, the reference as feature id."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": o.ref, "geometry": {"type": "Point", "coordinates": [o.lon, o.lat]},
             "properties": o.properties(settings)}
            for o in public_outfalls(session, settings, bbox=bbox)
        ],
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProgressLine:
    """Public outfalls of a basin or area and how many of them are remediated (or closed out)."""

    name: str
    outfalls: int
    remediated: int

    @property
    def share(self) -> float:
        """Remediated of all, 0..1."""
        return self.remediated / self.outfalls if self.outfalls else 0.0


_PROGRESS = """
    SELECT coalesce({name}, '—') AS name, count(*) AS outfalls,
           count(*) FILTER (WHERE o.status IN ('remediated', 'closed')) AS remediated
    FROM outfalls o {join} WHERE o.status = ANY(:states) GROUP BY 1 ORDER BY 2 DESC, 1
"""


def public_progress(session: Session) -> dict[str, list[ProgressLine]]:
    """Remediation progress of the public outfalls by basin and by county."""
    out = {}
    for key, name, join in (("basin", "b.name", "LEFT JOIN basins b ON b.id = o.basin_id"),
                            ("area", "a.name", "LEFT JOIN admin_areas a ON a.id = o.admin_area_id")):  # fmt: skip
        rows = session.execute(text(_PROGRESS.format(name=name, join=join)), {"states": list(PUBLIC_STATES)})
        out[key] = [ProgressLine(r.name, int(r.outfalls), int(r.remediated)) for r in rows]
    return out


def photo_sha256(session: Session, attachment_id: int) -> str:
    """The stored file of a sign board photo (an attachment public through ``PublicOutfall.photo``).

    Raises:
        NotFound: no such attachment.
    """
    sha = session.scalar(text("SELECT sha256 FROM attachments WHERE id = :id"), {"id": attachment_id})
    if sha is None:
        raise NotFound("photo does not exist", entity="photo", id=attachment_id)
    return str(sha)
