"""The dossier (档案) of one outfall: everything an inspector or a court asks for in one place — codes, location
with a static map, photos, the field records behind it, monitoring visits and results, tracing, remediation and
closing, and the full history of who did what when. The case part (``case_file``) is what the outfall's page
shows too, so the page and the dossier read the same records. The web layer prints it as HTML and, through headless
Chromium, as PDF; the map is drawn here as SVG paths so that printing needs no tiles and no network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls.cases import remediation, sampling, standardisation, tracing
from outfalls.catalogue import queries
from outfalls.models import Attachment, Observation, ObservationLink, RemediationRecord, TraceRecord
from outfalls.scope import Scope
from outfalls.store import list_attachments

SNAPSHOT_W, SNAPSHOT_H = 480, 320  # pixels of the map snapshot
SNAPSHOT_KM = 6.0  # the width of ground it shows


@dataclass(frozen=True, slots=True)
class MapSnapshot:
    """A static map around the outfall: SVG path data in a ``width`` × ``height`` box, north up."""

    width: int
    height: int
    rivers: list[tuple[str, str]]  # (name, path data)
    boundaries: list[tuple[str, str]]  # county outlines (name, path data)
    point: tuple[float, float]  # the outfall, in pixels
    scale_px: float  # pixels of 1 km
    km: float


@dataclass(frozen=True, slots=True)
class FieldRecord:
    """A field record (observation) linked to the outfall, as received."""

    id: int
    source: str
    client_id: str
    author: str
    captured_at: datetime | None
    received_at: datetime
    orig: str  # the coordinates as received, with their CRS
    linked_at: datetime
    linked_by: str
    unlinked_at: datetime | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaseFile:
    """An outfall's case as its page and its dossier show it: the outfall, monitoring, tracing, remediation with
    what closing out still needs, the standardisation checklist and the stored files.
    """

    detail: queries.OutfallDetail
    monitoring: sampling.MonitoringState
    traces: list[TraceRecord]
    remedies: list[RemediationRecord]
    gaps: remediation.CaseGaps
    checklist: list[standardisation.ChecklistLine]
    files: list[Attachment]

    @property
    def files_by_event(self) -> dict[int | None, list[Attachment]]:
        """The files grouped by the event they document (None: the outfall's own, e.g. survey photos)."""
        grouped: dict[int | None, list[Attachment]] = {}
        for a in self.files:
            grouped.setdefault(a.event_id, []).append(a)
        return grouped

    @property
    def files_by_id(self) -> dict[int, Attachment]:
        """The files by id (remediation and checklist steps name their evidence by id)."""
        return {a.id: a for a in self.files}


def case_file(session: Session, outfall_id: int, *, scope: Scope, acceptor: str | None = None) -> CaseFile:
    """The case of one outfall; ``acceptor`` is who would accept the remediation (closing out needs someone other
    than whoever recorded the completion).

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    return CaseFile(
        detail=queries.get_outfall(session, outfall_id, scope=scope),
        monitoring=sampling.monitoring_state(session, outfall_id, scope=scope),
        traces=tracing.trace_history(session, outfall_id, scope=scope),
        remedies=remediation.remediation_history(session, outfall_id, scope=scope),
        gaps=remediation.closing_gaps(session, outfall_id, scope=scope, acceptor=acceptor),
        checklist=standardisation.checklist(session, outfall_id, scope=scope),
        files=list_attachments(session, outfall_id, scope=scope),
    )


@dataclass(frozen=True, slots=True)
class Dossier:
    """Everything the dossier shows: the case, the field records behind it, a map snapshot and who worked on it."""

    case: CaseFile
    records: list[FieldRecord]
    snapshot: MapSnapshot
    people: list[tuple[str, int, datetime, datetime]]  # (actor, events, first, last)

    @property
    def detail(self) -> queries.OutfallDetail:
        """The outfall."""
        return self.case.detail

    @property
    def monitoring(self) -> sampling.MonitoringState:
        """Monitoring visits and results."""
        return self.case.monitoring

    @property
    def traces(self) -> list[TraceRecord]:
        """Tracing records, newest first."""
        return self.case.traces

    @property
    def remedies(self) -> list[RemediationRecord]:
        """Remediation steps in order."""
        return self.case.remedies

    @property
    def checklist(self) -> list[standardisation.ChecklistLine]:
        """The standardisation checklist."""
        return self.case.checklist

    @property
    def files(self) -> list[Attachment]:
        """The stored files."""
        return self.case.files


def build_dossier(session: Session, outfall_id: int, *, scope: Scope) -> Dossier:
    """The dossier of one outfall.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    case = case_file(session, outfall_id, scope=scope)
    people: dict[str, tuple[int, datetime, datetime]] = {}
    for e in case.detail.events:
        n, first, last = people.get(e.actor, (0, e.recorded_at, e.recorded_at))
        people[e.actor] = (n + 1, min(first, e.recorded_at), max(last, e.recorded_at))
    return Dossier(
        case=case,
        records=field_records(session, outfall_id),
        snapshot=map_snapshot(session, case.detail.row.lon, case.detail.row.lat),
        people=sorted(((a, n, f, la) for a, (n, f, la) in people.items()), key=lambda p: p[2]),
    )


def field_records(session: Session, outfall_id: int) -> list[FieldRecord]:
    """The field records ever linked to an outfall (unlinked ones too, marked), oldest link first."""
    rows = session.execute(
        select(Observation, ObservationLink)
        .join(ObservationLink, ObservationLink.observation_id == Observation.id)
        .where(ObservationLink.outfall_id == outfall_id)
        .order_by(ObservationLink.linked_at, ObservationLink.id)
    )
    return [
        FieldRecord(o.id, o.source_kind.value, o.client_id, o.author, o.captured_at, o.received_at,
                    f"{o.orig_x:.6f}, {o.orig_y:.6f} ({o.orig_crs})", link.linked_at, link.linked_by, link.unlinked_at,
                    dict(o.attributes))  # fmt: skip
        for o, link in rows
    ]


# Clip the reference lines to the window, then map lon/lat to pixels with ST_Affine (x right, y down; ST_AsSVG
# writes -y, so the affine keeps y growing northwards) and let PostGIS write the SVG path data.
_SNAPSHOT_SQL = text("""
WITH win AS (SELECT ST_MakeEnvelope(:west, :south, :east, :north, 4490) AS box)
SELECT 'river' AS kind, r.name,
       ST_AsSVG(ST_Affine(ST_ClipByBox2D(r.geom, win.box), :sx, 0, 0, :sy, -:west * :sx, -:north * :sy), 0, 1)
FROM rivers r, win WHERE r.geom && win.box
UNION ALL
SELECT 'boundary', a.name,
       ST_AsSVG(ST_Affine(ST_ClipByBox2D(ST_Boundary(a.geom), win.box), :sx, 0, 0, :sy, -:west * :sx, -:north * :sy),
                0, 1)
FROM admin_areas a, win WHERE a.level = 'county' AND a.geom && win.box
ORDER BY 1, 2
""")


def map_snapshot(session: Session, lon: float, lat: float, *, km: float = SNAPSHOT_KM,
                 width: int = SNAPSHOT_W, height: int = SNAPSHOT_H) -> MapSnapshot:  # fmt: skip
    """The rivers and county boundaries around a point, as SVG paths of a north-up map ``km`` wide."""
    km_per_deg_lon = 111.32 * math.cos(math.radians(lat))
    half_w = km / 2 / km_per_deg_lon
    half_h = km * height / width / 2 / 110.57
    west, east, south, north = lon - half_w, lon + half_w, lat - half_h, lat + half_h
    sx = width / (east - west)
    sy = height / (north - south)  # ST_AsSVG negates y: (north - lat) * sy pixels down from the top
    params = {"west": west, "south": south, "east": east, "north": north, "sx": sx, "sy": sy}
    rivers: list[tuple[str, str]] = []
    boundaries: list[tuple[str, str]] = []
    for kind, name, path in session.execute(_SNAPSHOT_SQL, params):
        if path:
            (rivers if kind == "river" else boundaries).append((name, path))
    return MapSnapshot(width, height, rivers, boundaries, (round((lon - west) * sx, 1), round((north - lat) * sy, 1)),
                       round(width / km, 2), km)  # fmt: skip
