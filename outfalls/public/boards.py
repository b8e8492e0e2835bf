"""Sign boards (标识牌, HJ 1309-2023): one print-ready board a page with the outfall's name, codes, type, receiving
water, responsible party, the supervising department and its hotline, the standardisation state and a QR code
(二维码) that opens the outfall's public page. Printed to PDF through headless Chromium (``outfalls.pdf``), so the
command line and the web print the same boards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import segno
from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import AdminArea, Basin, Outfall
from outfalls.pdf import print_pdf
from outfalls.public.disclosure import PUBLIC_STATES, PublicOutfall, public_outfalls
from outfalls.scope import Scope, area_prefix
from outfalls.types import StandardisationItem

SIZES = ("A4", "A3")
MAX_BOARDS = 5000  # one PDF; a province prints county by county
CATEGORY_ZH = {"ban": "依法取缔", "merge": "清理合并", "standardise": "规范整治", "none_needed": "无需整治"}
STATUS_ZH = {"surveyed": "已排查", "traced": "已溯源", "remediating": "整治中", "remediated": "已整治",
             "closed": "已销号"}  # fmt: skip
ITEM_ZH = {StandardisationItem.SAMPLING_POINT.value: "监测采样点", StandardisationItem.INSPECTION_WELL.value: "检查井",
           StandardisationItem.SIGN_BOARD.value: "标识牌", StandardisationItem.MONITORING.value: "视频/在线监测",
           StandardisationItem.ARCHIVE.value: "档案"}  # fmt: skip


def public_page_url(base_url: str, ref: str) -> str:
    """The address of an outfall's public page under the deployment's public address."""
    return f"{base_url.rstrip('/')}/public/outfalls/{ref}"


def qr_svg(url: str, *, scale: int = 8) -> Markup:
    """The QR code of ``url`` as inline SVG (error correction M: a board weathers)."""
    # no width and height but a viewBox, so that the page sizes it (the board prints it 30 % of its height)
    return Markup(segno.make(url, error="m", micro=False).svg_inline(scale=scale, border=4, omitsize=True))


@dataclass(frozen=True, slots=True)
class Board:
    """One sign board: the public outfall and its page's address."""

    outfall: PublicOutfall
    url: str

    def summary(self) -> dict[str, Any]:
        """``{outfall_id, code, url}`` as the command's ``--json`` lists boards."""
        return {"outfall_id": self.outfall.id, "code": self.outfall.local_code or self.outfall.national_code,
                "url": self.url}  # fmt: skip


def select_boards(session: Session, settings: Settings, *, base_url: str, ids: list[int] | None = None,
                  area: str | None = None, basin: str | None = None, scope: Scope) -> list[Board]:  # fmt: skip
    """The boards of the outfalls ``ids`` (in that order), or of every public outfall of ``area`` (and ``basin``).

    Raises:
        InvalidInput: neither ids nor an area, both, an unknown area or basin, or more than ``MAX_BOARDS``.
        NotFound: an id that is no outfall in ``scope``, or one that has no public page (a candidate, rejected,
            merged away).
    """
    if bool(ids) == bool(area):
        raise InvalidInput("give outfall ids or an area (--area), not both", field="ids" if ids else "area")
    if basin is not None and area is None:
        raise InvalidInput("--basin narrows an area: give --area too", field="basin")
    query = select(Outfall.id, Outfall.status).where(*scope.conditions())
    if ids:
        found: dict[int, str] = {oid: status for oid, status in session.execute(query.where(Outfall.id.in_(ids)))}
        for oid in ids:
            if oid not in found:
                raise NotFound("outfall does not exist", entity="outfall", id=oid)
            if found[oid] not in PUBLIC_STATES:
                raise NotFound(f"outfall {oid} is {found[oid]}: it has no public page and no sign board",
                               entity="outfall", id=oid)  # fmt: skip
        chosen = list(dict.fromkeys(ids))
    else:
        area = str(area)
        if session.scalar(select(AdminArea.id).where(AdminArea.code == area)) is None:
            raise InvalidInput(f"no administrative area has the code {area!r}", field="area", value=area)
        query = query.where(Outfall.status.in_(PUBLIC_STATES), Outfall.admin_area_id.in_(
            select(AdminArea.id).where(AdminArea.code.like(area_prefix(area) + "%"))))  # fmt: skip
        if basin is not None:
            basin_ids = select(Basin.id).where(Basin.code == basin)
            if session.scalar(basin_ids) is None:
                raise InvalidInput(f"no basin or sub-basin has the code {basin!r}", field="basin", value=basin)
            query = query.where(or_(Outfall.basin_id.in_(basin_ids), Outfall.sub_basin_id.in_(basin_ids)))
        chosen = [oid for oid, _status in session.execute(query.order_by(Outfall.local_code, Outfall.id))]
    if len(chosen) > MAX_BOARDS:
        raise InvalidInput(f"{len(chosen)} boards in one file is too many (at most {MAX_BOARDS}): print part of "
                           "the area (--basin, or a county)", field="area")  # fmt: skip
    by_id = {o.id: o for o in public_outfalls(session, settings.public, ids=chosen)}
    return [Board(by_id[oid], public_page_url(base_url, by_id[oid].ref)) for oid in chosen if oid in by_id]


