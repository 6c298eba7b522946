"""A warm ``ansible-playbook`` for `pullrekun serve`: Ansible imported once, each run a fork.

``ansible-playbook`` spends about 0.4 s of every run importing Ansible before it reads its first
file. `serve` runs a pass after each push, so it keeps one process (the *warm start*,
``python -m pullrekun.adapters.playbook.warm SOCKET PARENT``) that has imported Ansible with the
settings of the runs it serves, and the playbook guard asks it for a fork instead of starting
``ansible-playbook`` afresh. Everything else about a run stays as it was:

- ansible-runner starts the guard as before (a pty, the secrets asked for on it); the guard sends
  the warm start its terminal (the file descriptors), arguments, working directory, umask,
  environment and secrets over a Unix socket only this user can reach (a directory of mode 0700;
  the peer's uid is checked);
- the fork leads a process group of its own and tells the guard who it is; the guard adds that
  group to its run record *before* the fork may start, so every crash path still ends the run:
  the guard ends the run (the group and its members' descendants: Ansible's workers lead sessions
  of their own) with its own when the pass dies, the warm start ends it when the
  guard's connection closes first (a guard killed with ``kill -9``), and the next pass ends what
  a record names (:func:`pullrekun.adapters.playbook.orphans.end_orphaned_runs`);
- Ansible reads its settings from the environment when it is imported: a fork is given only
  to a run whose settings (``ANSIBLE_*``, the locale, ``HOME``, ``PYTHON*``) are exactly those
  the warm start imported with. The first run's settings are the ones it imports with (that run
  waits for the import, then is forked: a cold start beside the import would cost the cores the
  same imports twice); a run with other settings is started cold.

The guard's half (frames, asking for a fork) is :mod:`pullrekun.adapters.playbook.handoff`.
Only the standard library at import; Ansible is imported when the first run's settings arrive.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pullrekun.adapters.playbook.handoff import recv, send
from pullrekun.adapters.playbook.procs import Process, end_run, group_of, run_processes, signal_processes

_PR_SET_PDEATHSIG = 1
#: How long a run gets between SIGTERM and SIGKILL when the warm start ends it.
GRACE_SECONDS = 3.0


def import_time_settings(env: Mapping[str, str]) -> dict[str, str]:
    """What of an environment Ansible reads when it is imported (and so must match a fork's)."""
    return {
        k: v
        for k, v in env.items()
        if k.startswith(("ANSIBLE_", "LC_", "PYTHON")) or k in {"LANG", "LANGUAGE", "HOME", "TZ"}
    }


# -- the server half: the warm start ---------------------------------------------------------


def _proc_start(pid: int) -> int | None:
    info = group_of(pid)
    return None if info is None else info[1]


@dataclass
class _Server:
    listener: socket.socket
    #: The process that started this one (`serve`): when it is gone, so is this one.
    parent: int
    #: Where signal handlers write a byte to wake the loop (:func:`signal.set_wakeup_fd`).
    wakeup: int
    #: The settings Ansible was imported with (None: not yet imported).
    settings: dict[str, str] | None = None
    #: connection -> (the fork's pgid, its start time)
    runs: dict[socket.socket, tuple[int, int]] = field(default_factory=dict)
    #: runs (a fork's group) sent SIGTERM -> (their processes seen so far, when SIGKILL follows)
    ending: dict[tuple[int, int], tuple[set[Process], float]] = field(default_factory=dict)
    stopping: bool = False

    def loop(self) -> None:
        # A run's connection is shared with its fork, which reads the guard's "go" from it: this
        # process must not read it, only learn when the guard's end closes (POLLRDHUP).
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        poller.register(self.wakeup, select.POLLIN)
        by_fd: dict[int, socket.socket] = {}
        while not self.stopping:
            # Once a second at least: a parent gone without the kernel's signal ends this too.
            deadline = min((d for _, d in self.ending.values()), default=time.monotonic() + 1)
            events = poller.poll(max(0, int((deadline - time.monotonic()) * 1000) + 1))
            if os.getppid() != self.parent:
                self.stopping = True
            for fd, _mask in events:
                if fd == self.wakeup:
                    os.read(fd, 512)  # a signal: its handler has said what to do
                elif fd == self.listener.fileno():
                    conn = self._accept()
                    if conn is not None:
                        by_fd[conn.fileno()] = conn
                        poller.register(conn, select.POLLRDHUP)
                elif fd in by_fd:
                    conn = by_fd.pop(fd)
                    poller.unregister(fd)
                    self._closed(conn)
            self._follow_up()
        known = {p for seen, _ in self.ending.values() for p in seen}
        end_run([*self.runs.values(), *self.ending], GRACE_SECONDS, known=known)

    def _end(self, pgid: int, start: int) -> None:
        """SIGTERM to the run (the fork, its workers, what they started); SIGKILL follows."""
        seen = run_processes([(pgid, start)])
        signal_processes(seen, signal.SIGTERM)
        if seen:
            self.ending[(pgid, start)] = (seen, time.monotonic() + GRACE_SECONDS)

    def _follow_up(self) -> None:
        """Runs being ended: SIGTERM to processes found since, SIGKILL to all once overdue."""
        now = time.monotonic()
        for group, (seen, deadline) in list(self.ending.items()):
            alive = run_processes([group], seen)
            if deadline <= now:
                signal_processes(alive, signal.SIGKILL)
            else:
                signal_processes(alive - seen, signal.SIGTERM)
            if deadline <= now or not alive:
                del self.ending[group]
            else:
                self.ending[group] = (seen | alive, deadline)

    def _closed(self, sock: socket.socket) -> None:
        """The guard's end closed: its run is over, or the guard died; nothing of it may go on."""
        pgid, start = self.runs.pop(sock)
        sock.close()
        self._end(pgid, start)

    def _accept(self) -> socket.socket | None:
        """Take one request; the connection of a run now forked, else None."""
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                raise PermissionError(f"a connection from uid {uid}")
            conn.settimeout(10)
            request, fds = recv(conn, max_fds=3)
            if len(fds) != 3:
                raise ValueError("a request without its terminal")
            if self.settings is None:
                # The first run waits for the import and is forked: a cold start beside it
                # would import Ansible a second time, on the same cores.
                self._warm_up(request["env"])
            if import_time_settings(request["env"]) != self.settings:
                send(conn, {"warm": False})
                conn.close()
                return None
            return self._fork(conn, request, fds)
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"pullrekun warm start: refused a request: {exc}\n")
            conn.close()
            return None
        finally:
            for fd in fds:
                os.close(fd)

    def _warm_up(self, env: Mapping[str, str]) -> None:
        """Import Ansible with these settings (the secrets never reach this process's environment)."""
        os.environ.clear()
        os.environ.update(env)
        from pullrekun.adapters.playbook import playbook_cli

        playbook_cli.load()
        playbook_cli.preload()
        self.settings = import_time_settings(env)

    def _fork(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> socket.socket | None:
        pid = os.fork()
        if pid == 0:
            _child(conn, request, fds, [self.listener, *self.runs], self.wakeup)  # never returns
        start = _proc_start(pid)
        if start is None:  # already gone
            conn.close()
            return None
        self.runs[conn] = (pid, start)  # from here on, a closed connection ends the group
        try:
            send(conn, {"warm": True, "pgid": pid, "start": start})
        except OSError:  # the guard is gone already
            del self.runs[conn]
            conn.close()
            self._end(pid, start)
            return None
        return conn


def _child(
    conn: socket.socket, request: dict[str, Any], fds: list[int], others: list[socket.socket], wakeup: int
) -> None:
    """The fork: a run of ``ansible-playbook`` on the guard's terminal, once the guard says go."""
    code = 1
    try:
        os.setsid()  # a process group (and session) of its own: the run, its workers, their ssh
        signal.set_wakeup_fd(-1)
        os.close(wakeup)
        for sock in others:
            sock.close()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        conn.settimeout(None)
        message, _ = recv(conn)  # the guard has recorded this group
        if not message.get("go"):
            os._exit(2)
        argv, cwd = [str(a) for a in request["argv"]], str(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.update(request["secrets"])
        os.umask(int(request["umask"]))  # the guard's, as a cold run inherits it
        request.clear()
        os.chdir(cwd)
        from pullrekun.adapters.playbook import playbook_cli

        code = playbook_cli.run_forked(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # anything at all: said on the run's terminal, never raised in the fork
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(Exception):
            send(conn, {"rc": code})
        os._exit(code)


def serve(socket_path: Path, parent: int) -> int:
    """The warm start's main loop, until its parent (`serve`) ends or sends SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0 or os.getppid() != parent:
        return 2
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    socket_path.chmod(0o600)
    listener.listen(16)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    server = _Server(listener, parent, wake_read)

    def stop(_signum: int, _frame: object) -> None:
        server.stopping = True

    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    print("ready", flush=True)
    server.loop()
    return 0


# -- the `serve` side: one warm start per process ---------------------------------------------


@dataclass(frozen=True)
class WarmStart:
    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


_current: WarmStart | None = None


def socket_path() -> Path | None:
    """The socket of this process's warm start, if one runs (guards of this process's runs use it)."""
    return None if _current is None else _current.socket


@contextlib.contextmanager
def warm_playbooks() -> Iterator[WarmStart | None]:
    """Run a warm start for as long as the block lasts (`serve`); yields it, or None if it could
    not start (every run then starts cold, as under `reconcile`).

    The kernel's signal on the parent's death follows the *thread* that started the process:
    enter this from one that lives as long as the block (`serve` does, from its main thread).
    The warm start also looks for its parent every second."""
    global _current
    outer = _current
    home = Path(tempfile.mkdtemp(prefix="pullrekun-warm-"))  # mode 0700
    path = home / "socket"
    # Not serve's stderr: what Ansible's imports warn would break serve's structured logs. Each
    # fork's stderr is its run's terminal (its output is the run's, as a cold run's is).
    proc = subprocess.Popen(
        [sys.executable, "-m", __name__, str(path), str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip() == b"ready"
        proc.stdout.close()
        if not ready:
            sys.stderr.write("pullrekun: the warm ansible-playbook did not start; runs start cold\n")
        _current = WarmStart(path, proc) if ready else None
        yield _current
    finally:
        _current = outer  # a block inside another's: the outer warm start serves again
        proc.terminate()
        try:
            proc.wait(GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            sys.stderr.write("pullrekun: the warm ansible-playbook did not stop on SIGTERM; killed\n")
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), int(sys.argv[2])))
