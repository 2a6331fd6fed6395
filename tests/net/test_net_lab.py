"""The lab: hosts on loopback SSH, in this process or as ldmd processes (SPEC T-1, S-4)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from ldtui.net.hostlink import CONNECTED, HostLink, LinkDown
from ldtui.net.lab import EmbeddedLab
from netkit import run_process


@pytest.fixture(scope="module")
def lab():
    with EmbeddedLab() as lab:
        yield lab


def link_to(endpoint, **kw) -> HostLink:
    return HostLink(endpoint.host, endpoint.port, endpoint.user, password=endpoint.password,
                    known_hosts=endpoint.known_hosts_path, label=endpoint.hostname, **kw)


async def test_every_lab_host_answers_over_ssh(lab):
    endpoints = {e.hostname: e for e in lab.endpoints()}
    assert {"t5440-sys-1", "t5440-sys-2", "t5220-sys-3"} <= set(endpoints)
    for name, e in endpoints.items():
        link = link_to(e)
        await asyncio.wait_for(link.connect(), 10)
        try:
            snap = await link.snapshot()
            assert snap.hostname == name
            assert snap.domains[0].name == "primary" and snap.domains[0].flags == "-n-cv-"
        finally:
            await link.close()


async def test_the_seeds_memory_layout_is_there(lab):
    """Seed: the target's free memory is two 1G ranges; ldg-src has one 2G block."""
    eps = {e.hostname: e for e in lab.endpoints()}
    sys1, sys2 = link_to(eps["t5440-sys-1"]), link_to(eps["t5440-sys-2"])
    await asyncio.gather(sys1.connect(), sys2.connect())
    try:
        free = await sys2.run(["list-devices", "memory"])
        assert free.stdout == ("MEMORY\n"
                               "    PA                   SIZE\n"
                               "    0x108000000          1G\n"
                               "    0x188000000          1G\n")
        src = await sys1.run(["list", "-o", "memory", "ldg-src"])
        assert src.stdout == ("NAME\n"
                              "ldg-src\n"
                              "\n"
                              "MEMORY\n"
                              "    RA               PA               SIZE\n"
                              "    0x8000000        0x208000000      2G\n")
    finally:
        await asyncio.gather(sys1.close(), sys2.close())


def test_each_host_knows_its_peers_through_a_link_proxy(lab):
    peers = lab.call(_peers(lab, "t5440-sys-1"))
    assert set(peers) == {"t5440-sys-2", "t5220-sys-3"}
    assert peers["t5440-sys-2"] == ("127.0.0.1", lab.link("t5440-sys-1", "t5440-sys-2").port)
    assert lab.ldmds["t5440-sys-1"].peer_known_hosts == lab.known_hosts_path


async def _peers(lab, name):
    return lab.ldmds[name].peers


async def test_a_cut_link_is_noticed_and_a_blackhole_found_by_keepalive(lab, tmp_path):
    """S-4: a reset is seen at once; a silent partition within a few keepalive intervals."""
    proxy = lab.link("t5440-sys-1", "t5440-sys-2")
    target = next(e for e in lab.endpoints() if e.hostname == "t5440-sys-2")
    key = next(line.split(" ", 1)[1] for line in open(target.known_hosts_path)
               if line.startswith(f"[127.0.0.1]:{target.port} "))
    kh = tmp_path / "via_proxy"
    kh.write_text(f"[127.0.0.1]:{proxy.port} {key}")
    link = HostLink("127.0.0.1", proxy.port, "root", password=target.password, known_hosts=kh,
                    keepalive_interval=0.2, keepalive_count_max=2, call_timeout=1.0)
    await asyncio.wait_for(link.connect(), 10)
    assert (await link.ping())["hostname"] == "t5440-sys-2"
    proxy.cut()
    await _until(lambda: link.state != CONNECTED, 5)
    await asyncio.wait_for(link.connect(), 10)
    proxy.blackhole()
    try:
        with pytest.raises(LinkDown):
            await link.ping()
        await _until(lambda: link.state != CONNECTED, 5)
    finally:
        proxy.restore()
    await asyncio.wait_for(link.connect(), 10)
    assert (await link.ping())["hostname"] == "t5440-sys-2"
    await link.close()


async def test_a_host_restarts_from_its_state_on_the_same_port(lab):
    before = next(e for e in lab.endpoints() if e.hostname == "t5220-sys-3")
    link = link_to(before)
    await link.connect()
    assert (await link.run(["add-domain", "ldg-new"])).exit_code == 0
    await link.close()
    lab.stop_host("t5220-sys-3")
    assert "t5220-sys-3" not in [e.hostname for e in lab.endpoints() if e.hostname in lab.ldmds]
    after = lab.start_host("t5220-sys-3")
    assert after.port == before.port
    link = link_to(after)
    await asyncio.wait_for(link.connect(), 10)
    try:
        names = [r.name for r in (await link.snapshot()).domains]
        assert "ldg-new" in names and "ldg9" in names
    finally:
        await link.close()


async def _until(cond, timeout: float) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(wait(), timeout)


async def test_ldtui_lab_starts_reports_and_stops_ldmd_processes(tmp_path):
    lab_cmd = [sys.executable, "-c", "from ldtui.net.labctl import main; main()"]
    state = tmp_path / "lab-state"
    started = await run_process([*lab_cmd, "start", "--state", str(state)], env=dict(os.environ), timeout=40)
    try:
        assert started.returncode == 0, started.stderr
        record = json.loads((state / "lab.json").read_text())
        hosts = {h["name"]: h for h in record["hosts"]}
        sys2 = hosts["t5440-sys-2"]
        out = started.stdout.decode()
        assert f"ldm -H root@127.0.0.1:{sys2['port']} list" in out
        assert f"ssh -p {sys2['port']}" in out
        peers = (state / "t5440-sys-1" / "peers.toml").read_text()
        assert f't5440-sys-2 = "127.0.0.1:{sys2["port"]}"' in peers
        host_file = (state / "t5440-sys-1" / "host.toml").read_text()
        assert "password = " not in host_file and "password_hash = " in host_file      # hashes only
        # The console's hosts files, one per protocol, readable only by their owner.
        from ldtui.console.hostspec import load_hosts_file
        for name, protocol in (("hosts.toml", "ldtui"), ("hosts-ldm.toml", "ldm")):
            specs = load_hosts_file(state / name)
            assert [(x.name, x.port, x.user, x.protocol) for x in specs] == [
                (h["name"], h["port"], "root", protocol) for h in record["hosts"]]
            assert (state / name).stat().st_mode & 0o777 == 0o600
        assert f"ldtui --hosts {(state / 'hosts-ldm.toml').resolve()}" in out
        status = await run_process([*lab_cmd, "status", "--state", str(state)], env=dict(os.environ))
        assert status.returncode == 0
        assert status.stdout.decode().splitlines()[1].split() == ["t5440-sys-1", str(hosts["t5440-sys-1"]["pid"]),
                                                                  str(hosts["t5440-sys-1"]["port"]), "up"]
        again = await run_process([*lab_cmd, "start", "--state", str(state)], env=dict(os.environ))
        assert again.returncode == 2
        assert again.stderr.decode() == f"ldtui-lab: a lab is already running in {state}; run 'ldtui-lab stop' first\n"
    finally:
        stopped = await run_process([*lab_cmd, "stop", "--state", str(state)], env=dict(os.environ), timeout=40)
    assert stopped.returncode == 0
    assert stopped.stdout.decode().count("stopped") == 3
    for h in record["hosts"]:
        with pytest.raises(ProcessLookupError):
            os.kill(h["pid"], 0)
