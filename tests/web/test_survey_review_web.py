"""Deciding clusters of the review queue on the web: the queue page groups the rows of one upload that may be one
outfall and decides them at once; ``GET /api/survey/review`` and ``POST /api/survey/review/bulk`` do the same in
JSON, scope-checked, a stale decision refused whole."""

from __future__ import annotations

import csv
import io
import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.models import Event, Outfall, ReviewItem
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_upload
from outfalls.types import EventKind, ReviewStatus

HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "调查时间", "照片"]
XIAN = (108.90, 34.40)
ANKANG = (109.03, 32.69)
M_LON = 1 / (111_320 * math.cos(math.radians(34.4)))


def _clusters(session: Session, settings: Settings, at: tuple[float, float], key: str, n: int = 2) -> list[list[int]]:
    """Two clusters of ``n`` rows entered twice (half a metre apart), 300 m apart, plus a lone row."""
    rows = []
    for c in range(2):
        for i in range(n):
            rows.append([f"{key}{c}{i}", f"{key}口{c}", at[0] + (300 * c + 0.5 * i) * M_LON, at[1], "4.8", "", ""])
    rows.append([f"{key}-lone", "单独的口", at[0] + 900 * M_LON, at[1], "4.8", "", ""])
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    report = import_table(session, read_upload(buffer.getvalue().encode(), f"{key}.csv"), settings=settings,
                          actor="crew", crs="wgs84")  # fmt: skip
    assert report.queued_for_review == 2 * n and report.new_outfalls == 1
    items = session.scalars(select(ReviewItem).where(ReviewItem.batch_id == report.batch_id)
                            .order_by(ReviewItem.id)).all()  # fmt: skip
    by_cluster: dict[int, list[int]] = {}
    for item in items:
        by_cluster.setdefault(item.cluster_id, []).append(item.id)
    return list(by_cluster.values())


def test_the_queue_page_decides_a_cluster_at_once(session: Session, settings: Settings, make_user,
                                                  login_as) -> None:  # fmt: skip
    first, second = _clusters(session, settings, XIAN, "q", n=3)
    analyst = login_as(make_user("analyst1", roles=("analyst",), areas=("610100",)))
    page = analyst.get("/survey/review").get_data(as_text=True)
    cluster = session.get(ReviewItem, first[0]).cluster_id
    assert f'id="cluster-{cluster}"' in page and "可能是同一个排污口的 3 条记录" in page
    assert 'value="separate"' in page and f'value="one-{first[1]}"' in page and "一并决定这 3 条记录" in page
    assert all(f'id="review-{i}"' in page for i in first + second)

    versions = {f"v-{i}": "1" for i in first}
    decided = analyst.post("/survey/review/bulk", data={"csrf_token": analyst.csrf, "cluster_id": cluster,
                                                        "decision": "separate", **versions})  # fmt: skip
    assert decided.status_code == 302
    items = [session.get(ReviewItem, i) for i in first]
    assert all(i.status is ReviewStatus.RESOLVED and i.resolution == "new_outfall" for i in items)
    assert len({i.outfall_id for i in items}) == 3
    again = analyst.post("/survey/review/bulk", data={"csrf_token": analyst.csrf, "cluster_id": cluster,
                                                      "decision": "separate", **versions})  # fmt: skip
    assert again.status_code == 409
    page = analyst.get("/survey/review").get_data(as_text=True)
    assert f'id="cluster-{cluster}"' not in page and f'id="review-{second[0]}"' in page

    other = session.get(ReviewItem, second[0]).cluster_id
    for wrong in ("", "merge", "link-", "link-x", "one-", "separate-3"):
        refused = analyst.post("/survey/review/bulk", data={"csrf_token": analyst.csrf, "cluster_id": other,
                                                            "decision": wrong, **versions})  # fmt: skip
        assert refused.status_code == 422, wrong
    stale = analyst.post("/survey/review/bulk", data={"csrf_token": analyst.csrf, "cluster_id": other,
                                                      "decision": f"one-{second[0]}", f"v-{second[0]}": "1"})
    assert stale.status_code == 409  # two rows of the cluster were not among those decided on
    assert session.get(ReviewItem, second[0]).status is ReviewStatus.OPEN


