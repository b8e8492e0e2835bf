"""Security headers on every response: a Content Security Policy with no inline scripts, no sniffing,
no framing; logged-in pages are not stored by any cache.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from outfalls.config import Settings
from web.forms.params import _refuse_nul


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

    @app.before_request
    def refuse_nul_characters() -> None:
        # PostgreSQL text cannot hold a NUL character and nobody types one: a query parameter or form field with
        # one is refused here, once for every route, as that field's mistake (files are read by their readers)
        for name, value in request.args.items(multi=True):
            _refuse_nul(name, name)
            _refuse_nul(value, name)

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        cache = response.cache_control
        if cache.private:
            cache.public = False  # send_file's max_age makes a response public; a private one must not say both
        if g.get("identity") is not None and "Cache-Control" not in response.headers:
            cache.no_store = True  # a logged-in page holds what only this user may see: no shared or disk cache
        return response
