"""Shared type aliases and the enumerations stored as plain strings (``native_enum=False``), so a
new value needs no ``ALTER TYPE``.
"""

from __future__ import annotations

from enum import StrEnum

LonLat = tuple[float, float]
BBox = tuple[float, float, float, float]
CGCS2000 = 4490


class BasinLevel(StrEnum):
    """Level in the basin hierarchy (流域 → 子流域)."""

    BASIN = "basin"
    SUB_BASIN = "sub_basin"


class AdminLevel(StrEnum):
    """Administrative level (GB/T 2260 and below)."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"


class CodeProvenance(StrEnum):
    """Where a code or name comes from (暂不掌握 / 已掌握 / 现场标识牌显示)."""

    UNKNOWN = "unknown"
    KNOWN = "known"
    SIGN = "sign"


class SurveyLevel(StrEnum):
    """How an outfall was found: the three-level survey (三级排查)."""

    DRONE = "drone"  # level 1: aerial survey and interpretation
    FOOT = "foot"  # level 2: walking survey
    EXPERT = "expert"  # level 3: expert check of hard cases
    PUBLIC = "public"  # a citizen's report (公众举报), outside the three levels: a candidate a crew verifies

    @property
    def level(self) -> int:
        """The survey level number (1, 2 or 3; 0 for a public report, which no level of the survey found)."""
        return {"drone": 1, "foot": 2, "expert": 3, "public": 0}[self.value]


class OutfallStatus(StrEnum):
    """The lifecycle stage of an outfall, denormalised from its events."""

    CANDIDATE = "candidate"  # suspected, not yet verified on the ground
    SURVEYED = "surveyed"  # confirmed on the ground (排查)
    TRACED = "traced"  # responsible party determined (溯源)
    REMEDIATING = "remediating"  # remediation planned or under way (整治)
    REMEDIATED = "remediated"  # remediation completed
    CLOSED = "closed"  # closed out (销号)
    REJECTED = "rejected"  # candidate found not to be an outfall
    MERGED = "merged"  # merged into another outfall record


class EventKind(StrEnum):
    """Kinds of lifecycle event (append-only history)."""

    CREATED = "created"
    SURVEYED = "surveyed"
    REJECTED = "rejected"
    SAMPLED = "sampled"
    TRACED = "traced"
    REMEDIATION_PLANNED = "remediation_planned"
    REMEDIATED = "remediated"
    CLOSED = "closed"
    MERGED = "merged"
    OBSERVATION_LINKED = "observation_linked"
    OBSERVATION_UNLINKED = "observation_unlinked"
    LOCATION_CHANGED = "location_changed"
    ATTRIBUTES_CHANGED = "attributes_changed"
    REMEDIATION_PROGRESS = "remediation_progress"
    STANDARDISATION_CHECKED = "standardisation_checked"
    TRACE_UPDATED = "trace_updated"  # a tracing recorded that did not (or no longer could) change the state
    ASSIGNED = "assigned"  # the case was given to a case officer (or unassigned)
    DEADLINE_SET = "deadline_set"  # the case deadline was set or cleared
    ABSORBED = "absorbed"  # another record of the same outfall was merged into this one
    SPLIT = "split"  # a merge undone: the outfall is its own again, in the state it had before
    SPLIT_OFF = "split_off"  # on the outfall that had absorbed it: the merged record was split off again
    CODED = "coded"  # the local code (and a name, when it had none) given by the coding rule
    REPORT_LINKED = "report_linked"  # a public report (举报) was found to concern this outfall


class RemediationCategory(StrEnum):
    """Remediation category (整治类型)."""

    BAN = "ban"  # 依法取缔
    MERGE = "merge"  # 清理合并
    STANDARDISE = "standardise"  # 规范整治
    NONE_NEEDED = "none_needed"  # 无需整治


class ObservationSource(StrEnum):
    """Where a raw observation came from."""

    FOOT_SURVEY = "foot_survey"
    DRONE_MARK = "drone_mark"
    EXPERT_CHECK = "expert_check"
    IMPORT = "import"
    DEMO = "demo"


class Role(StrEnum):
    """What a user may do; a user can hold several."""

    CREW = "crew"  # uploads and verifies foot-survey records
    ANALYST = "analyst"  # interprets drone imagery
    REVIEWER = "reviewer"  # reviews another analyst's work
    CASE_OFFICER = "case_officer"  # records sampling, tracing and remediation
    LEADER = "leader"  # reads progress
    EXPORTER = "exporter"  # produces registers
    ADMIN = "admin"  # users, reference data and targets


class AuditAction(StrEnum):
    """What the audit log records (state changes of outfalls are events, not audit entries)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_USED = "token_used"
    TOKEN_REFUSED = "token_refused"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    EXPORT = "export"


