"""The generated demo catalogue: outfalls placed along the real Shaanxi river lines, with realistic
types, discovery levels and lifecycle histories. Every row is flagged ``is_demo``; it is never real data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls
from outfalls.errors import InvalidInput
from outfalls.models import AdminArea, Basin, CodeListEntry, Outfall, River
from outfalls.scope import Scope
from outfalls.types import (
    AdminLevel,
    CodeProvenance,
    EventKind,
    OutfallStatus,
    RemediationCategory,
    Role,
    SurveyLevel,
)

DEMO_ACTOR = "demo"
PROVINCE_CODE = "610000"
HANDAN_SUB_BASINS = ("CJ-10", "CJ-11")  # 汉江上游, 汉江中游

# HJ 1312-2023 type shares: storm outlets (~45 %) and agricultural/rural outlets (~26 %) are the most
# common, as the MEE reported for the Yellow River in 2023.
TYPE_SHARES: dict[str, float] = {
    "4.8": 0.30, "1.2.1": 0.08, "1.4": 0.04, "1.2.2": 0.03,
    "4.7": 0.12, "3.1": 0.05, "3.2": 0.02, "4.3": 0.04, "4.6": 0.03,
    "4.5": 0.08, "1.1.1": 0.06, "2.1": 0.04, "1.3": 0.02, "1.1.2": 0.01,
    "4.1": 0.03, "4.2": 0.01, "4.9": 0.02, "9": 0.02,
}  # fmt: skip
# Taihu 2021: about 84 % of outfalls were first seen from the air, 14 % on foot, 2 % by experts.
FOUND_BY_SHARES = {SurveyLevel.DRONE: 0.84, SurveyLevel.FOOT: 0.14, SurveyLevel.EXPERT: 0.02}
REMEDIATION_SHARES = {
    RemediationCategory.BAN: 0.15,
    RemediationCategory.MERGE: 0.25,
    RemediationCategory.STANDARDISE: 0.45,
    RemediationCategory.NONE_NEEDED: 0.15,
}
INDUSTRIES = [
    "化学原料和化学制品制造业",
    "农副食品加工业",
    "煤炭开采和洗选业",
    "畜牧业",
    "污水处理及其再生利用",
    "酒、饮料制造业",
]


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What ``seed_demo`` did."""

    created: int
    existing: int
    yellow: int
    handan: int


def seed_demo(
    session: Session,
    *,
    yellow: int = 4040,
    handan: int = 3117,
    seed: int = 2023,
    progress: Callable[[int], None] | None = None,
) -> DemoReport:
    """Create the demo catalogue unless one exists (then nothing is changed).

    Args:
        yellow: outfalls in the Yellow River basin part of Shaanxi.
        handan: outfalls in the Han-Dan river (Han river) part of Shaanxi.
        seed: random seed; the same seed gives the same catalogue.

    Raises:
        InvalidInput: reference data is not loaded, or negative counts.
    """
    if yellow < 0 or handan < 0:
        raise InvalidInput("outfall counts must not be negative", field="outfalls")
    existing = session.scalar(select(func.count()).select_from(Outfall).where(Outfall.is_demo)) or 0
    if existing:
        return DemoReport(created=0, existing=existing, yellow=0, handan=0)
    province = session.scalar(select(AdminArea).where(AdminArea.code == PROVINCE_CODE))
    types = {e.code: e for e in session.scalars(select(CodeListEntry).where(CodeListEntry.scheme == "HJ1312"))}
    if province is None or province.geom is None or not types:
        raise InvalidInput("reference data is not loaded: run `outfalls reference load` first")
    shaanxi = to_shape(province.geom)
    yellow_lines = _river_lines(session, shaanxi, basin_code="HH")
    handan_lines = _river_lines(session, shaanxi, sub_basin_codes=HANDAN_SUB_BASINS)
    rng = random.Random(seed)
    counties = [
        (a.code, a.name, to_shape(a.geom))
        # Ordered: the same seed must give the same catalogue in any database, whatever its row order.
        for a in session.scalars(select(AdminArea).where(AdminArea.level == AdminLevel.COUNTY).order_by(AdminArea.code))
        if a.geom is not None
    ]
    items: list[NewOutfall] = []
    for lines, n in ((yellow_lines, yellow), (handan_lines, handan)):
        if n and not lines:
            raise InvalidInput("no reference rivers in Shaanxi to place demo outfalls on")
        items += _make_outfalls(rng, lines, n, counties, types, start_seq=len(items))
    ids = create_outfalls(session, items, actor=DEMO_ACTOR, progress=progress)
    _seed_monitoring(session, rng, ids)
    _seed_tracing(session, rng, ids)
    _seed_remediation(session, ids)
    return DemoReport(created=len(items), existing=0, yellow=yellow, handan=handan)


