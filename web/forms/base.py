"""The HTML form mechanism: a ``Form`` per form reads it into the domain's typed input or one ``InvalidInput``
listing every mistake; a refused form is shown again as a ``PostedForm``, each mistake next to its field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage, MultiDict

from outfalls import clock
from outfalls.errors import FieldError, InvalidInput
from web.db import MAX_ID
from web.forms.params import MAX_FILE_NAME_BYTES

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


# -- HTML forms ---------------------------------------------------------------------------------------------------
# A small class per form rather than Flask-WTF/WTForms: the forms are few, their typed inputs are the domain's own
# dataclasses (a second schema of every field would have to be kept in step with them), the domain checks the
# rules and names the fields itself, and CSRF is already checked for every unsafe request in web/auth.py (each
# form carries the ``csrf_token`` field; refused forms are shown again with a fresh one).

# How each mistake reads on a page, by the stable reason the form or the domain gives; a reason not listed here
# shows the domain's own (English) message.
REASONS = {
    "invalid": _l("This value is not valid."),
    "required": _l("Fill this in."),
    "number": _l("Enter a number."),
    "whole_number": _l("Enter a whole number."),
    "at_least": _l("Enter a number of at least %(low)s."),
    "range": _l("Enter a number from %(low)s to %(high)s."),
    "date": _l("Enter a date (YYYY-MM-DD)."),
    "moment": _l("Enter a date and time."),
    "time_zone": _l("Enter a date and time."),
    "choice": _l("Choose one of the options."),
    "future": _l("This date is in the future."),
    "technique": _l("Technical tracing names the technique (pipe robot, dye test, fingerprinting …)."),
    "listed_twice": _l("Listed twice."),
    "credit_code": _l(
        "Not a valid unified social credit code: 18 characters with a correct check character (GB 32100-2015)."
    ),
    "percent": _l("Enter a percentage from 0 to 100."),
    "shares_over_100": _l("The shares add up to more than 100 %."),
    "one_main_party": _l("Only one party can be the main responsible party."),
    "main_party": _l("Mark one party as the main responsible party."),
    "government_reason": _l("Say why no responsible party could be determined."),
    "government_party": _l("With the government default, name only the local government that answers for it."),
    "not_possible_reason": _l("Say why monitoring was not possible."),
    "flow_value": _l("A measured flow needs a value of at least 0 m³/s."),
    "flow_not_measured": _l("A flow value needs the flow state “Flow measured”."),
    "no_water": _l("An outfall that is dry or could not be monitored has no water to sample: leave the results empty."),
    "outside_range": _l("Outside the plausible range %(low)s–%(high)s."),
    "unit": _l("Recorded in %(unit)s."),
    "lab": _l("A laboratory result names the laboratory."),
    "no_remediation_reason": _l("Say why no remediation is needed."),
    "measures": _l("A remediation plan lists its measures."),
    "deadline_before_plan": _l("The deadline is before the plan."),
    "merge_target": _l("A merge names the outfall that takes the discharge."),
    "merge_itself": _l("An outfall cannot be merged into itself."),
    "merge_only": _l("Only a merge names a receiving outfall."),
    "what_was_done": _l("Say what was done."),
    "before_plan": _l("Completion is dated before the plan."),
    "no_selection": _l("Select at least one outfall."),
    "selection_too_large": _l("Too many outfalls at once: narrow the filters."),
    "not_an_officer": _l("Choose an active case officer."),
    "deadline_before_day": _l("The deadline is before the day it is set."),
    "merge_in_bulk": _l("A merge names the receiving outfall of each case: plan it on the case page."),
    "file_name": _l("The file name is too long: rename the file to at most %(high)s bytes."),
    "wrong_password": _l("The current password is wrong."),
    "passwords_differ": _l("The two new passwords differ."),
    "weak_password": _l("A password needs at least %(low)s characters, and more than three different ones."),
    "login": _l("A user name is 1–64 characters without spaces, ':' or slashes."),
    "login_taken": _l("This user name is taken."),
    "no_role": _l("Give the user at least one role."),
    "no_area": _l("Choose at least one administrative area, or national scope."),
    "unknown_area": _l("Unknown administrative area."),
    "unknown_basin": _l("Unknown basin."),
    "share": _l("Enter the share as a percentage from 0 to 100, like 80."),
    "no_scope_code": _l("A target for the whole deployment takes no code."),
    "unknown_scope": _l("No basin, river or administrative area has this code."),
    "outside_region": _l("The position is outside the area this service covers."),
    "too_many": _l("At most %(high)s photos."),
    "too_large": _l("%(name)s is larger than %(high)s MB."),
    "not_photo": _l("%(name)s is not a JPEG or PNG photo that can be read."),
    "too_long": _l("Too long: at most %(high)s."),
    "ambiguous": _l("Several outfalls carry this code: give the national code."),
    "code_rule": _l("The code does not follow the coding rule of the deployment."),
    "conflicting_resend": _l("This record was received before with other content; the first one is kept. Save the "
                             "changed record as a new one."),
    "photo_missing": _l("A photo of the record has not arrived yet: send the photos again, then the record."),
    "stray_evidence": _l("A chosen file is not evidence of this outfall."),
    "too_many_pixels": _l("%(name)s has more than %(high)s million pixels: send a smaller copy of the photo."),
}


def wording(error: FieldError) -> str:
    """A field error in the user's language."""
    text = REASONS.get(error.reason)
    if text is None:
        return error.message
    words = str(text)
    if not error.params:
        return error.message if "%(" in words else words  # words that need a figure this refusal did not give
    try:
        return words % error.params
    except (KeyError, TypeError, ValueError):
        return error.message


