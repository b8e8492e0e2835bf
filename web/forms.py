"""Parsing of query strings, forms and JSON bodies into domain values.

A query-string parameter or a JSON body with a bad value raises ``InvalidInput`` naming it, which the error table
turns into a 422. The case officers' HTML forms are read by a ``Form`` each: ``parse()`` gives the domain's typed
input or raises one ``InvalidInput`` listing every mistake, and ``refused(err)`` turns that error (or the domain's
own) into a ``PostedForm`` the page shows again, with each mistake next to its field and what the user typed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from flask import Request, current_app
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage, MultiDict

from outfalls import clock, geo
from outfalls.cases.remediation import PlanInput
from outfalls.cases.sampling import ResultInput, VisitInput
from outfalls.cases.tracing import PartyInput, TraceInput
from outfalls.catalogue.queries import OutfallFilter
from outfalls.config import Settings
from outfalls.errors import FieldError, InvalidInput
from outfalls.types import (
    BBox,
    DischargeState,
    FlowState,
    OutfallStatus,
    RemediationCategory,
    SampleMethod,
    StandardisationItem,
    TraceMethod,
)
from web.db import MAX_ID

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


# The longest file name file systems take (ext4, NTFS, APFS: 255 bytes, or UTF-16 units); a longer one could not
# be saved under its own name by whoever downloads it.
MAX_FILE_NAME_BYTES = 255


def _clean(args: MultiDict[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    _refuse_nul(value, name)
    return value or None


def _refuse_nul(value: str, name: str) -> None:
    """PostgreSQL text cannot hold a NUL character, and nobody types one: refuse it as the field's mistake."""
    if "\x00" in value:
        raise InvalidInput(f"{name} contains a NUL character", field=name, value=value.replace("\x00", "\\0"))


def _finite(value: float, name: str, raw: str) -> float:
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, not {raw!r}", field=name, value=raw, reason="number")
    return value


def parse_filter(args: MultiDict[str, str], *, me: str | None = None) -> OutfallFilter:
    """Filters from ``basin``, ``area``, ``type``, ``status``, ``q``, ``assigned`` (a login, ``me`` or ``none``),
    ``category`` and ``keep``.
    """
    status = _clean(args, "status")
    if status is not None and status not in OutfallStatus.__members__.values():
        choices = ", ".join(s.value for s in OutfallStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of {choices}", field="status", value=status)
    category = _clean(args, "category")
    if category is not None and category not in RemediationCategory.__members__.values():
        choices = ", ".join(c.value for c in RemediationCategory)
        raise InvalidInput(f"unknown category {category!r}; use one of {choices}", field="category", value=category)
    assigned = _clean(args, "assigned")
    return OutfallFilter(
        basin=_clean(args, "basin"),
        area=_clean(args, "area"),
        type_code=_clean(args, "type"),
        status=OutfallStatus(status) if status else None,
        q=_clean(args, "q"),
        assigned_to=(me if assigned == "me" else assigned) if assigned not in (None, "none") else None,
        unassigned=assigned == "none",
        category=RemediationCategory(category) if category else None,
        keep=_clean(args, "keep") in ("1", "on", "true"),
    )


def parse_int(
    args: MultiDict[str, str], name: str, default: int, *, minimum: int = 1, maximum: int = MAX_ID
) -> int:
    """An integer parameter within bounds (at most a database integer: page numbers, ids, versions)."""
    raw = _clean(args, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}", field=name, value=raw) from err
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}, not {value}", field=name, value=raw)
    return value


def parse_paging(args: MultiDict[str, str], settings: Settings) -> tuple[int, int]:
    """``page`` and ``page_size`` with the configured default and maximum."""
    page = parse_int(args, "page", 1)
    size = parse_int(args, "page_size", settings.list.page_size, maximum=settings.list.max_page_size)
    return page, size


