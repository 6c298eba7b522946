"""Approvals revoked on GitHub: a fork PR got commits after its approval, so its approval label
is removed and a maintainer approves again. The recorded approval stays until the label is seen
gone, so a label GitHub did not let go of is asked for again by the next pass."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, RateLimited
from pullrekun.adapters.github.publish import GitHubRefused, GitHubWriter
from pullrekun.core.model import Action, RevokeApproval

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revocation:
    pr_number: int
    label: str
    #: Why the label was not removed ("" when it was): a refusal is said and not retried; GitHub
    #: unreachable or limiting leaves the rest for a later pass.
    problem: str = ""
    refused: bool = False
    rate_limited_until: dt.datetime | None = None


def revoke_approvals(client: GitHubClient, revokes: tuple[Action, ...]) -> tuple[Revocation, ...]:
    writer = GitHubWriter(client)
    done: list[Revocation] = []
    for revoke in revokes:
        if not isinstance(revoke, RevokeApproval):
            raise TypeError(f"not a revocation: {revoke!r}")
        number, label = revoke.pr_number, revoke.label
        if client.low_on_requests():
            done.append(Revocation(number, label, "too few GitHub requests left; a later pass removes it"))
            break
        try:
            writer.remove_label(number, label)
        except GitHubRefused as exc:
            log.error("GitHub refused to remove the approval label of #%s: %s", number, exc)
            done.append(Revocation(number, label, str(exc), refused=True))
        except RateLimited as exc:
            done.append(Revocation(number, label, str(exc), rate_limited_until=exc.until))
            break
        except GitHubUnavailable as exc:
            log.warning("approval label of #%s not removed (a later pass tries again): %s", number, exc)
            done.append(Revocation(number, label, str(exc)))
            break
        else:
            done.append(Revocation(number, label))
    return tuple(done)
