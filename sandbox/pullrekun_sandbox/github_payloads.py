"""GitHub REST payloads shaped like the real ones (checked against GitHub's OpenAPI in tests)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, n: int) -> str:
    return base64.b64encode(f"0{kind}{n}".encode()).decode()


def user(api: str, web: str, login: str, uid: int) -> dict[str, Any]:
    u = f"{api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("User", uid),
        "avatar_url": f"{web}/avatars/{login}",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{web}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": "User",
        "site_admin": False,
    }


_REPO_URL_FIELDS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def public_user(api: str, web: str, login: str, uid: int) -> dict[str, Any]:
    """``GET /user`` for a token's owner (the public view)."""
    return {
        **user(api, web, login, uid),
        "user_view_type": "public",
        "name": login, "company": None, "blog": "", "location": None, "email": None,
        "hireable": None, "bio": None, "public_repos": 1, "public_gists": 0,
        "followers": 0, "following": 0,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def repository(
    api: str, web: str, full_name: str, rid: int, owner: dict[str, Any], created: dt.datetime,
    private: bool = True,
) -> dict[str, Any]:  # fmt: skip
    base = f"{api}/repos/{full_name}"
    repo: dict[str, Any] = {k: base + suffix for k, suffix in _REPO_URL_FIELDS.items()}
    repo.update(
        {
            "id": rid,
            "node_id": node_id("Repository", rid),
            "name": full_name.split("/")[1],
            "full_name": full_name,
            "owner": owner,
            "private": private,
            "html_url": f"{web}/{full_name}",
            "description": "pullrekun sandbox app",
            "fork": False,
            "url": base,
            "clone_url": f"{web}/{full_name}.git",
            "git_url": f"git://{full_name}.git",
            "ssh_url": f"git@sandbox:{full_name}.git",
            "svn_url": f"{web}/{full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1,
            "default_branch": "main",
            "open_issues_count": 0,
            "open_issues": 0,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "archived": False,
            "disabled": False,
            "visibility": "private" if private else "public",
            "pushed_at": iso(created),
            "created_at": iso(created),
            "updated_at": iso(created),
            "license": None,
            "permissions": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
        }
    )
    return repo


def full_repository(repo: dict[str, Any]) -> dict[str, Any]:
    """GET /repos/{owner}/{repo} returns a few more fields than the embedded repository."""
    return {**repo, "has_discussions": False, "network_count": 0, "subscribers_count": 0}


def label(api: str, full_name: str, name: str, lid: int) -> dict[str, Any]:
    return {
        "id": lid,
        "node_id": node_id("Label", lid),
        "url": f"{api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": "",
        "color": "ededed",
        "default": False,
    }


def pull_request_simple(
    *,
    api: str,
    web: str,
    full_name: str,
    number: int,
    pid: int,
    title: str,
    body: str | None,
    author: dict[str, Any],
    head_ref: str,
    head_sha: str,
    head_repo: dict[str, Any],
    base_ref: str,
    base_sha: str,
    base_repo: dict[str, Any],
    created: dt.datetime,
    updated: dt.datetime,
    draft: bool,
    labels: list[dict[str, Any]],
) -> dict[str, Any]:
    pr_api = f"{api}/repos/{full_name}/pulls/{number}"
    issue_api = f"{api}/repos/{full_name}/issues/{number}"
    html = f"{web}/{full_name}/pull/{number}"
    return {
        "url": pr_api,
        "id": pid,
        "node_id": node_id("PullRequest", pid),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "commits_url": f"{pr_api}/commits",
        "review_comments_url": f"{pr_api}/comments",
        "review_comment_url": f"{api}/repos/{full_name}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": f"{api}/repos/{full_name}/statuses/{head_sha}",
        "number": number,
        "state": "open",
        "locked": False,
        "title": title,
        "user": author,
        "body": body,
        "labels": labels,
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": f"{head_repo['owner']['login']}:{head_ref}",
            "ref": head_ref,
            "repo": head_repo,
            "sha": head_sha,
            "user": head_repo["owner"],
        },
        "base": {
            "label": f"{base_repo['owner']['login']}:{base_ref}",
            "ref": base_ref,
            "repo": base_repo,
            "sha": base_sha,
            "user": base_repo["owner"],
        },
        "_links": {
            "self": {"href": pr_api},
            "html": {"href": html},
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{pr_api}/comments"},
            "review_comment": {"href": f"{api}/repos/{full_name}/pulls/comments{{/number}}"},
            "commits": {"href": f"{pr_api}/commits"},
            "statuses": {"href": f"{api}/repos/{full_name}/statuses/{head_sha}"},
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "draft": draft,
    }


def pull_request(simple: dict[str, Any], state: str, closed: dt.datetime | None) -> dict[str, Any]:
    """``GET /repos/{owner}/{repo}/pulls/{number}``: the list's shape plus the counters."""
    return {
        **simple,
        "state": state,
        "closed_at": iso(closed) if closed else None,
        "merged": simple.get("merged_at") is not None,
        "mergeable": True if state == "open" else None,
        "mergeable_state": "clean" if state == "open" else "unknown",
        "merged_by": None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 1,
        "changed_files": 1,
    }


def label_event(
    api: str, full_name: str, eid: int, event: str, name: str, actor: dict[str, Any], at: dt.datetime
) -> dict[str, Any]:
    """One ``labeled``/``unlabeled`` entry of ``GET /repos/{owner}/{repo}/issues/{n}/events``."""
    return {
        "id": eid,
        "node_id": node_id("LabeledEvent", eid),
        "url": f"{api}/repos/{full_name}/issues/events/{eid}",
        "actor": actor,
        "event": event,
        "commit_id": None,
        "commit_url": None,
        "created_at": iso(at),
        "performed_via_github_app": None,
        "label": {"name": name, "color": "ededed"},
    }


def collaborator_permission(user_: dict[str, Any], role: str) -> dict[str, Any]:
    """``GET /repos/{owner}/{repo}/collaborators/{username}/permission``."""
    permission = {"maintain": "write", "triage": "read"}.get(role, role)
    return {"permission": permission, "role_name": role, "user": {**user_, "role_name": role}}


def team_membership(api: str, org: str, slug: str, login: str, state: str) -> dict[str, Any]:
    """``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``."""
    return {
        "url": f"{api}/organizations/1/team/{sum(map(ord, slug))}/memberships/{login}",
        "role": "member",
        "state": state,
    }


def review(
    api: str, web: str, full_name: str, rid: int, number: int, user_: dict[str, Any], state: str,
    commit_id: str, at: dt.datetime,
) -> dict[str, Any]:  # fmt: skip
    """One entry of ``GET /repos/{owner}/{repo}/pulls/{n}/reviews``."""
    html = f"{web}/{full_name}/pull/{number}#pullrequestreview-{rid}"
    pr_api = f"{api}/repos/{full_name}/pulls/{number}"
    return {
        "id": rid,
        "node_id": node_id("PullRequestReview", rid),
        "user": user_,
        "body": "",
        "state": state,
        "commit_id": commit_id,
        "html_url": html,
        "pull_request_url": pr_api,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_api}},
        "author_association": "MEMBER",
        "submitted_at": iso(at),
    }


