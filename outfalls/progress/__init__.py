"""Progress against the 2023/2024/2025 targets (目标任务), as of any date: counts, shares, the target due next
and the gap, by basin → sub-basin → river and by province → city → county; targets as data with history;
the monthly trend; and the dashboard's vector tiles. Pages, the JSON API, the CLI and the printed report all
call this package, so they never disagree.

Modules: ``hierarchy`` (scopes, their parents, the as-of day, SQL conditions per scope), ``targets`` (targets and
their history, the schedule that applies to a scope), ``report`` (the progress rows), ``trend`` (month ends),
``tiles`` (vector tiles), ``outlines`` (drill-down path and printed outlines), ``statedays`` (outfalls per state,
location and day, for national tiles), ``milestonedays`` (progress counts per metric, location and day or month,
which progress, the trend and the first day read instead of scanning every milestone).
"""

from outfalls.progress import backlog as backlog  # folds the counts' backlog after a bulk commit
from outfalls.progress.hierarchy import (
    ALL_NAME,
    AXES,
    CHILD_KIND,
    LEVELS,
    Axis,
    axis_of,
    check_as_of,
    check_axis,
    parse_scope,
    scope_kind_of,
    today,
)
from outfalls.progress.outlines import Outline, Outlines, ScopeStep, first_day, outlines, scope_path, scopes_extent
from outfalls.progress.report import (
    GAP_CLASSES,
    GAP_COLORS,
    STATUS_COLORS,
    GapClass,
    ProgressReport,
    ProgressRow,
    gap_class,
    progress,
)
from outfalls.progress.targets import (
    METRICS,
    TARGET_SCOPE_KINDS,
    Target,
    add_target,
    check_metric,
    schedule,
    scope_name,
    target_history,
    targets_in_force,
)
from outfalls.progress.tiles import AREA_CLUSTERS_BELOW_ZOOM, area_clusters_extent, kept_tile_bytes, outfall_tile
from outfalls.progress.trend import Trend, TrendPoint, progress_trend

__all__ = [
    "kept_tile_bytes",
    "ALL_NAME",
    "AREA_CLUSTERS_BELOW_ZOOM",
    "AXES",
    "CHILD_KIND",
    "GAP_CLASSES",
    "GAP_COLORS",
    "LEVELS",
    "METRICS",
    "STATUS_COLORS",
    "TARGET_SCOPE_KINDS",
    "Axis",
    "GapClass",
    "Outline",
    "Outlines",
    "ProgressReport",
    "ProgressRow",
    "ScopeStep",
    "Target",
    "Trend",
    "TrendPoint",
    "add_target",
    "area_clusters_extent",
    "axis_of",
    "check_as_of",
    "check_axis",
    "check_metric",
    "first_day",
    "gap_class",
    "outfall_tile",
    "outlines",
    "parse_scope",
    "progress",
    "progress_trend",
    "schedule",
    "scope_kind_of",
    "scope_name",
    "scope_path",
    "scopes_extent",
    "target_history",
    "targets_in_force",
    "today",
]
