"""Imagery tiles render in parallel: the affine warning rasterio raises on every reprojection is silenced once,
narrowly, so no render touches the process-wide warning filters or waits for another.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from imagery import tiles

SCRIPT = textwrap.dedent(
    """
    import sys, threading, warnings
    from pathlib import Path
    from concurrent.futures import ThreadPoolExecutor

    import morecantile
    from imagery import tiles
    from imagery.synthetic import write_ortho

    assert not hasattr(tiles, "_WARNINGS_LOCK"), "renders still take turns"
    src = write_ortho(Path(sys.argv[1]) / "o.tif", crs="EPSG:4547", center_lonlat=(108.94, 34.40),
                      size_px=(512, 512), resolution_m=0.2, seed=1)
    t = morecantile.tms.get("WebMercatorQuad").tile(108.94, 34.40, 19)
    source = tiles.Source(1, src, (1, 2, 3))
    started = threading.Barrier(8)

    def render(_):
        started.wait()  # all eight at once
        return tiles.render([source], t.z, t.x, t.y)

    with ThreadPoolExecutor(8) as pool:
        pngs = list(pool.map(render, range(8)))
    assert len(set(pngs)) == 1 and pngs[0] != tiles.TRANSPARENT_PNG
    # narrow: the same warning from anywhere but rasterio is still an error
    try:
        warnings.warn("Use `@` matmul instead of `*` mul operator for matrix multiplication",
                      PendingDeprecationWarning)
    except PendingDeprecationWarning:
        print("ok")
    """
)


def test_tiles_render_in_parallel_with_warnings_as_errors_and_only_rasterios_affine_warning_silenced(
    tmp_path: Path,
) -> None:
    # a fresh interpreter, warnings as errors from the start, as a server started with -W error would be
    done = subprocess.run([sys.executable, "-W", "error", "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, cwd=Path(tiles.__file__).parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
