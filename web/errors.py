"""One table maps domain errors to HTTP statuses; pages get an HTML error page, ``/api`` a JSON body
``{error, message, details}``. Unexpected errors are logged with a reference id (and re-raised in tests).
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from outfalls.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutfallsError,
    PermissionDenied,
    StaleEdit,
)

log = logging.getLogger(__name__)

STATUS: dict[type[OutfallsError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    StaleEdit: 409,
    InvalidTransition: 409,
    Conflict: 409,
    PermissionDenied: 403,
    DatabaseUnavailable: 503,
    OutfallsError: 400,
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Upload too large"),
        422: _("Invalid input"),
        500: _("Internal error"),
        503: _("Database unavailable"),
    }


def render_error(err: OutfallsError, status: int) -> ResponseReturnValue:
    """The response for a domain error."""
    if _wants_json():
        return jsonify(error=err.code, message=err.message, details=_jsonable(err.params)), status
    title = _titles().get(status, _("Error"))
    return render_template("errors/error.html", status=status, title=title, message=err.message), status


def _jsonable(params: dict[str, object]) -> dict[str, object]:
    return {k: v if isinstance(v, str | int | float | bool | type(None)) else str(v) for k, v in params.items()}


def render_http_error(err: HTTPException) -> ResponseReturnValue:
    """The response for a routing or protocol error (404, 405 ...)."""
    status = err.code or 500
    message = {404: _("There is no page at this address."), 405: _("This address does not accept that method.")}
    text = message.get(status, err.description or "")
    if _wants_json():
        return jsonify(error=err.name.lower().replace(" ", "_"), message=text, details={}), status
    return render_template(
        "errors/error.html", status=status, title=_titles().get(status, err.name), message=text
    ), status


def render_unexpected(app: Flask, err: Exception) -> ResponseReturnValue:
    """Log an unexpected error with a reference id; in tests, let it propagate."""
    if app.testing:
        raise err
    ref = uuid.uuid4().hex[:12]
    log.exception("unexpected error, reference %s", ref)
    message = _("Something went wrong on our side. Please quote reference %(ref)s to your administrator.", ref=ref)
    if _wants_json():
        return jsonify(error="internal_error", message=message, details={"reference": ref}), 500
    return render_template("errors/error.html", status=500, title=_titles()[500], message=message), 500


def register_error_handlers(app: Flask) -> None:
    """Register the handlers, one loop over the table."""
    for exc_type, status in STATUS.items():
        app.register_error_handler(exc_type, partial(render_error, status=status))
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, partial(render_unexpected, app))
