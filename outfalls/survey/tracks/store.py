"""Storing GPS tracks: one row per line and local day of a crew's file (the same file twice adds nothing), and
retiring a wrong track (the row stays, out of coverage and the map).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import LineString
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import SurveyTrack
from outfalls.scope import Scope
from outfalls.survey.areas import within, within_params, within_sql
from outfalls.survey.readers import check_file_name
from outfalls.survey.tracks.coverage import NATIONAL
from outfalls.survey.tracks.read import TRACK_SUFFIXES, ReadTrack, read_tracks
from outfalls.types import CGCS2000, BBox


@dataclass(frozen=True, slots=True)
class StoredTrack:
    """A stored track as reported back."""

    id: int
    crew: str
    day: date | None
    name: str | None
    part: int
    point_count: int
    length_m: float
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class TrackReport:
    """What an import of one track file did."""

    file: str
    sha256: str
    crew: str
    tracks: tuple[StoredTrack, ...]  # added now, or (when already imported) those stored before
    already_imported: bool
    notes: tuple[str, ...] = ()  # what was left out: empty tracks, a day with a single point

    @property
    def added(self) -> int:
        """How many tracks this import stored."""
        return 0 if self.already_imported else len(self.tracks)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (dates as ISO strings)."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "crew": self.crew,
            "already_imported": self.already_imported,
            "added": self.added,
            "tracks": [
                {
                    "id": t.id,
                    "crew": t.crew,
                    "day": t.day.isoformat() if t.day else None,
                    "name": t.name,
                    "part": t.part,
                    "points": t.point_count,
                    "length_km": round(t.length_m / 1000, 3),
                    "started_at": t.started_at.isoformat() if t.started_at else None,
                    "ended_at": t.ended_at.isoformat() if t.ended_at else None,
                }
                for t in self.tracks
            ],
            "notes": list(self.notes),
        }


def import_tracks(
    session: Session,
    source: Path | bytes,
    name: str,
    *,
    crew: str,
    actor: str,
    bbox: BBox,
    layer: str | None = None,
    scope: Scope = NATIONAL,
) -> TrackReport:
    """Store the tracks of a GPX, KML/KMZ or GeoPackage file as walked by ``crew``, one row per line and day.

    The same file (same bytes) imported again adds nothing and reports the tracks stored the first time.

    Args:
        session: The catalogue; the caller commits.
        source: The file, as a path or its bytes.
        name: The file name as received (its extension tells the format when ``source`` is bytes).
        crew: The crew who walked, as the uploader names it.
        actor: Who imports.
        bbox: The deployment's region (west, south, east, north): a track outside it is refused.
        layer: One layer of a multi-layer GeoPackage.
        scope: The uploader's areas: a track touching none of them is refused (another area's crews walk there).

    Returns:
        The report: tracks added (or already there) and notes on what was left out.

    Raises:
        InvalidInput: no crew; an unreadable file; no line or track; a track of one point; coordinates
            outside ``bbox`` or invalid in the file's CRS; a track outside ``scope``.
    """
    crew = " ".join(crew.split())
    if not crew:
        raise InvalidInput("name the crew who walked these tracks", field="crew")
    if len(crew) > 128:
        raise InvalidInput("a crew name has at most 128 characters", field="crew", value=crew)
    label = check_file_name(name)
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    if not data:
        raise InvalidInput(f"{label} is empty", field="file", value=label)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = list(
        session.scalars(
            select(SurveyTrack)  # another area's copy is not "imported before": its area check refuses it below
            .where(
                SurveyTrack.source_sha256 == sha256, SurveyTrack.retired_at.is_(None), *within(SurveyTrack.geom, scope)
            )
            .order_by(SurveyTrack.part)
        )
    )
    if existing:
        return TrackReport(label, sha256, existing[0].crew, tuple(_stored(t) for t in existing), True)
    suffix = Path(label).suffix.lower()
    if suffix not in TRACK_SUFFIXES:
        raise InvalidInput(
            f"{label}: tracks are read from GPX, KML, KMZ or GeoPackage files, "
            f"not {suffix or 'a file without extension'}",
            field="file", value=label,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tracks-") as tmp:
        path = Path(tmp) / f"track{suffix}"
        path.write_bytes(data)
        lines, notes = read_tracks(path, name=label, layer=layer)
    _check_region(lines, bbox, label)
    _check_scope(session, lines, scope, label)
    added = []
    for part, line in enumerate(lines):
        track = SurveyTrack(
            crew=crew,
            day=line.day,
            name=line.name,
            source_name=label,
            source_sha256=sha256,
            part=part,
            started_at=line.started_at,
            ended_at=line.ended_at,
            point_count=len(line.coords),
            length_m=round(line.length_m, 2),
            geom=from_shape(LineString(line.coords), srid=CGCS2000),
            imported_by=actor,
        )
        session.add(track)
        added.append(track)
    session.flush()
    return TrackReport(label, sha256, crew, tuple(_stored(t) for t in added), False, tuple(notes))


def _check_region(lines: Sequence[ReadTrack], bbox: BBox, label: str) -> None:
    west, south, east, north = bbox
    for line in lines:
        xs = [c[0] for c in line.coords]
        ys = [c[1] for c in line.coords]
        if min(xs) < west or max(xs) > east or min(ys) < south or max(ys) > north:
            what = f'track "{line.name}"' if line.name else "a track"
            raise InvalidInput(
                f"{what} in {label} lies outside the region: lon {min(xs):.5f}–{max(xs):.5f}, "
                f"lat {min(ys):.5f}–{max(ys):.5f} is not within [{west}, {south}, {east}, {north}]",
                field="file", value=label, reason="track_outside_region",
            )  # fmt: skip


def _check_scope(session: Session, lines: Sequence[ReadTrack], scope: Scope, label: str) -> None:
    if scope.is_national:
        return
    sql = text(f"SELECT {within_sql('ST_GeomFromEWKT(:line)')}")
    for line in lines:
        ewkt = f"SRID={CGCS2000};{LineString(line.coords).wkt}"
        if not session.scalar(sql, {"line": ewkt, **within_params(scope)}):
            what = f'track "{line.name}"' if line.name else "a track"
            raise InvalidInput(f"{what} in {label} lies outside your area ({scope.describe()})", field="file",
                               value=label, reason="track_outside_area")  # fmt: skip


def _stored(t: SurveyTrack) -> StoredTrack:
    return StoredTrack(t.id, t.crew, t.day, t.name, t.part, t.point_count, t.length_m, t.started_at, t.ended_at)


def retire_track(session: Session, track_id: int, *, actor: str, reason: str, scope: Scope = NATIONAL) -> SurveyTrack:
    """Take a wrong track out of coverage and the map; the row stays, marked retired.

    Raises:
        NotFound: no such track, or one outside ``scope``.
        InvalidInput: no reason given, or the track is already retired.
    """
    track = session.scalar(
        select(SurveyTrack).where(SurveyTrack.id == track_id, *within(SurveyTrack.geom, scope)).with_for_update()
    )
    if track is None:
        raise NotFound("no such track", entity="track", id=track_id)
    if not reason.strip():
        raise InvalidInput("say why the track is retired", field="reason")
    if track.retired_at is not None:
        raise InvalidInput(f"track {track_id} was retired already", field="track", value=track_id)
    track.retired_at = session.scalar(select(func.now()))
    track.retired_by = actor
    track.retired_reason = reason.strip()
    session.flush()
    return track
