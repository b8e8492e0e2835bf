"""XYZ PNG tiles of the imagery: every orthophoto covering a tile is mosaicked (newest capture on top; older
imagery shows where the newer has no valid pixel), transparent outside them, and kept in a disk cache whose key
names the orthophotos used, so a newly ingested orthophoto is never hidden by an old cached tile.

Each serving thread keeps its most recently read COGs open: opening one (its header, the TIFF directories of its
overviews) costs about as much as reading a tile from it, and an open COG keeps its decoded blocks in GDAL's block
cache for the neighbouring tiles. A COG's path in the store names its content, so an open file never goes stale.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import morecantile
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods.defaults import FirstMethod
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagery.models import Orthophoto
from imagery.scope import orthophoto_conditions
from outfalls.db.engine import outside_transaction
from outfalls.scope import Scope

TILE_SIZE = 256
MAX_ZOOM = 24
# COGs kept open per serving thread (a GDAL dataset is not thread-safe, so threads do not share them); a map view
# rarely spans more than a few orthophotos, and each open one holds a file descriptor and its TIFF directories.
OPEN_COGS_PER_THREAD = 16
_TMS = morecantile.tms.get("WebMercatorQuad")
# rasterio's transform helpers (used by rio-tiler to reproject) still use affine's `*`, which affine 3 flags with a
# PendingDeprecationWarning on every tile. It is silenced once, at import, for that message from rasterio only
# (pyproject.toml's pytest filters name the same), so renders never touch the process-wide filters and run in
# parallel.
AFFINE_MUL_MESSAGE = r"Use `@` matmul instead of `\*` mul operator"
AFFINE_MUL_MODULE = r"rasterio\."
warnings.filterwarnings(
    "ignore", message=AFFINE_MUL_MESSAGE, category=PendingDeprecationWarning, module=AFFINE_MUL_MODULE
)
# rio-tiler writes a tile's PNG through a dataset with no geotransform, and silences rasterio's warning about it with
# `catch_warnings`, which is not thread-safe: a render ending in one thread restores the filters under another's,
# so the warning escapes (an error where warnings are errors). The same filter, installed once, survives that.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio")


def _transparent_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0)).save(out, "PNG", optimize=True)
    return out.getvalue()


TRANSPARENT_PNG = _transparent_png()

# Newest first: FirstMethod takes each pixel from the first orthophoto that has it valid.
_NEWEST_FIRST = (Orthophoto.captured_on.desc().nulls_last(), Orthophoto.id.desc())


@dataclass(frozen=True, slots=True)
class Source:
    """An orthophoto as the tiler reads it."""

    id: int
    path: Path
    indexes: tuple[int, ...]


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float] | None:
    """West, south, east, north of a Web Mercator tile in degrees; None for a tile that does not exist."""
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        return None
    b = _TMS.bounds(morecantile.Tile(x, y, z))
    return (b.left, b.bottom, b.right, b.top)


def covering(session: Session, z: int, x: int, y: int, *, store_dir: Path, scope: Scope | None = None) -> list[Source]:
    """The orthophotos whose valid footprint meets the tile, newest first; with ``scope``, only those it may see
    (``imagery.scope``: a footprint belongs to every area it overlaps).
    """
    bounds = tile_bounds(z, x, y)
    if bounds is None:
        return []
    w, s, e, n = bounds
    query = select(Orthophoto.id, Orthophoto.cog_path, Orthophoto.band_count, Orthophoto.band_layout).where(
        func.ST_Intersects(Orthophoto.footprint, func.ST_MakeEnvelope(w, s, e, n, 4490)),
        *(orthophoto_conditions(scope) if scope is not None else ()),
    )
    with outside_transaction(session):  # one read-only statement: no BEGIN and ROLLBACK around it
        rows = session.execute(query.order_by(*_NEWEST_FIRST)).all()
    return [Source(r.id, store_dir / r.cog_path, _indexes(r.band_count, r.band_layout)) for r in rows]


def _indexes(count: int, layout: str) -> tuple[int, ...]:
    if layout in ("RGB", "RGBA") or count >= 3:
        return (1, 2, 3)
    return (1,)


class _OpenCogs(threading.local):
    """The COGs this thread read last, open, least recently used first."""

    def __init__(self) -> None:
        self.readers: OrderedDict[Path, Reader] = OrderedDict()


_open_cogs = _OpenCogs()


def _reader(path: Path) -> Reader:
    readers = _open_cogs.readers
    reader = readers.get(path)
    if reader is not None:
        readers.move_to_end(path)
        return reader
    reader = Reader(str(path))
    readers[path] = reader
    while len(readers) > OPEN_COGS_PER_THREAD:
        readers.popitem(last=False)[1].close()  # type: ignore[no-untyped-call]
    return reader


def _read(source: Source, x: int, y: int, z: int) -> ImageData:
    reader = _reader(source.path)
    try:
        image: ImageData = reader.tile(x, y, z, tilesize=TILE_SIZE, indexes=source.indexes)
    except TileOutsideBounds:
        raise
    except Exception:
        # a read that failed may have left the dataset unusable: the next tile opens the file afresh
        if _open_cogs.readers.pop(source.path, None) is reader:
            reader.close()  # type: ignore[no-untyped-call]
        raise
    return image


def render(sources: list[Source], z: int, x: int, y: int) -> bytes:
    """The PNG of the mosaic of ``sources`` (newest first) on the tile; transparent where none has a pixel."""
    if not sources:
        return TRANSPARENT_PNG
    try:
        # In the request's own thread, where its open COGs are, one orthophoto after another: the newest first,
        # stopping as soon as every pixel is filled (a thread pool would read them all, each opening its file).
        image, _used = mosaic_reader(
            sources, _read, x, y, z, pixel_selection=FirstMethod(), threads=0,
            allowed_exceptions=(TileOutsideBounds,),
        )  # fmt: skip
    except EmptyMosaicError:
        return TRANSPARENT_PNG
    if image.data.shape[0] == 1:
        image = ImageData(image.array.repeat(3, axis=0), bounds=image.bounds, crs=image.crs)  # gray as RGB
    return bytes(image.render(img_format="PNG", add_mask=True))


def tile_png(
    session: Session, z: int, x: int, y: int, *, store_dir: Path, cache_dir: Path, scope: Scope | None = None
) -> bytes:
    """The tile's PNG, from the disk cache when the same orthophotos were rendered there before; with ``scope``,
    of the orthophotos it may see only (transparent where it sees none). The cache key names the orthophotos, so
    users of different scopes share a cached tile only when they see the same ones.
    """
    sources = covering(session, z, x, y, store_dir=store_dir, scope=scope)
    if not sources:
        return TRANSPARENT_PNG
    key = hashlib.sha1(",".join(str(s.id) for s in sources).encode()).hexdigest()[:16]
    path = cache_dir / str(z) / str(x) / f"{y}-{key}.png"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    png = render(sources, z, x, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tile-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(png)
        os.replace(tmp_name, path)  # two requests for the same tile both write the same bytes
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return png
