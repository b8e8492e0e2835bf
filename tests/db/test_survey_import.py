"""Importing survey files into PostGIS: accepted rows become observations and outfalls, rejected rows leave no
trace, re-sent rows add nothing, and reconciliation links, creates or queues exactly as the rules say."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.config import RegionSettings, Settings
from outfalls.models import (
    Attachment,
    Event,
    Observation,
    ObservationBatch,
    ObservationLink,
    Outfall,
    OutfallMilestone,
    ReviewItem,
)
from outfalls.scope import Scope
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_path, read_upload
from outfalls.survey.review import open_reviews, resolve_link, resolve_new
from outfalls.types import EventKind, OutfallStatus, ReviewReason, SurveyLevel

# every test here runs either side of the programme's midnight (23:30 and 00:30 UTC)
pytestmark = pytest.mark.usefixtures("clock_edge")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "排入水体", "调查时间", "照片"]
# Points along the Wei river in Xi'an, each far (> 1 km) from the others.
A, B, C, D = (108.90, 34.40), (108.93, 34.41), (108.96, 34.42), (108.99, 34.43)


def _csv(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    return buffer.getvalue().encode()


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _import(session: Session, settings: Settings, data: bytes, name: str = "crew.csv", **kw: object):
    return import_table(session, read_upload(data, name), settings=settings, actor="crew1", crs="wgs84", **kw)


def test_a_mixed_file_is_imported_row_by_row(session: Session, settings: Settings, make_outfall) -> None:
    existing = make_outfall(lonlat=(C[0] + 0.0001, C[1]), type_code="4.8")  # ~9 m from row 4
    before = {m: _count(session, m) for m in (Observation, Outfall, Event, ObservationLink)}
    data = _csv([
        ["k1", "北岸1号", A[0], A[1], "4.8", "渭河", "2023-05-06 09:00", ""],
        ["k2", "北岸2号", B[0], B[1], "水泥管", "渭河", "2023-05-06 09:30", ""],
        ["k3", "北岸3号", C[0], C[1], "城镇雨洪排口", "渭河", "2023-05-06 10:00", ""],
        ["k4", "坏坐标", "", D[1], "4.8", "渭河", "2023-05-06 10:30", ""],
    ])  # fmt: skip
    report = _import(session, settings, data)

    assert (report.rows, report.accepted, report.already_received) == (4, 3, 0)
    assert [(p.row, p.field, p.code) for p in report.rejected] == [(5, "lon", "missing_coordinates")]
    assert (report.new_outfalls, report.linked, report.queued_for_review) == (2, 1, 0)
    assert [(w.row, w.code) for w in report.warnings] == [(3, "unknown_type")]
    assert _count(session, Observation) == before[Observation] + 3  # the rejected row left nothing
    assert _count(session, Outfall) == before[Outfall] + 2
    assert _count(session, ObservationLink) == before[ObservationLink] + 3
    new = session.scalars(select(Outfall).where(Outfall.id.in_(report.outfall_ids), Outfall.id != existing.id)).all()
    assert {o.name for o in new} == {"北岸1号", "北岸2号"}
    assert all(o.found_by is SurveyLevel.FOOT and o.status is OutfallStatus.SURVEYED for o in new)
    assert {o.found_on for o in new} == {date(2023, 5, 6)}
    odd = next(o for o in new if o.name == "北岸2号")
    assert (odd.type_code, odd.type_raw) == ("9", "水泥管")
    session.refresh(existing)
    assert existing.version == 2  # the link is a change of the outfall: an event and a new version
    [linked] = session.scalars(select(Event).where(Event.outfall_id == existing.id,
                                                   Event.kind == EventKind.OBSERVATION_LINKED)).all()  # fmt: skip
    assert linked.payload["client_id"] == "k3" and linked.outfall_version == 2
    obs = session.scalar(select(Observation).where(Observation.client_id == "k1"))
    assert obs.author == "crew1" and (obs.orig_x, obs.orig_y, obs.orig_crs) == (A[0], A[1], "EPSG:4326")
    assert obs.attributes["排污口名称"] == "北岸1号" and obs.attributes["_row"] == 2
    batch = session.get(ObservationBatch, report.batch_id)
    assert batch.row_count == 4 and batch.accepted_count == 3 and batch.rejected_count == 1
    assert batch.report["rejected"][0]["code"] == "missing_coordinates"

    # the same file again: everything was received already, nothing is added
    counts = {m: _count(session, m) for m in (Observation, Outfall, Event, ObservationBatch)}
    again = _import(session, settings, data)
    assert (again.accepted, again.already_received, again.batch_id, len(again.rejected)) == (0, 3, None, 1)
    assert {m: _count(session, m) for m in counts} == counts


def test_reconciliation_queues_what_it_cannot_decide(session: Session, settings: Settings, make_outfall) -> None:
    make_outfall(lonlat=(A[0] + 0.0001, A[1]))  # two outfalls near row 2
    make_outfall(lonlat=(A[0] - 0.0001, A[1]))
    drone = make_outfall(lonlat=(B[0] + 0.0001, B[1]), found_by=SurveyLevel.DRONE)  # a drone candidate near row 3
    make_outfall(lonlat=(C[0] + 0.0001, C[1]), type_code="1.1.1")  # an industrial outfall near a storm-type row 4
    data = _csv([
        ["r2", "a", A[0], A[1], "4.8", "", "", ""],
        ["r3", "b", B[0], B[1], "4.8", "", "", ""],
        ["r4", "c", C[0], C[1], "4.8", "", "", ""],
        ["r5", "d1", D[0], D[1], "4.8", "", "", ""],
        ["r6", "d2", D[0] + 0.00005, D[1], "4.8", "", "", ""],  # ~5 m from row 5: two pipes at one headwall?
    ])  # fmt: skip
    report = _import(session, settings, data)
    assert (report.accepted, report.new_outfalls, report.linked, report.queued_for_review) == (5, 0, 0, 5)
    items = {i.observation.client_id: i for i in session.scalars(select(ReviewItem))}
    assert {k: i.reason for k, i in items.items()} == {
        "r2": ReviewReason.SEVERAL_CANDIDATES, "r3": ReviewReason.DRONE_CANDIDATE, "r4": ReviewReason.TYPE_CONFLICT,
        "r5": ReviewReason.NEAR_IN_BATCH, "r6": ReviewReason.NEAR_IN_BATCH,
    }  # fmt: skip
    assert len(items["r2"].candidate_ids) == 2 and "row 6" in items["r5"].detail

    queue = open_reviews(session, scope=Scope.national())
    assert len(queue) == 5 and queue[0].candidates[0][3] < 20
    # the crew's row verifies the drone candidate
    resolve_link(session, items["r3"].id, drone.id, actor="analyst", scope=Scope.national(),
                 review_radius_m=settings.reconcile.review_radius_m)  # fmt: skip
    session.refresh(drone)
    assert drone.status is OutfallStatus.SURVEYED
    # the two pipes are two outfalls
    for key in ("r5", "r6"):
        resolve_new(session, items[key].id, actor="analyst", scope=Scope.national())
    made = [session.get(Outfall, items[k].outfall_id) for k in ("r5", "r6")]
    assert [o.name for o in made] == ["d1", "d2"] and made[0].id != made[1].id
    assert all(i.status.value == "resolved" for i in (items["r3"], items["r5"], items["r6"]))
    assert len(open_reviews(session, scope=Scope.national())) == 2


def test_a_bundle_with_photos_attaches_them_to_the_rows(session: Session, settings: Settings) -> None:
    photo = (FIXTURES / "photos" / "geoapi_flipped_image.jpg").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("crew.csv", _csv([["p1", "有照片", A[0], A[1], "4.8", "", "", "IMG_0001.JPG"],
                                     ["p2", "没照片", B[0], B[1], "4.8", "", "", ""]]))  # fmt: skip
        z.writestr("photos/IMG_0001.jpg", photo)
        z.writestr("photos/stray.jpg", photo)  # GPS in Florida: near no row
    report = _import(session, settings, buffer.getvalue(), "bundle.zip")
    assert report.photos == {"attached": 1, "unmatched": 1, "ambiguous": 0, "unreadable": 0}
    assert report.photo_problems[0]["photo"] == "stray.jpg"
    [attached] = session.scalars(select(Attachment).where(Attachment.kind == "photo")).all()
    outfall = session.scalar(select(Outfall).where(Outfall.name == "有照片"))
    assert attached.outfall_id == outfall.id and attached.observation_id is not None
    assert attached.meta["matched_by"] == "file_name" and attached.meta["row"] == 2


def test_the_real_register_in_its_own_region(session: Session, settings: Settings) -> None:
    here = dataclasses.replace(settings, region=RegionSettings(bbox=(-73.6, 41.2, -69.8, 42.9), outlier_km=300))
    table = read_path(FIXTURES / "survey" / "MAEEADP_2022_data_cso.csv", "MAEEADP_2022_data_cso.csv")
    report = import_table(session, table, settings=here, actor="crew1",
                          mapping={"client_id": "column_1", "name": "location"})  # fmt: skip
    assert report.rows == 132 and report.accepted == 132 and report.rejected == []
    assert report.crs == "EPSG:4326" and "WGS84" in " ".join(report.notes)  # the default, and it says so
    assert report.new_outfalls + report.queued_for_review == 132 and report.linked == 0
    # rows at the very same spot (several overflows of one permittee) are left to a person, never merged
    same_spot = session.scalar(select(func.count()).select_from(ReviewItem)
                               .where(ReviewItem.reason == ReviewReason.NEAR_IN_BATCH))  # fmt: skip
    assert same_spot == report.queued_for_review > 0


def test_an_interrupted_import_leaves_nothing(session: Session, settings: Settings, make_outfall) -> None:
    before = _count(session, Observation)
    savepoint = session.begin_nested()
    _import(session, settings, _csv([["z1", "x", A[0], A[1], "4.8", "", "", ""]]))
    savepoint.rollback()  # what a killed process amounts to: the transaction never commits
    assert _count(session, Observation) == before


def test_history_of_a_new_outfall_starts_with_its_row(session: Session, settings: Settings) -> None:
    report = _import(session, settings, _csv([["h1", "新口", A[0], A[1], "4.8", "", "2023-04-01", ""]]))
    [oid] = report.outfall_ids
    kinds = session.scalars(select(Event.kind).where(Event.outfall_id == oid).order_by(Event.id)).all()
    assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED]


def test_merge_keeps_both_histories_and_a_split_undoes_it(session: Session, settings: Settings, make_outfall) -> None:
    from outfalls.catalogue.lifecycle import CaseState, state_as_of
    from outfalls.errors import InvalidTransition
    from outfalls.survey.reconcile import merge_outfalls, split_outfall

    report = _import(session, settings, _csv([["m1", "同一个口", A[0], A[1], "4.8", "", "", ""]]))
    [twin] = report.outfall_ids
    keep = make_outfall(lonlat=(A[0] + 0.003, A[1]))  # 270 m away: entered twice under different names
    twin_row = session.get(Outfall, twin)
    status_before = twin_row.status
    from outfalls.survey.queries import merge_pair

    pair = merge_pair(session, keep.id, twin, scope=Scope.national())
    assert (pair.keep.id, pair.keep.version, pair.absorb.id, pair.absorb.version) == (
        keep.id, keep.version, twin, twin_row.version)  # fmt: skip
    assert pair.distance_m == pytest.approx(275, abs=10) and pair.absorb.observation_count == 1
    merge_outfalls(session, keep.id, twin, actor="analyst", scope=Scope.national(), keep_version=keep.version,
                   absorb_version=twin_row.version, reason="同一排口两次录入")  # fmt: skip
    session.refresh(twin_row)
    session.refresh(keep)
    assert twin_row.status is OutfallStatus.MERGED and twin_row.merged_into_id == keep.id
    moved = session.scalars(select(ObservationLink.outfall_id).where(ObservationLink.unlinked_at.is_(None))
                            .join(Observation).where(Observation.client_id == "m1")).all()  # fmt: skip
    assert moved == [keep.id]  # the field record now backs the outfall kept
    assert state_as_of(session, twin, scope=Scope.national()) == CaseState.of(twin_row)
    kinds = session.scalars(select(Event.kind).where(Event.outfall_id == keep.id).order_by(Event.id)).all()
    assert kinds[-1] is EventKind.ABSORBED
    merged_on = select(OutfallMilestone.merged_on).where(OutfallMilestone.outfall_id == twin)
    assert session.scalar(merged_on) is not None  # out of the progress denominators while merged

    split_outfall(session, twin, actor="analyst", scope=Scope.national(), expected_version=twin_row.version,
                  reason="两个不同的口")  # fmt: skip
    session.refresh(twin_row)
    assert twin_row.status is status_before and twin_row.merged_into_id is None
    session.expire_all()
    assert session.scalar(merged_on) is None  # and counted again once split off
    back = session.scalars(select(ObservationLink.outfall_id).where(ObservationLink.unlinked_at.is_(None))
                           .join(Observation).where(Observation.client_id == "m1")).all()  # fmt: skip
    assert back == [twin]
    assert state_as_of(session, twin, scope=Scope.national()) == CaseState.of(twin_row)
    history = session.scalars(select(Event.kind).where(Event.outfall_id == twin).order_by(Event.id)).all()
    assert history == [EventKind.CREATED, EventKind.OBSERVATION_LINKED, EventKind.MERGED, EventKind.SPLIT]
    with pytest.raises(InvalidTransition, match="only an outfall merged"):
        split_outfall(session, twin, actor="a", scope=Scope.national(), expected_version=twin_row.version, reason="x")


def test_the_crews_row_of_a_drone_task_confirms_the_candidate(session: Session, settings: Settings, make_outfall):
    candidate = make_outfall(lonlat=(B[0] + 0.0001, B[1]), found_by=SurveyLevel.DRONE)
    other = make_outfall(lonlat=(C[0] + 0.0001, C[1]), found_by=SurveyLevel.DRONE)
    data = _csv([
        [f"drone-{candidate.id}", "任务里的口", B[0], B[1], "4.8", "2023-06-01 10:00", ""],  # the task's own row
        ["c9", "附近的口", C[0], C[1], "4.8", "2023-06-01 10:30", ""],  # a row near another candidate
    ])  # fmt: skip
    report = _import(session, settings, data)
    assert (report.linked, report.queued_for_review, report.new_outfalls) == (1, 1, 0)
    session.refresh(candidate)
    session.refresh(other)
    assert candidate.status is OutfallStatus.SURVEYED and candidate.found_by is SurveyLevel.DRONE
    assert other.status is OutfallStatus.CANDIDATE  # left to a person


def test_a_resent_id_with_other_content_is_a_conflict(session: Session, settings: Settings) -> None:
    first = _import(session, settings, _csv([["s1", "东岸1号", A[0], A[1], "4.8", "", "2023-05-06", ""],
                                             ["s2", "东岸2号", B[0], B[1], "4.8", "", "2023-05-06", ""]]))  # fmt: skip
    assert first.accepted == 2
    kept = session.scalar(select(Observation).where(Observation.client_id == "s1"))
    kept_attributes = dict(kept.attributes)
    counts = {m: _count(session, m) for m in (Observation, Outfall, Event)}
    # s1 re-sent with another name (a different record under a known id), s2 re-sent as it was, and a new s3:
    # the rows may sit elsewhere in the file and the file may have another name
    again = _import(session, settings, _csv([
        ["s3", "东岸3号", C[0], C[1], "4.8", "", "2023-05-07", ""],
        ["s2", "东岸2号", B[0], B[1], "4.8", "", "2023-05-06", ""],
        ["s1", "改过的名字", A[0], A[1], "4.8", "", "2023-05-06", ""],
    ]), "resend.csv")  # fmt: skip
    assert [(p.row, p.field, p.code) for p in again.rejected] == [(4, "client_id", "conflicting_resend")]
    assert "s1" in again.rejected[0].message and again.rejected[0].params["client_id"] == "s1"
    assert (again.rows, again.accepted, again.already_received, again.rejected_rows) == (3, 1, 1, 1)
    assert again.batch_id is not None  # the rest of the batch is written
    assert _count(session, Observation) == counts[Observation] + 1
    session.expire_all()
    kept = session.scalar(select(Observation).where(Observation.client_id == "s1"))
    assert dict(kept.attributes) == kept_attributes  # the first record stays as received
    assert session.scalar(select(Outfall.name).where(Outfall.name == "改过的名字")) is None
    batch = session.get(ObservationBatch, again.batch_id)
    assert batch.rejected_count == 1 and batch.report["rejected"][0]["code"] == "conflicting_resend"
    assert again.as_dict()["rejected"][0] == {"row": 4, "field": "client_id", "code": "conflicting_resend",
                                              "message": again.rejected[0].message,
                                              "params": {"client_id": "s1", "batch_id": first.batch_id}}  # fmt: skip

    # a record moved is other content too; with nothing new, no batch is written
    moved = _import(session, settings, _csv([["s2", "东岸2号", B[0] + 0.001, B[1], "4.8", "", "2023-05-06", ""]]))
    assert [p.code for p in moved.rejected] == ["conflicting_resend"] and moved.batch_id is None
    assert (moved.accepted, moved.already_received) == (0, 0)
    # the datum is the uploader's reading of the file, not part of the record: the same record, already received
    s2_again = _csv([["s2", "东岸2号", B[0], B[1], "4.8", "", "2023-05-06", ""]])
    other_datum = import_table(session, read_upload(s2_again, "crew.csv"), settings=settings, actor="crew1",
                               crs="gcj02")  # fmt: skip
    assert (other_datum.rejected, other_datum.accepted, other_datum.already_received) == ([], 0, 1)


def test_uploads_and_their_reports_as_the_pages_read_them(session: Session, settings: Settings) -> None:
    from outfalls.errors import NotFound
    from outfalls.survey.queries import batch_report, list_batches
    from outfalls.types import Role

    mine = _import(session, settings, _csv([["q1", "西安的口", A[0], A[1], "4.8", "", "", ""]]))
    theirs = import_table(session, read_upload(_csv([["q2", "别人的口", B[0], B[1], "4.8", "", "", ""]]), "b.csv"),
                          settings=settings, actor="crew2", crs="wgs84")  # fmt: skip
    xian, ankang = Scope(area_codes=("610100",)), Scope(area_codes=("610900",))
    national = [b.id for b in list_batches(session, actor="crew1", scope=Scope.national())]
    assert national[:2] == [theirs.batch_id, mine.batch_id]  # newest first, everyone's
    assert [b.id for b in list_batches(session, actor="crew1", scope=xian)] == [mine.batch_id]  # only one's own
    found = batch_report(session, mine.batch_id, actor="crew1", roles={Role.CREW}, scope=xian)
    assert (found.batch.actor, found.batch.accepted_count, found.report["accepted"]) == ("crew1", 1, 1)
    assert [(p.id, p.name, p.status) for p in found.points] == [(mine.outfall_ids[0], "西安的口", "surveyed")]
    assert found.points[0].lon == pytest.approx(A[0]) and found.points[0].lat == pytest.approx(A[1])
    with pytest.raises(NotFound):  # another crew's upload, for a regional crew member
        batch_report(session, theirs.batch_id, actor="crew1", roles={Role.CREW}, scope=xian)
    xianyang = Scope(area_codes=("610400",))  # B lies north of the Wei, in Xianyang's Weicheng district
    reviewed = batch_report(session, theirs.batch_id, actor="a1", roles={Role.CREW, Role.ANALYST}, scope=xianyang)
    assert reviewed.batch.actor == "crew2"  # reviewers read the uploads of their area
    with pytest.raises(NotFound):  # but not another area's, not even a neighbour's
        batch_report(session, theirs.batch_id, actor="a1", roles={Role.CREW, Role.ANALYST}, scope=xian)
    with pytest.raises(NotFound):  # a reviewer of another area: another area's upload is not found
        batch_report(session, mine.batch_id, actor="a1", roles={Role.ANALYST}, scope=ankang)
    with pytest.raises(NotFound):
        batch_report(session, 10**9, actor="crew1", roles={Role.CREW}, scope=Scope.national())


# -- the command line refuses what the pages refuse, in one line ---------------------------------------------


@pytest.fixture
def cli_db(clone_db) -> str:
    return clone_db("survey_cli")


def _cli(url: str, *args: str, **env: str):
    from click.testing import CliRunner

    from outfalls.cli import main

    return CliRunner().invoke(main, list(args), env={"OUTFALLS_DATABASE_URL": url, **env}, catch_exceptions=False)


def test_the_cli_refuses_oversized_or_malformed_files_in_one_line(cli_db: str, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("crew.csv", _csv([["z1", "甲", C[0], C[1], "", "", "", ""]]))
        z.writestr("padding.bin", b"\0" * (8 * 1024 * 1024))
    out = _cli(cli_db, "survey", "import", str(bomb), OUTFALLS_UPLOAD_MAX_UNPACKED_BYTES="1048576")
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert "[upload] max_unpacked_bytes" in out.output and "Traceback" not in out.output
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join([*HEADER, *(f"c{i}" for i in range(600))]) + "\n" + f"w1,甲,{C[0]},{C[1]}\n")
    out = _cli(cli_db, "survey", "import", str(wide))
    assert out.exit_code == 1 and "at most 500 columns ([upload] max_columns)" in out.output
    nul = tmp_path / "nul.csv"
    nul.write_bytes(_csv([["n1", "西岸\x001号", C[0], C[1], "", "", "", ""], ["n2", "乙", D[0], D[1], "", "", "", ""]]))
    out = _cli(cli_db, "survey", "import", str(nul), "--json")
    assert out.exit_code == 2, out.output  # partly accepted
    report = json.loads(out.stdout)
    assert report["accepted"] == 1 and [r["code"] for r in report["rejected"]] == ["nul_character"]
    waypoints = tmp_path / "waypoints.gpx"
    waypoints.write_bytes(
        b'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        b'<wpt lat="34.45" lon="109.02"><name>w</name></wpt></gpx>'
    )
    out = _cli(cli_db, "survey", "import", str(waypoints))
    assert out.exit_code == 0, out.output
