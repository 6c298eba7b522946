"""What people ask of pool instances (the dashboard's pool table, the API): one wish each.
Re-exported by :mod:`pullrekun.core.model`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pullrekun.core.validate import check_instance_id


class InstanceWish(enum.StrEnum):
    """What someone asked of one instance (the dashboard's pool table, the API)."""

    #: Keep this free instance running (until it is given to a PR, or a stop is asked).
    RUNNING = "running"
    #: Take this instance out of the pool: its environment is requeued, it is stopped, then untagged.
    RETIRE = "retire"
    #: Tag this instance (not in the pool yet) into the pool.
    REGISTER = "register"
    #: Terminate this instance (only one pullrekun launched): its environment is requeued.
    TERMINATE = "terminate"


@dataclass(frozen=True)
class InstanceRequest:
    instance_id: str
    wish: InstanceWish
    actor: str | None = None

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)
