"""The error tree of the domain: each error has a stable ``code`` and no knowledge of HTTP.

The web layer maps these classes to statuses once (``web/errors.py``); the CLI turns them into
``click.ClickException``.
"""

from __future__ import annotations


class OutfallsError(Exception):
    """Base of every error a user can cause or see; ``code`` is stable across releases."""

    code = "error"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return self.message


class NotFound(OutfallsError):
    """The record does not exist (or is outside the caller's scope)."""

    code = "not_found"


class InvalidInput(OutfallsError):
    """A value given by the user is not acceptable; ``params`` names the field and value."""

    code = "invalid_input"


class StaleEdit(OutfallsError):
    """The record changed since the caller read it."""

    code = "stale_edit"


class InvalidTransition(OutfallsError):
    """The requested state change is not allowed from the current state."""

    code = "invalid_transition"


class PermissionDenied(OutfallsError):
    """The caller may not do this."""

    code = "permission_denied"


class Conflict(OutfallsError):
    """The change conflicts with existing data (a duplicate code, say)."""

    code = "conflict"


class DatabaseUnavailable(OutfallsError):
    """The database cannot be reached or started."""

    code = "database_unavailable"


class PdfFailed(OutfallsError):
    """Chromium could not print a page to PDF (missing, failed or too slow)."""

    code = "pdf_failed"


class ConfigError(InvalidInput):
    """A configuration key or value is wrong; ``params['key']`` is its dotted name."""

    code = "config_error"


class NotAuthenticated(OutfallsError):
    """No valid login or token; the message never says whether the user exists."""

    code = "not_authenticated"
