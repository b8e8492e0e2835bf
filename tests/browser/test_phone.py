"""Every page on a phone, in headless Chromium at 390×844: the crew and the case officer visit every page they can
reach; none scrolls sideways, the menu opens and shows log-out and the language switch, tables become stacked
cards with a label per cell, controls are touch-sized; the crew's route map draws its route and shows "you are
here". At 1366 px the English navigation fits one line. Screenshots in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import text
from sqlalchemy.orm import Session

from imagery import candidates, cells, interpretation
from imagery.models import MarkKind
from outfalls.config import Settings
from outfalls.db.cluster import Cluster
from outfalls.demo import DEMO_PASSWORD
from outfalls.scope import Scope
from tests.browser.conftest import LiveServer, place_wei_orthophoto, seed_demo_catalogue, serving

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
HERE = {"latitude": 34.35, "longitude": 108.95}  # somewhere in Xi'an
READY_MS = 30_000

# A point of the analyst's cell on the orthophoto's valid pixels, and a small square beside it.
_ON_IMAGE = text(
    """
    SELECT ST_X(p), ST_Y(p) FROM (
      SELECT ST_PointOnSurface(ST_Intersection(c.geom, o.footprint)) AS p
      FROM interpretation_cells c, orthophotos o WHERE c.id = :cell) q
    """
)


def seed_route(session: Session, settings: Settings, data_dir: Path) -> int:
    """The demo catalogue plus a drone route for ``crew_xian``: the Pix4D orthophoto placed on the 渭河 in Xi'an,
    its cells, one accepted candidate and one sensitive area, given to the crew. Returns the task id."""
    seed_demo_catalogue(session)
    place_wei_orthophoto(session, settings, data_dir)
    national = Scope.national()
    cell = cells.next_cell(session, analyst="analyst", scope=national)
    assert cell is not None
    x, y = session.execute(_ON_IMAGE, {"cell": cell.id}).one()
    point = interpretation.MarkInput({"type": "Point", "coordinates": [x, y]}, type_guess="4", confidence="high",
                                     note="河岸管口，有水流痕迹")  # fmt: skip
    d = 0.00005
    ring = [[x + d, y + d], [x + 3 * d, y + d], [x + 3 * d, y + 3 * d], [x + d, y + 3 * d], [x + d, y + d]]
    area = interpretation.MarkInput({"type": "Polygon", "coordinates": [ring]}, area_kind="bridge")
    marks = [
        interpretation.add_mark(session, cell.id, kind, values, actor="analyst", scope=national)
        for kind, values in ((MarkKind.POINT, point), (MarkKind.AREA, area))
    ]
    cells.finish_cell(session, cell.id, actor="analyst", scope=national)
    for mark in marks:
        interpretation.review_mark(session, mark.id, "accept", actor="reviewer", scope=national)
    task = candidates.create_task(session, "crew_xian", actor="reviewer", scope=national, name="渭河西安段 核查 1")
    return task.id


@pytest.fixture(scope="module")
def live_server(pg_cluster: Cluster, clone_db: Callable[[str], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:  # fmt: skip
    """The demo catalogue served live, with a drone route for the Xi'an crew."""
    data_dir = tmp_path_factory.mktemp("phone_data")
    with serving(pg_cluster, clone_db, "browser_phone", data_dir,
                 lambda session, settings: (0, seed_route(session, settings, data_dir))) as (server, _):  # fmt: skip
        yield server


# --- what is checked on every page ----------------------------------------------------------------------------

WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# Every visible control a finger must hit, and its box: buttons, button-like links, fields, menus, map buttons;
# a checkbox or radio counts with the label or table cell around it. Links inside running text are exempt.
SMALL_TARGETS = """() => {
  const seen = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const sel = 'button, .btn, select, textarea, summary, .nav-button, .leaflet-bar a, .langswitch a, .mainnav a, '
    + 'input:not([type=hidden]):not([type=checkbox]):not([type=radio])';
  const small = [];
  for (const e of document.querySelectorAll(sel)) {
    if (!seen(e) || e.closest('.leaflet-control-layers-list')) continue;
    const r = e.getBoundingClientRect();
    if (r.height < 44 || (e.matches('.leaflet-bar a, .nav-button') && r.width < 44))
      small.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  for (const e of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
    if (!seen(e) || e.closest('.leaflet-control-layers-list') || e.id === 'nav-toggle') continue;
    const box = (e.closest('label, td, th') || e).getBoundingClientRect();
    if (box.height < 44) small.push(`${e.name || e.id} ${Math.round(box.height)}`);
  }
  return small;
}"""
# Every visible link or button of the page's content that lies (partly) outside the screen's width: a box with
# hidden overflow does not widen the page, it hides what does not fit.
OFF_SCREEN = """() => [...document.querySelectorAll('main a, main button, main .btn')]
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden'
               && !e.closest('.leaflet-container, .scroll, .dossier'))
  .filter(e => { const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 1 || r.left < -1; })
  .map(e => e.textContent.trim().slice(0, 30))"""
