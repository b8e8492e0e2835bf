"""A full case on the web: trace, plan, progress, completion with an uploaded photo, acceptance by another officer."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from outfalls.models import Attachment, Outfall
from outfalls.types import OutfallStatus

FIXTURE_PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "coordinates" / "derived_eviltransform_vectors.csv"


def test_case_from_trace_to_closed_out(session: Session, make_outfall, make_user, login_as, settings):
    outfall: Outfall = make_outfall()
    first = login_as(make_user("officer1", roles=("case_officer",), areas=("610100",)))
    second = login_as(make_user("officer2", roles=("case_officer",), areas=("610100",)))

    def post(client, path, data, **kw):
        session.refresh(outfall)
        response = client.post(
            f"/outfalls/{outfall.id}/{path}", data=data | {"version": outfall.version, "csrf_token": client.csrf}, **kw
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:800]
        return response

    post(
        first,
        "traces",
        {
            "traced_on": "2023-03-01T09:00",
            "method": "on_site",
            "sewage_source": "生产废水",
            "party-0-name": "示例厂",
            "main": "0",
        },
    )
    page = first.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert 'id="plan-form"' in page and "整治方案" in page
    post(
        first,
        "remediation/plan",
        {"on": "2023-04-01", "category": "ban", "measures": "依法封堵", "deadline": "2023-06-30"},
    )
    post(first, "remediation/progress", {"on": "2023-05-01", "progress_pct": "60", "note": "已封堵一半"})
    photo = FIXTURE_PHOTO.read_bytes()
    post(
        first,
        "remediation/complete",
        {"on": "2023-06-01", "note": "封堵完成", "evidence": (io.BytesIO(photo), "after.csv")},
        content_type="multipart/form-data",
    )
    session.refresh(outfall)
    assert outfall.status is OutfallStatus.REMEDIATED
    stored = session.query(Attachment).filter_by(outfall_id=outfall.id).one()
    assert (settings.storage.store_dir / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256).read_bytes() == photo
    # the officer who completed it cannot accept it
    session.refresh(outfall)
    refused = first.post(
        f"/outfalls/{outfall.id}/remediation/close",
        data={"on": "2023-06-10", "version": outfall.version, "csrf_token": first.csrf},
    )
    assert refused.status_code == 409 and "acceptance_by_other" in refused.get_data(as_text=True)
    gaps = first.get(f"/api/outfalls/{outfall.id}/remediation").json
    assert gaps["missing"] == ["acceptance_by_other"] and gaps["category"] == "ban"
    assert second.get(f"/api/outfalls/{outfall.id}/remediation").json["missing"] == []
    post(second, "remediation/close", {"on": "2023-06-10", "note": "验收合格"})
    session.refresh(outfall)
    assert outfall.status is OutfallStatus.CLOSED
    page = second.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert "验收销号" in page and "1 份佐证材料" in page and 'id="close-form"' not in page


def test_bad_plan_input_is_a_clear_422(make_outfall, make_user, login_as):
    outfall = make_outfall()
    client = login_as(make_user("officer1", roles=("case_officer",), areas=("610100",)))
    bad_date = client.post(
        f"/outfalls/{outfall.id}/remediation/plan",
        data={
            "on": "yesterday",
            "category": "ban",
            "measures": "x",
            "version": outfall.version,
            "csrf_token": client.csrf,
        },
    )
    assert bad_date.status_code == 422
    html = bad_date.get_data(as_text=True)
    date_error = r'name="on" required value="yesterday"[^>]*><span class="field-error"[^>]*>请填写日期（年-月-日）'
    assert re.search(date_error, html)
    no_category = client.post(
        f"/outfalls/{outfall.id}/remediation/plan",
        data={"on": "2023-04-01", "category": "", "version": outfall.version, "csrf_token": client.csrf},
    )
    assert no_category.status_code == 422
    assert 'id="plan-form-category-error"' in no_category.get_data(as_text=True)
    client.get("/lang/en")
    english = client.post(
        f"/outfalls/{outfall.id}/remediation/plan",
        data={"on": "2023-04-31", "category": "ban", "version": outfall.version, "csrf_token": client.csrf},
    ).get_data(as_text=True)
    assert "Enter a date (YYYY-MM-DD)." in english and 'value="2023-04-31"' in english


def test_the_case_page_shows_the_state_as_of_a_date(session: Session, make_outfall, client):
    from outfalls.catalogue.lifecycle import HistoryItem
    from outfalls.types import EventKind

    outfall = make_outfall(
        found_on=date(2021, 3, 1),
        history=(
            HistoryItem(EventKind.TRACED, date(2022, 5, 1), {"responsible_party": "示例厂"}),
            HistoryItem(EventKind.REMEDIATION_PLANNED, date(2023, 2, 1), {"category": "ban"}),
        ),
    )
    then = client.get(f"/outfalls/{outfall.id}?as_of=2022-06-30").get_data(as_text=True)
    assert "2022-06-30 时该排污口状态：" in then and "<strong>已溯源</strong>" in then
    assert then.count('class="later"') == 1  # the plan of 2023 lies after the chosen day
    before = client.get(f"/outfalls/{outfall.id}?as_of=2020-01-01").get_data(as_text=True)
    assert "<strong>尚未录入</strong>" in before
    assert client.get(f"/outfalls/{outfall.id}?as_of=June").status_code == 422
