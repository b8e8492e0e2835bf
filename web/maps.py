"""Map page helpers: configuration passed to the vendored Leaflet scripts as inert JSON (no inline script,
so the Content Security Policy needs no ``unsafe-inline``).
"""

from __future__ import annotations

import json
from typing import Any


def script_json(value: Any) -> str:
    """JSON safe to embed in ``<script type="application/json">`` (no ``</script>`` break-out)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
