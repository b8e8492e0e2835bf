"""Orthophoto ingest (COG, valid-pixel footprint, metadata), flight records, XYZ tiles and the CLI, on real
GeoTIFFs read with rasterio and a real PostGIS."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from geoalchemy2.shape import to_shape
from PIL import Image
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rio_cogeo.cogeo import cog_validate
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from imagery import flights, tiles
from imagery.errors import NotGeoreferenced, UnreadableImage
from imagery.ingest import ingest_orthophoto
from imagery.models import Orthophoto, Sortie
from imagery.synthetic import relocate, write_ortho
from outfalls.config import Settings
from outfalls.scope import Scope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imagery"
ALL = Scope.national()
PIX4D = FIXTURES / "riotiler_pix4d_alpha_nodata.tif"
SPLIT = [FIXTURES / f"derived_pix4d_tile_{k}.tif" for k in "abcd"]
USGS = FIXTURES / "riotiler_201404_13SED190110_201404_0x1500m_CL_1.tif"
USGS_ALPHA = FIXTURES / "riotiler_201404_13SED190110_201404_0x1500m_CL_1_alpha.tif"
USGS_NODATA = FIXTURES / "riotiler_201404_13SED190110_201404_0x1500m_CL_1_nodata.tif"
NOT_GEO = FIXTURES / "webodm_tiny_drone_image_multispec.tif"


def ingest(session: Session, settings: Settings, path: Path, **kw: object):
    return ingest_orthophoto(session, path, store_dir=settings.imagery.store_dir, actor="tester", **kw)  # type: ignore[arg-type]


def bbox_area_m2(path: Path) -> float:
    with rasterio.open(path) as src:
        return src.width * abs(src.transform.a) * src.height * abs(src.transform.e)


def test_pix4d_ortho_becomes_a_cog_with_the_footprint_of_its_valid_pixels(session: Session, settings: Settings):
    result = ingest(session, settings, PIX4D, sortie="BALI-01", captured_on=date(2019, 4, 2))
    assert result.status == "ingested" and result.crs == "EPSG:32750"
    assert result.resolution_m == pytest.approx(0.3527, abs=0.002)
    photo = session.get(Orthophoto, result.id)
    assert photo is not None
    assert (photo.band_layout, photo.mask_kind, photo.width, photo.height) == ("RGBA", "alpha", 686, 758)
    assert photo.captured_on == date(2019, 4, 2) and photo.sortie is not None and photo.sortie.code == "BALI-01"
    # the alpha band leaves about an eighth of the box empty: the footprint is the valid pixels, not the box
    assert 0.80 * bbox_area_m2(PIX4D) < result.footprint_area_m2 < 0.93 * bbox_area_m2(PIX4D)
    with rasterio.open(PIX4D) as src:
        alpha = src.read(4)
        valid_share = float((alpha > 0).mean())
    assert result.footprint_area_m2 == pytest.approx(valid_share * bbox_area_m2(PIX4D), rel=0.02)
    footprint = to_shape(photo.footprint)
    assert footprint.bounds[0] == pytest.approx(115.1597, abs=0.0003)
    assert footprint.bounds[1] == pytest.approx(-8.5862, abs=0.0003)  # south of the equator: UTM 50S
    assert result.footprint_wkt_4326 is not None and result.footprint_wkt_4326.startswith("MULTIPOLYGON")
    cog = settings.imagery.store_dir / photo.cog_path
    ok, errors, _warnings = cog_validate(str(cog), quiet=True)
    assert ok, errors
    with rasterio.open(cog) as src:
        assert src.overviews(1), "a COG of 686x758 pixels has at least one overview"
        assert src.crs.to_epsg() == 3857 and src.count == 4  # laid on the tile grid


@pytest.mark.parametrize(
    ("path", "layout", "mask"), [(USGS, "RGB", "none"), (USGS_ALPHA, "RGBA", "alpha"), (USGS_NODATA, "RGB", "nodata")]
)
def test_usgs_variants_in_nad83(session: Session, settings: Settings, path: Path, layout: str, mask: str):
    result = ingest(session, settings, path)
    photo = session.get(Orthophoto, result.id)
    assert photo is not None and result.crs == "EPSG:26913"
    assert (photo.band_layout, photo.mask_kind) == (layout, mask)
    assert result.resolution_m == pytest.approx(0.15, abs=0.002)
    # NAD83 / UTM 13N: the grid's scale factor makes the ellipsoidal area differ from the grid area by < 0.1 %
    assert result.footprint_area_m2 <= bbox_area_m2(path) * 1.002
    if mask == "none":
        assert result.footprint_area_m2 == pytest.approx(bbox_area_m2(path), rel=0.002)
    lon_w, lat_s, lon_e, lat_n = to_shape(photo.footprint).bounds
    assert lon_w > -104.7754 and lon_e < -104.7746 and 38.9534 < lat_s < lat_n < 38.9538


def _warp(src_path: Path, target: Path, crs: str) -> Path:
    with warnings.catch_warnings(), rasterio.open(src_path) as src:
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # inside rasterio.warp (affine 3's `*`)
        transform, width, height = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
        profile = src.profile | {"crs": crs, "transform": transform, "width": width, "height": height, "nodata": 0}
        with rasterio.open(target, "w", **profile) as dst:
            for band in range(1, src.count + 1):
                reproject(rasterio.band(src, band), rasterio.band(dst, band), resampling=Resampling.nearest,
                          dst_nodata=0)  # fmt: skip
    return target


def test_state_plane_in_feet_reports_metres(session: Session, settings: Settings, tmp_path: Path):
    # NAD83 / Colorado Central (ftUS): the pixel is about half a foot, the resolution is reported in metres
    feet = _warp(USGS, tmp_path / "colorado_ftus.tif", "EPSG:2232")
    with rasterio.open(feet) as src:
        assert src.crs.linear_units_factor[1] == pytest.approx(0.3048006, rel=1e-5)
        assert abs(src.transform.a) == pytest.approx(0.49, abs=0.02)  # feet
    result = ingest(session, settings, feet)
    assert result.crs == "EPSG:2232"
    assert result.resolution_m == pytest.approx(0.15, abs=0.006)
    original = ingest(session, settings, USGS)
    assert result.footprint_area_m2 == pytest.approx(original.footprint_area_m2, rel=0.02)


def test_cgcs2000_gauss_kruger_on_the_wei(session: Session, settings: Settings, tmp_path: Path):
    wei = relocate(PIX4D, tmp_path / "wei_gk.tif", crs="EPSG:4547", center_lonlat=(108.95, 34.42))
    result = ingest(session, settings, wei)
    assert result.crs == "EPSG:4547"
    assert result.resolution_m == pytest.approx(0.3527, abs=0.003)
    centroid = to_shape(session.get(Orthophoto, result.id).footprint).centroid  # type: ignore[union-attr]
    assert centroid.x == pytest.approx(108.95, abs=0.002) and centroid.y == pytest.approx(34.42, abs=0.002)


def test_same_file_twice_is_a_no_op(session: Session, settings: Settings):
    first = ingest(session, settings, USGS_ALPHA)
    again = ingest(session, settings, USGS_ALPHA)
    assert (again.status, again.id) == ("exists", first.id)
    assert session.scalar(select(func.count()).select_from(Orthophoto)) == 1


def test_not_georeferenced_and_not_an_image_are_refused(session: Session, settings: Settings, tmp_path: Path):
    with pytest.raises(NotGeoreferenced, match="not georeferenced"):
        ingest(session, settings, NOT_GEO)
    jpeg = tmp_path / "frame.jpg"
    Image.new("RGB", (64, 48), (90, 120, 60)).save(jpeg)
    with pytest.raises(NotGeoreferenced):
        ingest(session, settings, jpeg)
    text_file = tmp_path / "notes.tif"
    text_file.write_text("not an image")
    with pytest.raises(UnreadableImage):
        ingest(session, settings, text_file)
    assert session.scalar(select(func.count()).select_from(Orthophoto)) == 0


# --- flight records ----------------------------------------------------------------------------------------------


def test_flight_records_and_statistics_per_river(session: Session, settings: Settings, tmp_path: Path):
    wei_code = session.scalar(text("SELECT code FROM rivers WHERE name = '渭河' ORDER BY id LIMIT 1"))
    values = flights.SortieInput(flown_on=date(2023, 5, 6), aircraft_type="multirotor", altitude_m=120,
                                 area_km2=12.5, length_km=8.9, photo_count=575, operator="延安航测一队",
                                 river_code=wei_code)  # fmt: skip
    flights.record_sortie(session, "YA-07", values, actor="tester")
    second = flights.SortieInput(flown_on=date(2023, 5, 7), photo_count=420, area_km2=10.0, river_code=wei_code)
    flights.record_sortie(session, "YA-08", second, actor="tester")
    ingest(session, settings, relocate(PIX4D, tmp_path / "w.tif", crs="EPSG:4547", center_lonlat=(108.95, 34.42)),
           sortie="YA-07")  # fmt: skip
    rows = {r.code: r for r in flights.list_sorties(session, scope=ALL)}
    assert rows["YA-07"].orthophotos == 1 and rows["YA-07"].covered_km2 == pytest.approx(0.0566, abs=0.001)
    assert rows["YA-07"].river == "渭河" and rows["YA-07"].basin is not None
    [area] = [a for a in flights.flight_statistics(session, scope=ALL) if a.river == "渭河"]
    assert (area.sorties, area.days, area.photos, area.area_km2) == (2, 2, 995, 22.5)
    with pytest.raises(Exception, match="negative"):
        flights.record_sortie(session, "YA-09", flights.SortieInput(altitude_m=-5), actor="tester")
    assert session.scalar(select(func.count()).select_from(Sortie)) == 2


# --- tiles -------------------------------------------------------------------------------------------------------


def _tile_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _tiles_over(path: Path, z: int) -> list[tuple[int, int, int]]:
    import morecantile

    with rasterio.open(path) as src:
        from rasterio.warp import transform_bounds

        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return [(t.z, t.x, t.y) for t in morecantile.tms.get("WebMercatorQuad").tiles(w, s, e, n, [z])]


def test_split_ortho_mosaics_seamlessly(session: Session, settings: Settings, tmp_path: Path):
    cache = tmp_path / "cache"
    for part in SPLIT:
        ingest(session, settings, part, captured_on=date(2020, 1, 1))
    z = 20
    whole_store = tmp_path / "whole"
    from imagery.ingest import _to_cog

    _to_cog(PIX4D, whole_store / "whole.tif")
    whole = [tiles.Source(0, whole_store / "whole.tif", (1, 2, 3))]
    compared = 0
    for _z, x, y in _tiles_over(PIX4D, z):
        mosaic = _tile_array(tiles.tile_png(session, z, x, y, store_dir=settings.imagery.store_dir, cache_dir=cache))
        direct = _tile_array(tiles.render(whole, z, x, y))
        if not direct[..., 3].any():
            continue
        same_alpha = (mosaic[..., 3] > 0) == (direct[..., 3] > 0)
        assert same_alpha.mean() > 0.995  # the seams between the four parts leave no gap
        both = (mosaic[..., 3] > 0) & (direct[..., 3] > 0)
        diff = np.abs(mosaic[both][:, :3].astype(int) - direct[both][:, :3].astype(int))
        assert diff.mean() < 1.0
        compared += 1
    assert compared >= 4


def test_newest_on_top_transparent_outside_and_cached(session: Session, settings: Settings, tmp_path: Path):
    store, cache = settings.imagery.store_dir, tmp_path / "cache"
    center = (108.95, 34.42)
    old = write_ortho(tmp_path / "old.tif", crs="EPSG:4547", center_lonlat=center, size_px=(400, 400),
                      resolution_m=0.5, seed=1)  # fmt: skip
    ingest(session, settings, old, captured_on=date(2022, 1, 1))
    [(z, x, y)] = [t for t in _tiles_over(tmp_path / "old.tif", 22) if t == _center_tile(center, 22)]
    old_png = tiles.tile_png(session, z, x, y, store_dir=store, cache_dir=cache)
    assert _tile_array(old_png)[..., 3].min() == 255
    assert list(cache.rglob("*.png")), "the tile was written to the cache"
    # a newer, solid red orthophoto over the same spot covers the old one on the tile; the cache key changes
    red = tmp_path / "red.tif"
    with rasterio.open(tmp_path / "old.tif") as src:
        profile = src.profile
    with rasterio.open(red, "w", **profile) as dst:
        dst.write(np.stack([np.full((400, 400), v, np.uint8) for v in (230, 20, 20)]))
    ingest(session, settings, red, captured_on=date(2023, 6, 1))
    new = _tile_array(tiles.tile_png(session, z, x, y, store_dir=store, cache_dir=cache))
    assert (new[..., 0] == 230).mean() > 0.99 and (new[..., 1] == 20).mean() > 0.99
    # served from the cache: the same bytes even with the COGs gone
    first = tiles.tile_png(session, z, x, y, store_dir=store, cache_dir=cache)
    shutil.rmtree(store)
    assert tiles.tile_png(session, z, x, y, store_dir=store, cache_dir=cache) == first
    # nowhere near any imagery, or not a tile at all: the transparent tile
    assert tiles.tile_png(session, 12, 100, 100, store_dir=store, cache_dir=cache) == tiles.TRANSPARENT_PNG
    assert tiles.tile_png(session, 3, 99, 0, store_dir=store, cache_dir=cache) == tiles.TRANSPARENT_PNG
    assert _tile_array(tiles.TRANSPARENT_PNG)[..., 3].max() == 0


def _center_tile(lonlat: tuple[float, float], z: int) -> tuple[int, int, int]:
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(lonlat[0], lonlat[1], z)
    return (t.z, t.x, t.y)


# --- the command line --------------------------------------------------------------------------------------------

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OUTFALLS_")}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outfalls", *args], capture_output=True, text=True,
                          env={**BASE_ENV, **env}, timeout=300, check=False)  # fmt: skip


@pytest.fixture
def cli_env(clone_db: Callable[[str], str], tmp_path: Path) -> dict[str, str]:
    return {"OUTFALLS_DATABASE_URL": clone_db("cli_imagery"), "OUTFALLS_DATA_DIR": str(tmp_path / "data")}


def test_cli_ingest_json_contract_and_exit_status(cli_env: dict[str, str], tmp_path: Path):
    out = _run("imagery", "ingest", str(PIX4D), str(NOT_GEO), str(tmp_path / "missing.tif"), "--sortie", "S-1",
               "--captured", "2023-05-06", "--json", env=cli_env)  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    good, bad, missing = json.loads(out.stdout)
    keys = {"file", "id", "status", "crs", "resolution_m", "footprint_area_m2", "footprint_wkt_4326", "message"}
    assert set(good) == set(bad) == keys
    assert good["status"] == "ingested" and good["crs"] == "EPSG:32750" and good["id"] > 0
    assert good["footprint_area_m2"] == pytest.approx(56600, rel=0.01)
    assert good["footprint_wkt_4326"].startswith("MULTIPOLYGON")
    assert (bad["status"], bad["id"]) == ("refused", None) and "not georeferenced" in bad["message"]
    assert missing["status"] == "refused" and "does not exist" in missing["message"]
    again = _run("imagery", "ingest", str(PIX4D), "--json", env=cli_env)
    assert again.returncode == 0
    assert json.loads(again.stdout)["status"] == "exists" and json.loads(again.stdout)["id"] == good["id"]
    plain = _run("imagery", "ingest", str(NOT_GEO), env=cli_env)
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.strip().count("\n") == 0 and "not georeferenced" in plain.stderr
    flown = _run("imagery", "flights", "--json", env=cli_env)
    assert [s["code"] for s in json.loads(flown.stdout)["sorties"]] == ["S-1"]
    cells = _run("imagery", "cells", "--basin", "HH", "--json", env=cli_env)  # Bali is in no Chinese basin
    assert cells.returncode == 0 and json.loads(cells.stdout) == {"basin": "HH", "created": 0, "updated": 0}
    unknown = _run("imagery", "cells", "--basin", "XX", env=cli_env)
    assert unknown.returncode == 1 and "no basin" in unknown.stderr and "Traceback" not in unknown.stderr
    report = _run("imagery", "yield", "--json", env=cli_env)
    assert report.returncode == 0 and set(json.loads(report.stdout)) == {"basins", "sorties"}


def _damaged_images(folder: Path) -> list[Path]:
    """Files that look like GeoTIFFs but that GDAL or PROJ cannot use, as crews and contractors deliver them."""
    from rasterio.crs import CRS

    data = PIX4D.read_bytes()
    truncated, corrupt = folder / "truncated.tif", folder / "corrupt.tif"
    truncated.write_bytes(data[: len(data) // 3])
    middle = bytearray(data)
    middle[len(data) // 2 : len(data) // 2 + 5000] = b"\xff" * 5000
    corrupt.write_bytes(bytes(middle))
    made = [truncated, corrupt]
    for name, crs, transform in (
        ("zero_pixel.tif", "EPSG:32650", rasterio.Affine(0, 0, 500000, 0, 0, 3800000)),  # cannot be inverted
        ("off_the_earth.tif", "EPSG:4326", rasterio.Affine(1, 0, 500000, 0, -1, 3800000)),  # metres read as degrees
        ("local.tif", CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1]]'), rasterio.Affine(1, 0, 0, 0, -1, 100)),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rasterio warns of the very transforms these files are made of
            with rasterio.open(folder / name, "w", driver="GTiff", width=32, height=32, count=3, dtype="uint8",
                               crs=crs, transform=transform) as out:  # fmt: skip
                out.write(np.full((3, 32, 32), 100, np.uint8))
        made.append(folder / name)
    return made


def test_damaged_images_are_refused_one_by_one_and_the_rest_ingested(cli_env: dict[str, str], tmp_path: Path):
    damaged = _damaged_images(tmp_path)
    out = _run("imagery", "ingest", *map(str, damaged), str(PIX4D), "--json", env=cli_env)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    results = json.loads(out.stdout)
    assert [r["status"] for r in results] == ["refused"] * len(damaged) + ["ingested"]
    for r in results[:-1]:
        assert "could not be read as an orthophoto" in r["message"] or "not an image" in r["message"], r
        assert "previous exception" not in r["message"]


def test_each_thread_keeps_its_cogs_open_and_renders_the_same_tiles(
    session: Session, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from concurrent.futures import ThreadPoolExecutor

    src = write_ortho(tmp_path / "o.tif", crs="EPSG:4547", center_lonlat=(108.95, 34.42), size_px=(600, 600),
                      resolution_m=0.3, seed=5)  # fmt: skip
    result = ingest(session, settings, src)
    photo = session.get(Orthophoto, result.id)
    assert photo is not None
    sources = [tiles.Source(photo.id, settings.imagery.store_dir / photo.cog_path, (1, 2, 3))]
    over = _tiles_over(src, 20)
    opened: list[str] = []
    real_reader = tiles.Reader

    def counting_reader(path: str) -> tiles.Reader:
        opened.append(path)
        return real_reader(path)

    monkeypatch.setattr(tiles, "Reader", counting_reader)
    one_by_one = [tiles.render(sources, z, x, y) for z, x, y in over]
    assert len(over) > 4 and len(opened) <= 1  # the COG stays open from tile to tile (maybe from an earlier test)
    with ThreadPoolExecutor(4) as pool:
        at_once = list(pool.map(lambda t: tiles.render(sources, *t), over * 3))
    assert at_once == one_by_one * 3
    assert len(opened) <= 1 + 4  # once per thread at most
    assert any(_tile_array(png)[..., 3].any() for png in one_by_one)
