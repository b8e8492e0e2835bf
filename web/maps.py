"""Map page helpers: configuration passed to the vendored Leaflet scripts as inert JSON (no inline script,
so the Content Security Policy needs no ``unsafe-inline``).
"""

from __future__ import annotations

import json
from typing import Any

from outfalls.config import Settings


def script_json(value: Any) -> str:
    """JSON safe to embed in ``<script type="application/json">`` (no ``</script>`` break-out)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def basemap(settings: Settings) -> dict[str, str] | None:
    """The optional intranet basemap for the map scripts (``web/static/js/basemap.js``): tile URL and attribution."""
    m = settings.map
    return {"url": m.basemap_url, "attribution": m.basemap_attribution} if m.basemap_url else None
