"""The upload page with the files crews really bring: a project of several point layers offers its layers, a
QField project's only point layer is previewed and named, photos beside a KoBo table are found by the column
naming them, and a table without coordinates opens the mapping screen listing its columns."""

from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.models import Attachment, Observation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "survey"


def _crew(make_user, login_as):
    return login_as(make_user("crew1", roles=("crew",), areas=("610100",)))


def _post(client, *files: Path, **form: object):
    return client.post(
        "/survey/upload",
        data={"csrf_token": client.csrf, "file": [(io.BytesIO(p.read_bytes()), p.name) for p in files], **form},
        content_type="multipart/form-data",
    )


def _hidden(html: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields.setdefault(name, []).append(value)
    return fields


def test_a_project_of_several_point_layers_offers_them_and_previews_the_chosen_one(session: Session, make_user,
                                                                                  login_as) -> None:  # fmt: skip
    crew = _crew(make_user, login_as)
    page = _post(crew, FIXTURES / "qfield_two_point_layers.gpkg")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="choose-layer"' in html
    assert 'value="outfalls"' in html and 'value="manholes"' in html and 'value="notes"' in html
    hidden = {k: v[0] for k, v in _hidden(html).items()}
    assert hidden["u-table_name"] == "qfield_two_point_layers.gpkg" and hidden["u-table_sha"]
    chosen = crew.post("/survey/upload", data=hidden | {"layer": "manholes"})
    shown = chosen.get_data(as_text=True)
    assert chosen.status_code == 200 and 'id="dry-run-summary"' in shown
    assert "qfield_two_point_layers.gpkg [manholes]" in shown and "EPSG:4547" in shown


def test_the_only_point_layer_is_previewed_and_named(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    page = _post(crew, FIXTURES / "qfield_project.gpkg")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="dry-run-summary"' in html
    assert "qfield_project.gpkg [outfalls]" in html and "outfalls" in html and "EPSG:3857" in html


def test_photos_beside_a_kobo_table_are_attached_by_the_column_naming_them(session: Session, make_user,
                                                                          login_as) -> None:  # fmt: skip
    crew = _crew(make_user, login_as)
    photos = sorted(FIXTURES.glob("IMG_2023050*.jpg"))
    page = _post(crew, FIXTURES / "kobo_export.csv", *photos)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<option value="survey/photo_outlet" selected>' in html
    data = {k: v if len(v) > 1 else v[0] for k, v in _hidden(html).items()}
    for field, column in re.findall(r'<select name="(map-[a-z_]+)">(?:(?!</select>).)*?<option value="([^"]*)" '
                                    r"selected>", html, flags=re.S):  # fmt: skip
        data.setdefault(field, column)
    done = crew.post("/survey/import", data=data)
    assert done.status_code == 302, done.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Observation)) == 3
    attached = session.scalars(select(Attachment).where(Attachment.kind == "photo")).all()
    assert len(attached) == 3 and {a.meta["matched_by"] for a in attached} == {"file_name"}


def test_a_table_without_coordinates_opens_the_mapping_screen(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    page = _post(crew, FIXTURES / "no_coordinates.csv")
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and 'id="mapping"' in html and 'id="no-coordinates"' in html
    assert "排污口名称, 排污口编码, 所在乡镇, 备注" in html and 'name="map-lon"' in html
    # mapped on the page and checked again, the file previews
    geopoints = _post(crew, FIXTURES / "ona_geopoint_string.csv")
    assert geopoints.status_code == 200 and 'id="dry-run-summary"' in geopoints.get_data(as_text=True)
    hidden = {k: v[0] for k, v in _hidden(html).items()}
    again = crew.post("/survey/upload", data=hidden | {"map-lon": "排污口编码", "map-lat": "所在乡镇"})
    assert again.status_code == 200 and 'id="dry-run-summary"' in again.get_data(as_text=True)
    assert '<option value="排污口编码" selected>' in again.get_data(as_text=True)


def test_the_layer_choice_names_each_layers_geometry_in_chinese(session: Session, make_user, login_as) -> None:  # type: ignore[no-untyped-def]
    crew = _crew(make_user, login_as)
    html = _post(crew, FIXTURES / "qfield_two_point_layers.gpkg").get_data(as_text=True)
    cells = re.findall(r"<td>([^<]*)</td><td>\d*</td>", html)
    assert cells == ["点", "点", "表（无几何）"]
