"""Security headers on every response: a Content Security Policy with no inline scripts, no sniffing,
no framing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

from outfalls.config import Settings


def init_security(app: Flask, settings: Settings) -> None:
    """Add the headers; an intranet basemap host configured in ``map.basemap_url`` is allowed for images."""
    img = "'self' data: blob:"
    if settings.map.basemap_url:
        parts = urlsplit(settings.map.basemap_url.replace("{", "").replace("}", ""))
        img += f" {parts.scheme}://{parts.netloc}"
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
