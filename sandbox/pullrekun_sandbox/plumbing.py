"""The sandbox's plumbing: moto's EC2 server (one per process), free ports on the hosts'
addresses, the config written as TOML, and who runs it."""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

#: moto keeps its EC2 backends per process, so one server per process serves every sandbox
#: (each starts from a reset EC2); stopping a werkzeug server costs half a second.
_MOTO: Any = None
#: The one machine image moto's EC2 offers the sandbox (moto reads MOTO_AMIS_PATH when it loads
#: its EC2 models). moto's own list is about 1,300 images, each made with a snapshot and a volume
#: at every EC2 reset (about 0.2 s of CPU per sandbox) and 1.4 s to list once per process.
AMIS = Path(__file__).with_name("moto-amis.json")


def current_user() -> str:
    return getpass.getuser()


def moto_server() -> Any:
    """This process's moto EC2 server, started on first use and left running."""
    global _MOTO
    if _MOTO is None:
        os.environ.setdefault("MOTO_AMIS_PATH", str(AMIS))
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        _MOTO = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        _MOTO.start()
    return _MOTO


def free_port(first_host: int, hosts: int, net: str = "127.0.0") -> int:
    """A TCP port that is free on all the sandbox's host addresses."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            for n in range(first_host, first_host + hosts):
                with socket.socket() as s:
                    s.bind((f"{net}.{n}", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port on the sandbox's host addresses")


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the sandbox's config (tables of strings, numbers and flat tables)."""
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if isinstance(value, dict):
                # Keys quoted: "t3.micro" is one key, not a dotted path.
                rendered = (
                    "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + " }"
                )
            elif isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, int | float):
                rendered = str(value)
            else:
                rendered = json.dumps(value)  # strings and lists of strings are valid TOML as JSON
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)


def share_payloads(local_tmp: Path, shared: Path) -> None:
    """Point a world's payload keeps (its runs' ``ANSIBLE_LOCAL_TEMP`` is the state directory's
    ``ansible-tmp``) at ``shared``, if ``shared`` is this user's alone: what others may write is
    never sent to a host to run."""
    shared.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = shared.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return
    local_tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("pullrekun-bytecode", "pullrekun-imports"):
        (shared / name).mkdir(mode=0o700, exist_ok=True)
        link = local_tmp / name
        if not link.exists():
            link.symlink_to(shared / name)
