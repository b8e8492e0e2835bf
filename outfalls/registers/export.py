"""Exporting a register: the file written next to its target and moved into place when complete, its
summary (``RegisterExport``) and the audit entry every export leaves.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from outfalls.accounts import audit
from outfalls.config import TargetDefault
from outfalls.errors import InvalidInput
from outfalls.models import AuditEntry
from outfalls.registers.csv import write_csv
from outfalls.registers.files import Progress, remove
from outfalls.registers.ogr import write_ogr
from outfalls.registers.query import check_format, register_query
from outfalls.registers.xlsx import write_xlsx
from outfalls.scope import Scope
from outfalls.types import AuditAction

SUFFIX = {"xlsx": ".xlsx", "csv": ".csv", "gpkg": ".gpkg", "shp": ".zip", "geojson": ".geojson", "kml": ".kml",
          "fgb": ".fgb", "html": ".html"}  # fmt: skip
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv", "gpkg": "application/geopackage+sqlite3", "shp": "application/zip",
    "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml", "fgb": "application/octet-stream",
    "html": "text/html",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegisterExport:
    """What an export wrote: the ``register export --json`` summary."""

    file: str
    format: str
    rows: int
    crs: int
    as_of: date
    scope: str
    sha256: str
    by: str = "basin"

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON)."""
        return {"file": self.file, "format": self.format, "rows": self.rows, "crs": f"EPSG:{self.crs}",
                "as_of": self.as_of.isoformat(), "scope": self.scope, "sha256": self.sha256, "by": self.by}  # fmt: skip


def check_output(path: Path) -> Path:
    """The output file, checked before any work is done.

    Raises:
        InvalidInput: its folder does not exist or cannot be written, or the path is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InvalidInput(f"cannot write {path}: it is a folder", field="output", value=str(path))
    if not folder.is_dir():
        raise InvalidInput(f"cannot write {path}: folder {folder} does not exist", field="output", value=str(path))
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput(f"cannot write {path}: permission denied", field="output", value=str(path))
    return path


def export_register(
    session: Session,
    path: Path,
    *,
    fmt: str,
    scope: Scope,
    basin: str | None = None,
    area: str | None = None,
    as_of: date | None = None,
    crs: int = 4490,
    by: str = "basin",
    progress: Progress | None = None,
    targets: Sequence[TargetDefault] = (),
) -> RegisterExport:
    """Write the register of ``scope`` (narrowed to ``basin``/``area``) as of ``as_of`` to ``path``.

    The file is written next to ``path`` and moved into place when complete, so a failed export leaves no
    half-written file.

    ``html`` is a map to take away (``outfalls.maps``): the outfalls and the areas below the register's scope
    shaded by their gap to ``targets`` (the configured defaults, besides the targets recorded as data).

    Raises:
        InvalidInput: an unknown format, basin code or grouping, a malformed area code, a date in the future,
            a CRS other than 4490/4326, or an output path that cannot be written.
    """
    kind = check_format(fmt)
    target = check_output(Path(path))
    query = register_query(session, scope=scope, basin=basin, area=area, as_of=as_of, crs=crs, by=by)
    note = progress or (lambda _stage, _done, _total: None)
    note("querying", 0, query.upper_bound)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=SUFFIX[kind])
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if kind == "csv":
            rows = write_csv(session, query, tmp, note)
        elif kind == "xlsx":
            rows = write_xlsx(session, query, tmp, note, by)
        elif kind == "html":
            from outfalls.maps import register_map  # folium is loaded only for a map

            made = register_map(session, query, scope=scope, defaults=targets)
            tmp.write_text(made.html, encoding="utf-8")
            rows = made.outfalls
        else:
            rows = write_ogr(session, query, tmp, kind, note)
        digest = _sha256(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        for leftover in tmp.parent.glob(tmp.with_suffix("").name + "*"):  # the file, or a Shapefile's folder
            if leftover != target:
                remove(leftover)
    note("written", rows, rows)
    return RegisterExport(str(target), kind, rows, query.crs, query.as_of, query.scope, digest, by)


def record_export(
    session: Session, result: RegisterExport, *, actor: str, ip: str | None = None, job: int | None = None
) -> AuditEntry:
    """The audit entry of an export (every register leaving the system is in the audit log, whoever made it
    and however): flushed, so that the caller commits it with the export's own record.
    """
    extra: dict[str, Any] = {} if job is None else {"job": job}
    return audit(session, AuditAction.EXPORT, actor=actor, ip=ip, what="register", format=result.format,
                 rows=result.rows, as_of=result.as_of.isoformat(), scope=result.scope, crs=result.crs,
                 sha256=result.sha256, **extra)  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
