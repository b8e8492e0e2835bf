"""Background jobs: long work (a large survey upload) runs outside the request, reports its progress in the
``jobs`` table, and does all of its work in one transaction that also records the outcome — so a job that fails,
or is cut off when the server stops, leaves nothing half done, and says so.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from outfalls.errors import NotFound, OutfallsError
from outfalls.models import Job
from outfalls.types import JobStatus

log = logging.getLogger(__name__)
Work = Callable[[Session, Job, Callable[[str, int, int], None]], dict[str, Any]]
INTERRUPTED = "the job was interrupted (the server stopped); nothing of it was kept: start it again"


def create_job(
    session: Session,
    kind: str,
    *,
    actor: str,
    input_name: str | None = None,
    input_sha256: str | None = None,
    options: dict[str, Any] | None = None,
    total: int = 0,
) -> Job:
    """A queued job; the caller commits before handing it to a runner."""
    job = Job(kind=kind, status=JobStatus.QUEUED, input_name=input_name, input_sha256=input_sha256,
              options=dict(options or {}), total=total, done=0, created_by=actor, report={})  # fmt: skip
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int, *, actor: str | None = None) -> Job:
    """A job (only the requester's own when ``actor`` is given).

    Raises:
        NotFound: no such job (or someone else's).
    """
    job = session.get(Job, job_id)
    if job is None or (actor is not None and job.created_by != actor):
        raise NotFound("the job does not exist", entity="job", id=job_id)
    return job


def mark_interrupted(session: Session, job: Job, runner: str) -> bool:
    """Fail a job left queued or running by another server process (``runner`` is this process's id)."""
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and job.options.get("runner") != runner:
        job.status, job.message, job.finished_at = JobStatus.FAILED, INTERRUPTED, datetime.now(UTC)
        session.flush()
        return True
    return False


def run_job(work_sessions: sessionmaker[Session], progress_sessions: sessionmaker[Session] | None, job_id: int,
            work: Work) -> None:  # fmt: skip
    """Run ``work`` for a job: progress goes through ``progress_sessions`` (committed at once, so pages polling
    the job see it); the work and the outcome are one transaction of ``work_sessions``. With no separate
    progress sessions (tests), progress is written on the work session.
    """

    def note(values: dict[str, Any]) -> None:
        if progress_sessions is None:
            return
        with progress_sessions() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))
            s.commit()

    with work_sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        started = datetime.now(UTC)
        note({"status": JobStatus.RUNNING, "started_at": started})

        def progress(stage: str, done: int, total: int) -> None:
            note({"message": stage, "done": done, "total": total})
            if progress_sessions is None:
                job.message, job.done, job.total = stage, done, total

        try:
            report = work(session, job, progress)
        except OutfallsError as err:
            session.rollback()
            note({"status": JobStatus.FAILED, "message": err.message, "finished_at": datetime.now(UTC)})
            if progress_sessions is None:
                _finish(session, job_id, JobStatus.FAILED, err.message, {}, started)
            return
        except Exception:
            session.rollback()
            log.exception("job %s failed", job_id)
            message = "the job failed unexpectedly; nothing of it was kept (the server log has the details)"
            note({"status": JobStatus.FAILED, "message": message, "finished_at": datetime.now(UTC)})
            if progress_sessions is None:
                _finish(session, job_id, JobStatus.FAILED, message, {}, started)
            return
        _finish(session, job_id, JobStatus.DONE, "done", report, started)


def _finish(session: Session, job_id: int, status: JobStatus, message: str, report: dict[str, Any],
            started: datetime) -> None:  # fmt: skip
    job = session.get(Job, job_id)
    if job is None:  # pragma: no cover - the job row was there when the work started
        return
    job.status, job.message, job.report = status, message, report
    job.started_at = job.started_at or started
    job.finished_at = datetime.now(UTC)
    if status is JobStatus.DONE:
        job.done = job.total = max(job.total, int(report.get("rows", 0) or 0))
    session.commit()


class JobRunner:
    """Runs jobs one at a time on a worker thread (inline in tests, where the request's connection is shared)."""

    def __init__(self, sessions: sessionmaker[Session], *, inline: bool) -> None:
        self.id = uuid.uuid4().hex
        self.sessions = sessions
        self.inline = inline
        self.pool = None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="outfalls-job")

    def submit(self, job_id: int, work: Work) -> None:
        """Run the job now (inline) or on the worker thread."""
        if self.pool is None:
            run_job(self.sessions, None, job_id, work)
        else:
            self.pool.submit(run_job, self.sessions, self.sessions, job_id, work)
