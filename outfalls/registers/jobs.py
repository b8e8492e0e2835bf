"""Register exports as background jobs (the exporters' page): started after every choice is checked, so a bad
choice is an error on the form and not a failed job; run with progress; kept in the file store for download by
the one who asked; and recorded in the audit log with the job in the same transaction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls import clock, jobs
from outfalls.config import TargetDefault
from outfalls.errors import NotFound
from outfalls.models import Job
from outfalls.registers.export import MEDIA_TYPES, SUFFIX, export_register, record_export
from outfalls.registers.query import check_as_of, check_crs, check_format, register_query
from outfalls.scope import Scope
from outfalls.store import FileStore
from outfalls.types import JobStatus

JOB_KIND = "register_export"
RECENT_EXPORTS = 20  # the exports listed on the page


def default_as_of(today: date | None = None) -> date:
    """The as-of day offered first: the end of last year (the yearly targets fall due on 31 December)."""
    return date((today or clock.today()).year - 1, 12, 31)


def file_name(fmt: str, basin: str | None, area: str | None, as_of: date) -> str:
    """The download name: ``register-<basin>-<area>-<as-of>.<ext>`` (a zipped Shapefile ends in .shp.zip)."""
    parts = ["register", *(p for p in (basin, area) if p), as_of.isoformat()]
    return "-".join(parts) + (".shp.zip" if fmt == "shp" else SUFFIX[fmt])


def start_export(
    session: Session,
    *,
    actor: str,
    scope: Scope,
    runner: str,
    fmt: str = "xlsx",
    crs: int | str = 4490,
    by: str = "basin",
    as_of: date | None = None,
    basin: str | None = None,
    area: str | None = None,
) -> Job:
    """A queued export job for ``actor`` (``runner``: the id of the job runner that will run it); the caller
    commits and hands ``export_work`` to that runner.

    Raises:
        InvalidInput: an unknown format, basin code or grouping, a malformed area code, a date in the future
            or a CRS other than 4490/4326.
    """
    kind = check_format(fmt)
    srid = check_crs(crs)
    day = check_as_of(as_of or default_as_of())
    query = register_query(session, scope=scope, basin=basin, area=area, as_of=day, crs=srid, by=by)
    options = {"format": kind, "crs": srid, "by": by, "as_of": day.isoformat(), "basin": query.basin,
               "area": query.area, "runner": runner}  # fmt: skip
    return jobs.create_job(session, JOB_KIND, actor=actor, input_name=file_name(kind, query.basin, query.area, day),
                           options=options, total=query.upper_bound)  # fmt: skip


def export_work(
    store_dir: Path, *, actor: str, ip: str | None, scope: Scope, targets: Sequence[TargetDefault] = ()
) -> jobs.Work:
    """The work of an export job: the register its options describe, written, put in the file store and
    audited; the job's report says what was written and where it is stored.
    """

    def work(session: Session, job: Job, progress: Any) -> dict[str, Any]:
        options = job.options
        as_of = date.fromisoformat(options["as_of"])
        name = file_name(options["format"], options["basin"], options["area"], as_of)
        with tempfile.TemporaryDirectory(prefix="ofreg") as tmp:
            result = export_register(
                session, Path(tmp) / name, fmt=options["format"], scope=scope, basin=options["basin"],
                area=options["area"], as_of=as_of, crs=options["crs"], by=options["by"], progress=progress,
                targets=targets,
            )  # fmt: skip
            with open(result.file, "rb") as fh:
                stored = FileStore(store_dir).put(fh)
        record_export(session, result, actor=actor, ip=ip, job=job.id)
        return result.as_dict() | {"file": name, "sha256": stored.sha256, "size_bytes": stored.size_bytes}

    return work


def recent_exports(session: Session, actor: str, *, limit: int = RECENT_EXPORTS) -> list[Job]:
    """``actor``'s latest export jobs, newest first."""
    return list(session.scalars(select(Job).where(Job.kind == JOB_KIND, Job.created_by == actor)
                                .order_by(Job.id.desc()).limit(limit)))  # fmt: skip


def export_job(session: Session, job_id: int, *, actor: str) -> Job:
    """One of ``actor``'s export jobs.

    Raises:
        NotFound: no such job, someone else's, or not an export.
    """
    job = jobs.get_job(session, job_id, actor=actor)
    if job.kind != JOB_KIND:
        raise NotFound("the job does not exist", entity="job", id=job_id)
    return job


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A finished export to download: the stored file, its media type and the name it is offered under."""

    path: Path
    media_type: str
    name: str


def export_file(session: Session, store_dir: Path, job_id: int, *, actor: str) -> ExportFile:
    """The file of one of ``actor``'s finished exports.

    Raises:
        NotFound: no such export (or someone else's), or it is not finished.
    """
    job = export_job(session, job_id, actor=actor)
    if job.status is not JobStatus.DONE:
        raise NotFound("the export is not ready", entity="job", id=job_id)
    report = job.report
    path = FileStore(store_dir).path_of(str(report["sha256"]))
    return ExportFile(path, MEDIA_TYPES[str(report["format"])], str(report["file"]))
