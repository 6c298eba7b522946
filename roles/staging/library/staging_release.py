#!/usr/bin/python
"""Ansible module: ensure releases/<sha> exists from a cached bare clone, and prune old ones."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: staging_release
short_description: Ensure the release directory for one commit exists in an ansistrano-like layout.
description:
  - Keeps a bare cached clone under I(root)/repo, fetching only when the commit is missing.
  - Exports the commit with C(git archive) into I(root)/releases/<sha>.partial, writes
    C(REVISION) and renames the directory into place, so a release directory is always complete.
  - Removes releases beyond I(keep), never the live one (the target of I(root)/current)
    nor the one being ensured, and any leftover C(.partial) directory.
  - Claims the host for one I(environment) first: when the host last served another one, the
    app is stopped (through C(shared/appctl stop)), what the previous environment's code left is
    wiped (C(shared/wipe): the app user's processes, home and temporary files, C(shared/data),
    the log) and C(current) removed before anything of the new environment is put in place, so
    a URL never serves another environment's commit and nothing of one PR reaches the next.
  - Reports whether the migrate command already ran for this release on the environment's
    schema (a marker under C(shared/migrated/), written by C(shared/migrate) after it succeeds),
    after forgetting the markers of a schema that is about to be cloned afresh.
  - Trusts a present release only after checking it is as exported - C(REVISION) names the
    commit, and every entry belongs to the deploying user and is writable by it alone; a release
    that fails the check (say, one the app's user could write into) is removed and exported again,
    its app stopped first if it ran from it.
  - Keeps C(shared/data), the one directory the app's user (I(app_user)) may write.
  - Deploying a commit whose release is present reports C(changed=false).
options:
  app_user:
    description:
      - The user the app runs as; C(shared/data) is made its own when the module runs as root.
        Empty - the deploying user.
    type: str
    default: ""
  repo:
    description: URL of the repository (anything git clone understands).
    type: str
    required: true
  sha:
    description: The commit, 40 lowercase hex characters.
    type: str
    required: true
  root:
    description: Root of the layout (repo/, releases/, shared/, current).
    type: path
    required: true
  refspec:
    description: Extra refspec fetched into the cached clone (e.g. GitHub's PR refs).
    type: str
    default: ""
  keep:
    description: How many releases to keep.
    type: int
    default: 3
  activate:
    description:
      - Also point I(root)/current at the release (atomically, by renaming a new symlink over
        it). Leave false when tasks must run in the release before it goes live.
    type: bool
    default: false
  converge:
    description:
      - With I(activate), also run C(shared/appctl converge <sha>) once the release is live (the
        app restarted unless it runs this release with these settings, then its health check),
        saving the restart task's round trip. Its outcome is returned as C(restart); the module
        does not fail for it (the role's next tasks judge it).
    type: bool
    default: false
  environment:
    description:
      - Which environment the host serves (e.g. C(pr-12)); empty - no claim.
    type: str
    default: ""
  migrate_key:
    description:
      - The schema the migrate command works on (C(-) without a database); empty - no migrate command.
    type: str
    default: ""
  forget_migrations:
    description:
      - The schema I(migrate_key) is about to be replaced by a fresh clone - forget which releases
        were migrated on it.
    type: bool
    default: false
  shared_files:
    description:
      - Files kept under I(root)/shared (e.g. the app control script), written atomically
        and only when their content or mode differs. Never logged - app.env holds a password.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: File name (no directories).
        type: str
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0644"
      python:
        description:
          - A Python script (standard library only) - its first line becomes C(#!) and the
            interpreter this module runs with (the one Ansible found on the host), with C(-IS)
            - isolated from the environment and from site packages, whatever C(python3) the
            PATH would name.
        type: bool
        default: false
author: pullrekun
"""

EXAMPLES = r"""
- name: Ensure the release for the commit is present.
  staging_release:
    repo: git@github.com:acme/webapp.git
    sha: 0123456789abcdef0123456789abcdef01234567
    root: /srv/app
    refspec: "+refs/pull/*/head:refs/remotes/origin/pr/*"
"""

