"""Helpers of the network tests: a small host's configuration and a client in its own process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

HOST_TOML = """\
[host]
name = "t5440-sys-1"

[machine]
memory = [{ pa = "0x0", size = "16G" }]

[[users]]
name = "root"
password = "ldoms-root"
authorizations = ["write"]

[[users]]
name = "operator"
password = "ldoms-operator"
authorizations = ["solaris.ldoms.read"]

[primary]
vcpus = 8
memory = "4G"
crypto = 1

[[services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[services.vsw]]
name = "primary-vsw0"
mac = "00:14:4f:f8:6c:5f"
net_dev = "e1000g0"

[[services.vds]]
name = "primary-vds0"
volumes = [{ name = "vol1", device = "/dev/dsk/c2t1d0s2" }]

[[domains]]
name = "ldg1"
vcpus = 8
memory = "1G"
vdisks = [{ name = "vdisk1", volume = "vol1@primary-vds0" }]
vnets = [{ name = "vnet1", switch = "primary-vsw0", mac = "00:14:4f:fa:10:01" }]
state = "active"
write_rate = "512K"

[[domains]]
name = "ldg2"
vcpus = 1
memory = "512M"
state = "bound"

[[domains]]
name = "ldg3"
vcpus = 2
memory = "1G"
"""

ROOT_PASSWORD = "ldoms-root"
OPERATOR_PASSWORD = "ldoms-operator"


class Ran:
    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def client_env(password: str | None, known_hosts: Path | None, env: dict | None) -> dict:
    # Nothing of the developer's: no ssh-agent, no shared connections, no ~/.ssh keys.
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("LDM_") and k not in ("SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "LDTUI_HOME")}
    e["HOME"] = str(Path(known_hosts).parent / "home" if known_hosts else Path("/nonexistent"))
    if password is not None:
        e["LDM_PASSWORD"] = password
    if known_hosts is not None:
        e["LDM_KNOWN_HOSTS"] = str(known_hosts)
    e.update(env or {})
    return e


async def run_process(argv: list[str], *, env: dict, stdin: bytes = b"", timeout: float = 20) -> Ran:
    """A separate process while this loop keeps serving the host it talks to."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Ran(proc.returncode, out, err)


async def ldm_client(*args: str, password: str | None = ROOT_PASSWORD, known_hosts: Path | None = None,
                     env: dict | None = None, stdin: bytes = b"", timeout: float = 20) -> Ran:
    """Run the ``ldm`` client as an operator's script would (its own process, no tty)."""
    return await run_process([sys.executable, "-c", "from ldtui.net.client import main; main()", *args],
                             env=client_env(password, known_hosts, env), stdin=stdin, timeout=timeout)


# -- fixtures shared by the network, fuzz and security tests --------------------------------
import pytest  # noqa: E402


@pytest.fixture
def host_file(tmp_path) -> Path:
    p = tmp_path / "t5440-sys-1.toml"
    p.write_text(HOST_TOML)
    return p


@pytest.fixture
def host_config(host_file):
    from ldtui.core.hostconfig import load_host_config
    return load_host_config(host_file)


@pytest.fixture
async def ldmd(host_config, tmp_path):
    """A running host on 127.0.0.1, port 0; its known_hosts file is ``ldmd.known_hosts_file``."""
    from ldtui.net.ratelimit import LoginThrottle
    from ldtui.net.server import Ldmd

    d = Ldmd(host_config, tmp_path / "state", listen=("127.0.0.1", 0),
             throttle=LoginThrottle(base=0.05, cap=0.2))
    await asyncio.wait_for(d.start(), 10)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} {d.host_public_key}\n")
    d.known_hosts_file = kh
    yield d
    await asyncio.wait_for(d.stop(), 10)
