"""A whole case in the browser, as case officers do it: sample → trace → plan → complete with a photo →
follow-up sample → acceptance by a second officer → closed out (销号), with a screenshot of each step."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls
from outfalls.db.engine import make_engine
from outfalls.models import Event
from outfalls.types import SurveyLevel

pytestmark = pytest.mark.browser
PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "geoapi_flipped_image.jpg"
PASSWORD = "second officer password"


def _new_case(db_url: str) -> int:
    """A freshly surveyed outfall in Xi'an, and a second case officer there to accept the works."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            [oid] = create_outfalls(
                session,
                [NewOutfall(lonlat=(108.95, 34.41), name="浏览器测试排污口", type_code="4.8",
                            found_by=SurveyLevel.FOOT, found_on=date(2023, 1, 10), receiving_water="渭河")],
                actor="tests",
            )  # fmt: skip
            if session.scalar(sa.text("SELECT count(*) FROM users WHERE login = 'officer_two'")) == 0:
                accounts.create_user(session, "officer_two", roles=["case_officer"], areas=["610100"],
                                     password=PASSWORD, actor="tests")  # fmt: skip
            session.commit()
            return oid
    finally:
        engine.dispose()


def _open_forms(page: Any) -> None:
    page.evaluate("document.querySelectorAll('details').forEach(function (d) { d.open = true; })")


def test_a_case_from_sample_to_closed_out(anon_tab: Any, live_server: Any, artifacts: Path, login_page: Any) -> None:
    oid = _new_case(live_server.db_url)
    page = anon_tab.page
    url = f"{live_server.url}/outfalls/{oid}"
    login_page(page, live_server.url, "officer_xian")

    # 1. monitoring visit with the mandatory parameters
    page.goto(url)
    _open_forms(page)
    form = page.locator("#visit-form")
    form.locator("[name=visited_at]").fill("2023-02-01T10:30")
    form.locator("[name=discharge]").select_option("discharging")
    for code, value in (("ph", "7.4"), ("cod", "86"), ("nh3n", "6.1"), ("tn", "12"), ("tp", "0.9")):
        form.locator(f"[name=result-{code}]").fill(value)
    form.locator("[name=photo-sampling_point]").set_input_files(str(PHOTO))
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#monitoring")
    assert "监测采样" in page.inner_text("#monitoring")
    page.locator("#monitoring .photos img").first.wait_for()
    page.screenshot(path=str(artifacts / "case-1-sampled.png"), full_page=True)

    # 2. source tracing with a main responsible party
    _open_forms(page)
    form = page.locator("#trace-form")
    form.locator("[name=traced_on]").fill("2023-03-01T09:00")
    form.locator("[name=method]").select_option("on_site")
    form.locator("[name=sewage_source]").fill("生活污水混排")
    form.locator("[name=party-0-name]").fill("某街道办事处")
    form.locator("[name=party-0-credit_code]").fill("11610112MB2950321X")  # one character mistyped
    form.locator("[name=evidence]").set_input_files(str(PHOTO))
    form.locator("button[type=submit]").click()
    # the case page comes back with the mistake next to the field, focused, and everything typed still there
    page.wait_for_url(f"{url}/traces")
    form = page.locator("#trace-form")
    assert "不是有效的统一社会信用代码" in form.locator("#trace-form-party-0-credit_code-error").inner_text()
    assert page.evaluate("document.activeElement.name") == "party-0-credit_code"
    assert form.locator("[name=party-0-name]").input_value() == "某街道办事处"
    assert form.locator("[name=sewage_source]").input_value() == "生活污水混排"
    assert form.locator("[name=traced_on]").input_value() == "2023-03-01T09:00"
    assert form.locator("[name=method]").input_value() == "on_site"
    assert "请重新选择文件" in form.inner_text()  # a browser cannot keep the chosen file
    page.screenshot(path=str(artifacts / "case-1b-refused-tracing.png"), full_page=True)
    assert anon_tab.traffic.failed == [f"422 {url}/traces"]  # the refusal, and only it
    assert [e.split(" @ ")[0] for e in anon_tab.traffic.console_errors] == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]
    anon_tab.traffic.failed.clear()
    anon_tab.traffic.console_errors.clear()
    form.locator("[name=party-0-credit_code]").fill("11610112MB2950321F")
    form.locator("[name=evidence]").set_input_files(str(PHOTO))
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#tracing")
    assert page.inner_text("#tracing-state") == "已溯源"

    # 3. remediation plan: bring up to standard
    _open_forms(page)
    form = page.locator("#plan-form")
    form.locator("[name=on]").fill("2023-04-01")
    form.locator("[name=category]").select_option("standardise")
    form.locator("[name=measures]").fill("雨污分流改造，设置标识牌和采样井")
    form.locator("[name=deadline]").fill("2023-09-30")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#remediation")

    # 4. completion with a photo as evidence
    _open_forms(page)
    form = page.locator("#complete-form")
    form.locator("[name=on]").fill("2023-08-20")
    form.locator("[name=evidence]").set_input_files(str(PHOTO))
    form.locator("[name=note]").fill("改造完成")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#remediation")
    gaps = page.inner_text("#closing-gaps")
    assert "整治完成后的复测" in gaps, gaps  # standardising needs a follow-up sample
    page.screenshot(path=str(artifacts / "case-2-completed.png"), full_page=True)

    # 5. follow-up sample after completion
    _open_forms(page)
    form = page.locator("#visit-form")
    form.locator("[name=visited_at]").fill("2023-08-25T10:00")
    form.locator("[name=discharge]").select_option("discharging")
    for code, value in (("ph", "7.2"), ("cod", "28"), ("nh3n", "1.2"), ("tn", "8"), ("tp", "0.3")):
        form.locator(f"[name=result-{code}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#monitoring")
    # the officer who completed the works cannot accept them: the page says so
    assert "由完成人以外的人员验收" in page.inner_text("#closing-gaps")

    # 6. a second officer accepts and closes out (销号)
    page.context.clear_cookies()
    login_page(page, live_server.url, "officer_two", PASSWORD)
    page.goto(url)
    _open_forms(page)
    form = page.locator("#close-form")
    form.locator("[name=on]").fill("2023-09-10")
    form.locator("[name=note]").fill("现场验收合格")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}#remediation")
    assert "已销号" in page.inner_text(".pagehead h1")
    page.screenshot(path=str(artifacts / "case-3-closed.png"), full_page=True)

    # the history holds every step, attributed, and the state as of the day before acceptance is replayed
    history = page.inner_text("#history")
    for step in ("监测采样", "完成溯源", "制定整治方案", "完成整治", "已销号"):
        assert step in history, step
    page.goto(f"{url}?as_of=2023-09-09")
    assert "已整治" in page.inner_text("#state-then")
    # and it is on the keep list
    page.goto(f"{live_server.url}/keep-list")
    assert "浏览器测试排污口" in page.inner_text("#outfall-table")
    anon_tab.traffic.assert_clean()

    engine = make_engine(live_server.db_url)
    try:
        with Session(engine) as session:
            kinds = session.scalars(sa.select(Event.kind).where(Event.outfall_id == oid).order_by(Event.id)).all()
            actors = session.scalars(sa.select(Event.actor).where(Event.outfall_id == oid).order_by(Event.id)).all()
    finally:
        engine.dispose()
    assert [k.value for k in kinds] == [
        "created", "sampled", "traced", "remediation_planned", "remediated", "sampled", "closed",
    ]  # fmt: skip
    assert actors[-1] == "officer_two" and set(actors[1:-1]) == {"officer_xian"}