RETURN = r"""
release:
  description: Path of the release directory.
  type: str
  returned: always
created:
  description: Whether the release directory was created by this run.
  type: bool
  returned: always
fetched:
  description: Whether the cached clone had to fetch.
  type: bool
  returned: always
switched:
  description: Whether this run changed where I(root)/current points.
  type: bool
  returned: always
claimed:
  description:
    - Whether the host served another environment (its app was stopped, the host wiped,
      C(current) removed).
  type: bool
  returned: always
previous_environment:
  description: The environment the host served before this run (empty - none recorded).
  type: str
  returned: always
migrated:
  description: Whether the migrate command already succeeded for this release on I(migrate_key).
  type: bool
  returned: always
shared_changed:
  description: Names of the shared files that were written.
  type: list
  elements: str
  returned: always
reexported:
  description: Why a present release was not trusted and exported again (empty - it was trusted).
  type: str
  returned: always
pruned:
  description: Release directories removed.
  type: list
  elements: str
  returned: always
restart:
  description: What C(appctl converge) answered (C(rc), C(stdout_lines), C(stderr_lines)).
  type: dict
  returned: when I(converge) and I(activate) are set, outside check mode
"""

import os
import re
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.staging_layout import (
    activate,
    data_dir,
    export,
    fetch,
    has_commit,
    prune,
    shared_files,
    untrusted,
)

SHA_RE = re.compile(r"\A[0-9a-f]{40}\Z")
NAME_RE = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")


def _write_atomically(path, content):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(content)
    os.rename(tmp, path)


def _claim(module, root, environment, check):
    """Stop the app of another environment and drop its current link; returns (claimed, previous)."""
    shared = os.path.join(root, "shared")
    env_file = os.path.join(shared, "environment")
    try:
        with open(env_file) as fh:
            previous = fh.read().strip()
    except FileNotFoundError:
        previous = ""
    if previous == environment:
        return False, previous
    if not check:
        appctl = os.path.join(shared, "appctl")
        if os.path.exists(appctl):
            rc, out, err = module.run_command([appctl, "stop"])
            if rc != 0:
                module.fail_json(
                    msg="stopping the app of {} failed: {}".format(
                        previous or "an earlier deploy", (err or out).strip()
                    )
                )
        # Whatever the previous environment's code left (processes, files in the app user's
        # home and temporary directories, shared/data, the log) goes before the new one's
        # code runs; the claim is recorded only once that is done, so a deploy killed half-way
        # wipes again.
        wipe = os.path.join(shared, "wipe")
        if os.path.exists(wipe):
            rc, out, err = module.run_command([wipe])
            if rc != 0:
                module.fail_json(
                    msg="wiping what {} left on the host failed: {}".format(
                        previous or "an earlier deploy", (err or out).strip()
                    )
                )
        current = os.path.join(root, "current")
        if os.path.lexists(current):
            os.unlink(current)
        _write_atomically(env_file, environment + "\n")
    return True, previous


