"""What the GitHub simulator holds and records: pull requests, an App, injected faults, requests."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimPR:
    number: int
    title: str
    author: str
    head_ref: str
    head_sha: str
    base_ref: str
    created: dt.datetime
    updated: dt.datetime
    body: str | None = None
    draft: bool = False
    fork_owner: str | None = None
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    merged_at: dt.datetime | None = None
    merge_commit_sha: str | None = None


@dataclass
class Fault:
    status: int
    times: int = 1
    path_prefix: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Injected failure"
    #: Only requests with this method ("" = any).
    method: str = ""


@dataclass
class SimApp:
    """A GitHub App installed on the repository."""

    app_id: int
    installation_id: int
    public_key_pem: str
    token_lifetime: dt.timedelta = dt.timedelta(hours=1)
    issued: dict[str, dt.datetime] = field(default_factory=dict)


@dataclass
class Served:
    method: str
    path: str
    status: int
    counted: bool
    route: str
    body: Any
    request: Any = None
    #: The request's If-None-Match header (None when it sent none).
    if_none_match: str | None = None
    #: When it was answered (time.monotonic()).
    at: float = field(default_factory=time.monotonic)