def commit_status(
    api: str,
    full_name: str,
    sid: int,
    sha: str,
    state: str,
    description: str | None,
    target_url: str | None,
    context: str,
    creator: dict[str, Any],
    at: dt.datetime,
) -> dict[str, Any]:
    return {
        "url": f"{api}/repos/{full_name}/statuses/{sha}",
        "avatar_url": creator["avatar_url"],
        "id": sid,
        "node_id": node_id("StatusContext", sid),
        "state": state,
        "description": description,
        "target_url": target_url,
        "context": context,
        "created_at": iso(at),
        "updated_at": iso(at),
        "creator": creator,
    }


def integration(api: str, web: str, app_id: int, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": app_id,
        "slug": "pullrekun",
        "node_id": node_id("Integration", app_id),
        "client_id": f"Iv1.{app_id:016x}",
        "owner": owner,
        "name": "pullrekun",
        "description": "Preview environments per pull request",
        "external_url": f"{web}/apps/pullrekun",
        "html_url": f"{web}/apps/pullrekun",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {"checks": "write", "deployments": "write", "issues": "write", "metadata": "read"},
        "events": [],
    }


def check_run(
    api: str,
    web: str,
    full_name: str,
    rid: int,
    fields: dict[str, Any],
    app: dict[str, Any],
    suite_id: int,
    started: dt.datetime,
    completed: dt.datetime | None,
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}/check-runs/{rid}"
    output = fields.get("output") or {}
    return {
        "id": rid,
        "head_sha": fields["head_sha"],
        "node_id": node_id("CheckRun", rid),
        "external_id": fields.get("external_id", ""),
        "url": url,
        "html_url": f"{web}/{full_name}/runs/{rid}",
        "details_url": fields.get("details_url"),
        "status": fields.get("status", "queued"),
        "conclusion": fields.get("conclusion"),
        "started_at": iso(started),
        "completed_at": iso(completed) if completed else None,
        "output": {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "name": fields["name"],
        "check_suite": {"id": suite_id},
        "app": app,
        "pull_requests": [],
    }


def deployment(
    api: str, full_name: str, did: int, fields: dict[str, Any], creator: dict[str, Any], at: dt.datetime
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}/deployments/{did}"
    return {
        "url": url,
        "id": did,
        "node_id": node_id("Deployment", did),
        "sha": fields["ref"],
        "ref": fields["ref"],
        "task": fields.get("task", "deploy"),
        "payload": fields.get("payload", {}),
        "original_environment": fields.get("environment", "production"),
        "environment": fields.get("environment", "production"),
        "description": fields.get("description"),
        "creator": creator,
        "created_at": iso(at),
        "updated_at": iso(at),
        "statuses_url": f"{url}/statuses",
        "repository_url": f"{api}/repos/{full_name}",
        "transient_environment": bool(fields.get("transient_environment", False)),
        "production_environment": bool(fields.get("production_environment", False)),
    }


def deployment_status(
    api: str,
    full_name: str,
    did: int,
    sid: int,
    fields: dict[str, Any],
    environment: str,
    creator: dict[str, Any],
    at: dt.datetime,
) -> dict[str, Any]:
    dep_url = f"{api}/repos/{full_name}/deployments/{did}"
    return {
        "url": f"{dep_url}/statuses/{sid}",
        "id": sid,
        "node_id": node_id("DeploymentStatus", sid),
        "state": fields["state"],
        "creator": creator,
        "description": fields.get("description", ""),
        "environment": environment,
        "target_url": fields.get("target_url", ""),
        "created_at": iso(at),
        "updated_at": iso(at),
        "deployment_url": dep_url,
        "repository_url": f"{api}/repos/{full_name}",
        "environment_url": fields.get("environment_url", ""),
        "log_url": fields.get("log_url", ""),
    }


def issue_comment(
    api: str,
    web: str,
    full_name: str,
    cid: int,
    number: int,
    body: str,
    user_: dict[str, Any],
    created: dt.datetime,
    updated: dt.datetime,
) -> dict[str, Any]:
    return {
        "id": cid,
        "node_id": node_id("IssueComment", cid),
        "url": f"{api}/repos/{full_name}/issues/comments/{cid}",
        "html_url": f"{web}/{full_name}/pull/{number}#issuecomment-{cid}",
        "body": body,
        "user": user_,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "issue_url": f"{api}/repos/{full_name}/issues/{number}",
        "author_association": "NONE",
    }


def installation_token(token: str, expires: dt.datetime) -> dict[str, Any]:
    return {
        "token": token,
        "expires_at": iso(expires),
        "permissions": {"checks": "write", "deployments": "write", "issues": "write", "metadata": "read"},
        "repository_selection": "selected",
    }