class DischargeState(StrEnum):
    """What a monitoring visit found: discharging, dry, or sampling not possible (with a reason)."""

    DISCHARGING = "discharging"
    DRY = "dry"
    NOT_POSSIBLE = "not_possible"


class FlowState(StrEnum):
    """Flow at a visit: measured (m³/s), not measured, or not measurable."""

    MEASURED = "measured"
    NOT_MEASURED = "not_measured"
    NOT_MEASURABLE = "not_measurable"


class SampleMethod(StrEnum):
    """How a value was obtained."""

    FIELD_QUICK = "field_quick"  # 现场快检
    LAB = "lab"  # 实验室分析


class TraceMethod(StrEnum):
    """How the source was traced (溯源方法)."""

    RECORDS = "records"  # 资料溯源
    ON_SITE = "on_site"  # 人工排查
    TECHNICAL = "technical"  # 技术溯源: pipe robot, dye, water-quality fingerprint


class RemediationStep(StrEnum):
    """What a remediation record says."""

    PLAN = "plan"  # category, measures, responsible party, deadline
    PROGRESS = "progress"  # an update on the works
    COMPLETION = "completion"  # the works are done, with evidence
    ACCEPTANCE = "acceptance"  # a second person checked and accepted: the outfall is closed out (销号)


class StandardisationItem(StrEnum):
    """The HJ 1309-2023 规范化建设 checklist of an outfall that is kept."""

    SAMPLING_POINT = "sampling_point"  # 监测采样点
    INSPECTION_WELL = "inspection_well"  # 检查井
    SIGN_BOARD = "sign_board"  # 标识牌
    MONITORING = "monitoring"  # 视频监控 / 在线监测
    ARCHIVE = "archive"  # 档案


class ReviewReason(StrEnum):
    """Why reconciliation left a survey row to a person."""

    SEVERAL_CANDIDATES = "several_candidates"  # two or more outfalls within the radius
    TYPE_CONFLICT = "type_conflict"  # one outfall within the radius, of a different type
    DRONE_CANDIDATE = "drone_candidate"  # a drone candidate within the radius: verify it is the same outfall
    NEAR_IN_BATCH = "near_in_batch"  # another row of the same upload within the radius (two pipes at one headwall?)
    FIELD_CONFLICT = "field_conflict"  # a phone record made against a state that changed before it arrived


class ReviewStatus(StrEnum):
    """State of a review item."""

    OPEN = "open"
    RESOLVED = "resolved"


class ReportStatus(StrEnum):
    """Where a public report (举报) stands, as its receipt shows it."""

    RECEIVED = "received"
    CHECKING = "checking"  # turned into a candidate that a crew is to verify
    CONFIRMED = "confirmed"  # concerns an outfall (linked, or its candidate was confirmed)
    NOT_OUTFALL = "not_outfall"
    DUPLICATE = "duplicate"


class JobStatus(StrEnum):
    """State of a background job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # an error, or cut off by a restart (nothing of it was kept)
