"""The error tree of the domain: each error has a stable ``code`` and no knowledge of HTTP.

The web layer maps these classes to statuses once (``web/errors.py``); the CLI turns them into
``click.ClickException``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as _field


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


@dataclass(frozen=True, slots=True)
class FieldError:
    """One mistake in one field: ``reason`` is a stable key a user interface words in its own language, with
    ``params`` to fill in; ``message`` is the English wording.
    """

    field: str
    message: str
    reason: str = "invalid"
    params: dict[str, str | int | float] = _field(default_factory=dict)


class InvalidInput(OutfallsError):
    """A value given by the user is not acceptable; ``params`` names the field and value, and ``errors`` lists
    every field error when a form or a record has several, so the user can mend them all at once.
    """

    code = "invalid_input"

    @classmethod
    def of(cls, errors: Sequence[FieldError]) -> InvalidInput:
        """One error for several field errors; its message and ``field`` are the first one's."""
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return cls(first.message + more, field=first.field, errors=[asdict(e) for e in errors])

    @property
    def field_errors(self) -> list[FieldError]:
        """Every field error: the ``errors`` listed, or the one ``field`` named (``""``: the input as a whole)."""
        listed = self.params.get("errors")
        if isinstance(listed, list):
            return [FieldError(**e) for e in listed]
        name = self.params.get("field")
        reason = self.params.get("reason")
        return [FieldError(str(name or ""), self.message, str(reason or "invalid"))]


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
