"""The guard's half of the warm start (:mod:`pullrekun.adapters.playbook.warm`): frames over its
Unix socket, and asking it for a fork. Only the standard library, and little of it: the guard,
started once per run, imports this.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_HEADER = struct.Struct("!I")
_MAX_FRAME = 16 * 1024 * 1024


# -- frames: a length, then JSON; the first frame of a request carries the terminal's fds ------


def send(sock: socket.socket, message: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame], list(fds))
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the other end closed the connection")
        data += chunk
    return bytes(data)


def recv(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if max_fds:
        head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, max_fds)
        if not head:
            raise EOFError("the other end closed the connection")
        head += _recv_exact(sock, _HEADER.size - len(head))
    else:
        head = _recv_exact(sock, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    if size > _MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes")
    message = json.loads(_recv_exact(sock, size))
    if not isinstance(message, dict):
        raise ValueError("a frame that is not an object")
    return message, fds


# -- the client half: the guard asks for a fork ------------------------------------------------


class WarmRun:
    """A run forked by the warm start: its process group, and the connection its code comes by."""

    __slots__ = ("pgid", "sock", "start")

    def __init__(self, sock: socket.socket, pgid: int, start: int) -> None:
        self.sock, self.pgid, self.start = sock, pgid, start

    def go(self) -> None:
        send(self.sock, {"go": True})

    def wait(self, poll: float, on_tick: Callable[[], None]) -> int:
        """The run's exit code (1 if it died without giving one); ``on_tick`` every ``poll`` s."""
        self.sock.settimeout(None)
        while True:
            ready, _, _ = select.select([self.sock], [], [], poll)
            if not ready:
                on_tick()
                continue
            try:
                message, _ = recv(self.sock)
            except (EOFError, OSError, ValueError):
                sys.stderr.write("playbook guard: the warm ansible-playbook ended without an exit code\n")
                return 1
            return int(message.get("rc", 1))


def ask(
    socket_path: str, argv: Sequence[str], cwd: str, env: Mapping[str, str], secrets: Mapping[str, str]
) -> WarmRun | None:
    """A fork of the warm start for this run, not yet started; None to start it cold instead."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10)
        sock.connect(socket_path)
        umask = os.umask(0o077)  # read it: the run creates its files with the guard's mask
        os.umask(umask)
        request = {"argv": list(argv), "cwd": cwd, "env": dict(env), "secrets": dict(secrets), "umask": umask}
        send(sock, request, fds=(0, 1, 2))
        answer, _ = recv(sock)
        if not answer.get("warm"):
            sock.close()
            return None
        return WarmRun(sock, int(answer["pgid"]), int(answer["start"]))
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write(f"playbook guard: no warm ansible-playbook ({exc}); starting one\n")
        sock.close()
        return None
