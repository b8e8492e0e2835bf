"""The Flask application: ``create_app(settings)`` builds it; nothing is read at import time."""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from outfalls.config import Settings, load_settings
from outfalls.db.engine import database_url, make_engine, make_sessionmaker
from outfalls.db.notify import CATALOGUE, ChangeCache, listener_for
from outfalls.db.replicas import replica_urls
from outfalls.db.routing import ReplicaRouter
from outfalls.progress import kept_tile_bytes


def tile_cache_for(settings: Settings, sessions: sessionmaker[Session]) -> ChangeCache[Hashable, bytes]:
    """The app's tile cache, told of changes by the process's listener on the primary. Sessions bound to one
    connection (a transaction the caller rolls back) share none: what they write is never committed, so no notice
    of it is ever sent.
    """
    bind = sessions.kw.get("bind")
    if not isinstance(bind, sa.Engine):
        return ChangeCache(None, CATALOGUE, 0)
    url = bind.url.render_as_string(hide_password=False)
    return ChangeCache(listener_for(url), CATALOGUE, settings.progress.tile_cache_mb * 2**20, sizeof=kept_tile_bytes)


def replica_router(settings: Settings, primary: sa.Engine) -> ReplicaRouter | None:
    """Reads' router over the configured and local replicas, or None when there are none."""
    urls = replica_urls(settings)
    if not urls:
        return None
    # A short connect timeout: a replica that went away costs a moment, then it is skipped for a few seconds.
    engines = [make_engine(url, connect_args={"application_name": "outfalls-read", "connect_timeout": 2})
               for url in urls]  # fmt: skip
    return ReplicaRouter(primary, engines, max_lag_s=settings.database.replica_max_lag_s)


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    testing: bool = False,
    config: dict[str, Any] | None = None,
) -> Flask:
    """Build the web application.

    Args:
        settings: the product settings; loaded from the environment when None.
        sessions: a session factory (tests bind it to their connection); by default one for the
            configured database.
        testing: Flask testing mode (errors propagate instead of becoming 500 pages).
        config: extra Flask configuration.
    """
    from web import errors, i18n
    from web.api import field as field_api
    from web.api import json as json_api
    from web.api import tiles as tiles_api
    from web.api.ogc import routes as ogc_api
    from web.auth import init_auth
    from web.db import init_db, route_reads
    from web.jobs import init_jobs
    from web.security import init_security
    from web.views import (
        admin,
        auth,
        cases,
        catalogue,
        field,
        imagery,
        progress,
        public,
        registers,
        reports,
        survey,
        survey_tracks,
    )
    from web.words import init_words

    settings = settings or load_settings(env=os.environ)
    app = Flask(__name__)
    app.config.update(
        TESTING=testing,
        JSON_SORT_KEYS=False,
        SECRET_KEY=os.urandom(32).hex(),
        MAX_CONTENT_LENGTH=settings.upload.max_bytes,  # a larger request body is refused before it is read
        # Without a public address, links are built from the Host header: then only the trusted names answer.
        TRUSTED_HOSTS=None if settings.server.public_url else list(settings.server.trusted_hosts) or None,
    )
    app.config.update(config or {})
    if settings.server.proxies:  # the client's address and scheme as the reverse proxies in front forward them
        n = settings.server.proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.json = json_api.JSONProvider(app)
    app.json.ensure_ascii = False
    app.extensions["outfalls.settings"] = settings
    router = None
    if sessions is None:
        primary = make_engine(database_url(settings), connect_args={"application_name": "outfalls"})
        sessions = make_sessionmaker(primary)
        router = replica_router(settings, primary)
    init_db(app, sessions, router)
    app.extensions["outfalls.tile_cache"] = tile_cache_for(settings, sessions)
    i18n.init_app(app, settings)
    init_words(app)
    errors.register_error_handlers(app)
    init_security(app, settings)
    app.register_blueprint(catalogue.bp)
    app.register_blueprint(json_api.bp)
    app.register_blueprint(field_api.bp)
    app.register_blueprint(field.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(survey.bp)
    init_jobs(app, sessions, inline=testing)
    app.register_blueprint(progress.bp)
    app.register_blueprint(progress.api)
    app.register_blueprint(tiles_api.bp)
    app.register_blueprint(survey_tracks.bp)
    app.register_blueprint(imagery.bp)
    app.register_blueprint(registers.bp)
    app.register_blueprint(ogc_api.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(reports.bp)
    init_auth(app)
    route_reads(app)
    return app
