"""The release layout's file work for the staging_release module (runs on the staging host):
the cached clone, exports, the trust check of a present release, shared/ and its data directory,
pruning and the switch of ``current``."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys


def git(module, cache, *args):
    return module.run_command(["git", "--git-dir=" + cache, *args])


def has_commit(module, cache, sha):
    if not os.path.isdir(cache):
        return False
    rc, _, _ = git(module, cache, "cat-file", "-e", sha + "^{commit}")
    return rc == 0


def fetch(module, repo, cache, sha, refspec):
    if not os.path.isdir(cache):
        rc, _, err = module.run_command(["git", "clone", "--quiet", "--bare", repo, cache])
        if rc != 0:
            module.fail_json(msg="git clone of the repository failed: " + err.strip())
    specs = ["+refs/heads/*:refs/heads/*"] + ([refspec] if refspec else [])
    rc, _, err = git(module, cache, "fetch", "--quiet", "--prune", repo, *specs)
    if rc != 0:
        module.fail_json(msg="git fetch failed: " + err.strip())
    if not has_commit(module, cache, sha):
        # Servers that allow it (GitHub does) hand out any reachable commit by id.
        git(module, cache, "fetch", "--quiet", repo, sha)
    if not has_commit(module, cache, sha):
        module.fail_json(msg=f"commit {sha} is not in the repository {repo}")


def export(module, cache, sha, release):
    partial = release + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    # Files 0644 and directories 0755 whatever git's default umask, owned by the deploying user.
    archive = subprocess.Popen(
        ["git", "-c", "tar.umask=0022", "--git-dir=" + cache, "archive", sha], stdout=subprocess.PIPE
    )
    tar = subprocess.run(
        ["tar", "-x", "--no-same-owner", "-C", partial], stdin=archive.stdout, capture_output=True
    )
    archive.stdout.close()
    if archive.wait() != 0 or tar.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        module.fail_json(msg="exporting {} failed: {}".format(sha, tar.stderr.decode(errors="replace")))
    with open(os.path.join(partial, "REVISION"), "w") as fh:
        fh.write(sha + "\n")
    os.rename(partial, release)


def untrusted(release, sha):
    """Why the present release cannot be trusted as the export of ``sha`` (empty: it can)."""
    try:
        with open(os.path.join(release, "REVISION")) as fh:
            if fh.read().strip() != sha:
                return "its REVISION names another commit"
    except OSError as exc:
        return f"its REVISION cannot be read ({exc.strerror})"
    me = os.getuid()
    for top, dirs, files in os.walk(release):
        for name in ["", *dirs, *files]:
            path = os.path.join(top, name) if name else top
            st = os.lstat(path)
            if st.st_uid != me:
                where = os.path.relpath(path, release)
                return f"{where} belongs to uid {st.st_uid}, not the deploying user"
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o022:
                where = os.path.relpath(path, release)
                return f"{where} is writable by others than the deploying user"
    return ""


def data_dir(module, shared, app_user, check):
    """Ensure shared/data, the one directory the app may write (the app user's when we are root)."""
    data = os.path.join(shared, "data")
    changed = not os.path.isdir(data)
    if changed and not check:
        os.makedirs(data, mode=0o750, exist_ok=True)
    if app_user and os.getuid() == 0:
        try:
            entry = pwd.getpwnam(app_user)
        except KeyError:
            module.fail_json(msg=f"the app's user {app_user!r} does not exist: run the bootstrap")
        st = os.lstat(data) if os.path.lexists(data) else None
        if st is None or (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
            changed = True
            if not check:
                os.lchown(data, entry.pw_uid, entry.pw_gid)
    return changed


def prune(root, releases, keep, release, check):
    live = os.path.realpath(os.path.join(root, "current"))
    entries = []
    for name in os.listdir(releases):
        path = os.path.join(releases, name)
        if os.path.isdir(path) and not os.path.islink(path):
            entries.append(path)
    pruned = [p for p in entries if p.endswith(".partial") and p != release + ".partial"]
    full = sorted(
        (p for p in entries if not p.endswith(".partial")), key=lambda p: os.stat(p).st_mtime, reverse=True
    )
    protected = {os.path.realpath(release), live}
    others = [p for p in full if os.path.realpath(p) not in protected]
    room = max(0, keep - (len(full) - len(others)))
    pruned.extend(others[room:])
    if not check:
        for path in pruned:
            shutil.rmtree(path, ignore_errors=True)
    return sorted(pruned)


def python_shebang():
    """The first line of the Python scripts kept in shared/: this interpreter, isolated."""
    return "#!%s -IS\n" % (sys.executable or "/usr/bin/python3")


def shared_files(module, shared, files, check):
    changed = []
    for spec in files:
        name, content, mode = spec["name"], spec["content"], int(spec["mode"], 8)
        if spec.get("python"):
            content = python_shebang() + content
        if not re.match(r"\A[A-Za-z0-9._-]+\Z", name) or name in (".", ".."):
            module.fail_json(msg=f"shared file name must be a plain file name, got {name!r}")
        path = os.path.join(shared, name)
        try:
            with open(path) as fh:
                same = fh.read() == content and (os.stat(path).st_mode & 0o7777) == mode
        except FileNotFoundError:
            same = False
        if same:
            continue
        changed.append(name)
        if check:
            continue
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    return changed


def activate(root, release, check):
    current = os.path.join(root, "current")
    try:
        if os.readlink(current) == release:
            return False
    except OSError:
        pass
    if not check:
        tmp = current + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(release, tmp)
        os.rename(tmp, current)
    return True
