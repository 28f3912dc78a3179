"""``python -m pipeline plan``: what a reindex would do, before reading anything.

- ``scan``: the parallel scan's segments, read units and duration.
- ``read_paths``: scan or export, compared side by side with a recommendation.
"""

from pipeline.plan.read_paths import ReadPathComparison, compare_read_paths
from pipeline.plan.scan import ReindexPlan, duration, plan_reindex, scan_read_units

__all__ = [
    "ReadPathComparison",
    "ReindexPlan",
    "compare_read_paths",
    "duration",
    "plan_reindex",
    "scan_read_units",
]