def parse_date(args: MultiDict[str, str], name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` parameter."""
    raw = _clean(args, name)
    if raw is None:
        return None
    return clock.parse_day(raw, field=name)


def parse_bbox(args: MultiDict[str, str]) -> BBox | None:
    """``bbox=min_lon,min_lat,max_lon,max_lat`` (CGCS2000 degrees)."""
    raw = _clean(args, "bbox")
    if raw is None:
        return None
    x0, y0, x1, y1 = geo.parse_bbox(raw, field="bbox")
    if x0 > x1:  # the map's own boxes never cross the antimeridian (China lies far from it)
        raise InvalidInput("bbox must be min_lon,min_lat,max_lon,max_lat with min_lon <= max_lon", field="bbox",
                           value=raw)  # fmt: skip
    return (x0, y0, x1, y1)


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
}


def wording(error: FieldError) -> str:
    """A field error in the user's language."""
    text = REASONS.get(error.reason)
    if text is None:
        return error.message
    return str(text) % error.params if error.params else str(text)


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
        return PostedForm(self.page_form_id(), self.data, {k: " ".join(v) for k, v in errors.items()}, dropped)

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
            return enum(raw)
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


class VisitForm(Form[VisitInput]):
    """A monitoring visit: one value field per parameter (``result-<code>``), one method for the visit, photos."""

    form_id = "visit-form"

    def __init__(
        self, data: MultiDict[str, str], files: MultiDict[str, FileStorage] | None = None, *, units: Mapping[str, str]
    ) -> None:
        super().__init__(data, files)
        self.units = units
        self._result_fields: list[str] = []

    def read(self) -> VisitInput:
        """The typed input from the fields."""
        method = self.choice(SampleMethod, "method", SampleMethod.FIELD_QUICK)
        lab = self.text("lab")
        results = []
        for code, unit in self.units.items():
            value = self.number(f"result-{code}")
            if value is not None:
                results.append(ResultInput(code, value, unit, method, lab=lab))
                self._result_fields.append(f"result-{code}")
        oil = self.data.get("oil_film")
        return VisitInput(
            visited_at=self.moment("visited_at"),
            discharge=self.choice(DischargeState, "discharge"),
            flow=self.choice(FlowState, "flow", FlowState.NOT_MEASURED),
            flow_m3s=self.number("flow_m3s"),
            not_possible_reason=self.text("not_possible_reason"),
            colour=self.text("colour"),
            turbidity=self.text("turbidity"),
            odour=self.text("odour"),
            oil_film=None if oil in (None, "", "unknown") else oil in ("yes", "true", "on"),
            notes=self.text("notes"),
            results=tuple(results),
        )

    def field_of(self, name: str) -> str:
        """The input a field the domain names stands for."""
        if name.startswith("results[") and "]" in name:
            index, _dot, part = name[len("results[") :].partition("]")
            if index.isdigit() and int(index) < len(self._result_fields):
                return "lab" if part == ".lab" else self._result_fields[int(index)]
        return name


class LimitForm(Form[tuple[str | None, str | None]]):
    """The applicable limits: ``standard/grade`` or none."""

    form_id = "limit-form"

    def read(self) -> tuple[str | None, str | None]:
        """The typed input from the fields."""
        choice = self.text("limit") or ""
        if not choice:
            return None, None
        standard, slash, grade = choice.partition("/")
        if not slash or not standard or not grade:
            self.problem("limit", "choose a standard and grade", "choice")
        return standard, grade

    def field_of(self, name: str) -> str:
        """The input a field the domain names stands for."""
        return "limit" if name in ("grade", "standard") else name


MAX_PARTY_ROWS = 5


class TraceForm(Form[TraceInput]):
    """A tracing: ``party-<n>-<field>`` rows (empty rows are skipped), ``main`` = the main row's number, evidence."""

    form_id = "trace-form"

    def __init__(self, data: MultiDict[str, str], files: MultiDict[str, FileStorage] | None = None) -> None:
        super().__init__(data, files)
        self._rows: list[int] = []  # the form row of each party given

    def read(self) -> TraceInput:
        """The typed input from the fields."""
        main = self.text("main")
        parties = []
        for n in range(MAX_PARTY_ROWS):
            name = self.text(f"party-{n}-name")
            others = [f"party-{n}-{f}" for f in ("credit_code", "industry", "description", "share_pct")]
            if name is None:
                if any(self.text(f) for f in others):
                    self.problem(f"party-{n}-name", "a party needs a name", "required")
                continue
            self._rows.append(n)
            parties.append(
                PartyInput(
                    name=name,
                    credit_code=self.text(f"party-{n}-credit_code"),
                    industry=self.text(f"party-{n}-industry"),
                    description=self.text(f"party-{n}-description"),
                    share_pct=self.number(f"party-{n}-share_pct"),
                    is_main=main == str(n),
                )
            )
        return TraceInput(
            traced_on=self.moment("traced_on"),
            method=self.choice(TraceMethod, "method"),
            parties=tuple(parties),
            technique=self.text("technique"),
            sewage_source=self.text("sewage_source"),
            use_status=self.text("use_status"),
            environmental_risk=self.text("environmental_risk"),
            government_default=self.flag("government_default"),
            government_reason=self.text("government_reason"),
            notes=self.text("notes"),
        )

    def field_of(self, name: str) -> str:
        """The input a field the domain names stands for."""
        if name.startswith("parties[") and "]" in name:
            index, _dot, part = name[len("parties[") :].partition("]")
            if index.isdigit() and int(index) < len(self._rows) and part.startswith("."):
                return f"party-{self._rows[int(index)]}-{part[1:]}"
        return name


class PlanForm(Form[PlanInput]):
    """A remediation plan (一口一策)."""

    form_id = "plan-form"

    def read(self) -> PlanInput:
        """The typed input from the fields."""
        merge = self.text("merge_into_id")
        return PlanInput(
            category=self.choice(RemediationCategory, "category"),
            on=self.day("on"),
            measures=self.text("measures"),
            responsible_party=self.text("responsible_party"),
            deadline=self.optional_day("deadline"),
            is_quick_fix=self.flag("is_quick_fix"),
            merge_into_id=self.whole("merge_into_id", 0, minimum=1) if merge else None,
            reason=self.text("reason"),
        )


@dataclass(frozen=True, slots=True)
class StepInput:
    """A dated step of the remediation (progress, completion, acceptance) with its note."""

    on: date
    note: str | None
    progress_pct: int | None = None


class ProgressForm(Form[StepInput]):
    """Progress on the works."""

    form_id = "progress-form"

    def read(self) -> StepInput:
        """The typed input from the fields."""
        pct = self.whole("progress_pct", -1, minimum=0, maximum=100)
        if self.text("progress_pct") is None:
            self.problem("progress_pct", "progress_pct is required", "required")
        return StepInput(self.day("on"), self.text("note"), pct)


class CompletionForm(Form[StepInput]):
    """The works are done (evidence files come with it)."""

    form_id = "complete-form"

    def read(self) -> StepInput:
        """The typed input from the fields."""
        return StepInput(self.day("on"), self.text("note"))


class CloseForm(Form[StepInput]):
    """Acceptance and closing out (销号)."""

    form_id = "close-form"

    def read(self) -> StepInput:
        """The typed input from the fields."""
        return StepInput(self.day("on"), self.text("note"))


@dataclass(frozen=True, slots=True)
class CheckInput:
    """One line of the standardisation checklist."""

    item: StandardisationItem
    is_done: bool
    on: date
    note: str | None


class ChecklistForm(Form[CheckInput]):
    """One standardisation (规范化建设) checklist item (evidence files come with it)."""

    form_id = "checklist-form"

    def read(self) -> CheckInput:
        """The typed input from the fields."""
        item = self.choice(StandardisationItem, "item")
        return CheckInput(item, self.flag("is_done"), self.day("on"), self.text("note"))


BULK_ACTIONS = ("assign", "unassign", "deadline", "category")


@dataclass(frozen=True, slots=True)
class BulkInput:
    """Bulk work on a selection of outfalls: the ticked ones (with the versions shown) or all matching filters."""

    action: str
    ids: list[int]
    versions: dict[int, int] | None
    matching: OutfallFilter | None  # all outfalls matching these filters instead of ``ids``
    officer: str | None = None
    deadline: date | None = None
    on: date | None = None
    plan: PlanInput | None = None


class BulkForm(Form[BulkInput]):
    """Bulk work from the outfall list (``bulk-form``), or one outfall's assignment and deadline forms (with a
    ``next`` path back to its page), or the JSON API's body turned into fields.
    """

    form_id = "bulk-form"

    def __init__(
        self, data: MultiDict[str, str], files: MultiDict[str, FileStorage] | None = None, *, me: str | None = None
    ) -> None:
        super().__init__(data, files)
        self.me = me

    def read(self) -> BulkInput:
        """The typed input from the fields."""
        action = self.text("action") or ""
        if action not in BULK_ACTIONS:
            self.problem("action", f"choose an action: {', '.join(BULK_ACTIONS)}", "choice")
        matching = None
        if self.data.get("all_matching") == "1":
            filters = MultiDict([(k[2:], v) for k, v in self.data.items(multi=True) if k.startswith("f-")])
            matching = parse_filter(filters, me=self.me)
        ids: list[int] = []
        for raw in self.data.getlist("id"):
            try:
                ids.append(int(raw))
            except ValueError:
                self.problem("id", f"outfall ids are whole numbers, not {raw!r}", "whole_number")
                continue
            if not 1 <= ids[-1] <= MAX_ID:
                self.problem("id", f"{raw} is not an outfall id", "invalid")
                ids.pop()
        versions = {i: self.whole(f"v-{i}", 0) for i in ids if self.data.get(f"v-{i}")}
        officer = self.text("officer")
        if action == "assign" and officer is None:
            self.problem("officer", "choose the case officer to give the cases to", "not_an_officer")
        on, deadline = self.optional_day("on"), self.optional_day("deadline")
        plan = None
        if action == "category":
            plan = PlanInput(
                category=self.choice(RemediationCategory, "category"), on=on or clock.today(),
                measures=self.text("measures"), reason=self.text("reason"),
                responsible_party=self.text("responsible_party"), deadline=deadline,
                is_quick_fix=self.flag("is_quick_fix"),
            )  # fmt: skip
        return BulkInput(action, ids, None if matching else versions, matching,
                         officer if action == "assign" else None, deadline, on, plan)  # fmt: skip

    def field_of(self, name: str) -> str:
        """The input a field the domain names stands for."""
        return "id" if name == "outfall_ids" else name

    def page_form_id(self) -> str:
        """The ``id`` of the form on the page it is shown again on."""
        if self.data.get("next") and self.data.get("action") in ("assign", "deadline"):
            return f"{self.data['action']}-form"  # the outfall's own assignment or deadline form
        return self.form_id


# -- JSON bodies --------------------------------------------------------------------------------------------------
# Field teams type local (China Standard) time; the database stores UTC instants.


def _choice(enum: type[E], raw: str | None, name: str) -> E:
    try:
        return enum(raw)
    except ValueError as err:
        raise InvalidInput(f"{name}: unknown value {raw!r}", field=name, value=raw) from err


def _float(raw: str | None, name: str) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a number, not {raw!r}", field=name, value=raw, reason="number") from err
    return _finite(value, name, raw)


def json_object(request: Request) -> dict[str, Any]:
    """The request's body: a JSON object (in JSON proper: no NaN or Infinity), with no NUL in any text.

    Raises:
        InvalidInput: no JSON body, malformed JSON, something else than an object, or a text with a NUL character
            (``field`` names where).
    """
    if not request.is_json:
        raise InvalidInput("send a JSON object (Content-Type: application/json)", field="body")
    try:
        body = current_app.json.loads(request.get_data(cache=True))
    except ValueError as err:  # malformed, NaN or Infinity, nested beyond reason, not UTF-8
        raise InvalidInput(f"the body is not JSON: {err}", field="body") from err
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", field="body")
    _refuse_nul_inside(body, "")
    return body


def _refuse_nul_inside(value: Any, where: str) -> None:
    if isinstance(value, str):
        _refuse_nul(value, where or "body")
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k, where or "body")
            _refuse_nul_inside(v, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_nul_inside(v, f"{where}[{i}]")


def whole_number(value: object, name: str) -> int:
    """A whole number from a JSON body, at most a database integer (an id or a version).

    Raises:
        InvalidInput: not a whole number (true and false are not numbers), or out of range.
    """
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_ID}", field=name, value=str(value))
    return value


def _moment(raw: str | None, name: str) -> datetime:
    raw = (raw or "").strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date and time (YYYY-MM-DDTHH:MM), not {raw!r}", field=name) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())


def parse_visit(data: Mapping[str, Any], units: Mapping[str, str]) -> VisitInput:
    """A monitoring visit from a JSON body (``results`` a list of ``{parameter, value, unit, method, …}``)."""
    results: list[ResultInput] = []
    if isinstance(data.get("results"), list):
        for i, r in enumerate(data["results"]):
            if not isinstance(r, dict):
                raise InvalidInput("each result is an object", field=f"results[{i}]")
            results.append(
                ResultInput(
                    parameter=str(r.get("parameter", "")),
                    value=_float(str(r["value"]) if r.get("value") is not None else None, f"results[{i}].value"),
                    unit=str(r.get("unit", units.get(str(r.get("parameter")), ""))),
                    method=_choice(SampleMethod, r.get("method", "field_quick"), f"results[{i}].method"),
                    below_detection=bool(r.get("below_detection", False)),
                    detection_limit=_float(
                        str(r["detection_limit"]) if r.get("detection_limit") is not None else None,
                        f"results[{i}].detection_limit",
                    ),
                    lab=r.get("lab"),
                )
            )
    flow = _choice(FlowState, data.get("flow") or "not_measured", "flow")
    oil = data.get("oil_film")
    return VisitInput(
        visited_at=_moment(data.get("visited_at"), "visited_at"),
        discharge=_choice(DischargeState, data.get("discharge"), "discharge"),
        flow=flow,
        flow_m3s=_float(str(data["flow_m3s"]) if data.get("flow_m3s") not in (None, "") else None, "flow_m3s"),
        not_possible_reason=data.get("not_possible_reason") or None,
        colour=(data.get("colour") or "").strip() or None,
        turbidity=(data.get("turbidity") or "").strip() or None,
        odour=(data.get("odour") or "").strip() or None,
        oil_film=None if oil in (None, "", "unknown") else oil in (True, "yes", "true", "on"),
        notes=(data.get("notes") or "").strip() or None,
        results=tuple(results),
    )


def parse_trace(data: Mapping[str, Any]) -> TraceInput:
    """A tracing from a JSON body (``parties`` a list of ``{name, credit_code, …, is_main}``)."""
    parties: list[PartyInput] = []
    if isinstance(data.get("parties"), list):
        for i, p in enumerate(data["parties"]):
            if not isinstance(p, dict):
                raise InvalidInput("each party is an object", field=f"parties[{i}]")
            share = p.get("share_pct")
            parties.append(
                PartyInput(
                    name=str(p.get("name") or ""),
                    credit_code=p.get("credit_code") or None,
                    industry=p.get("industry") or None,
                    description=p.get("description") or None,
                    share_pct=_float(str(share) if share is not None else None, f"parties[{i}].share_pct"),
                    is_main=bool(p.get("is_main", False)),
                )
            )
    default = data.get("government_default")
    return TraceInput(
        traced_on=_moment(data.get("traced_on"), "traced_on"),
        method=_choice(TraceMethod, data.get("method"), "method"),
        parties=tuple(parties),
        technique=data.get("technique") or None,
        sewage_source=data.get("sewage_source") or None,
        use_status=data.get("use_status") or None,
        environmental_risk=data.get("environmental_risk") or None,
        government_default=default in (True, "on", "yes", "true"),
        government_reason=data.get("government_reason") or None,
        notes=data.get("notes") or None,
    )
