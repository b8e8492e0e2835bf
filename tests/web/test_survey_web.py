"""Survey uploads on the web: preview with the mapping and a dry run, import, report row by row, background
jobs for large files, the review queue, and unusable files answered with a page (never a 500)."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.models import Attachment, Job, Observation, Outfall, ReviewItem, SurveyMapping
from outfalls.types import JobStatus, OutfallStatus, SurveyLevel

HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "调查时间", "照片"]


def _csv(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode()


def _small_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _crew(make_user, login_as):
    return login_as(make_user("crew1", roles=("crew",), areas=("610100",)))


def _preview(client, data: bytes, name: str = "crew.csv", **form: object):
    return client.post(
        "/survey/upload",
        data={"csrf_token": client.csrf, "file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def _hidden(html: str) -> dict[str, list[str]]:
    import re

    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields.setdefault(name, []).append(value)
    return fields


def _import(client, preview_html: str, **extra: str):
    data = {k: v if len(v) > 1 else v[0] for k, v in _hidden(preview_html).items()}
    import re

    one_select = r'<select name="(map-[a-z_]+)">(?:(?!</select>).)*?<option value="([^"]*)" selected>'
    for field, column in re.findall(one_select, preview_html, flags=re.S):
        data.setdefault(field, column)
    return client.post("/survey/import", data=data | extra)


def test_upload_preview_import_and_report(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    data = _csv([
        ["w1", "西岸1号", 108.97, 34.39, "4.8", "2023-06-01 09:00", ""],
        ["w2", "西岸2号", 108.98, 34.395, "砖砌暗渠", "2023-06-01 10:00", ""],
        ["w3", "坐标颠倒", 34.42, 108.96, "4.8", "2023-06-01 11:00", ""],
    ])  # fmt: skip
    page = _preview(crew, data)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="dry-run-summary"' in html and "3 行" in html and "1 行将被拒绝" in html
    assert "纬度与经度颠倒" in html  # the reason, in Chinese
    assert 'name="map-lat"' in html and '<option value="纬度" selected>' in html
    assert session.scalar(select(func.count()).select_from(Observation)) == 0  # a preview imports nothing

    done = _import(crew, html, save_as="一组表格")
    assert done.status_code == 302 and "/survey/batches/" in done.headers["Location"]
    report = crew.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-key="accepted">2<' in report and 'data-key="new_outfalls">2<' in report
    assert 'id="rejected"' in report and 'data-code="swapped_lat_lon"' in report
    assert 'data-code="unknown_type"' in report and 'id="batch-map"' in report
    assert session.scalar(select(SurveyMapping.fields).where(SurveyMapping.name == "一组表格"))["lat"] == "纬度"
    new = session.scalars(select(Outfall).where(Outfall.found_by == SurveyLevel.FOOT)).all()
    assert {o.name for o in new} == {"西岸1号", "西岸2号"} and all(o.status is OutfallStatus.SURVEYED for o in new)

    # the same file again: nothing new, and the page says so
    again = _import(crew, _preview(crew, data).get_data(as_text=True))
    assert again.status_code == 200 and 'data-key="already_received">2<' in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Observation)) == 2

    # a known record id with other content is refused row by row, and the other rows are imported
    changed = _csv([["w1", "改了名的口", 108.97, 34.39, "4.8", "2023-06-01 09:00", ""],
                    ["w4", "西岸4号", 108.99, 34.40, "4.8", "2023-06-01 12:00", ""]])  # fmt: skip
    done = _import(crew, _preview(crew, changed).get_data(as_text=True))
    report = crew.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-key="accepted">1<' in report and 'data-key="rejected" class="warn">1<' in report
    assert 'data-code="conflicting_resend"' in report and "记录编号已收到，内容不同" in report
    assert session.scalar(select(func.count()).select_from(Observation)) == 3
    assert session.scalar(select(func.count()).select_from(Outfall).where(Outfall.name == "改了名的口")) == 0


def test_unusable_files_get_a_page_not_a_500(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    for data, name, words, shown in (
        (b"", "empty.csv", "empty", 'id="upload-error"'),
        (b"x", "notes.docx", "unsupported file type", 'id="upload-error"'),
        (_csv([["a"]], header=["名称"]), "nocoords.csv", "no coordinate columns", 'id="no-coordinates"'),  # mapping
    ):
        page = _preview(crew, data, name)
        assert page.status_code == 422, name
        assert shown in page.get_data(as_text=True) and words in page.get_data(as_text=True)
    epsg = _preview(crew, _csv([["a", "x", 108.9, 34.4, "", "", ""]]), datum="epsg", epsg="99999")
    assert epsg.status_code == 422 and "EPSG" in epsg.get_data(as_text=True)


def test_a_bundle_with_photos_and_the_review_queue(session: Session, make_user, login_as, make_outfall) -> None:
    crew = _crew(make_user, login_as)
    drone = make_outfall(lonlat=(108.9701, 34.39), found_by=SurveyLevel.DRONE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("crew.csv", _csv([["b1", "无人机发现的口", 108.97, 34.39, "4.8", "", "IMG_7.jpg"]]))
        z.writestr("IMG_7.jpg", _small_jpeg())  # the test client leaks a temp file for large request bodies
    html = _preview(crew, buffer.getvalue(), "bundle.zip").get_data(as_text=True)
    assert "1 张照片" in html
    done = _import(crew, html)
    report = crew.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-key="queued_for_review">1<' in report and 'data-key="photos">1 / 1<' in report
    assert session.scalar(select(func.count()).select_from(Attachment).where(Attachment.kind == "photo")) == 1

    analyst = login_as(make_user("analyst1", roles=("analyst",), areas=("610100",)))
    queue = analyst.get("/survey/review").get_data(as_text=True)
    assert "无人机发现的口" in queue and "附近有无人机候选点" in queue and f'value="link-{drone.id}"' in queue
    [item] = session.scalars(select(ReviewItem)).all()
    decided = analyst.post(f"/survey/review/{item.id}", data={"csrf_token": analyst.csrf, "version": item.version,
                                                              "decision": f"link-{drone.id}"})  # fmt: skip
    assert decided.status_code == 302
    session.refresh(drone)
    assert drone.status is OutfallStatus.SURVEYED  # the crew's row verified the drone candidate
    again = analyst.post(f"/survey/review/{item.id}", data={"csrf_token": analyst.csrf, "decision": "new"})
    assert again.status_code == 409  # decided already: not twice
    assert 'id="review-empty"' in analyst.get("/survey/review").get_data(as_text=True)
    assert crew.get("/survey/review").status_code == 403


def test_large_uploads_run_as_a_job(session: Session, make_user, login_as, app) -> None:
    settings = app.extensions["outfalls.settings"]
    app.extensions["outfalls.settings"] = dataclasses.replace(
        settings, survey=dataclasses.replace(settings.survey, background_rows=1)
    )
    crew = _crew(make_user, login_as)
    data = _csv([["j1", "甲", 108.97, 34.39, "", "", ""], ["j2", "乙", 108.99, 34.40, "", "", ""]])
    preview = _preview(crew, data).get_data(as_text=True)
    assert 'id="preview-partial"' in preview and "1 行" in preview  # a large file's preview checks its first rows
    started = _import(crew, preview)
    assert started.status_code == 302 and "/survey/jobs/" in started.headers["Location"]
    job = session.scalars(select(Job)).one()
    assert job.status is JobStatus.DONE and job.report["accepted"] == 2
    state = crew.get(f"/api/jobs/{job.id}").get_json()
    assert state["status"] == "done" and state["report"]["new_outfalls"] == 2
    assert crew.get(started.headers["Location"]).status_code == 302  # on to the report
    other = login_as(make_user("crew2", roles=("crew",), areas=("610100",)))
    assert other.get(f"/api/jobs/{job.id}").status_code == 404  # someone else's job


def test_interrupted_jobs_say_so(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    job = Job(kind="survey_import", status=JobStatus.RUNNING, created_by="crew1", options={"runner": "gone"},
              input_name="big.csv", report={})  # fmt: skip
    session.add(job)
    session.flush()
    state = crew.get(f"/api/jobs/{job.id}").get_json()
    assert state["status"] == "failed" and "interrupted" in state["message"]
    assert "中断" in crew.get(f"/survey/jobs/{job.id}").get_data(as_text=True)


def test_the_import_api(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    data = _csv([["a1", "甲", 108.97, 34.39, "", "", ""], ["a2", "乙", "", 34.42, "", "", ""]])
    response = crew.post("/api/survey/import", data={"file": (io.BytesIO(data), "crew.csv"), "datum": "wgs84"},
                         headers={"X-CSRF-Token": crew.csrf}, content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 201
    body = response.get_json()
    assert (body["rows"], body["accepted"], body["new_outfalls"]) == (2, 1, 1)
    assert body["rejected"] == [{"row": 3, "field": "lon", "code": "missing_coordinates", "message": "lon is empty",
                                 "params": {}}]  # fmt: skip
    hanbin = _csv([["a3", "安康的口", 109.03, 32.69, "", "", ""]])  # Ankang: outside this Xi'an crew's area
    far = crew.post("/api/survey/import", data={"file": (io.BytesIO(hanbin), "far.csv")},
                    headers={"X-CSRF-Token": crew.csrf}, content_type="multipart/form-data").get_json()  # fmt: skip
    assert far["accepted"] == 0 and [r["code"] for r in far["rejected"]] == ["outside_your_area"]
    assert "610100" in far["rejected"][0]["message"]
    bad = crew.post("/api/survey/import", data={"file": (io.BytesIO(b"x"), "a.doc")},
                    headers={"X-CSRF-Token": crew.csrf}, content_type="multipart/form-data")  # fmt: skip
    assert bad.status_code == 422 and bad.get_json()["error"] == "unusable_file"


def test_merge_and_split_on_the_outfall_page(session: Session, make_user, login_as, make_outfall) -> None:
    analyst = login_as(make_user("analyst1", roles=("analyst",), areas=("610100",)))
    keep, dup = make_outfall(), make_outfall(lonlat=(108.9403, 34.40))
    page = analyst.get(f"/outfalls/{dup.id}").get_data(as_text=True)
    assert 'id="merge-form"' in page and f'value="{dup.version}"' in page
    # the form leads to both outfalls side by side; the merge is confirmed against the versions shown there
    confirm = analyst.get(f"/outfalls/{dup.id}/merge",
                          query_string={"version": dup.version, "into_id": keep.id, "reason": "重复录入"})  # fmt: skip
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="merge-keep"' in html and 'id="merge-absorb"' in html
    assert "合并重复排污口" in html and 'id="merge-distance"' in html and keep.name in html and dup.name in html
    form = {k: v[0] for k, v in _hidden(html).items()}
    assert form == {"csrf_token": analyst.csrf, "version": str(dup.version), "into_id": str(keep.id),
                    "into_version": str(keep.version)}  # fmt: skip
    bare = {"csrf_token": analyst.csrf, "version": dup.version, "into_id": keep.id, "reason": "重复录入"}
    unconfirmed = analyst.post(f"/outfalls/{dup.id}/merge", data=bare)
    assert unconfirmed.status_code == 422  # without the version of the outfall kept, nothing is merged
    merged = analyst.post(f"/outfalls/{dup.id}/merge", data=form | {"reason": "重复录入"})
    assert merged.status_code == 302 and merged.headers["Location"].endswith(f"/outfalls/{keep.id}")
    page = analyst.get(f"/outfalls/{dup.id}").get_data(as_text=True)
    assert 'id="merged-into"' in page and 'id="split-form"' in page
    session.refresh(dup)
    into_itself = {"csrf_token": analyst.csrf, "version": 2, "into_id": keep.id, "into_version": 2, "reason": "x"}
    itself = analyst.post(f"/outfalls/{keep.id}/merge", data=into_itself)
    assert itself.status_code == 422
    assert analyst.get(f"/outfalls/{keep.id}/merge", query_string={"into_id": keep.id}).status_code == 422
    assert analyst.get(f"/outfalls/{keep.id}/merge", query_string={"into_id": 10**9}).status_code == 404
    split = analyst.post(f"/outfalls/{dup.id}/split", data={"csrf_token": analyst.csrf, "version": dup.version,
                                                            "reason": "两个口"})  # fmt: skip
    assert split.status_code == 302
    session.refresh(dup)
    assert dup.status is OutfallStatus.SURVEYED and dup.merged_into_id is None
    history = analyst.get(f"/outfalls/{keep.id}").get_data(as_text=True)
    assert "重复录入" in history and "两个口" in history
    crew = _crew(make_user, login_as)
    assert crew.post(f"/outfalls/{dup.id}/merge", data={"csrf_token": crew.csrf}).status_code == 403


def test_a_stale_merge_is_refused(session: Session, make_user, login_as, make_outfall) -> None:
    from datetime import date

    from outfalls.cases.assignment import set_deadlines
    from outfalls.models import Event
    from outfalls.scope import Scope
    from outfalls.types import EventKind

    analyst = login_as(make_user("analyst1", roles=("analyst",), areas=("610100",)))
    keep, dup = make_outfall(), make_outfall(lonlat=(108.9403, 34.40))
    seen = {"version": dup.version, "into_id": keep.id, "into_version": keep.version}  # as the user saw them
    set_deadlines(session, [keep.id], date(2030, 1, 1), actor="officer1", scope=Scope.national())  # meanwhile
    stale = analyst.post(f"/outfalls/{dup.id}/merge", data={"csrf_token": analyst.csrf, **seen, "reason": "重复录入"})
    assert stale.status_code == 409
    session.refresh(dup)
    assert dup.status is OutfallStatus.SURVEYED and dup.merged_into_id is None  # nothing merged
    absorbed = select(func.count()).select_from(Event).where(Event.outfall_id == keep.id,
                                                             Event.kind == EventKind.ABSORBED)  # fmt: skip
    assert session.scalar(absorbed) == 0

    # the same through the pages: the confirmation shows the outfall kept, which then changes before the merge
    confirm = analyst.get(f"/outfalls/{dup.id}/merge", query_string={"version": dup.version, "into_id": keep.id})
    form = {k: v[0] for k, v in _hidden(confirm.get_data(as_text=True)).items()}
    set_deadlines(session, [keep.id], date(2031, 1, 1), actor="officer1", scope=Scope.national())
    stale = analyst.post(f"/outfalls/{dup.id}/merge", data=form | {"reason": "重复录入"})
    assert stale.status_code == 409
    session.refresh(dup)
    assert dup.status is OutfallStatus.SURVEYED and session.scalar(absorbed) == 0
    # and the duplicate itself changed since its page was read: refused as well
    session.refresh(keep)
    form = form | {"into_version": str(keep.version), "version": str(dup.version - 1)}
    assert analyst.post(f"/outfalls/{dup.id}/merge", data=form | {"reason": "x"}).status_code == 409
