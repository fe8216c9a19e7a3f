"""CatalogItem and CatalogBundle status: Valid, the kstatus summary, the revision, and how many requests use it."""

from __future__ import annotations

from datetime import datetime

from ..api.catalog import CatalogBundleStatus, CatalogItemStatus
from ..api.conditions import VALID, Reason
from .status import mark, summarize

MAX_LISTED_PROBLEMS = 5


def catalog_object_status(
    status: CatalogItemStatus | CatalogBundleStatus,
    *,
    problems: list[str],
    revision: str | None,
    active_requests: int,
    generation: int,
    now: datetime,
) -> CatalogItemStatus | CatalogBundleStatus:
    """The status for this generation; equal to ``status`` when nothing changed (so nothing is written)."""
    valid = not problems
    message = ""
    if problems:
        shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = f" (and {len(problems) - MAX_LISTED_PROBLEMS} more)" if len(problems) > MAX_LISTED_PROBLEMS else ""
        noun = "problem" if len(problems) == 1 else "problems"
        message = f"{len(problems)} {noun}: {shown}{more}"
    new = status.model_copy(update={"catalog_revision": revision, "active_requests": active_requests})
    new = mark(
        new,
        VALID,
        "True" if valid else "False",
        Reason.VALIDATION_PASSED if valid else Reason.VALIDATION_FAILED,
        message,
        generation=generation,
        now=now,
    )
    return summarize(
        new,
        ready=valid,
        stalled=not valid,
        progressing=False,
        reason=Reason.SUCCEEDED if valid else Reason.VALIDATION_FAILED,
        message=message,
        generation=generation,
        now=now,
    )
