"""The kinds of value a config key holds, each with its rule and the message that names it.

Every section is a frozen pydantic dataclass over these; a value the rule refuses raises a
``ValueError`` whose text becomes the key's message (:mod:`pullrekun.config.load`).
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from pullrekun.core.dbsources import pattern_problem
from pullrekun.core.releases import parse_posting_time
from pullrekun.core.validate import LOGIN_RE, POOL_RE, InvalidInput, check_schema

ENV_NAME_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")
REVISION_CHECK_RE = re.compile(r"\A(process|header:[A-Za-z0-9-]+|json:[A-Za-z0-9_.-]+)\Z")
REPO_RE = re.compile(r"\A[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
TOKEN_HASH_RE = re.compile(r"\A[0-9a-f]{64}\Z")
USER_NAME_RE = re.compile(r"\A[a-z_][a-z0-9_-]{0,31}\Z")
SERVICE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")
JSON_FIELD_RE = re.compile(r"\A[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
#: A branch or environment name: git's ref rules, simplified (no spaces, "..", "~^:?*[\\", or a
#: leading "-" or "/").
REF_NAME_RE = re.compile(r"\A(?!-)(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)\Z")
#: A launch template's id (lt-...) or name (EC2: 3-128 of letters, digits and ( ) . / - _).
LAUNCH_TEMPLATE_RE = re.compile(r"\A(lt-[0-9a-f]{8,17}|[A-Za-z0-9()./_-]{3,128})\Z")
TEMPLATE_VERSION_RE = re.compile(r"\A(\$Default|\$Latest|[1-9][0-9]{0,8})\Z")
#: A role variable the bootstrap may be given (the staging role's, nothing of Ansible's own).
BOOTSTRAP_VAR_RE = re.compile(r"\Astaging_[a-z0-9_]{1,60}\Z")
GITHUB_ROLES = ("read", "triage", "write", "maintain", "admin")


class KeyProblem(Exception):
    """A rule across keys was broken; ``key`` is the dotted key to name (a ValueError would be
    reported at the section)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


Str = StrictStr
Bool = StrictBool
Int = StrictInt
Names = tuple[StrictStr, ...]
Table = dict[StrictStr, StrictStr]


Seconds = Annotated[StrictInt, Field(ge=1)]
NotNegative = Annotated[StrictInt, Field(ge=0)]
Port = Annotated[StrictInt, Field(gt=0, lt=65536)]


def _matching(pattern: re.Pattern[str], problem: str, *, empty: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        if (empty and value == "") or pattern.match(value):
            return value
        raise ValueError(problem.format(value=value, pattern=pattern.pattern))

    return AfterValidator(check)


def _login_or_team(value: str) -> str:
    if LOGIN_RE.match(value) or TEAM_RE.match(value):
        return value
    raise ValueError(f"{value!r} is neither a GitHub login nor a team (org/team-slug, e.g. acme/qa)")


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris, Asia/Tokyo)") from None
    return value


#: An IANA time zone name ("Europe/Paris").
TimeZone = Annotated[StrictStr, AfterValidator(_time_zone)]


def _http(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL or empty")
    return value


_ENV_PROBLEM = "must be an environment variable name (A-Z, 0-9, _)"
EnvName = Annotated[StrictStr, _matching(ENV_NAME_RE, _ENV_PROBLEM)]
OptionalEnvName = Annotated[StrictStr, _matching(ENV_NAME_RE, _ENV_PROBLEM, empty=True)]
EnvNames = tuple[
    Annotated[
        StrictStr, _matching(ENV_NAME_RE, "{value!r} is not an environment variable name (A-Z, 0-9, _)")
    ],
    ...,
]
HttpUrl = Annotated[StrictStr, AfterValidator(_http)]
RefName = Annotated[StrictStr, _matching(REF_NAME_RE, "{value!r} is not a valid name")]
Repository = Annotated[StrictStr, _matching(REPO_RE, "must be 'owner/name', got {value!r}")]
PoolName = Annotated[StrictStr, _matching(POOL_RE, "must match {pattern}")]
ServiceName = Annotated[StrictStr, _matching(SERVICE_NAME_RE, "must match {pattern} (a systemd unit name)")]
LaunchTemplate = Annotated[
    StrictStr,
    _matching(LAUNCH_TEMPLATE_RE, "must be a launch template's name or its id (lt-...)", empty=True),
]
TemplateVersion = Annotated[
    StrictStr, _matching(TEMPLATE_VERSION_RE, "must be $Default, $Latest or a version number")
]
RunUser = Annotated[
    StrictStr, _matching(USER_NAME_RE, "must match {pattern} (a Unix user name) or be empty", empty=True)
]
RevisionCheck = Annotated[
    StrictStr, _matching(REVISION_CHECK_RE, "must be 'process', 'header:<Name>' or 'json:<field>'")
]
TokenDigests = dict[
    StrictStr,
    Annotated[StrictStr, _matching(TOKEN_HASH_RE, "must be a token's SHA-256 (`pullrekun api-token`)")],
]
Logins = tuple[Annotated[StrictStr, _matching(LOGIN_RE, "{value!r} is not a GitHub login")], ...]
#: A GitHub organisation's team, by its slug: "acme/qa".
TEAM_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[a-z0-9][a-z0-9_-]{0,99}\Z")
LoginsOrTeams = tuple[
    Annotated[
        StrictStr,
        AfterValidator(_login_or_team),
    ],
    ...,
]
JsonField = Annotated[
    StrictStr, _matching(JSON_FIELD_RE, "must be a dotted path of field names, e.g. build.sha", empty=True)
]


def _schema(value: str) -> str:
    try:
        check_schema(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return value


Schema = Annotated[StrictStr, AfterValidator(_schema)]


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a network (CIDR)") from None
    return value


Networks = tuple[Annotated[StrictStr, AfterValidator(_network)], ...]


def _glob(value: str) -> str:
    problem = pattern_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} {problem}")
    return value


SourcePatterns = tuple[Annotated[StrictStr, AfterValidator(_glob)], ...]


def _slot(value: str) -> str:
    parse_posting_time(value)  # its ValueError says what is wrong
    return value


Schedule = tuple[Annotated[StrictStr, AfterValidator(_slot)], ...]


def _roles(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [p for p in value if p not in GITHUB_ROLES]
    if unknown or not value:
        raise ValueError(f"must be some of {', '.join(GITHUB_ROLES)} (got {unknown or 'none'})")
    return value


Roles = Annotated[tuple[StrictStr, ...], AfterValidator(_roles)]


def placeholders(template: str, names: str, **values: object) -> str:
    """``template`` formatted with ``values``; a ValueError names the placeholders to use."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad placeholder {exc} (use {names})") from None
