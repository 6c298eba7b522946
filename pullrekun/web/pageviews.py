"""What a page shows beyond the read model: one PR's deploys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class DeployView:
    """One deploy attempt on an environment's page (newest first)."""

    pr_number: int
    sha: str
    status: str
    started_at: dt.datetime
    reason: str
    failed_task: str | None
    failed_step: str | None
