"""The migration benchmark's two hosts, ``bench-src`` and ``bench-tgt``, as ``ldmd`` processes.

``Lab`` runs them on loopback (``ldtui-lab start``). ``NamespaceLab`` runs each in a
network namespace of a ``bench.netlink.NamespaceLink``: started as
``ip netns exec NS python -m ldtui.net.daemon …`` listening on all of its namespace's
addresses; each host's ``[peers]`` table names the other by its address on the shaped
migration link, so the peer link and the data streams cross it, while the benchmark
reaches each host on its unshaped management address. Both keep the same record:
``record["hosts"]`` with ``name``, ``pid``, ``state``, ``port`` and ``address`` (where the
benchmark connects), and ``record["known_hosts"]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

PASSWORD = "solaris"
DOMAIN = "ldg-bench"
HOSTS = ("bench-src", "bench-tgt")
START_TIMEOUT = 60.0


def lab_toml(size: int) -> str:
    machine_mem = size + (6 << 30)
    hosts = []
    for i, name in enumerate(HOSTS):
        domain = f"""
[[hosts.domains]]
name = "{DOMAIN}"
vcpus = 8
memory = "{size // (1 << 20)}M"
vdisks = [{{ name = "vdisk1", volume = "vol1@primary-vds0" }}]
vnets = [{{ name = "vnet1", switch = "primary-vsw0", mac = "00:14:4f:fa:20:01" }}]
state = "active"
""" if i == 0 else ""
        hosts.append(f"""
[[hosts]]
[hosts.host]
name = "{name}"
listen = "127.0.0.1"
port = 0
incoming_migration_enabled = true
migration_supported = true

[hosts.machine]
processor = "UltraSPARC-T2+"
clock_mhz = 1414
cores = 32
strands_per_core = 8
memory = [{{ pa = "0x0", size = "{machine_mem // (1 << 20)}M" }}]
reserved = [{{ pa = "0x0", size = "128M" }}]
pci_buses = ["pci@400", "pci@500"]
firmware = "7.2.2.e"
manager_version = "1.2"

[hosts.primary]
vcpus = 8
memory = "4G"
crypto = 1
io = ["pci@400"]

[[hosts.services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[hosts.services.vsw]]
name = "primary-vsw0"
net_dev = "e1000g0"

[[hosts.services.vds]]
name = "primary-vds0"
volumes = [{{ name = "vol1", device = "/dev/dsk/c2t1d0s2" }}]
{domain}""")
    return f"""[[users]]
name = "root"
password = "{PASSWORD}"
authorizations = ["write"]
{''.join(hosts)}"""


class Lab:
    """Both hosts on loopback."""

    def __init__(self, base: Path, size: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ldtui-bench-mig-", dir=base))
        self.size = size
        self.record: dict = {}

    def start(self) -> None:
        from ldtui.net import labctl
        lab_file = self.dir / "lab.toml"
        lab_file.write_text(lab_toml(self.size), encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            labctl.start(lab_file, self.dir / "state")
        self.record = json.loads((self.dir / "state" / "lab.json").read_text())
        for h in self.record["hosts"]:
            h["address"] = "127.0.0.1"

    def host(self, name: str) -> dict:
        return next(h for h in self.record["hosts"] if h["name"] == name)

    def stop(self) -> None:
        from ldtui.net import labctl
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            labctl.stop(self.dir / "state")
        shutil.rmtree(self.dir, ignore_errors=True)

    def memory_file(self, host: str) -> Path:
        for rt in (Path(self.host(host)["state"]) / "hv").glob("*/runtime.json"):
            if json.loads(rt.read_text()).get("name") == DOMAIN:
                return rt.parent / "memory"
        raise LookupError(f"{DOMAIN} has no runtime on {host}")


class NamespaceLab(Lab):
    """Each host in its namespace of ``link`` (a ``bench.netlink.NamespaceLink``)."""

    def __init__(self, base: Path, size: int, link) -> None:
        super().__init__(base, size)
        self.link = link
        self._procs: list[subprocess.Popen] = []

    def placement(self) -> list[dict]:
        """Per host: its namespace, its address on the migration link and on the
        management link."""
        p = self.link.plan
        return [{"name": HOSTS[0], "ns": p.src_ns, "link": p.src_link_addr, "mgmt": p.src_mgmt_addr},
                {"name": HOSTS[1], "ns": p.tgt_ns, "link": p.tgt_link_addr, "mgmt": p.tgt_mgmt_addr}]

    def start(self) -> None:
        from ldtui.core.hostconfig import lab_host_tables, load_lab
        lab_file = self.dir / "lab.toml"
        lab_file.write_text(lab_toml(self.size), encoding="utf-8")
        configs = load_lab(lab_file)
        tables = lab_host_tables(tomllib.loads(lab_file.read_text(encoding="utf-8")), lab_file.name)
        state = self.dir / "state"
        hosts = []
        try:
            for cfg, table, place in zip(configs, tables, self.placement()):
                hdir = (state / cfg.name).resolve()
                hdir.mkdir(parents=True)
                table = dict(table, host=dict(table["host"], listen="0.0.0.0", port=0))
                table["users"] = [{"name": u.name, "password_hash": u.password_hash, "keys": list(u.keys),
                                   "authorizations": list(u.authorizations)} for u in cfg.users]
                (hdir / "host.toml").write_text(tomli_w.dumps(table), encoding="utf-8")
                with open(hdir / "ldmd.out", "ab") as out:
                    proc = subprocess.Popen(
                        ["ip", "netns", "exec", place["ns"], sys.executable, "-m", "ldtui.net.daemon",
                         "--config", str(hdir / "host.toml"), "--state", str(hdir), "--listen", "0.0.0.0:0",
                         "--port-file", str(hdir / "port"), "--peers", str(hdir / "peers.toml")],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
                self._procs.append(proc)
                hosts.append({"name": cfg.name, "pid": proc.pid, "state": str(hdir), "port": 0,
                              "address": place["mgmt"], "link_address": place["link"], "ns": place["ns"]})
            deadline = time.monotonic() + START_TIMEOUT
            for h, proc in zip(hosts, self._procs):
                port_file = Path(h["state"]) / "port"
                while not port_file.exists():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        out = (Path(h["state"]) / "ldmd.out").read_text(errors="replace").strip().splitlines()
                        raise RuntimeError(f"ldmd for {h['name']} did not start: {out[-1] if out else 'see ldmd.log'}")
                    time.sleep(0.05)
                h["port"] = int(port_file.read_text().strip())
        except BaseException:
            self._stop_procs()
            raise
        known = (state / "known_hosts").resolve()
        lines = []
        for h in hosts:
            key = " ".join((Path(h["state"]) / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            lines += [f"[{addr}]:{h['port']} {key}\n" for addr in (h["link_address"], h["address"])]
        known.write_text("".join(lines), encoding="utf-8")
        for h in hosts:
            peers = {o["name"]: f"{o['link_address']}:{o['port']}" for o in hosts if o is not h}
            (Path(h["state"]) / "peers.toml").write_text(
                tomli_w.dumps({"known_hosts": str(known), "peers": peers}), encoding="utf-8")
        self.record = {"known_hosts": str(known), "hosts": hosts}

    def _stop_procs(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self._procs.clear()

    def stop(self) -> None:
        self._stop_procs()
        shutil.rmtree(self.dir, ignore_errors=True)

