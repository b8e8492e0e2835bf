"""Imagery tile benchmark: XYZ PNG tiles through the web route against rio-tiler reading the same COG directly.

Run ``.venv/bin/python bench/imagery_tiles.py --orthophotos 8 [--size 2048] [--zoom 19] [--json] [--keep]``.

A throwaway PostGIS cluster is started with the product's own cluster code, migrated and loaded with the
reference data (as in ``bench/catalogue.py``). N synthetic orthophotos (RGBA with an irregular valid area, in
CGCS2000 / Gauss-Krüger CM 108E, 0.2 m pixels, ``--size`` pixels square) are generated along the 渭河 line and
ingested with ``imagery.ingest`` (COG with overviews, footprint in PostGIS). Every tile of zoom
``--zoom`` over each orthophoto's central half is then requested:

``tile route, cache misses``
    ``GET /imagery/tiles/{z}/{x}/{y}.png`` through the Flask app (login, the footprint query in PostGIS, the
    mosaic of every covering orthophoto with rio-tiler, PNG encoding, the write to the disk cache), with an
    empty cache.
``tile route, cache hits``
    The same requests again: the footprint query and a file read.

Baseline, in the same run on the same tiles: ``rio_tiler.io.Reader(cog).tile(x, y, z)`` on the COG the tile lies
in, rendered to PNG with the mask (what a bare rio-tiler tile server does for one known file), called tile by tile
in turn with the route's misses (each first every other tile), so that load from elsewhere on the machine falls
on both alike. Ratio = our seconds ÷ baseline seconds; the goal is tiles/s ≥ 0.8 × rio-tiler's on cache misses
(a ratio ≤ 1.25). The bench
checks that every route tile is a PNG identical in size to the baseline's and not transparent where the
orthophoto has pixels. Progress goes to stderr; a table (or, with ``--json``, one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import morecantile
import numpy as np
from catalogue import Progress, Result, _code_version, make_app, throwaway_cluster
from PIL import Image
from rasterio.warp import transform_bounds
from rio_tiler.io import Reader
from sqlalchemy import text
from sqlalchemy.orm import Session

from imagery.ingest import ingest_orthophoto
from imagery.models import Orthophoto
from imagery.synthetic import along_line, write_ortho
from outfalls import accounts
from outfalls.db.engine import make_engine

CRS = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 108E
RESOLUTION_M = 0.2
TMS = morecantile.tms.get("WebMercatorQuad")


def wei_line(session: Session) -> list[tuple[float, float]]:
    """The vertices of the longest 渭河 line (lon, lat)."""
    wkt = session.scalar(text("SELECT ST_AsText(ST_LineMerge(geom)) FROM rivers WHERE name = '渭河' "
                              "ORDER BY ST_Length(geom) DESC LIMIT 1"))  # fmt: skip
    from shapely import wkt as shapely_wkt

    geom = shapely_wkt.loads(str(wkt))
    line = max(getattr(geom, "geoms", [geom]), key=lambda g: g.length)
    return [(float(x), float(y)) for x, y in line.coords]


def central_tiles(path: Path, zoom: int) -> list[tuple[int, int, int]]:
    """The tiles of ``zoom`` over the central half of an image."""
    import rasterio

    with rasterio.open(path) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    dx, dy = (e - w) / 4, (n - s) / 4
    return [(t.z, t.x, t.y) for t in TMS.tiles(w + dx, s + dy, e - dx, n - dy, [zoom])]


def raw_tile(cog: Path, z: int, x: int, y: int) -> bytes:
    """rio-tiler on one COG: the tile rendered to PNG with its mask."""
    with Reader(str(cog)) as reader:
        image = reader.tile(x, y, z, tilesize=256, indexes=(1, 2, 3))
    return bytes(image.render(img_format="PNG", add_mask=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orthophotos", type=int, default=8, metavar="N", help="synthetic orthophotos (8)")
    parser.add_argument("--size", type=int, default=2048, metavar="PX", help="pixels on a side (2048)")
    parser.add_argument("--zoom", type=int, default=19, help="zoom of the requested tiles (19)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the cluster (and print how to stop it)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", PendingDeprecationWarning)  # rasterio's warp helpers on affine 3
    progress = Progress()
    commit = _code_version()
    with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, root):
        data_dir = root / "data"
        app = make_app(url, data_dir)
        settings = app.extensions["outfalls.settings"]
        engine = make_engine(url)
        tiles: list[tuple[int, int, int, Path]] = []
        try:
            with Session(engine) as session:
                centres = along_line(wei_line(session), args.orthophotos)
                progress.say(f"generating and ingesting {len(centres)} orthophotos of {args.size}² px")
                t0 = time.perf_counter()
                for i, centre in enumerate(centres):
                    src = write_ortho(root / f"ortho{i}.tif", crs=CRS, center_lonlat=centre,
                                      size_px=(args.size, args.size), resolution_m=RESOLUTION_M, seed=i,
                                      alpha_margin_px=args.size // 16)  # fmt: skip
                    result = ingest_orthophoto(session, src, store_dir=settings.imagery.store_dir, actor="bench",
                                               sortie=f"B-{i // 4 + 1}")  # fmt: skip
                    photo = session.get(Orthophoto, result.id)
                    assert photo is not None
                    cog = settings.imagery.store_dir / photo.cog_path
                    tiles += [(z, x, y, cog) for z, x, y in central_tiles(src, args.zoom)]
                ingest_s = time.perf_counter() - t0
                user = accounts.create_user(session, "bench-analyst", roles=("analyst",), is_national=True,
                                            actor="bench")  # fmt: skip
                cookie, _ = accounts.start_session(session, user)
                session.commit()
        finally:
            engine.dispose()
        progress.say(f"ingested in {ingest_s:.1f} s; {len(tiles)} tiles of zoom {args.zoom}")
        from web.auth import SESSION_COOKIE

        client = app.test_client()
        client.set_cookie(SESSION_COOKIE, cookie)
        raw_tile(*tiles[0][3:], *tiles[0][:3])  # warm-up: GDAL's drivers and caches
        client.get("/imagery/tiles/{}/{}/{}.png".format(*tiles[0][:3]))
        shutil.rmtree(settings.imagery.tile_cache_dir, ignore_errors=True)

        def route_tile(z: int, x: int, y: int) -> bytes:
            response = client.get(f"/imagery/tiles/{z}/{x}/{y}.png")
            if response.status_code != 200:
                raise SystemExit(f"tile {z}/{x}/{y}: HTTP {response.status_code}")
            return bytes(response.data)

        # Tile by tile in turn (which of the two goes first alternates too), so that load from elsewhere on the
        # machine falls on both alike, as in the other benches.
        progress.say("the tile route with an empty cache and rio-tiler on the COGs directly, in turn")
        raw: list[bytes] = []
        missed: list[bytes] = []
        raw_times: list[float] = []
        miss_times: list[float] = []
        for i, (z, x, y, cog) in enumerate(tiles):
            for is_raw in (True, False) if i % 2 == 0 else (False, True):
                t = time.perf_counter()
                png = raw_tile(cog, z, x, y) if is_raw else route_tile(z, x, y)
                seconds = time.perf_counter() - t
                (raw if is_raw else missed).append(png)
                (raw_times if is_raw else miss_times).append(seconds)
        raw_s, miss_s = sum(raw_times), sum(miss_times)
        progress.say("the tile route, cached")
        t = time.perf_counter()
        hits = [route_tile(z, x, y) for z, x, y, _cog in tiles]
        hit_s = time.perf_counter() - t
        for ours, theirs, again in zip(missed, raw, hits, strict=True):
            a = np.asarray(Image.open(io.BytesIO(ours)).convert("RGBA"))
            b = np.asarray(Image.open(io.BytesIO(theirs)).convert("RGBA"))
            if a.shape != b.shape or ours != again or (b[..., 3] > 0).sum() != (a[..., 3] > 0).sum():
                raise SystemExit("a route tile differs from rio-tiler's tile of the same COG")
    n = len(tiles)
    baseline = "rio_tiler.io.Reader(cog).tile + render PNG, one known COG"
    results = [
        Result("tile route, cache misses", miss_s, baseline, raw_s,
               {"tiles": n, "tiles_per_s": round(n / miss_s, 1), "baseline_tiles_per_s": round(n / raw_s, 1),
                "median_tile_seconds": round(statistics.median(miss_times), 6),
                "baseline_median_tile_seconds": round(statistics.median(raw_times), 6)}),
        Result("tile route, cache hits", hit_s, baseline, raw_s,
               {"tiles": n, "tiles_per_s": round(n / hit_s, 1), "baseline_tiles_per_s": round(n / raw_s, 1)}),
    ]  # fmt: skip
    if args.json:
        print(json.dumps({"bench": "imagery_tiles", "size": n, "commit": commit, "orthophotos": args.orthophotos,
                          "ingest_seconds": round(ingest_s, 3),
                          "results": [r.as_dict() for r in results]}, ensure_ascii=False))  # fmt: skip
    else:
        print(f"imagery tiles, {args.orthophotos} orthophotos of {args.size}² px, {n} tiles of zoom {args.zoom} "
              f"(outfalls {commit}); ingest {ingest_s:.1f} s")  # fmt: skip
        for r in results:
            ours, theirs = r.extra["tiles_per_s"], r.extra["baseline_tiles_per_s"]
            print(f"  {r.name:28} {ours:8.1f} tiles/s   rio-tiler {theirs:8.1f} tiles/s   ratio {r.ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
