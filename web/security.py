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

    always = (
        ("content-security-policy", "Content-Security-Policy", csp),
        ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
        ("x-frame-options", "X-Frame-Options", "DENY"),
        ("referrer-policy", "Referrer-Policy", "same-origin"),
    )

    @app.after_request
    def add_headers(response: Response) -> Response:
        # The headers a response has are listed once: Werkzeug's lookups raise (and catch) an exception for
        # every header missing, which most of these are. Cache-Control is read as text for the same reason: its
        # cache_control object parses and writes the header again on every change.
        headers = response.headers
        said = {name.lower(): value for name, value in headers.items()}
        headers.extend([(name, value) for key, name, value in always if key not in said])
        cache = said.get("cache-control")
        if cache is None:
            if g.get("identity") is not None:
                headers.add("Cache-Control", "no-store")  # a logged-in page holds what only this user may see
        elif "public" in cache and "private" in cache:
            response.cache_control.public = False  # send_file's max_age makes a response public; not a private one
        return response
