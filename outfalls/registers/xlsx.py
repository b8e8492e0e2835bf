"""XLSX registers for people: a summary sheet, one sheet per basin (or 一级 type) with a bold frozen header,
filters and widths, numbers as numbers and dates as dates, text always as text (never a formula, whatever it
starts with), and a sheet explaining the columns and codes.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from outfalls.registers.columns import CODE_LISTS, COLUMN_NAMES, COLUMNS, NO_BASIN, STATUS_ZH
from outfalls.registers.files import Progress, fixed_zip_entry
from outfalls.registers.formulas import mark_text
from outfalls.registers.query import RegisterQuery, iter_chunks

XLSX_MAX_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one of them the header
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(name: str, taken: set[str]) -> str:
    base = _SHEET_BAD.sub("_", name).strip("'")[:28] or "-"
    title, n = base, 2
    while title in taken:
        title, n = f"{base} ({n})", n + 1
    taken.add(title)
    return title


def write_xlsx(session: Session, query: RegisterQuery, path: Path, note: Progress, by: str) -> int:
    """A workbook: a summary sheet first, one sheet per basin (or per 一级 type), and a sheet explaining the
    columns and codes; bold frozen header with filters, set widths, numbers as numbers and dates as dates.

    openpyxl writes the workbook, the styles and each sheet's header, panes, widths and filter; the data rows,
    which are nearly all of the work, are serialised here (about ten times faster than openpyxl's cells) to a
    file per sheet and spliced into the sheets' XML when the package is rewritten with fixed dates.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    taken: set[str] = set()
    summary = wb.create_sheet(_sheet_title("汇总", taken))
    group_index = COLUMN_NAMES.index("basin" if by == "basin" else "type1")
    status_index = COLUMN_NAMES.index("status")
    last_col = get_column_letter(len(COLUMNS))
    counts: dict[str, dict[str, int]] = {}
    bodies: dict[int, tuple[Path, int]] = {}  # sheet number (1-based, workbook order) -> (rows file, rows)
    work = Path(tempfile.mkdtemp(prefix=".rows-", dir=path.parent))
    current: Any = None
    current_group: str | None = None
    current_rows = 0
    rows_out: Any = None
    writer = _RowWriter()

    def open_sheet(group: str) -> Any:
        nonlocal rows_out
        ws = wb.create_sheet(_sheet_title(group, taken))
        for i, col in enumerate(COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        ws.freeze_panes = "C2"
        cells = []
        for col in COLUMNS:
            cell = WriteOnlyCell(ws, value=col.zh)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(cell)
        ws.append(cells)
        rows_out = (work / f"{len(wb.worksheets)}.xml").open("w", encoding="utf-8")
        return ws

    def close() -> None:
        current.auto_filter.ref = f"A1:{last_col}{current_rows + 1}"
        rows_out.close()
        bodies[len(wb.worksheets)] = (Path(rows_out.name), current_rows)

    written = 0
    try:
        for chunk in iter_chunks(session, query):
            for row in chunk:
                group = row[group_index] or (NO_BASIN if by == "basin" else "未分类")
                if group != current_group or current_rows >= XLSX_MAX_ROWS:
                    if current is not None:
                        close()
                    current, current_group, current_rows = open_sheet(group), group, 0
                current_rows += 1
                rows_out.write(writer.row(current_rows + 1, row))
                by_status = counts.setdefault(group, {})
                by_status[row[status_index]] = by_status.get(row[status_index], 0) + 1
            written += len(chunk)
            note("writing", written, query.upper_bound)
        if current is None:
            current = open_sheet(NO_BASIN if by == "basin" else "未分类")
        close()
        _summary_sheet(summary, query, counts, by, bold)
        _columns_sheet(wb.create_sheet(_sheet_title("字段说明", taken)), bold)
        wb.properties.creator = "outfalls"
        wb.properties.title = f"入河排污口名录 {query.as_of.isoformat()}"
        stamp = datetime.combine(query.as_of, time(0, 0))
        wb.properties.created = stamp
        wb.save(path)
        _finish_xlsx(path, stamp, bodies)
    finally:
        if rows_out is not None:
            rows_out.close()
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return written


_EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's 1900 date system (with its 1900 leap-year quirk, after March)
_DATE_STYLE = "\x00DS\x00"  # stands for the date cell style's index until the styles are written
_NOT_XML = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


class _RowWriter:
    """Spreadsheet rows as SpreadsheetML text: numbers as numbers, dates as date serials in the date style,
    text as inline strings; empty cells are left out.
    """

    def __init__(self) -> None:
        from openpyxl.utils import get_column_letter

        self.cells = [(get_column_letter(i), c.kind) for i, c in enumerate(COLUMNS, start=1)]

    def row(self, n: int, values: Sequence[Any]) -> str:
        """Row ``n`` (1-based) holding ``values`` in ``COLUMNS`` order."""
        out = [f'<row r="{n}">']
        for (letter, kind), v in zip(self.cells, values, strict=True):
            if v is None:
                continue
            if kind == "str":
                text = str(v).translate(_NOT_XML).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                out.append(f'<c r="{letter}{n}" t="inlineStr"><is><t>{text}</t></is></c>')
            elif kind == "date":
                out.append(f'<c r="{letter}{n}" s="{_DATE_STYLE}"><v>{(v - _EXCEL_EPOCH).days}</v></c>')
            else:
                out.append(f'<c r="{letter}{n}"><v>{v!r}</v></c>')
        out.append("</row>\n")
        return "".join(out)


def _summary_sheet(ws: Any, query: RegisterQuery, counts: dict[str, dict[str, int]], by: str, bold: Any) -> None:
    from openpyxl.cell import WriteOnlyCell

    def strong(value: Any) -> Any:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = bold
        return cell

    ws.column_dimensions["A"].width = 24
    for letter in "BCDEFGHIJ":
        ws.column_dimensions[letter].width = 10
    ws.append([strong("入河排污口名录 / Outfall register")])
    ws.append(["截至日期 / As of", query.as_of])
    ws.append(["范围 / Scope", query.scope])
    ws.append(["坐标系 / CRS", f"EPSG:{query.crs}"])
    ws.append(["分表 / Sheets by", "流域 / basin" if by == "basin" else "一级分类 / type"])
    ws.append([])
    states = [s for s in STATUS_ZH if s not in ("rejected", "merged")]
    head = "流域" if by == "basin" else "一级分类"
    ws.append([strong(head), strong("合计"), *(strong(STATUS_ZH[s]) for s in states)])
    total = dict.fromkeys(states, 0)
    for group, by_status in counts.items():  # a group is a name from the reference data: written as text
        name = WriteOnlyCell(ws, value=group)
        mark_text([name])
        ws.append([name, sum(by_status.values()), *(by_status.get(s, 0) for s in states)])
        for s in states:
            total[s] += by_status.get(s, 0)
    ws.append([strong("合计"), sum(total.values()), *(total[s] for s in states)])
    ws.freeze_panes = "A8"


def _columns_sheet(ws: Any, bold: Any) -> None:
    from openpyxl.cell import WriteOnlyCell

    for letter, width in zip("ABCDE", (26, 22, 26, 12, 60), strict=True):
        ws.column_dimensions[letter].width = width
    ws.append([WriteOnlyCell(ws, value=v) for v in ("字段 / field", "列名", "Column", "Shapefile", "说明 / about")])
    for c in COLUMNS:
        ws.append([c.name, c.zh, c.en, c.shp, c.about])
    ws.append([])
    ws.append(["代码 / codes", "代码", "含义"])
    for field, labels in CODE_LISTS:
        for code, label in labels.items():
            ws.append([field, code, label])
    ws.freeze_panes = "A2"


# The modification time of docProps/core.xml, whatever prefix the Dublin Core terms namespace got: openpyxl
# serialises with ElementTree, whose prefixes are global to the process (a library that registers "dct" for that
# namespace, as OWSLib does, turns <dcterms:modified> into <dct:modified>).
_MODIFIED = re.compile(rb"(<(?:[A-Za-z_][\w.-]*:)?modified\b[^>]*>)[^<]*(</)")


def _finish_xlsx(path: Path, stamp: datetime, bodies: dict[int, tuple[Path, int]]) -> None:
    """Rewrite the .xlsx: the data rows spliced into their sheets, fixed entry dates and the as-of day as its
    modification time, so that the same register gives the same bytes (openpyxl stamps both with the time of
    writing).
    """
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    styles = next(data for info, data in entries if info.filename == "xl/styles.xml").decode("utf-8")
    date_style = _date_style_index(styles)
    last_col = _column_letter(len(COLUMNS))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _MODIFIED.sub(rb"\g<1>" + iso.encode() + rb"\g<2>", data)
            fixed = fixed_zip_entry(info.filename)
            sheet = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", info.filename)
            body = bodies.get(int(sheet.group(1))) if sheet else None
            if body is None:
                out.writestr(fixed, data)
                continue
            rows_file, rows = body
            text = data.decode("utf-8")
            text = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last_col}{rows + 1}"/>', text, count=1)
            head, tail = text.split("</sheetData>", 1)
            large = rows_file.stat().st_size > 1 << 30
            with out.open(fixed, "w", force_zip64=large) as entry, rows_file.open(encoding="utf-8") as lines:
                entry.write(head.encode("utf-8"))
                for line in lines:
                    entry.write(line.replace(_DATE_STYLE, date_style).encode("utf-8"))
                entry.write(("</sheetData>" + tail).encode("utf-8"))


def _date_style_index(styles: str) -> str:
    """The index of the first cell style formatting dates as yyyy-mm-dd (the summary sheet's as-of cell has it)."""
    fmt = re.search(r'<numFmt numFmtId="(\d+)" formatCode="yyyy-mm-dd"\s*/>', styles)
    xfs = re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, flags=re.S)
    if fmt is None or xfs is None:  # pragma: no cover - openpyxl always writes the summary's date style
        raise RuntimeError("the workbook has no date style")
    for i, xf in enumerate(re.findall(r"<xf\b[^>]*>", xfs.group(1))):
        if f'numFmtId="{fmt.group(1)}"' in xf:
            return str(i)
    raise RuntimeError("the workbook has no date style")  # pragma: no cover


def _column_letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(n))
