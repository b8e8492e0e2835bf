import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from outfalls.catalogue.observations import NewObservation, link_observation, record_observation, unlink_observation
from outfalls.errors import Conflict, InvalidInput, NotFound, StaleEdit
from outfalls.geo import wgs84_to_gcj02
from outfalls.models import Attachment, Event
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file
from outfalls.types import EventKind


def obs(**kw):
    values = {
        "client_id": "crew7-0001",
        "author": "crew7",
        "x": 108.94,
        "y": 34.40,
        "crs": "wgs84",
        "attributes": {"排污口名称": "测试口", "照片": "a.jpg"},
    }
    return NewObservation(**(values | kw))


def test_original_kept_and_geometry_normalised(session):
    lon, lat = wgs84_to_gcj02(108.94, 34.40)
    o, created = record_observation(session, obs(x=lon, y=lat, crs="GCJ-02"))
    assert created
    assert (o.orig_x, o.orig_y, o.orig_crs) == (lon, lat, "GCJ-02")
    x, y = session.execute(
        sa.text("SELECT ST_X(geom), ST_Y(geom) FROM observations WHERE id = :id AND ST_SRID(geom) = 4490"), {"id": o.id}
    ).one()
    assert abs(x - 108.94) < 1e-7 and abs(y - 34.40) < 1e-7  # the iterative inverse, < 1 cm
    assert o.attributes["排污口名称"] == "测试口"


def test_resent_record_is_not_duplicated(session):
    first, created = record_observation(session, obs())
    again, created_again = record_observation(session, obs())
    assert created and not created_again and again.id == first.id
    with pytest.raises(Conflict, match="different content"):
        record_observation(session, obs(x=108.95))


def test_bad_crs_and_coordinates(session):
    with pytest.raises(InvalidInput):
        record_observation(session, obs(crs="mars2000"))
    with pytest.raises(InvalidInput):
        record_observation(session, obs(client_id="x2", x=500000.0, y=3800000.0, crs="EPSG:4326"))
    with pytest.raises(InvalidInput, match="client id"):
        record_observation(session, obs(client_id=" "))


def test_observations_are_immutable(session):
    o, _ = record_observation(session, obs())
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("UPDATE observations SET author = 'someone else' WHERE id = :id"), {"id": o.id})
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("DELETE FROM observations WHERE id = :id"), {"id": o.id})


def test_link_and_unlink_are_events(session, make_outfall):
    outfall = make_outfall()
    o, _ = record_observation(session, obs())
    version = outfall.version
    link = link_observation(
        session, o.id, outfall.id, actor="reviewer", expected_version=version, scope=Scope.national()
    )
    assert link.outfall_id == outfall.id and outfall.version == version + 1
    with pytest.raises(Conflict, match="already linked"):
        link_observation(session, o.id, outfall.id, actor="reviewer", scope=Scope.national())
    with pytest.raises(StaleEdit):
        unlink_observation(
            session, o.id, actor="reviewer", reason="wrong outfall", expected_version=version, scope=Scope.national()
        )
    with pytest.raises(InvalidInput, match="why"):
        unlink_observation(session, o.id, actor="reviewer", reason=" ", scope=Scope.national())
    unlink_observation(session, o.id, actor="reviewer", reason="wrong outfall", scope=Scope.national())
    assert link.unlinked_by == "reviewer" and link.unlinked_at is not None
    kinds = session.scalars(sa.select(Event.kind).where(Event.outfall_id == outfall.id).order_by(Event.id)).all()
    assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED, EventKind.OBSERVATION_UNLINKED]
    with pytest.raises(NotFound):
        unlink_observation(session, o.id, actor="reviewer", reason="again", scope=Scope.national())
    with pytest.raises(NotFound):
        link_observation(session, 10**9, outfall.id, actor="reviewer", scope=Scope.national())


def test_attachments_in_the_store(session, make_outfall, tmp_path: Path):
    store = FileStore(tmp_path / "store")
    outfall = make_outfall()
    jpeg = (Path(__file__).parents[1] / "fixtures" / "coordinates" / "derived_eviltransform_vectors.csv").read_bytes()
    a = attach_file(
        session,
        store,
        io.BytesIO(jpeg),
        name="vectors.csv",
        kind="document",
        actor="crew7",
        outfall_id=outfall.id,
        scope=Scope.national(),
    )
    b = attach_file(
        session,
        store,
        io.BytesIO(jpeg),
        name="copy.csv",
        kind="document",
        actor="crew7",
        outfall_id=outfall.id,
        scope=Scope.national(),
    )
    assert a.sha256 == b.sha256 and a.id != b.id and a.media_type == "text/csv"
    assert store.path_of(a.sha256).read_bytes() == jpeg
    assert session.scalar(sa.select(sa.func.count()).select_from(Attachment)) >= 2
    with pytest.raises(InvalidInput, match="empty"):
        attach_file(
            session,
            store,
            io.BytesIO(b""),
            name="e.jpg",
            kind="photo",
            actor="x",
            outfall_id=outfall.id,
            scope=Scope.national(),
        )
    with pytest.raises(InvalidInput, match="needs an outfall"):
        attach_file(session, store, io.BytesIO(b"x"), name="e.jpg", kind="photo", actor="x", scope=Scope.national())
    with pytest.raises(NotFound):
        attach_file(
            session,
            store,
            io.BytesIO(b"x"),
            name="e.jpg",
            kind="photo",
            actor="x",
            outfall_id=10**9,
            scope=Scope.national(),
        )
