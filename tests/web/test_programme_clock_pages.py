"""Every time a page shows is on the programme's clock (Asia/Shanghai), whatever zone the server runs in: the audit
log, a user's last login, tokens, an outfall's history, the imagery review list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from outfalls.models import AuditEntry
from outfalls.types import AuditAction


def test_the_audit_log_shows_the_programmes_time(session: Session, make_user, login_as) -> None:
    admin = login_as(make_user("clockwatcher", roles=("admin",), national=True))
    late = datetime(2026, 12, 6, 23, 30, 5, tzinfo=UTC)  # 07:30 the next morning in China
    session.add(AuditEntry(at=late, actor="night_owl", action=AuditAction.LOGIN_FAILED, success=False, details={}))
    session.flush()
    page = admin.get("/admin/audit?actor=night_owl").get_data(as_text=True)
    assert "2026-12-07 07:30:05" in page and "2026-12-06 23:30" not in page


def test_an_outfalls_history_is_dated_by_the_programmes_day(make_outfall, login_as, make_user) -> None:
    outfall = make_outfall()
    page = login_as(make_user("reader", national=True)).get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert f">{outfall.found_on.isoformat()}</time>" in page