def test_the_bulk_api_decides_clusters_and_refuses_stale_ones(session: Session, settings: Settings, make_user,
                                                              login_as) -> None:  # fmt: skip
    first, second = _clusters(session, settings, XIAN, "j")
    analyst = login_as(make_user("analyst2", roles=("analyst",), areas=("610100",)))
    queue = analyst.get("/api/survey/review").get_json()
    groups = [g for g in queue["groups"] if g["cluster_id"] is not None]
    assert [len(g["items"]) for g in groups] == [2, 2]
    assert groups[0]["versions"] == {str(i): 1 for i in first} and groups[0]["items"][0]["reason"] == "near_in_batch"
    events_before = session.scalar(select(func.count()).select_from(Event))

    body = {"decisions": [
        {"cluster_id": groups[0]["cluster_id"], "action": "one", "item_id": first[1],
         "versions": groups[0]["versions"]},
        {"cluster_id": groups[1]["cluster_id"], "action": "separate",
         "versions": {str(second[0]): 1, str(second[1]): 7}},  # someone changed this row since: stale
    ]}  # fmt: skip
    response = analyst.post("/api/survey/review/bulk", json=body, headers={"X-CSRF-Token": analyst.csrf})
    assert response.status_code == 200
    data = response.get_json()
    assert (data["decided"], data["refused"]) == (2, 1)
    assert [(r["ok"], r["code"]) for r in data["results"]] == [(True, None), (False, "stale_edit")]
    [made] = {i["outfall_id"] for i in data["results"][0]["items"]}
    assert session.get(Outfall, made).name == "j口0"
    assert session.scalar(select(func.count()).select_from(Event)) == events_before + 3  # created + 2 links
    assert [session.get(ReviewItem, i).status for i in second] == [ReviewStatus.OPEN, ReviewStatus.OPEN]
    kinds = session.scalars(select(Event.kind).where(Event.outfall_id == made).order_by(Event.id)).all()
    assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED, EventKind.OBSERVATION_LINKED]

    headers = {"X-CSRF-Token": analyst.csrf}
    for wrong, field in (({}, "decisions"), ({"decisions": "all"}, "decisions"), ({"decisions": []}, "decisions"),
                         ({"decisions": [{"action": "separate", "versions": {"1": 1}}]}, "decisions[0].cluster_id"),
                         ({"decisions": [{"cluster_id": 1, "action": "burn", "versions": {"1": 1}}]},
                          "decisions[0].action"),
                         ({"decisions": [{"cluster_id": 1, "action": "link", "versions": {"1": 1}}]},
                          "decisions[0].outfall_id"),
                         ({"decisions": [{"cluster_id": 1, "action": "separate"}]}, "decisions[0].versions"),
                         ({"decisions": [{"cluster_id": 1, "action": "separate", "versions": {"x": 1}}]},
                          "decisions[0].versions"),
                         ({"decisions": [{"cluster_id": True, "action": "separate", "versions": {"1": 1}}]},
                          "decisions[0].cluster_id"),
                         ({"decisions": [{"cluster_id": 1, "action": "separate", "versions": {"1": 1}, "x": 1}]},
                          "decisions[0].x")):  # fmt: skip
        refused = analyst.post("/api/survey/review/bulk", json=wrong, headers=headers)
        assert refused.status_code == 422, wrong
        assert refused.get_json()["details"]["field"] == field, wrong
    crew = login_as(make_user("crew9", roles=("crew",), areas=("610100",)))
    assert crew.post("/api/survey/review/bulk", json=body, headers={"X-CSRF-Token": crew.csrf}).status_code == 403
    assert crew.get("/api/survey/review").status_code == 403


def test_another_areas_clusters_are_not_found(session: Session, settings: Settings, make_user, login_as) -> None:
    [theirs, _] = _clusters(session, settings, ANKANG, "a")
    cluster = session.get(ReviewItem, theirs[0]).cluster_id
    county = login_as(make_user("lintong", roles=("analyst",), areas=("610115",)))
    assert county.get("/api/survey/review").get_json() == {"groups": []}
    assert f'id="cluster-{cluster}"' not in county.get("/survey/review").get_data(as_text=True)
    versions = {str(i): 1 for i in theirs}
    body = {"decisions": [{"cluster_id": cluster, "action": "separate", "versions": versions}]}
    data = county.post("/api/survey/review/bulk", json=body, headers={"X-CSRF-Token": county.csrf}).get_json()
    assert [(r["ok"], r["code"]) for r in data["results"]] == [(False, "not_found")]
    form = county.post("/survey/review/bulk", data={"csrf_token": county.csrf, "cluster_id": cluster,
                                                    "decision": "separate", **{f"v-{i}": "1" for i in theirs}})
    assert form.status_code == 404
    assert all(session.get(ReviewItem, i).status is ReviewStatus.OPEN for i in theirs)
    ankang = login_as(make_user("ankang", roles=("analyst",), areas=("610900",)))
    data = ankang.post("/api/survey/review/bulk", json=body, headers={"X-CSRF-Token": ankang.csrf}).get_json()
    assert data["decided"] == 2
