"""The command line with the files crews really bring: a QField project imports its one point layer and says so,
a project of several point layers lists them and names --layer, an ODK Central export attaches every photo by the
names its columns give, and a table without coordinates lists its columns and names --mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "survey"


@pytest.fixture
def cli_db(clone_db) -> str:
    return clone_db("survey_files_cli")


def _cli(url: str, *args: str):
    from click.testing import CliRunner

    from outfalls.cli import main

    return CliRunner().invoke(main, list(args), env={"OUTFALLS_DATABASE_URL": url}, catch_exceptions=False)


def test_a_qfield_project_imports_its_point_layer_and_says_which(cli_db: str) -> None:
    out = _cli(cli_db, "survey", "import", str(FIXTURES / "qfield_project.gpkg"))
    assert out.exit_code == 0, out.output
    assert "3 accepted" in out.output and "layer 'outfalls' imported: the only point layer" in out.output
    assert "EPSG:3857" in out.output and "Warning" not in out.output
    several = _cli(cli_db, "survey", "import", str(FIXTURES / "qfield_two_point_layers.gpkg"))
    assert several.exit_code == 1 and len(several.output.strip().splitlines()) == 1, several.output
    assert "outfalls: Point, 1 feature; manholes: Point, 1 feature; notes: table, 1 feature" in several.output
    assert "--layer" in several.output
    chosen = _cli(cli_db, "survey", "import", str(FIXTURES / "qfield_two_point_layers.gpkg"), "--layer", "manholes",
                  "--json")  # fmt: skip
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.stdout)["crs"] == "EPSG:4547"


def test_an_odk_central_export_attaches_every_photo_by_name(cli_db: str) -> None:
    out = _cli(cli_db, "survey", "import", str(FIXTURES / "odk_central_export.zip"), "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["accepted"] == 4 and report["photos"]["attached"] == 6, report
    assert report["photo_problems"] == []


def test_a_table_without_coordinates_lists_its_columns_and_names_the_mapping_option(cli_db: str) -> None:
    out = _cli(cli_db, "survey", "import", str(FIXTURES / "no_coordinates.csv"))
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert "排污口名称, 排污口编码, 所在乡镇, 备注" in out.output and "--mapping" in out.output
    # the columns can be mapped on the command line
    out = _cli(cli_db, "survey", "import", str(FIXTURES / "ona_geopoint_string.csv"), "--mapping",
               "lon=location-Longitude,lat=location-Latitude", "--json")  # fmt: skip
    assert out.exit_code == 0 and json.loads(out.stdout)["accepted"] == 3, out.output
    wrong = _cli(cli_db, "survey", "import", str(FIXTURES / "no_coordinates.csv"), "--mapping", "lon=经度")
    assert wrong.exit_code == 1 and "no column '经度'" in wrong.output


def test_big5_and_utf16_tables_import_without_options(cli_db: str) -> None:
    for name, accepted, already in (("big5_outfalls.csv", 2, 0), ("utf16_bom_outfalls.csv", 2, 0),
                                    ("gbk_outfalls.csv", 0, 2)):  # the same rows as the UTF-16 file: recognised
        out = _cli(cli_db, "survey", "import", str(FIXTURES / name), "--json")
        assert out.exit_code == 0, out.output
        report = json.loads(out.stdout)
        assert (report["accepted"], report["already_received"]) == (accepted, already), name
    refused = _cli(cli_db, "survey", "import", str(FIXTURES / "shift_jis_outfalls.csv"))
    assert refused.exit_code == 1 and "--encoding" in refused.output
