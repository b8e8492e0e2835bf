"""Bulk work from the outfall list and the API, the officer's "my cases" list, the keep list and its CSV, and
the stale-edit page that shows what changed meanwhile."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem, record_event
from outfalls.models import Event, Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, RemediationCategory

HANBIN = (109.03, 32.69)


def test_bulk_assignment_from_the_list_reports_each_outfall(session: Session, make_outfall, make_user, login_as):
    chief = login_as(make_user("chief", roles=("case_officer",), areas=("610000",)))
    make_user("officer_xian", roles=("case_officer",), areas=("610100",))
    near, far, stale = make_outfall(), make_outfall(lonlat=HANBIN), make_outfall()

    page = chief.get("/outfalls").get_data(as_text=True)
    assert 'id="bulk-form"' in page and 'value="officer_xian"' in page and f'name="v-{near.id}"' in page

    # someone else changes "stale" after the chief loaded the list (version 1 → 2)
    session.execute(Outfall.__table__.update().where(Outfall.id == stale.id).values(version=Outfall.version + 1))
    response = chief.post(
        "/outfalls/bulk",
        data={"csrf_token": chief.csrf, "action": "assign", "officer": "officer_xian", "all_matching": "0",
              "id": [str(near.id), str(far.id), str(stale.id)],
              f"v-{near.id}": "1", f"v-{far.id}": "1", f"v-{stale.id}": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 项已更改" in html
    assert "不在该经办人的辖区内" in html  # far is outside officer_xian's area
    assert "已被他人修改" in html  # stale
    for o, officer in ((near, "officer_xian"), (far, None), (stale, None)):
        session.refresh(o)
        assert o.assigned_to == officer


def test_bulk_results_name_only_outfalls_in_the_users_area(make_outfall, make_user, login_as):
    county = login_as(make_user("county", roles=("case_officer",), areas=("610112",)))
    mine, elsewhere = make_outfall(name="未央区排污口"), make_outfall(lonlat=HANBIN, name="汉中外地排污口")
    response = county.post(
        "/outfalls/bulk",
        data={"csrf_token": county.csrf, "action": "deadline", "deadline": "2099-06-30", "all_matching": "0",
              "id": [str(mine.id), str(elsewhere.id)]},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "未央区排污口" in html and "汉中外地排污口" not in html
    assert f"#{elsewhere.id}" in html and "未找到（或不在您的辖区内）" in html  # reported as not found, by number only


def test_my_cases_and_the_assignment_on_the_case_page(session: Session, make_outfall, make_user, login_as):
    officer_user = make_user("officer_xian", roles=("case_officer",), areas=("610100",))
    officer = login_as(officer_user)
    o = make_outfall()
    page = officer.get(f"/outfalls/{o.id}").get_data(as_text=True)
    assert 'id="assign-form"' in page
    response = officer.post(
        "/outfalls/bulk",
        data={"csrf_token": officer.csrf, "action": "assign", "officer": "officer_xian", "id": str(o.id),
              f"v-{o.id}": "1", "next": f"/outfalls/{o.id}"},
    )  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/outfalls/{o.id}")
    response = officer.post(
        "/outfalls/bulk",
        data={"csrf_token": officer.csrf, "action": "deadline", "deadline": "2099-06-30", "id": str(o.id),
              f"v-{o.id}": "2", "next": f"/outfalls/{o.id}"},
    )  # fmt: skip
    assert response.status_code == 302
    page = officer.get(f"/outfalls/{o.id}").get_data(as_text=True)
    assert "2099-06-30" in page and "officer_xian" in page
    mine = officer.get("/outfalls?assigned=me").get_data(as_text=True)
    assert o.name in mine
    other = make_outfall()
    assert other.name not in mine and other.name in officer.get("/outfalls?assigned=none").get_data(as_text=True)


def test_a_refused_bulk_form_comes_back_on_its_page(session: Session, make_outfall, make_user, login_as):
    officer = login_as(make_user("officer_xian", roles=("case_officer",), areas=("610100",)))
    a, b = make_outfall(), make_outfall()
    nothing_ticked = officer.post(
        "/outfalls/bulk",
        data={"csrf_token": officer.csrf, "action": "category", "category": "ban", "measures": "封堵",
              "deadline": "2099-01-31", "all_matching": "0", "f-q": "测试"},
    )  # fmt: skip
    assert nothing_ticked.status_code == 422
    html = nothing_ticked.get_data(as_text=True)
    assert 'id="bulk-form"' in html and 'class="errorpage"' not in html and a.name in html
    assert 'id="bulk-form-id-error">请至少选择一个排污口' in html
    assert '<option value="category" selected>' in html and 'name="measures" value="封堵"' in html
    assert 'value="2099-01-31"' in html and 'name="f-q" value="测试"' in html  # the filters stay too
    ticked = officer.post(
        "/outfalls/bulk",
        data={"csrf_token": officer.csrf, "action": "deadline", "deadline": "2099-13-01", "id": [str(a.id)],
              f"v-{a.id}": "1"},
    )  # fmt: skip
    html = ticked.get_data(as_text=True)
    assert ticked.status_code == 422 and 'id="bulk-form-deadline-error">请填写日期' in html
    assert f'name="id" value="{a.id}" aria-label="{a.name}" checked' in html
    assert f'name="id" value="{b.id}" aria-label="{b.name}" >' in html  # not ticked before, not ticked now
    # the deadline form of an outfall's page: the mistake comes back on that page, next to the deadline
    past = officer.post(
        "/outfalls/bulk",
        data={"csrf_token": officer.csrf, "action": "deadline", "deadline": "2001-01-01", "id": str(a.id),
              f"v-{a.id}": "1", "next": f"/outfalls/{a.id}"},
    )  # fmt: skip
    html = past.get_data(as_text=True)
    assert past.status_code == 422 and f"<h1>{a.name}" in html
    next_to = r'name="deadline" value="2001-01-01"[^>]*><span class="field-error" id="deadline-form-deadline-error">'
    assert re.search(next_to + "完成时限早于设定日期", html)
    session.refresh(a)
    assert a.case_deadline is None and a.version == 1


def test_bulk_api_answers_per_outfall_and_validates(session: Session, make_outfall, make_user, login_as):
    chief = login_as(make_user("chief", roles=("case_officer",), areas=("610000",)))
    traced = make_outfall(history=(HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "某厂"}),))
    body = {"action": "category", "outfall_ids": [traced.id, 123456789], "category": "standardise",
            "measures": "设置标识牌和采样井", "on": "2023-02-01"}  # fmt: skip
    response = chief.post("/api/outfalls/bulk", json=body, headers={"X-CSRF-Token": chief.csrf})
    assert response.status_code == 200
    data = response.get_json()
    assert data["changed"] == 1 and data["refused"] == 1
    assert [r["code"] for r in data["results"]] == [None, "not_found"]
    session.refresh(traced)
    assert traced.remediation_category is RemediationCategory.STANDARDISE
    assert traced.status is OutfallStatus.REMEDIATING
    bad = chief.post("/api/outfalls/bulk", json={"action": "fly", "outfall_ids": [traced.id]},
                     headers={"X-CSRF-Token": chief.csrf})  # fmt: skip
    assert bad.status_code == 422 and bad.get_json()["details"]["field"] == "action"
    viewer = login_as(make_user("viewer", roles=("leader",), areas=("610000",)))
    assert viewer.post("/api/outfalls/bulk", json=body, headers={"X-CSRF-Token": viewer.csrf}).status_code == 403


def test_keep_list_page_and_csv(session: Session, make_outfall, client):
    plan = {"category": "standardise", "deadline": None, "merge_into_id": None, "quick_fix": False}
    kept = make_outfall(history=(
        HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "某厂"}),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 7, 1), plan),
    ))  # fmt: skip
    banned = make_outfall(history=(
        HistoryItem(EventKind.TRACED, date(2022, 6, 1)),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 7, 1), plan | {"category": "ban"}),
    ))  # fmt: skip
    page = client.get("/keep-list", follow_redirects=True).get_data(as_text=True)
    assert "需保留清单" in page and kept.name in page and banned.name not in page
    response = client.get("/outfalls.csv?keep=1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 Chinese only with the BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == [kept.name]
    assert rows[0]["remediation_category"] == "standardise" and rows[0]["status"] == "remediating"


def test_a_stale_edit_page_lists_what_changed_meanwhile(session: Session, make_outfall, make_user, login_as):
    officer = login_as(make_user("officer1", roles=("case_officer",), areas=("610100",)))
    o = make_outfall()
    record_event(session, o.id, EventKind.TRACED, actor="colleague", scope=Scope.national(), expected_version=1,
                 on=date(2023, 3, 2), payload={"responsible_party": "某厂"})  # fmt: skip
    response = officer.post(
        f"/outfalls/{o.id}/remediation/plan",
        data={"csrf_token": officer.csrf, "version": "1", "category": "ban", "measures": "封堵", "on": "2023-04-01"},
        headers={"Referer": f"http://localhost/outfalls/{o.id}"},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="stale-changes"' in html and "colleague" in html and "2023-03-02" in html
    assert f'href="http://localhost/outfalls/{o.id}"' in html  # back to the page, to reload it
    visit = {"version": 1, "visited_at": "2023-07-01T09:00:00+08:00", "discharge": "dry"}
    api = officer.post(f"/api/outfalls/{o.id}/visits", json=visit, headers={"X-CSRF-Token": officer.csrf})
    assert api.status_code == 409
    assert api.get_json()["details"]["changes"][0]["actor"] == "colleague"
    assert session.scalars(select(Event.kind).where(Event.outfall_id == o.id)).all() == ["created", "traced"]


def test_a_deadline_that_is_not_text_is_refused_and_only_null_or_empty_clears(
    session: Session, make_outfall, make_user, login_as
):
    chief = login_as(make_user("chief", roles=("case_officer",), areas=("610000",)))
    o = make_outfall()
    headers = {"X-CSRF-Token": chief.csrf}

    def send(**deadline):
        return chief.post("/api/outfalls/bulk", json={"action": "deadline", "outfall_ids": [o.id], **deadline},
                          headers=headers)  # fmt: skip

    assert send(deadline="2031-05-05").get_json()["changed"] == 1
    for wrong in (20310505.0, 20310505, ["2031-05-05"], {"date": "2031-05-05"}, True):
        refused = send(deadline=wrong)
        assert refused.status_code == 422, (wrong, refused.get_json())
        assert refused.get_json()["details"]["field"] == "deadline"
    missing = send()
    assert missing.status_code == 422 and missing.get_json()["details"]["field"] == "deadline"
    session.refresh(o)
    assert o.case_deadline == date(2031, 5, 5) and o.version == 2
    for clear in (None, ""):
        assert send(deadline="2031-05-05").status_code == 200
        cleared = send(deadline=clear)
        assert cleared.status_code == 200 and cleared.get_json()["changed"] == 1
        session.refresh(o)
        assert o.case_deadline is None