# Each visible table of data: rows laid out as blocks (cards), the header row hidden, every non-empty cell named.
CARDS = """() => {
  const out = [];
  for (const t of document.querySelectorAll('table.grid')) {
    // a table in its own scrolling box (a file's sample rows) or in the printable dossier keeps its columns
    if (!t.getClientRects().length || t.closest('.scroll, .dossier')) continue;
    const rows = [...t.tBodies].flatMap(b => [...b.rows]);
    const head = t.tHead && t.tHead.rows[t.tHead.rows.length - 1];
    const headShown = head && t.tHead.getBoundingClientRect().height > 1
      ? [...head.cells].filter(c => !c.matches('.check') && c.getBoundingClientRect().height > 1).length : 0;
    const unnamed = rows.flatMap(r => [...r.cells]).filter(c => c.colSpan === 1 && c.getClientRects().length
      && c.textContent.trim() && !(getComputedStyle(c, '::before').content || '').replace(/none|normal|""/g, ''));
    out.push({ id: t.id, rows: rows.length, display: rows.length ? getComputedStyle(rows[0]).display : 'block',
               headShown, unnamed: unnamed.map(c => c.textContent.trim().slice(0, 20)) });
  }
  return out;
}"""


def _log_in(page: Page, base_url: str, login: str) -> None:
    """Log in through the form; on a phone the user's name sits in the folded menu."""
    page.goto(f"{base_url}/login?next=/account")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#current-user", state="attached")


def _context(browser: Browser, viewport: dict[str, int], *, located: bool = True) -> BrowserContext:
    context = browser.new_context(viewport=viewport, locale="zh-CN", has_touch=viewport["width"] < 800,
                                  geolocation=HERE, permissions=["geolocation"] if located else [])  # fmt: skip
    return context


def _pages(page: Page, base_url: str, paths: list[str]) -> list[str]:
    """The paths, with ``{outfall}`` made the first outfall of the user's list."""
    page.goto(base_url + "/outfalls")
    first = page.locator("#outfall-table tbody tr a").first.get_attribute("href")
    assert first
    return [p.replace("{outfall}", first) for p in paths]


def _check_phone_page(page: Page, base_url: str, path: str, lang: str, artifacts: Path, who: str) -> None:
    response = page.goto(base_url + path)
    assert response is not None and response.status == 200, path
    page.wait_for_load_state("networkidle")
    width, inner = page.evaluate(WIDTH)
    assert width <= inner, f"{path} scrolls sideways: {width} px wide at {inner} px"
    if not path.endswith("/dossier"):  # the printable dossier stands alone, without the top bar
        # the menu is folded; opened, it shows log-out and both languages, with touch-sized targets
        assert page.locator("#nav-panel").is_hidden()
        button = page.locator("#nav-button")
        assert button.is_visible()
        page.click("#nav-button")
        for target in ("#logout", "#lang-zh", "#lang-en", "#current-user"):
            assert page.locator(target).is_visible(), f"{target} not in the menu on {path}"
        assert page.locator(".mainnav a").first.is_visible()
        assert page.evaluate(SMALL_TARGETS) == [], path
        assert page.evaluate(WIDTH)[0] <= inner
        page.keyboard.press("Escape")
        assert page.locator("#nav-panel").is_hidden()
    assert page.evaluate(OFF_SCREEN) == [], f"{path}: controls outside the screen"
    # every folded form opened: one column, nothing sideways, touch-sized controls
    page.evaluate("() => document.querySelectorAll('main details').forEach(d => { d.open = true; })")
    assert page.evaluate(SMALL_TARGETS) == [], path
    width, inner = page.evaluate(WIDTH)
    assert width <= inner, f"{path} with its forms open scrolls sideways: {width} px"
    for table in page.evaluate(CARDS):
        assert table["display"] == "block", f"{path}: table {table['id']} is not stacked into cards"
        assert table["headShown"] == 0, f"{path}: table {table['id']} still shows its header row"
        assert table["unnamed"] == [], f"{path}: cells of {table['id']} without their column's name"
    name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "map"
    page.screenshot(path=str(artifacts / f"phone-{who}-{lang}-{name}.png"), full_page=True)