# Typical quick-test values of outfall water (median, spread as a lognormal sigma), mg/L except pH.
_TYPICAL = {"cod": (32.0, 0.6), "nh3n": (1.8, 0.9), "tn": (6.0, 0.7), "tp": (0.35, 0.8)}


def _seed_monitoring(session: Session, rng: random.Random, outfall_ids: list[int]) -> None:
    """Monitoring visits behind the demo's ``sampled`` events, judged against the receiving water's class
    (GB 3838-2002: class III on the Han river, which feeds the South-North diversion; IV elsewhere).
    """
    from outfalls.models import Event, MonitoringVisit, SampleResult, StandardLimit
    from outfalls.types import DischargeState, FlowState, SampleMethod

    on_han = Outfall.sub_basin_id.in_(select(Basin.id).where(Basin.code.in_(HANDAN_SUB_BASINS)))
    session.execute(
        update(Outfall)
        .where(Outfall.id.in_(outfall_ids))
        .values(limit_standard="GB3838-2002", limit_grade=case((on_han, "III"), else_="IV"))
        .execution_options(synchronize_session=False)
    )
    limits = {
        (lim.grade, lim.parameter): lim
        for lim in session.scalars(select(StandardLimit).where(StandardLimit.standard == "GB3838-2002"))
    }
    grade_of: dict[int, str] = {
        oid: grade or "IV"
        for oid, grade in session.execute(select(Outfall.id, Outfall.limit_grade).where(Outfall.id.in_(outfall_ids)))
    }
    sampled = session.execute(
        select(Event.id, Event.outfall_id, Event.effective_at, Event.payload)
        .where(Event.outfall_id.in_(outfall_ids), Event.kind == EventKind.SAMPLED)
        .order_by(Event.id)
    ).all()
    verdicts: dict[int, bool] = {}
    for event_id, outfall_id, at, payload in sampled:
        discharging = bool(payload.get("is_discharging"))
        grade = grade_of[outfall_id]
        results = []
        if discharging:
            values = {"ph": round(rng.uniform(6.4, 8.6), 1)}
            values |= {p: round(rng.lognormvariate(math.log(m), sd), 2) for p, (m, sd) in _TYPICAL.items()}
            for parameter, value in values.items():
                lim = limits.get((grade, parameter))
                exceeds = lim is not None and (
                    (lim.max_value is not None and value > lim.max_value)
                    or (lim.min_value is not None and value < lim.min_value)
                )
                results.append(SampleResult(
                    parameter=parameter, value=value, unit="" if parameter == "ph" else "mg/L",
                    method=SampleMethod.FIELD_QUICK, sampled_at=at, limit_min=lim.min_value if lim else None,
                    limit_max=lim.max_value if lim else None, exceeds=exceeds,
                ))  # fmt: skip
            verdicts[outfall_id] = any(r.exceeds for r in results)
        session.add(
            MonitoringVisit(
                outfall_id=outfall_id, event_id=event_id, visited_at=at,
                discharge=DischargeState.DISCHARGING if discharging else DischargeState.DRY,
                flow=FlowState.NOT_MEASURED, limit_standard="GB3838-2002", limit_grade=grade,
                exceedances=sum(1 for r in results if r.exceeds), actor=DEMO_ACTOR, results=results,
            )
        )  # fmt: skip
    for flag in (True, False):
        chosen = [oid for oid, over in verdicts.items() if over is flag]
        if chosen:
            session.execute(
                update(Outfall).where(Outfall.id.in_(chosen)).values(exceeds_limit=flag)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
    session.flush()


def _river_lines(
    session: Session,
    clip: BaseGeometry,
    *,
    basin_code: str | None = None,
    sub_basin_codes: tuple[str, ...] = (),
) -> list[tuple[str, LineString]]:
    query = select(River)
    if basin_code:
        query = query.join(Basin, River.basin_id == Basin.id).where(Basin.code == basin_code)
    if sub_basin_codes:
        query = query.join(Basin, River.sub_basin_id == Basin.id).where(Basin.code.in_(sub_basin_codes))
    out: list[tuple[str, LineString]] = []
    for river in session.scalars(query.order_by(River.code)):
        part = to_shape(river.geom).intersection(clip)
        for line in getattr(part, "geoms", [part]):
            if isinstance(line, LineString) and line.length > 0:
                out.append((river.name, line))
            elif isinstance(line, MultiLineString):
                out += [(river.name, g) for g in line.geoms]
    return out


def _pick(rng: random.Random, shares: dict[str, float] | dict[SurveyLevel, float] | dict[RemediationCategory, float]):  # type: ignore[no-untyped-def]
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _make_outfalls(
    rng: random.Random,
    lines: list[tuple[str, LineString]],
    n: int,
    counties: list[tuple[str, str, BaseGeometry]],
    types: dict[str, CodeListEntry],
    start_seq: int,
) -> list[NewOutfall]:
    lengths = np.array([line.length for _, line in lines])
    cumulative = np.cumsum(lengths)
    tree = shapely.STRtree([g for _, _, g in counties])
    items = []
    seq_by_county: dict[str, int] = {}
    for i in range(n):
        # Border rivers (the Yellow River between Shaanxi and Shanxi): keep only points on the Shaanxi bank.
        for _attempt in range(50):
            at = rng.random() * cumulative[-1]
            k = int(np.searchsorted(cumulative, at))
            river_name, line = lines[k]
            d = at - (cumulative[k - 1] if k else 0.0)
            lon, lat, side = _bank_point(rng, line, d)
            hits = tree.query(Point(lon, lat), predicate="intersects")
            if len(hits):
                break
        county_code, county_name = (counties[hits[0]][0], counties[hits[0]][1]) if len(hits) else ("610000", "陕西省")
        river_name = river_name.split("(")[0]
        seq = seq_by_county[county_code] = seq_by_county.get(county_code, 0) + 1
        type_code = _pick(rng, TYPE_SHARES)
        found_by = _pick(rng, FOUND_BY_SHARES)
        found_on = date(2020, 5, 1) + timedelta(days=rng.randrange(0, 1150 if found_by is SurveyLevel.DRONE else 1300))
        label = types[type_code].label_zh if type_code != "9" else "排口"
        name = f"{county_name}{river_name}{side}岸{seq}#{label}"
        has_local = rng.random() < 0.7
        sign = rng.random() < 0.25
        items.append(
            NewOutfall(
                lonlat=(lon, lat),
                name=name,
                type_code=type_code,
                type_raw=types[type_code].label_zh,
                found_by=found_by,
                found_on=found_on,
                name_provenance=CodeProvenance.SIGN if sign else CodeProvenance.KNOWN,
                local_code=f"{county_code}-{seq:04d}" if has_local else None,
                local_code_provenance=(
                    CodeProvenance.SIGN
                    if has_local and sign
                    else CodeProvenance.KNOWN
                    if has_local
                    else CodeProvenance.UNKNOWN
                ),
                national_code=f"DEMO{county_code}{start_seq + i + 1:06d}" if rng.random() < 0.4 else None,
                national_code_provenance=CodeProvenance.KNOWN,
                receiving_water=river_name,
                is_demo=True,
                history=_history(rng, found_by, found_on, county_name),
            )
        )
    return items


def _bank_point(rng: random.Random, line: LineString, d: float) -> tuple[float, float, str]:
    """A point on one bank, 15–120 m from the centre line, at distance ``d`` (degrees) along it."""
    p = line.interpolate(d)
    q = line.interpolate(min(d + 1e-4, line.length)) if d + 1e-4 <= line.length else line.interpolate(d - 1e-4)
    dx, dy = q.x - p.x, q.y - p.y
    if d + 1e-4 > line.length:
        dx, dy = -dx, -dy
    norm = math.hypot(dx * math.cos(math.radians(p.y)), dy) or 1.0
    side = rng.choice((1, -1))
    offset_m = rng.uniform(15, 120)
    # unit normal in metres, converted back to degrees of lon/lat
    nx, ny = -dy / norm * side, dx * math.cos(math.radians(p.y)) / norm * side
    lon = p.x + nx * offset_m / (111_320 * math.cos(math.radians(p.y)))
    lat = p.y + ny * offset_m / 110_540
    return lon, lat, "左" if side > 0 else "右"


def _history(rng: random.Random, found_by: SurveyLevel, found_on: date, county: str) -> tuple[HistoryItem, ...]:
    """A plausible lifecycle: verified on foot, sampled, traced, remediated and closed on the national
    schedule (80 % traced / 30 % remediated by end-2023, 70 % remediated by end-2024, all by end-2025).
    """
    events: list[HistoryItem] = []
    day = found_on
    if found_by is SurveyLevel.DRONE:
        if rng.random() < 0.02:  # a few candidates still wait for a crew
            return ()
        day += timedelta(days=rng.randrange(7, 120))
        events.append(HistoryItem(EventKind.SURVEYED, day, {"by": "foot"}))
    if rng.random() < 0.45:
        dry = rng.random() < 0.3
        day += timedelta(days=rng.randrange(1, 60))
        events.append(HistoryItem(EventKind.SAMPLED, day, {"is_discharging": not dry}))
    traced_by = _deadline_pick(rng, found_on, [(date(2023, 12, 31), 0.85), (date(2024, 12, 31), 0.99)])
    if traced_by is None:
        return tuple(events)
    day = max(day, traced_by)
    government = rng.random() < 0.12
    party = (
        f"{county}人民政府（政府兜底）"
        if government
        else f"示例{rng.choice(INDUSTRIES)[:4]}企业{rng.randrange(1, 999):03d}号"
    )
    events.append(HistoryItem(EventKind.TRACED, day, {"responsible_party": party, "government_default": government}))
    category = _pick(rng, REMEDIATION_SHARES)
    done = _deadline_pick(
        rng, day, [(date(2023, 12, 31), 0.33), (date(2024, 12, 31), 0.76), (date(2025, 12, 31), 0.97)]
    )
    day += timedelta(days=rng.randrange(5, 60))
    events.append(HistoryItem(EventKind.REMEDIATION_PLANNED, day, {"category": category.value}))
    if done is None:
        return tuple(events)
    day = max(day, done)
    events.append(HistoryItem(EventKind.REMEDIATED, day, {"category": category.value}))
    if rng.random() < 0.8:
        day += timedelta(days=rng.randrange(20, 200))
        if day <= date(2026, 6, 30):
            events.append(HistoryItem(EventKind.CLOSED, day, {}))
    return tuple(events)


def _deadline_pick(rng: random.Random, after: date, schedule: list[tuple[date, float]]) -> date | None:
    """A date after ``after`` such that the cumulative share done by each deadline follows ``schedule``."""
    u = rng.random()
    previous = date(2020, 6, 1)
    for deadline, share in schedule:
        if u < share:
            start = max(previous, after)
            if start >= deadline:
                return start + timedelta(days=rng.randrange(1, 30))
            return start + timedelta(days=rng.randrange(0, (deadline - start).days + 1))
        previous = deadline
    return None


DEMO_PASSWORD = "outfalls-demo"  # documented in the README; demo deployments only
# (login, display name, roles, areas or None for national scope)
DEMO_USERS: list[tuple[str, str, tuple[str, ...], tuple[str, ...] | None]] = [
    ("admin", "系统管理员（演示）", ("admin",), None),
    ("leader", "省厅领导（演示）", ("leader",), ("610000",)),
    ("analyst", "影像解译员（演示）", ("analyst",), ("610000",)),
    ("reviewer", "解译审核员（演示）", ("reviewer", "analyst"), ("610000",)),
    ("exporter", "名录导出员（演示）", ("exporter",), ("610000",)),
    ("officer_xian", "西安市案件办理员（演示）", ("case_officer",), ("610100",)),
    ("crew_xian", "西安市排查队员（演示）", ("crew",), ("610100",)),
    ("lintong", "临潼区用户（演示）", ("case_officer", "crew"), ("610115",)),
    ("hanbin", "汉滨区用户（演示）", ("case_officer", "crew"), ("610902",)),
]


def seed_demo_users(session: Session) -> list[str]:
    """Create the demo accounts (one per role, plus two county users) unless they exist; returns the
    logins created. All share ``DEMO_PASSWORD``.
    """
    from outfalls.accounts import create_user
    from outfalls.models import User

    existing = set(session.scalars(select(User.login)))
    created = []
    for login, name, roles, areas in DEMO_USERS:
        if login in existing:
            continue
        create_user(
            session, login, roles=roles, areas=areas or (), is_national=areas is None,
            password=DEMO_PASSWORD, display_name=name, actor=DEMO_ACTOR,
        )  # fmt: skip
        created.append(login)
    _assign_demo_cases(session, created)
    return created


def _assign_demo_cases(session: Session, logins: list[str]) -> None:
    """Give the open demo cases of each new demo case officer's area to them (county officers first), with the
    a deadline three months out on the cases being remediated, so "My cases" has something true to show.
    """
    from outfalls.accounts import scope_of
    from outfalls.cases.assignment import FINISHED, assign_cases, set_deadlines
    from outfalls.models import Outfall, User
    from outfalls.scope import area_prefix

    officers = [
        u for u in session.scalars(select(User).where(User.login.in_(logins))) if Role.CASE_OFFICER in u.role_set
    ]
    officers.sort(key=lambda u: -max((len(area_prefix(c)) for c in scope_of(u).area_codes), default=0))
    for user in officers:
        ids = list(session.scalars(
            select(Outfall.id).where(Outfall.is_demo, Outfall.assigned_to.is_(None), Outfall.status.not_in(FINISHED),
                                     Outfall.status != OutfallStatus.CANDIDATE, *scope_of(user).conditions())
        ))  # fmt: skip
        if ids:
            assign_cases(session, ids, user.login, actor=DEMO_ACTOR, scope=Scope.national())
    remediating = list(session.scalars(select(Outfall.id).where(
        Outfall.is_demo, Outfall.status == OutfallStatus.REMEDIATING, Outfall.case_deadline.is_(None),
        Outfall.assigned_to.in_([u.login for u in officers]))))  # fmt: skip
    if remediating:
        deadline = clock.today() + timedelta(days=90)
        set_deadlines(session, remediating, deadline, actor=DEMO_ACTOR, scope=Scope.national())


_SOURCES = ["生产废水", "生活污水", "雨水混合生活污水", "养殖废水", "农田退水", "污水处理厂尾水"]
_TECHNIQUES = ["管道机器人", "示踪剂", "水质指纹"]


def _demo_credit_code(rng: random.Random) -> str:
    """A well-formed (check character included) but invented unified social credit code."""
    from outfalls.coding import credit_code_check_char

    body = (
        "91"
        + "61"
        + "".join(rng.choice("0123456789") for _ in range(4))
        + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    )
    body = body[:17]
    return body + credit_code_check_char(body)


def _seed_tracing(session: Session, rng: random.Random, outfall_ids: list[int]) -> None:
    """Tracing records behind the demo's ``traced`` events (parties, main responsible party, government default)."""
    from outfalls.models import Event, TraceParty, TraceRecord
    from outfalls.types import TraceMethod

    traced = session.execute(
        select(Event.id, Event.outfall_id, Event.effective_at, Event.payload)
        .where(Event.outfall_id.in_(outfall_ids), Event.kind == EventKind.TRACED)
        .order_by(Event.id)
    ).all()
    for event_id, outfall_id, at, payload in traced:
        government = bool(payload.get("government_default"))
        main = str(payload.get("responsible_party") or "未知")
        method = rng.choices(list(TraceMethod), weights=[0.3, 0.55, 0.15])[0]
        parties = [
            TraceParty(
                name=main,
                is_main=True,
                credit_code=None if government else _demo_credit_code(rng),
                industry=None if government else "示例行业",
                share_pct=None if government else 100.0,
            )
        ]
        if not government and rng.random() < 0.25:
            parties[0].share_pct = 70.0
            parties.append(TraceParty(name="周边居民生活污水（示例）", is_main=False, share_pct=30.0))
        session.add(
            TraceRecord(
                outfall_id=outfall_id, event_id=event_id, traced_on=at, method=method,
                technique=rng.choice(_TECHNIQUES) if method is TraceMethod.TECHNICAL else None,
                sewage_source=rng.choice(_SOURCES), use_status="在用",
                is_government_default=government,
                government_reason="排放单位无法确定，由属地政府兜底（示例）" if government else None,
                is_complete=True, actor=DEMO_ACTOR, parties=parties,
            )
        )  # fmt: skip
    session.flush()


_MEASURES = {
    "ban": "依法封堵取缔（示例）",
    "merge": "截污纳管，并入市政污水管网（示例）",
    "standardise": "规范化建设：设置采样井、标识牌，达标排放（示例）",
    "none_needed": "雨洪排口，经核查无需整治（示例）",
}
_STEP_OF = {"remediation_planned": "plan", "remediated": "completion", "closed": "acceptance"}


def _seed_remediation(session: Session, outfall_ids: list[int]) -> None:
    """Remediation records behind the demo's plan, completion and closing events."""
    from outfalls.models import Event, RemediationRecord
    from outfalls.types import RemediationStep

    rows = session.execute(
        select(Event.id, Event.outfall_id, Event.kind, Event.effective_at, Event.payload)
        .where(Event.outfall_id.in_(outfall_ids), Event.kind.in_(
            [EventKind.REMEDIATION_PLANNED, EventKind.REMEDIATED, EventKind.CLOSED]))
        .order_by(Event.id)
    ).all()  # fmt: skip
    category_of: dict[int, str] = {}
    for event_id, outfall_id, kind, at, payload in rows:
        if kind is EventKind.REMEDIATION_PLANNED:
            category_of[outfall_id] = payload["category"]
        category = category_of.get(outfall_id)
        step = RemediationStep(_STEP_OF[kind.value])
        session.add(
            RemediationRecord(
                outfall_id=outfall_id, event_id=event_id, step=step, on=clock.day_of(at),
                category=RemediationCategory(category) if category else None,
                measures=_MEASURES.get(category or "") if step is RemediationStep.PLAN else None,
                note="示例数据：验收材料为纸质档案" if step is not RemediationStep.PLAN else None,
                actor=DEMO_ACTOR,
            )
        )  # fmt: skip
    session.flush()
