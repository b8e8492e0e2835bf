"""A county user logs in and sees only their county, on the map and in the list."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.db.engine import make_engine

pytestmark = pytest.mark.browser
PASSWORD = "county password 1"


def _busiest_county(db_url: str) -> tuple[str, str, int]:
    """The county with the most demo outfalls, and a user bound to it."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            code, name, n = session.execute(
                sa.text(
                    "SELECT a.code, a.name, count(*) FROM outfalls o JOIN admin_areas a ON a.id = o.admin_area_id "
                    "GROUP BY a.code, a.name ORDER BY count(*) DESC, a.code LIMIT 1"
                )
            ).one()
            if session.scalar(sa.text("SELECT count(*) FROM users WHERE login = 'county_user'")) == 0:
                accounts.create_user(session, "county_user", roles=["crew"], areas=[code], password=PASSWORD,
                                     actor="tests")  # fmt: skip
                session.commit()
    finally:
        engine.dispose()
    return code, name, n


def test_county_user_sees_only_their_county(tab: Any, live_server: Any, artifacts: Any, login_page: Any) -> None:
    code, name, n = _busiest_county(live_server.db_url)
    assert 0 < n < live_server.outfalls
    page = tab.page
    page.context.clear_cookies()
    login_page(page, live_server.url, "county_user", PASSWORD)
    page.goto(live_server.url + "/")
    page.wait_for_selector("#map[data-state=ready]", timeout=20000)
    assert page.get_attribute("#map", "data-outfalls") == str(n)
    assert page.inner_text(".legend .total").replace(",", "") == str(n)
    page.screenshot(path=str(artifacts / "map-county.png"))
    page.goto(live_server.url + "/outfalls?page_size=500")
    rows = page.locator("#outfall-table tbody tr")
    assert rows.count() == n
    counties = set(page.locator("#outfall-table tbody tr td:nth-child(6)").all_inner_texts())
    assert counties == {name}
    # another county's outfall is "not found", exactly like a missing one
    engine = make_engine(live_server.db_url)
    try:
        with engine.connect() as conn:
            other = conn.scalar(
                sa.text("SELECT o.id FROM outfalls o JOIN admin_areas a ON a.id = o.admin_area_id "
                        "WHERE a.code <> :code LIMIT 1"), {"code": code}
            )  # fmt: skip
    finally:
        engine.dispose()
    response = page.goto(f"{live_server.url}/outfalls/{other}")
    assert response is not None and response.status == 404
    tab.traffic.failed.clear()  # the 404 above was asked for
    tab.traffic.console_errors.clear()
    tab.traffic.assert_clean()