CREW_PAGES = ["/", "/outfalls", "{outfall}", "{outfall}/dossier", "/outfalls?keep=1", "/survey/upload",
              "/survey/batches", "/survey/coverage", "/imagery/tasks", "/imagery/yield", "/account"]  # fmt: skip
OFFICER_PAGES = ["/", "/outfalls", "/outfalls?assigned=me", "{outfall}", "{outfall}/dossier", "{outfall}/merge",
                 "/survey/review", "/outfalls?keep=1", "/survey/coverage", "/imagery", "/imagery/yield",
                 "/account"]  # fmt: skip


@contextmanager
def _logged_in_phone(browser: Browser, base_url: str, login: str) -> Iterator[Page]:
    """A phone's page logged in as ``login``; no script error may happen on it."""
    context = _context(browser, PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        _log_in(page, base_url, login)
        yield page
    finally:
        context.close()
    assert errors == []


def test_every_page_of_the_crew_works_on_a_phone(live_server: LiveServer, browser: Browser,
                                                 artifacts: Path) -> None:  # fmt: skip
    with _logged_in_phone(browser, live_server.url, "crew_xian") as page:
        paths = _pages(page, live_server.url, CREW_PAGES)
        page.goto(live_server.url + "/imagery/tasks")
        paths.append(str(page.locator("a.task-link").first.get_attribute("href")))
        for path in paths:
            _check_phone_page(page, live_server.url, path, "zh", artifacts, "crew")
        # the language switch in the menu works from a phone
        page.goto(live_server.url + "/outfalls")
        page.click("#nav-button")
        page.click("#lang-en")
        page.wait_for_selector("#lang-en.active", state="attached")
        assert page.locator("#nav-button").inner_text().strip() == "Menu"
        assert page.evaluate(WIDTH)[0] <= PHONE["width"]
        page.screenshot(path=str(artifacts / "phone-crew-en-outfalls.png"), full_page=True)


def test_every_page_of_the_case_officer_works_on_a_phone(live_server: LiveServer, browser: Browser,
                                                         artifacts: Path) -> None:  # fmt: skip
    with _logged_in_phone(browser, live_server.url, "officer_xian") as page:
        page.goto(live_server.url + "/lang/en?next=/account")
        for path in _pages(page, live_server.url, OFFICER_PAGES):
            _check_phone_page(page, live_server.url, path, "en", artifacts, "officer")
        # a ticked case on the stacked list still counts for the bulk form
        page.goto(live_server.url + "/outfalls?assigned=me")
        page.check("#select-page")
        assert page.inner_text("#ticked-count") == str(page.locator("#outfall-table tbody tr").count())


LEADER_PAGES = ["/dashboard", "/dashboard?by=area&metric=closed", "/", "/outfalls", "/account"]


def test_every_page_of_the_leader_works_on_a_phone_in_english(live_server: LiveServer, browser: Browser,
                                                              artifacts: Path) -> None:  # fmt: skip
    """The longer English labels too: every switch of the dashboard within reach (none hidden past the edge)."""
    with _logged_in_phone(browser, live_server.url, "leader") as page:
        page.goto(live_server.url + "/lang/en?next=/account")
        for path in LEADER_PAGES:
            _check_phone_page(page, live_server.url, path, "en", artifacts, "leader")
        page.goto(live_server.url + "/dashboard")
        page.click("#metric-switch a[data-metric=closed]")  # the last choice, on a phone, in English
        page.wait_for_url("**metric=closed**")


def test_the_menu_opens_without_javascript(live_server: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    try:
        _log_in(page, live_server.url, "crew_xian")
        page.goto(live_server.url + "/outfalls")
        assert page.locator("#logout").is_hidden()
        page.click("#nav-button")
        assert page.locator("#logout").is_visible() and page.locator("#lang-en").is_visible()
        page.click("#nav-button")
        assert page.locator("#logout").is_hidden()
    finally:
        context.close()


def test_the_english_navigation_fits_one_line_on_a_laptop(live_server: LiveServer, browser: Browser,
                                                          artifacts: Path) -> None:  # fmt: skip
    context = _context(browser, LAPTOP)
    page = context.new_page()
    try:
        for login in ("admin", "lintong", "officer_xian", "crew_xian"):
            context.clear_cookies()
            _log_in(page, live_server.url, login)
            page.goto(live_server.url + "/lang/en?next=/outfalls")
            assert page.locator("#nav-button").is_hidden()
            boxes = page.evaluate("""() => [...document.querySelectorAll(
                '.mainnav a, #current-user, #logout, .langswitch a')].map(a => {
                const r = a.getBoundingClientRect();
                return { text: a.textContent.trim(), lines: a.getClientRects().length, mid: r.top + r.height / 2,
                         height: r.height, right: r.right }; })""")
            assert len(boxes) >= 8, login
            assert [b["text"] for b in boxes if b["lines"] != 1 or b["height"] > 40] == [], login
            mids = [b["mid"] for b in boxes]
            assert max(mids) - min(mids) <= 4, f"{login}: the navigation wraps ({boxes})"
            assert max(b["right"] for b in boxes) <= LAPTOP["width"], login
            assert page.evaluate("document.querySelector('.topbar').getBoundingClientRect().height") <= 56
            assert page.evaluate(WIDTH)[0] <= LAPTOP["width"]
            page.screenshot(path=str(artifacts / f"laptop-{login}-en-outfalls.png"))
        page.goto(live_server.url + "/lang/zh?next=/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts / "laptop-crew_xian-zh-map.png"))
    finally:
        context.close()


def _task_url(page: Page, base_url: str) -> str:
    page.goto(base_url + "/imagery/tasks")
    return base_url + str(page.locator("a.task-link").first.get_attribute("href"))


def test_the_route_map_shows_the_route_and_where_the_crew_is(live_server: LiveServer, browser: Browser,
                                                             artifacts: Path) -> None:  # fmt: skip
    context = _context(browser, PHONE)
    page = context.new_page()
    try:
        _log_in(page, live_server.url, "crew_xian")
        page.goto(_task_url(page, live_server.url))
        page.wait_for_selector("#task-map[data-state=ready]", state="attached", timeout=READY_MS)
        page.wait_for_selector("#task-map[data-here=shown]", state="attached", timeout=READY_MS)
        page.wait_for_function("document.querySelectorAll('#task-map img.leaflet-tile-loaded').length > 0",
                               timeout=READY_MS)  # fmt: skip
        # a light map (the dark imagery canvas only where drone images are), the drone images under the stops
        background = page.evaluate("getComputedStyle(document.getElementById('task-map')).backgroundColor")
        r, g, b = (int(v) for v in background.removeprefix("rgb(").rstrip(")").split(",")[:3])
        assert 0.299 * r + 0.587 * g + 0.114 * b > 180, background
        assert page.locator("#task-map .route-stop").count() == 2
        # the map fills the width; its buttons are touch-sized
        box = page.locator("#task-map").bounding_box()
        assert box is not None and box["width"] >= PHONE["width"] - 30
        assert "您在这里" in page.inner_text("#here-note")
        page.screenshot(path=str(artifacts / "phone-crew-zh-route.png"))
        # "you are here": the button goes to the phone's position
        page.click("#here-button")
        page.wait_for_function(
            f"() => Math.abs(document.querySelector('.here-dot').getBoundingClientRect().top - "
            f"document.getElementById('task-map').getBoundingClientRect().top - {box['height'] / 2}) < 20",
            timeout=READY_MS)  # fmt: skip
        page.screenshot(path=str(artifacts / "phone-crew-zh-route-here.png"))
    finally:
        context.close()


def test_a_refused_position_is_said_quietly(live_server: LiveServer, browser: Browser) -> None:
    context = _context(browser, PHONE, located=False)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        _log_in(page, live_server.url, "crew_xian")
        page.goto(_task_url(page, live_server.url))
        page.wait_for_selector("#task-map[data-here=denied]", state="attached", timeout=READY_MS)
        assert "未显示您的位置" in page.inner_text("#here-note")
        assert page.locator(".here-dot").count() == 0
        page.wait_for_selector("#task-map[data-state=ready]", state="attached", timeout=READY_MS)
        assert page.locator("#task-map .route-stop").count() == 2  # the route is drawn all the same
        # the main map offers the same button, and says the same when it is pressed
        page.goto(live_server.url + "/")
        page.wait_for_selector("#map[data-state=ready]", state="attached", timeout=READY_MS)
        page.click("#here-button")
        page.wait_for_selector("#map[data-here=denied]", state="attached", timeout=READY_MS)
        assert "未显示您的位置" in page.inner_text("#here-note")
    finally:
        context.close()
    assert dialogs == []
