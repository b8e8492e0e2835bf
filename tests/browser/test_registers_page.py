"""An exporter downloads the register of a basin as of last year-end as XLSX through the page (the export runs
as a background job on the live server), and anyone opens an outfall's dossier from its page. Screenshots go
to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Page

from outfalls.registers import COLUMNS

pytestmark = pytest.mark.browser


def test_exporter_downloads_an_xlsx_register(live_server: Any, anon_tab: Any, login_page: Any, artifacts: Path,
                                             tmp_path: Path) -> None:  # fmt: skip
    page: Page = anon_tab.page
    login_page(page, live_server.url, "exporter")
    page.click("#nav-registers")
    page.wait_for_selector("#export-form")
    page.select_option("#export-basin", "HH")
    page.select_option("#export-format", "xlsx")
    page.fill("#export-as-of", "2024-12-31")
    page.screenshot(path=str(artifacts / "registers-form.png"), full_page=True)
    page.click("#export-submit")
    page.wait_for_selector("#download", timeout=60_000)  # the job page polls until the file is ready
    rows = int(page.inner_text("#export-rows"))
    assert rows > 0
    page.screenshot(path=str(artifacts / "registers-done.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "register-HH-2024-12-31.xlsx"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    wb = openpyxl.load_workbook(target)
    assert wb.sheetnames == ["汇总", "黄河流域", "字段说明"]
    ws = wb["黄河流域"]
    assert ws.max_row - 1 == rows and ws.freeze_panes == "C2"
    assert [c.value for c in ws[1]] == [c.zh for c in COLUMNS]
    anon_tab.traffic.assert_clean()


def test_dossier_from_the_outfall_page(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/outfalls")
    page.click("table a[href^='/outfalls/']")
    page.wait_for_load_state("networkidle")  # the page's map layers load first: leaving earlier aborts them
    page.click("#dossier-link")
    page.wait_for_selector("#dossier-map")
    assert page.locator("#timeline tbody tr").count() >= 1
    page.screenshot(path=str(artifacts / "dossier.png"), full_page=True)
    tab.traffic.assert_clean()