def _retire(module, root, release):
    """Remove an untrusted release, after stopping its app if the app runs from it."""
    appctl = os.path.join(root, "shared", "appctl")
    live = os.path.realpath(os.path.join(root, "current")) == os.path.realpath(release)
    if live and os.path.exists(appctl):
        rc, out, err = module.run_command([appctl, "stop"])
        if rc != 0:
            module.fail_json(msg="stopping the app of an untrusted release failed: " + (err or out).strip())
    doomed = release + ".untrusted"
    shutil.rmtree(doomed, ignore_errors=True)
    os.rename(release, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _migrated(module, shared, key, sha, forget, check):
    """Whether releases/<sha> was migrated on schema ``key`` (after forgetting ``key`` if asked)."""
    if not key:
        return False
    if not NAME_RE.match(key):
        module.fail_json(msg=f"migrate_key must be a schema name or '-', got {key!r}")
    markers = os.path.join(shared, "migrated", key)
    if forget:
        if not check:
            shutil.rmtree(markers, ignore_errors=True)
        return False
    return os.path.isfile(os.path.join(markers, sha))


ARGUMENT_SPEC = dict(
    repo=dict(type="str", required=True),
    sha=dict(type="str", required=True),
    root=dict(type="path", required=True),
    refspec=dict(type="str", default=""),
    keep=dict(type="int", default=3),
    activate=dict(type="bool", default=False),
    environment=dict(type="str", default=""),
    migrate_key=dict(type="str", default=""),
    forget_migrations=dict(type="bool", default=False),
    converge=dict(type="bool", default=False),
    app_user=dict(type="str", default=""),
    shared_files=dict(
        type="list",
        elements="dict",
        default=[],
        no_log=True,  # app.env holds the database password
        options=dict(
            name=dict(type="str", required=True),
            content=dict(type="str", required=True),
            mode=dict(type="str", default="0644"),
            python=dict(type="bool", default=False),
        ),
    ),
)


def _predict(module, p, paths, missing_dirs, present, result):
    """Check mode: what the release would change, nothing changed."""
    root, release, shared = paths
    sha = p["sha"]
    result["shared_changed"] = shared_files(module, shared, p["shared_files"], True)
    if present:
        result["reexported"] = untrusted(release, sha)
        present = not result["reexported"]
    if not missing_dirs and data_dir(module, shared, p["app_user"], True):
        result["shared_changed"].append("data")
    if p["environment"] and not missing_dirs:
        result["claimed"], result["previous_environment"] = _claim(module, root, p["environment"], True)
    result["migrated"] = _migrated(module, shared, p["migrate_key"], sha, p["forget_migrations"], True)
    result["switched"] = p["activate"] and (result["claimed"] or activate(root, release, True))
    result["changed"] = (
        bool(missing_dirs)
        or not present
        or bool(result["shared_changed"])
        or result["switched"]
        or result["claimed"]
        or p["forget_migrations"]
    )
    result["created"] = not present
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    sha, root = p["sha"], p["root"]
    if not SHA_RE.match(sha):
        module.fail_json(msg=f"sha must be 40 lowercase hex characters, got {sha!r}")
    if p["keep"] < 1:
        module.fail_json(msg="keep must be at least 1")
    if p["environment"] and not NAME_RE.match(p["environment"]):
        module.fail_json(
            msg="environment must be 1-64 of A-Z a-z 0-9 . _ -, got {!r}".format(p["environment"])
        )
    releases = os.path.join(root, "releases")
    cache = os.path.join(root, "repo")
    release = os.path.join(releases, sha)
    shared = os.path.join(root, "shared")
    result = dict(
        changed=False,
        release=release,
        created=False,
        fetched=False,
        pruned=[],
        shared_changed=[],
        switched=False,
        claimed=False,
        previous_environment="",
        migrated=False,
        reexported="",
    )

    missing_dirs = [d for d in (root, releases, os.path.join(root, "shared")) if not os.path.isdir(d)]
    present = os.path.isfile(os.path.join(release, "REVISION"))
    if module.check_mode:
        module.exit_json(**_predict(module, p, (root, release, shared), missing_dirs, present, result))

    for d in missing_dirs:
        os.makedirs(d, mode=0o755, exist_ok=True)
    result["changed"] = bool(missing_dirs) | data_dir(module, shared, p["app_user"], False)
    # The control script first: the claim below stops the app with it.
    result["shared_changed"] = shared_files(module, shared, p["shared_files"], False)
    if p["environment"]:
        result["claimed"], result["previous_environment"] = _claim(module, root, p["environment"], False)
    result["migrated"] = _migrated(module, shared, p["migrate_key"], sha, p["forget_migrations"], False)
    if present:
        result["reexported"] = untrusted(release, sha)
        if result["reexported"]:
            _retire(module, root, release)
            present = result["migrated"] = False
    if not present:
        if not has_commit(module, cache, sha):
            fetch(module, p["repo"], cache, sha, p["refspec"])
            result["fetched"] = True
        export(module, cache, sha, release)
        result["created"] = result["changed"] = True
    if p["activate"]:
        result["switched"] = activate(root, release, False)
    result["pruned"] = prune(root, releases, p["keep"], release, False)
    result["changed"] = (
        result["changed"]
        or bool(result["pruned"])
        or bool(result["shared_changed"])
        or result["switched"]
        or result["claimed"]
        or p["forget_migrations"]
    )
    if p["converge"] and p["activate"]:
        rc, out, err = module.run_command([os.path.join(shared, "appctl"), "converge", sha])
        stdout_lines, stderr_lines = out.splitlines(), err.splitlines()
        result["restart"] = dict(rc=rc, stdout_lines=stdout_lines, stderr_lines=stderr_lines)
        result["changed"] = result["changed"] or (stdout_lines[:1] != ["running"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