_BOARD_HTML = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>入河排污口标识牌</title>
<style>
@page { size: {{ size }} landscape; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; color: #fff; }
.board { width: 100vw; height: 100vh; page-break-after: always; break-after: page; background: #0b4ea2;
         padding: 5vh 5vw; display: flex; flex-direction: column; border: 1.2vh solid #fff; }
.board:last-child { page-break-after: auto; break-after: auto; }
h1 { margin: 0 0 3vh; font-size: 6.5vh; text-align: center; letter-spacing: .4em; }
.body { display: flex; gap: 4vw; flex: 1; }
table { border-collapse: collapse; flex: 1; font-size: 3.2vh; }
th { text-align: left; white-space: nowrap; padding: .9vh 2vw .9vh 0; vertical-align: top; font-weight: 600; }
td { padding: .9vh 0; }
.qr { background: #fff; padding: 1.5vh; align-self: flex-start; text-align: center; color: #0b4ea2; font-size: 2.2vh; }
.qr svg { width: 30vh; height: 30vh; display: block; }
footer { margin-top: 2vh; font-size: 3vh; display: flex; justify-content: space-between; border-top: 2px solid #fff;
         padding-top: 1.5vh; }
</style></head><body>
{% for b in boards %}{% set o = b.outfall %}{% set p = o.properties(public) %}
<section class="board">
  <h1>入河排污口标识牌</h1>
  <div class="body">
    <table>
      {% if 'name' in p %}<tr><th>排污口名称</th><td>{{ o.name }}</td></tr>{% endif %}
      {% if 'local_code' in p %}<tr><th>排污口编码</th><td>{{ o.local_code or '暂未赋码' }}</td></tr>{% endif %}
      {% if 'national_code' in p and o.national_code %}<tr><th>国家统一编码</th>
        <td>{{ o.national_code }}</td></tr>{% endif %}
      {% if 'type' in p %}<tr><th>排污口类型</th><td>{{ o.type or '—' }}</td></tr>{% endif %}
      {% if 'receiving_water' in p or 'river' in p %}<tr><th>受纳水体</th>
        <td>{{ o.receiving_water or o.river or '—' }}</td></tr>{% endif %}
      {% if 'area' in p %}<tr><th>所在地</th><td>{{ o.area or '—' }}</td></tr>{% endif %}
      {% if 'responsible_party' in p %}<tr><th>责任主体</th>
        <td>{{ o.responsible_party or '溯源中' }}</td></tr>{% endif %}
      {% if 'remediation_category' in p %}<tr><th>整治类型</th>
        <td>{{ category.get(o.remediation_category or '', '—') }}（{{ status.get(o.status, o.status) }}）</td></tr>
      {% endif %}
      {% if 'standardisation' in p %}<tr><th>规范化建设</th><td>{% for key, label in items.items() %}{{ label }}{{
        '✓' if o.standardisation.get(key) else '✗' }}{{ '　' if not loop.last }}{% endfor %}</td></tr>{% endif %}
    </table>
    <div class="qr">{{ b.qr }}<div>扫码查看信息、举报问题</div></div>
  </div>
  <footer><span>监督管理单位：{{ department }}</span><span>监督举报电话：{{ hotline }}</span></footer>
</section>
{% endfor %}
</body></html>"""


@dataclass(frozen=True, slots=True)
class _Printed:
    outfall: PublicOutfall
    qr: Markup


def boards_html(boards: list[Board], settings: Settings, *, size: str = "A4") -> str:
    """The boards as one printable HTML page, one board a sheet.

    Raises:
        InvalidInput: a size other than A4 or A3.
    """
    if size not in SIZES:
        raise InvalidInput(f"size must be A4 or A3, not {size!r}", field="size", value=size)
    template = Environment(autoescape=True).from_string(_BOARD_HTML)
    return template.render(
        boards=[_Printed(b.outfall, qr_svg(b.url)) for b in boards], size=size, public=settings.public,
        department=settings.public.department, hotline=settings.public.hotline, category=CATEGORY_ZH,
        status=STATUS_ZH, items=ITEM_ZH,
    )  # fmt: skip


def boards_pdf(boards: list[Board], settings: Settings, *, size: str = "A4") -> bytes:
    """The boards as a PDF, one a page.

    Raises:
        InvalidInput: no boards, or a size other than A4 or A3.
        PdfFailed: Chromium could not print them.
    """
    if not boards:
        raise InvalidInput("there is no public outfall to print a board for", field="ids")
    html = boards_html(boards, settings, size=size)
    return print_pdf(html, settings.progress.chromium, settings.progress.pdf_timeout_s * (1 + len(boards) // 200))
