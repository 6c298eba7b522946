"""A complete pullrekun world on one machine: GitHub simulator, moto's EC2 server,
a git repository of a small app, and staging "hosts" on loopback addresses.

Used by ``pullrekun sandbox`` and by the end-to-end tests. Hosts run the app for real
(start-stop-daemon), each from its own directory and bound to its own 127.0.0.N
address. ``connection="local"`` needs neither root nor sshd; the tests pass
``connection="ssh"`` with loopback sshd hosts to prove the SSH path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3

from pullrekun.core import tags as tag
from pullrekun_sandbox import launching
from pullrekun_sandbox.github_sim import GitHubSimulator
from pullrekun_sandbox.plumbing import current_user, free_port, moto_server, share_payloads, to_toml

_IMAGE: str | None = None
_EC2_CLIENTS: dict[str, Any] = {}
APP_SOURCE = Path(__file__).resolve().parent / "app" / "app.py"
TOKEN = "ghp_sandbox_token_0123456789"
#: moto takes any credentials; these are long and odd enough to be searched for in what is written.
AWS_ACCESS_KEY = "AKIASANDBOX000000042"
AWS_SECRET_KEY = "sandbox/aws+secret-key-0123456789"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@example.invalid",
    "GIT_COMMITTER_NAME": "Sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


@dataclass
class SSHSettings:
    user: str
    private_key: str
    #: Nothing about host keys: pullrekun pins them in its own known_hosts, by instance id.
    common_args: str = ""


@dataclass
class Sandbox:
    root: Path
    hosts: int = 3
    connection: str = "local"
    ssh: SSHSettings | None = None
    state_url: str | None = None
    app_port: int = 0  # 0: a port free on every host address
    first_host: int = 2
    #: The /24 of loopback the hosts live in: hosts are <net>.<first_host>, <net>.<first_host + 1>, ...
    net: str = "127.0.0"
    health_timeout: int = 30
    extra_config: dict[str, Any] = field(default_factory=dict)
    #: Authenticate as a GitHub App (check runs) instead of with a token (commit statuses).
    github_app: bool = False
    #: Loopback addresses for instances pullrekun launches (after the pool's): with any, the
    #: config gets a launch template and ``max_size`` = hosts + launch_hosts.
    launch_hosts: int = 0

    #: A directory where every world's runs keep their module payloads' bytecode and import
    #: scans (the test suite's: kept by content, so worlds share them safely); None: each
    #: world keeps its own in its state directory, as a controller does.
    shared_payloads: ClassVar[Path | None] = None

    github: GitHubSimulator = field(init=False)
    moto: Any = field(init=False, default=None)
    instance_ids: list[str] = field(init=False, default_factory=list)
    host_addrs: list[str] = field(init=False, default_factory=list)
    #: The addresses launched instances get (pullrekun_sandbox.launching).
    launch_addrs: list[str] = field(init=False, default_factory=list)
    #: moto's default VPC, where the sandbox's instances are: the pool is limited to it.
    vpc_id: str = field(init=False, default="")

    # --- set-up ------------------------------------------------------------------

    def start(self) -> Sandbox:
        self.root.mkdir(parents=True, exist_ok=True)
        self.github = GitHubSimulator(tokens={TOKEN}).start()
        self.moto = moto_server()
        # moto keeps its backends per process: start every sandbox from an empty EC2.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.ec2_url}/moto-api/reset", method="POST"), timeout=10
        ).close()
        if self.app_port == 0:
            self.app_port = free_port(self.first_host, self.hosts + self.launch_hosts, self.net)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": AWS_SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1",
                "PULLREKUN_GITHUB_TOKEN": TOKEN,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        if self.github_app:
            self._install_app()
        self._init_repo()
        vpcs = self.ec2().describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        self.vpc_id = str(vpcs[0]["VpcId"])
        self._create_pool()
        self._enable_launches()
        self.write_config()
        self._share_payloads()
        return self

    def _share_payloads(self) -> None:
        if self.shared_payloads is not None:
            local_tmp = Path(self.config_dict()["ansible"]["artifacts_dir"]) / "ansible-tmp"
            share_payloads(local_tmp, self.shared_payloads)

    def _enable_launches(self) -> None:
        first = self.first_host + self.hosts
        self.launch_addrs = [f"{self.net}.{first + i}" for i in range(self.launch_hosts)]
        if not self.launch_addrs:
            launching.uninstall()
            return
        launching.install(self.launch_addrs)
        launching.create_template(self.ec2(), self._image(self.ec2()))

    APP_ID = 424242
    INSTALLATION_ID = 31337

    @property
    def app_key_path(self) -> Path:
        return self.root / "github-app.pem"

    def _install_app(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        self.app_key_path.write_bytes(pem)
        self.app_key_path.chmod(0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.github.install_app(self.APP_ID, self.INSTALLATION_ID, public.decode())

    @property
    def ec2_url(self) -> str:
        host, port = self.moto.get_host_and_port()
        return f"http://{host}:{port}"

    def ec2(self) -> Any:
        """A client of moto's EC2 with the sandbox's keys: one per process (making one costs
        about 0.1 s of CPU, and every sandbox of the process talks to the same server)."""
        url = self.ec2_url
        if url not in _EC2_CLIENTS:
            _EC2_CLIENTS[url] = boto3.client(
                "ec2",
                region_name="us-east-1",
                endpoint_url=url,
                aws_access_key_id=AWS_ACCESS_KEY,
                aws_secret_access_key=AWS_SECRET_KEY,
            )
        return _EC2_CLIENTS[url]

    @property
    def origin(self) -> Path:
        return self.root / "app-origin"

    @property
    def remote(self) -> Path:
        return self.root / "app.git"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd or self.origin,
            check=True,
            text=True,
            capture_output=True,
            env={**os.environ, **GIT_ENV},
        )
        return out.stdout.strip()

    def _init_repo(self) -> None:
        if self.origin.exists():
            shutil.rmtree(self.origin)
        if self.remote.exists():
            shutil.rmtree(self.remote)
        self.origin.mkdir()
        self.git("init", "-q", "-b", "main")
        shutil.copy(APP_SOURCE, self.origin / "app.py")
        shutil.copy(APP_SOURCE.parent / "migrate.py", self.origin / "migrate.py")
        (self.origin / "GREETING").write_text("hello from main\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "The sandbox app")
        self.git("init", "-q", "--bare", str(self.remote), cwd=self.root)
        self.git("push", "-q", str(self.remote), "main")

    def _create_pool(self) -> None:
        ec2 = self.ec2()
        image = self._image(ec2)
        self.host_addrs = [f"{self.net}.{self.first_host + i}" for i in range(self.hosts)]
        for addr in self.host_addrs:
            self.add_instance(addr, image)
        ec2.stop_instances(InstanceIds=self.instance_ids)

    @staticmethod
    def _image(ec2: Any) -> str:
        """An image id moto knows (the one of plumbing.AMIS, unless MOTO_AMIS_PATH names others)."""
        global _IMAGE
        if _IMAGE is None:
            _IMAGE = str(ec2.describe_images()["Images"][0]["ImageId"])
        return _IMAGE

    def add_instance(self, addr: str, image: str | None = None, pool: str | None = "default") -> str:
        """A new instance whose host is ``addr``, tagged into ``pool`` (None: into no pool)."""
        ec2 = self.ec2()
        image = image or self._image(ec2)
        tags = [
            {"Key": tag.ANSIBLE_HOST, "Value": addr},
            {"Key": "Name", "Value": f"sandbox-{addr}"},
        ]
        if pool is not None:
            tags.append({"Key": tag.POOL, "Value": pool})
        res = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        iid = str(res["Instances"][0]["InstanceId"])
        self.instance_ids.append(iid)
        return iid

    @property
    def state_db_url(self) -> str:
        return self.state_url or f"sqlite:///{self.root / 'state.db'}"

    @property
    def config_path(self) -> Path:
        return self.root / "pullrekun.toml"

    def config_dict(self) -> dict[str, Any]:
        ansible: dict[str, Any] = {
            "artifacts_dir": str(self.root / "artifacts"),
            "connection": self.connection,
            "forks": 20,
            "timeout": 600,
            "boot_timeout": 30,
            "remote_python": "/usr/bin/python3",
        }
        if self.ssh is not None:
            ansible.update(
                ssh_user=self.ssh.user,
                ssh_private_key=self.ssh.private_key,
                ssh_common_args=self.ssh.common_args,
            )
        cfg: dict[str, Any] = {
            "github": {
                "repository": self.github.repository,
                "api_url": self.github.url,
                "retries": 2,
                # One writer on a loopback simulator: no need to space writes out.
                "write_interval_ms": 0,
            },
            "ec2": {
                "pool": "default",
                "region": "us-east-1",
                "endpoint_url": self.ec2_url,
                # The hosts are loopback addresses, named by their pullrekun:ansible_host tags.
                "ansible_host_networks": ["127.0.0.0/8"],
                # Only instances of the sandbox's VPC may join the pool (and be registered).
                "vpc_ids": [self.vpc_id],
            },
            "state": {"url": self.state_db_url},
            "ansible": ansible,
            "app": {
                "repo_url": str(self.remote),
                "deploy_root": str(self.root / "hosts" / "{host}" / "app"),
                "service_manager": "start-stop-daemon",
                "command": f"{sys.executable} app.py",
                "port": self.app_port,
                "health_timeout": self.health_timeout,
                "revision_check": "header:X-Revision",
                "url_template": "http://{host}:{port}/",
                # The sandbox's hosts are directories of this machine, made by whoever runs it:
                # the PR's code runs as the user pullrekun logs in as (no separation).
                "run_user": "",
            },
        }
        if self.github_app:
            cfg["github"].update(
                app_id=self.APP_ID,
                installation_id=self.INSTALLATION_ID,
                app_private_key_file=str(self.app_key_path),
            )
        if self.launch_hosts:
            cfg["ec2"].update(launch_template=launching.TEMPLATE, max_size=self.hosts + self.launch_hosts)
            # A launched "host" is a directory of this machine: bootstrapped as the user pullrekun
            # runs as, with the packages the machine has.
            cfg["bootstrap"] = {
                "vars": {
                    "staging_deploy_user": self.ssh.user if self.ssh else current_user(),
                    "staging_packages": [],
                },
                "become": False,
            }
        for section, values in self.extra_config.items():
            cfg.setdefault(section, {}).update(values)
        return cfg

    def write_config(self) -> Path:
        self.config_path.write_text(to_toml(self.config_dict()))
        return self.config_path

    # --- the story -------------------------------------------------------------------

    def commit(self, branch: str, greeting: str, files: dict[str, str] | None = None) -> str:
        """Commit a change on ``branch`` (created from main), with ``files`` (path -> text) added,
        and push it; returns the sha."""
        existing = self.git("branch", "--list", branch)
        self.git("checkout", "-q", branch if existing else "-b", *([] if existing else [branch]))
        (self.origin / "GREETING").write_text(greeting + "\n")
        for path, text in (files or {}).items():
            (self.origin / path).write_text(text)
            self.git("add", path)
        self.git("commit", "-q", "-am", f"Greeting: {greeting}")
        sha = self.git("rev-parse", "HEAD")
        self.git("push", "-q", "-f", str(self.remote), branch)
        self.git("checkout", "-q", "main")
        return sha

    def open_pr(self, branch: str, greeting: str, **kw: Any) -> tuple[int, str]:
        sha = self.commit(branch, greeting, kw.pop("files", None))
        return self.github.open_pr(sha, head_ref=branch, title=kw.pop("title", greeting), **kw), sha

    def deploy_root(self, addr: str) -> Path:
        return Path(str(self.config_dict()["app"]["deploy_root"]).format(host=addr))

    def served(self, addr: str, timeout: float = 3) -> str | None:
        """The revision the app on ``addr`` serves, or None if nothing answers."""
        url = f"http://{addr}:{self.app_port}/"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                for line in resp.read().decode().splitlines():
                    if line.startswith("revision: "):
                        return str(line.split(": ", 1)[1])
        except OSError:
            return None
        return None

    def instance_state(self, iid: str) -> str:
        desc = self.ec2().describe_instances(InstanceIds=[iid])
        return str(desc["Reservations"][0]["Instances"][0]["State"]["Name"])

    def instance_tags(self, iid: str) -> dict[str, str]:
        desc = self.ec2().describe_instances(InstanceIds=[iid])
        return {t["Key"]: t["Value"] for t in desc["Reservations"][0]["Instances"][0].get("Tags", [])}

    def addr_of(self, iid: str) -> str:
        if iid in self.instance_ids:
            return self.host_addrs[self.instance_ids.index(iid)]
        return self.instance_tags(iid)[tag.ANSIBLE_HOST]

    def launched(self) -> dict[str, str]:
        """Instances launched from the sandbox's template and not terminated: id -> state."""
        found = self.ec2().describe_instances(Filters=[{"Name": f"tag:{tag.MANAGED}", "Values": ["true"]}])[
            "Reservations"
        ]
        return {
            i["InstanceId"]: i["State"]["Name"]
            for r in found
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        }

    # --- tear-down -----------------------------------------------------------------

    def stop_apps(self) -> None:
        for addr in [*self.host_addrs, *self.launch_addrs]:
            appctl = self.deploy_root(addr) / "shared" / "appctl"
            pidfile = self.deploy_root(addr) / "shared" / "app.pid"
            if appctl.exists():
                subprocess.run([str(appctl), "stop"], check=False, capture_output=True)
            elif pidfile.exists():
                subprocess.run(
                    [
                        "start-stop-daemon",
                        "--stop",
                        "--pidfile",
                        str(pidfile),
                        "--remove-pidfile",
                        "--retry",
                        "TERM/5/KILL/2",
                        "--oknodo",
                    ],
                    check=False,
                    capture_output=True,
                )

    def stop(self) -> None:
        self.stop_apps()
        with contextlib.suppress(Exception):
            self.github.stop()