class PostedForm:
    """A refused form as its page shows it again: which form, what was typed, and the mistakes by field.

    ``error(name)`` hands out the mistake of a field once, so ``rest()`` (placed by the submit button) shows the
    mistakes that have no field of their own on the page.
    """

    def __init__(
        self, form_id: str | None = None, data: MultiDict[str, str] | None = None,
        errors: Mapping[str, str] | None = None, dropped_files: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.form_id = form_id
        self.data: MultiDict[str, str] = data if data is not None else MultiDict()
        self.errors = dict(errors or {})
        self.dropped_files = dropped_files
        self._shown: set[str] = set()

    def of(self, form_id: str) -> PostedForm:
        """This, when it is the form ``form_id``; an empty one otherwise (each form of a page asks for itself)."""
        return self if form_id == self.form_id else PostedForm()

    @property
    def is_posted(self) -> bool:
        """Whether this form was sent and refused."""
        return self.form_id is not None

    def value(self, name: str, default: object = "") -> str:
        """What was typed into ``name`` (``default`` when the form was not sent)."""
        if not self.is_posted:
            return "" if default is None else str(default)
        return self.data.get(name, "")

    def values(self, name: str) -> list[str]:
        """Every value sent for ``name`` (ticked boxes)."""
        return self.data.getlist(name)

    def checked(self, name: str, default: bool = False) -> bool:
        """Whether a checkbox was ticked (``default`` when the form was not sent)."""
        return name in self.data if self.is_posted else default

    def has_error(self, name: str) -> bool:
        """Whether ``name`` has a mistake."""
        return name in self.errors

    @property
    def first_error(self) -> str | None:
        """The first field, in the form's order, with a mistake (the one to focus)."""
        return next((k for k in self.data if k in self.errors), None)

    def error(self, name: str) -> str | None:
        """The mistake of ``name``, once."""
        if name in self._shown:
            return None
        self._shown.add(name)
        return self.errors.get(name)

    def rest(self) -> list[str]:
        """The mistakes not shown next to a field yet."""
        left = [text for name, text in self.errors.items() if name not in self._shown]
        self._shown.update(self.errors)
        return left


class Form(Generic[T]):
    """One HTML form read into the domain's typed input ``T``, collecting every mistake instead of the first.

    A subclass sets ``form_id`` (the ``id`` of its ``<form>`` on the page), reads its fields in ``read()`` with the
    readers below (each gives a value of the right type, and records a mistake when the field is wrong), and says
    in ``field_of`` which input a field named by the domain (``parties[0].credit_code``) stands for.
    """

    form_id: ClassVar[str] = "form"
    secrets: ClassVar[tuple[str, ...]] = ()  # fields never shown again (passwords): a refused form shows them empty

    def __init__(self, data: MultiDict[str, str], files: MultiDict[str, FileStorage] | None = None) -> None:
        self.data = data
        self.files: MultiDict[str, FileStorage] = files if files is not None else MultiDict()
        self.problems: list[FieldError] = []

    def read(self) -> T:
        """The typed input, built from the fields (meaningless when ``problems`` is not empty)."""
        raise NotImplementedError

    def parse(self) -> T:
        """The typed input.

        Raises:
            InvalidInput: every mistake of the form, in ``field_errors``.
        """
        value = self.read()
        self._check_file_names()
        if self.problems:
            raise InvalidInput.of(self.problems)
        return value

    def field_of(self, name: str) -> str:
        """The input a field the domain names stands for (the same name unless a form says otherwise)."""
        return name

    def page_form_id(self) -> str:
        """The ``id`` of the form on the page it is shown again on."""
        return self.form_id

    def refused(self, err: InvalidInput) -> PostedForm:
        """The form as its page shows it again, with the mistakes of ``err`` next to their fields."""
        errors: dict[str, list[str]] = {}
        for e in err.field_errors:
            errors.setdefault(self.field_of(e.field), []).append(wording(e))
        dropped = tuple(name for name, f in self.files.items(multi=True) if f and f.filename)
        data = MultiDict([(k, "" if k in self.secrets else v) for k, v in self.data.items(multi=True)])
        return PostedForm(self.page_form_id(), data, {k: " ".join(v) for k, v in errors.items()}, dropped)

    def _check_file_names(self) -> None:
        for name, f in self.files.items(multi=True):
            filename = f.filename or ""
            if len(filename.encode("utf-8")) > MAX_FILE_NAME_BYTES:
                self.problem(name, f"the file name {filename[:40]!r}… is longer than {MAX_FILE_NAME_BYTES} bytes",
                             "file_name", high=MAX_FILE_NAME_BYTES)  # fmt: skip
            elif "\x00" in filename:
                self.problem(name, "the file name contains a NUL character", "invalid")

    # -- readers: the value, or a stand-in of the right type with the mistake recorded
    def problem(self, name: str, message: str, reason: str, **params: str | int | float) -> None:
        """Record a mistake in ``name`` (once: a field read twice is wrong once)."""
        error = FieldError(name, message, reason, params)
        if error not in self.problems:
            self.problems.append(error)

    def text(self, name: str) -> str | None:
        """A text field, stripped; None when empty (or holding a NUL character, which is a mistake)."""
        value = (self.data.get(name) or "").strip()
        if "\x00" in value:
            self.problem(name, f"{name} contains a NUL character", "invalid")
            return None
        return value or None

    def number(self, name: str) -> float | None:
        """An optional decimal number (a finite one: NaN and infinities are no measurement)."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.problem(name, f"{name} must be a number, not {raw!r}", "number")
            return None
        return value

    def whole(self, name: str, default: int, *, minimum: int = 0, maximum: int = MAX_ID) -> int:
        """A whole number within bounds (``default`` when empty); at most a database integer (ids, versions)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problem(name, f"{name} must be a whole number, not {raw!r}", "whole_number")
            return default
        if value > MAX_ID:  # no id or version is that large, and the database could not compare it
            self.problem(name, f"{name} must be at most {MAX_ID}, not {raw}", "invalid")
        elif value < minimum and maximum == MAX_ID:
            self.problem(name, f"{name} must be at least {minimum}", "at_least", low=minimum)
        elif not minimum <= value <= maximum:
            self.problem(name, f"{name} must be between {minimum} and {maximum}", "range", low=minimum,
                         high=maximum)  # fmt: skip
        else:
            return value
        return default

    def day(self, name: str) -> date:
        """A required ``YYYY-MM-DD`` date."""
        value = self.optional_day(name)
        if value is None and not any(p.field == name for p in self.problems):
            self.problem(name, f"{name} is required", "required")
        return value or date.min

    def optional_day(self, name: str) -> date | None:
        """An optional ``YYYY-MM-DD`` date."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return clock.parse_day(raw, field=name)
        except InvalidInput as err:
            self.problem(name, err.message, "date")
            return None

    def moment(self, name: str) -> datetime:
        """A required date and time; one typed without a zone is local (programme) time."""
        raw = self.text(name)
        try:
            moment = datetime.fromisoformat(raw or "")
        except ValueError:
            if raw is None:
                self.problem(name, f"{name} is required", "required")
            else:
                self.problem(name, f"{name} must be a date and time (YYYY-MM-DDTHH:MM), not {raw!r}", "moment")
            return datetime.min.replace(tzinfo=UTC)
        return moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())

    def choice(self, enum: type[E], name: str, default: E | None = None) -> E:
        """One of ``enum``'s values (``default`` when empty, if there is one)."""
        raw = self.text(name)
        if raw is None and default is not None:
            return default
        try:
            return enum(raw or "")
        except ValueError:
            self.problem(name, f"{name}: choose one of {', '.join(e.value for e in enum)}", "choice")
            return default if default is not None else next(iter(enum))

    def flag(self, name: str) -> bool:
        """A checkbox."""
        return self.data.get(name) in ("on", "true", "1", "yes")

    def uploads(self, name: str) -> list[FileStorage]:
        """The files chosen in a file field (none when nothing was chosen)."""
        return [f for f in self.files.getlist(name) if f and f.filename]

    def version(self) -> int:
        """The version of the outfall the form was filled in against (optimistic concurrency).

        Raises:
            InvalidInput: a version that is no whole number or wider than any version (read after ``parse()``,
                so refused here rather than compared as a stale version).
        """
        version = self.whole("version", 0)
        wrong = [p for p in self.problems if p.field == "version"]
        if wrong:
            raise InvalidInput.of(wrong)
        return version
