"""All models of the domain; importing this module registers them on ``Base.metadata``."""

from outfalls.db.base import Base
from outfalls.models.account import ApiToken, AuditEntry, User, UserRole, UserScope, WebSession
from outfalls.models.attachment import Attachment
from outfalls.models.event import Event
from outfalls.models.field import FieldPhoto, FieldRecord
from outfalls.models.job import Job
from outfalls.models.observation import Observation, ObservationBatch, ObservationLink
from outfalls.models.outfall import Outfall
from outfalls.models.public import IssuedCode, PublicReport, PublicReportEvent, PublicReportPhoto
from outfalls.models.reference import AdminArea, AreaPart, Basin, CodeListEntry, River
from outfalls.models.remediation import ClosingRule, RemediationRecord
from outfalls.models.sampling import MonitoringVisit, Parameter, SampleResult, StandardLimit
from outfalls.models.standardisation import StandardisationCheck
from outfalls.models.survey import ReviewItem, SurveyMapping
from outfalls.models.target import (
    AreaMilestoneDay,
    AreaMilestoneMonth,
    AreaMilestoneYear,
    AreaStateDay,
    MilestoneCountBacklog,
    OutfallMilestone,
    ProgressTarget,
)
from outfalls.models.tracing import TraceParty, TraceRecord
from outfalls.models.track import SurveyTrack

__all__ = [
    "AreaMilestoneDay",
    "AreaMilestoneMonth",
    "AreaMilestoneYear",
    "AreaStateDay",
    "MilestoneCountBacklog",
    "FieldPhoto",
    "FieldRecord",
    "ApiToken",
    "ClosingRule",
    "RemediationRecord",
    "MonitoringVisit",
    "Parameter",
    "SampleResult",
    "StandardLimit",
    "StandardisationCheck",
    "ReviewItem",
    "SurveyMapping",
    "TraceParty",
    "TraceRecord",
    "AuditEntry",
    "User",
    "UserRole",
    "UserScope",
    "WebSession",
    "AdminArea",
    "AreaPart",
    "Attachment",
    "Base",
    "Basin",
    "CodeListEntry",
    "Event",
    "Job",
    "Observation",
    "ObservationBatch",
    "ObservationLink",
    "Outfall",
    "OutfallMilestone",
    "ProgressTarget",
    "River",
    "SurveyTrack",
    "IssuedCode",
    "PublicReport",
    "PublicReportEvent",
    "PublicReportPhoto",
]
