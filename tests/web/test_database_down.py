"""While the database cannot be reached, every page, the JSON API and the OGC API answer 503 "database unavailable"
(with their own kind of body), never 500 "internal error"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outfalls.config import load_settings
from web.auth import SESSION_COOKIE


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nobody listens on it once the probe is closed


@pytest.fixture(params=["socket_dir_without_server", "closed_port"])
def app_without_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    from web import create_app

    if request.param == "closed_port":
        url = f"postgresql+psycopg://outfalls@127.0.0.1:{_closed_port()}/outfalls?connect_timeout=5"
    else:
        empty = tmp_path / "sock"
        empty.mkdir()
        url = f"postgresql+psycopg://outfalls@/outfalls?host={empty}&connect_timeout=5"
    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path / "data")})
    # testing: an error without a handler would propagate out of the client, so a 500 cannot pass unnoticed
    app = create_app(settings, testing=True)
    yield app


@pytest.fixture
def signed_in(app_without_database: Flask) -> FlaskClient:
    client = app_without_database.test_client()
    client.set_cookie(SESSION_COOKIE, "a-session-from-before-the-database-went-down")
    return client


@pytest.mark.parametrize("path", ["/", "/outfalls", "/outfalls/1", "/dashboard"])
def test_pages_say_the_database_is_unavailable(signed_in: FlaskClient, path: str):
    response = signed_in.get(path)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "暂时无法连接数据库" in html  # the Chinese page says it in words, with no English detail line
    assert "internal" not in html.lower()


@pytest.mark.parametrize("path", ["/api/outfalls", "/api/outfalls/1/monitoring"])
def test_the_json_api_says_the_database_is_unavailable(app_without_database: Flask, path: str):
    response = app_without_database.test_client().get(path, headers={"Authorization": "Bearer some-token"})
    assert response.status_code == 503
    assert response.get_json()["error"] == "database_unavailable"


def test_the_ogc_api_says_the_service_is_unavailable(app_without_database: Flask):
    response = app_without_database.test_client().get(
        "/ogc/collections/outfalls/items", headers={"Authorization": "Bearer some-token"}
    )
    assert response.status_code == 503
    assert response.get_json(force=True)["code"] == "ServiceUnavailable"


def test_logging_in_says_the_database_is_unavailable(app_without_database: Flask):
    client = app_without_database.test_client()
    client.set_cookie("outfalls_csrf", "token")
    response = client.post("/login", data={"login": "someone", "password": "secret", "csrf_token": "token"})
    assert response.status_code == 503
