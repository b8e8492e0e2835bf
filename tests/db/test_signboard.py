"""Sign boards printed from the command line, read back as a passer-by would: the words with pdftotext, the QR
code with a real decoder (zbarimg), and the address it holds answers without a login and shows the outfall.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls
from outfalls.cli import main
from outfalls.config import load_settings
from outfalls.db.engine import make_engine
from outfalls.models import Outfall
from outfalls.types import EventKind, SurveyLevel

PUBLIC_URL = "https://outfalls.example.gov.cn/"
LINTONG = (109.20, 34.44)


@pytest.fixture(scope="module")
def board_db(clone_db: Callable[[str], str]) -> Iterator[tuple[str, dict[str, int]]]:
    url = clone_db("signboards")
    engine = make_engine(url)
    with Session(engine) as session:
        ids = create_outfalls(session, [
            NewOutfall(lonlat=LINTONG, name="临潼区渭河3#城镇雨洪排口", type_code="4.8", found_by=SurveyLevel.FOOT,
                       found_on=date(2022, 5, 1), receiving_water="渭河", history=(
                           HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "临潼区住建局"}),)),
            NewOutfall(lonlat=LINTONG, name="疑似排口", type_code="4.8", found_by=SurveyLevel.DRONE,
                       found_on=date(2022, 5, 1)),
        ], actor="t")  # fmt: skip
        session.commit()
    engine.dispose()
    yield url, {"traced": ids[0], "candidate": ids[1]}


def invoke(url: str, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    env = {"OUTFALLS_DATABASE_URL": url, "OUTFALLS_DATA_DIR": str(tmp_path / "data"),
           "OUTFALLS_SERVER_PUBLIC_URL": PUBLIC_URL}  # fmt: skip
    return CliRunner().invoke(main, list(args), env=env)


def test_a_printed_board_reads_back_and_its_qr_code_opens_the_public_page(
    board_db: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    url, ids = board_db
    coded = invoke(url, tmp_path, "code", "assign", "--area", "610115", "--json")
    assert coded.exit_code == 0, coded.output
    (given,) = json.loads(coded.output)["assigned"]
    assert given["outfall_id"] == ids["traced"] and given["code"] == "610115-480-0001"

    pdf = tmp_path / "boards.pdf"
    out = invoke(url, tmp_path, "signboard", "--area", "610115", "-o", str(pdf), "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["file"] == str(pdf) and len(summary["boards"]) == 1  # the candidate has no board
    board = summary["boards"][0]
    assert board["outfall_id"] == ids["traced"] and board["code"] == "610115-480-0001"
    assert board["url"].startswith(PUBLIC_URL + "public/outfalls/")
    ref = board["url"].rsplit("/", 1)[1]
    assert len(ref) == 16 and str(ids["traced"]) != ref  # an opaque reference, not the id

    words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("入河排污口标识牌", "临潼区渭河3#城镇雨洪排口", "610115-480-0001", "城镇雨洪排口", "渭河",
                     "临潼区住建局", "12369", "生态环境局"):  # fmt: skip
        assert expected in words, expected
    png = tmp_path / "board"
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(png)], check=True)
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(png) + ".png"], capture_output=True, text=True, check=True)
    assert decoded.stdout.strip() == board["url"]

    # the address opens the public page, with no login
    from web import create_app

    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path / "data"),
                                                "server.public_url": PUBLIC_URL})  # fmt: skip
    app = create_app(settings, testing=True)
    try:
        page = app.test_client().get(decoded.stdout.strip().removeprefix(PUBLIC_URL.rstrip("/")))
    finally:
        app.extensions["outfalls.sessions"].kw["bind"].dispose()
    assert page.status_code == 200 and "临潼区渭河3#城镇雨洪排口" in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers



def test_a_candidate_gets_no_board_and_mistakes_are_clear(board_db: tuple[str, dict[str, int]],
                                                         tmp_path: Path) -> None:  # fmt: skip
    url, ids = board_db
    pdf = tmp_path / "b.pdf"
    out = invoke(url, tmp_path, "signboard", str(ids["candidate"]), "-o", str(pdf))
    assert out.exit_code == 1 and "no public page" in out.output and not pdf.exists()
    both = invoke(url, tmp_path, "signboard", str(ids["traced"]), "--area", "610115", "-o", str(pdf))
    assert both.exit_code == 1 and "not both" in both.output
    size = invoke(url, tmp_path, "signboard", str(ids["traced"]), "-o", str(pdf), "--size", "A5")
    assert size.exit_code == 2
    a3 = invoke(url, tmp_path, "signboard", str(ids["traced"]), "-o", str(pdf), "--size", "A3")
    assert a3.exit_code == 0 and pdf.read_bytes().startswith(b"%PDF")
    check = invoke(url, tmp_path, "code", "check", "610115-480-0001", "610115-48-1")
    assert check.exit_code == 2 and "does not follow the coding rule" in check.output


def test_outfall_rows_get_distinct_public_refs(board_db: tuple[str, dict[str, int]]) -> None:
    engine = make_engine(board_db[0])
    with Session(engine) as session:
        refs = session.scalars(sa.select(Outfall.public_ref)).all()
    engine.dispose()
    assert len(refs) == len(set(refs)) and all(len(r) == 16 for r in refs)
