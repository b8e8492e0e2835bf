"""The case officer's forms: monitoring visit, limit, tracing, remediation steps, checklist and bulk work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from werkzeug.datastructures import FileStorage, MultiDict

from outfalls import clock
from outfalls.cases.remediation import PlanInput
from outfalls.cases.sampling import ResultInput, VisitInput
from outfalls.cases.tracing import PartyInput, TraceInput
from outfalls.catalogue.queries import OutfallFilter
from outfalls.types import (
    DischargeState,
    FlowState,
    RemediationCategory,
    SampleMethod,
    StandardisationItem,
    TraceMethod,
)
from web.db import MAX_ID
from web.forms.base import Form
from web.forms.params import parse_filter


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
