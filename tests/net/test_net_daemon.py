"""A real ``ldmd`` process: killed with an active guest, started again (SPEC M-5, S-1)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from ldtui.net.hostlink import HostLink
from netkit import ROOT_PASSWORD, run_process

DAEMON = [sys.executable, "-m", "ldtui.net.daemon"]


async def start_ldmd(config: Path, state: Path, port: int = 0) -> tuple[asyncio.subprocess.Process, int]:
    port_file = state.parent / f"{state.name}.port"
    port_file.unlink(missing_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    out = open(state.parent / f"{state.name}.out", "ab")
    proc = await asyncio.create_subprocess_exec(
        *DAEMON, "--config", str(config), "--state", str(state), "--listen", f"127.0.0.1:{port}",
        "--port-file", str(port_file), stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
    out.close()

    async def port_written() -> int:
        while not port_file.exists():
            assert proc.returncode is None, (state.parent / f"{state.name}.out").read_text()
            await asyncio.sleep(0.05)
        return int(port_file.read_text())
    return proc, await asyncio.wait_for(port_written(), 20)


def known_hosts_for(state: Path, port: int, tmp_path: Path) -> Path:
    kh = tmp_path / "known_hosts"
    key = " ".join((state / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    kh.write_text(f"[127.0.0.1]:{port} {key}\n")
    return kh


def fields(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


async def ldm(link: HostLink, *argv: str) -> str:
    r = await link.run(list(argv))
    assert r.exit_code == 0, r.stderr
    return r.stdout


async def test_sigkill_with_an_active_guest_loses_nothing(host_file, tmp_path):
    state = tmp_path / "t5440-sys-1"
    proc, port = await start_ldmd(host_file, state)
    kh = known_hosts_for(state, port, tmp_path)
    link = HostLink("127.0.0.1", port, "root", password=ROOT_PASSWORD, known_hosts=kh)
    try:
        await asyncio.wait_for(link.connect(), 10)
        await ldm(link, "add-domain", "ldg9")                   # an operator's change after the seed
        await ldm(link, "set-vcpu", "2", "ldg9")
        await asyncio.sleep(0.5)                               # ldg1 writes memory at 512K/s meanwhile
        await ldm(link, "set-guest", "write-rate=0", "ldg1")    # hold still so the digest can be compared
        before = fields(await ldm(link, "guest-info", "ldg1"))
        services = await ldm(link, "list-services")
        bindings = await ldm(link, "list-devices", "-a", "memory")
        listing = await ldm(link, "list", "-p")
        assert int(before["counter"]) > 0 and before["run-state"] == "running"
    finally:
        await link.close()
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL

    proc, port = await start_ldmd(host_file, state)
    kh = known_hosts_for(state, port, tmp_path)
    again = HostLink("127.0.0.1", port, "root", password=ROOT_PASSWORD, known_hosts=kh)
    try:
        await asyncio.wait_for(again.connect(), 10)
        after = fields(await ldm(again, "guest-info", "ldg1"))
        assert after["digest"] == before["digest"]
        assert int(after["counter"]) >= int(before["counter"])
        assert await ldm(again, "list-services") == services
        assert await ldm(again, "list-devices", "-a", "memory") == bindings
        assert _without_times(await ldm(again, "list", "-p")) == _without_times(listing)
        await asyncio.sleep(0.3)
        later = fields(await ldm(again, "guest-info", "ldg1"))
        assert int(later["counter"]) > int(after["counter"])    # the guest runs on where it stopped
        assert later["generation"] == before["generation"]
    finally:
        await again.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


def _without_times(parseable: str) -> list[str]:
    return [line.split("|util=")[0] for line in parseable.splitlines()]


async def test_the_host_key_is_made_once_and_kept(host_file, tmp_path):
    state = tmp_path / "st"
    proc, port = await start_ldmd(host_file, state)
    key = (state / "ssh_host_ed25519_key").read_bytes()
    assert oct((state / "ssh_host_ed25519_key").stat().st_mode & 0o777) == "0o600"
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    log = (state / "ldmd.log").read_text()
    assert "listening on 127.0.0.1" in log and "stopped" in log
    proc, port = await start_ldmd(host_file, state)
    try:
        assert (state / "ssh_host_ed25519_key").read_bytes() == key
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)


async def test_a_second_ldmd_on_the_same_state_is_refused(host_file, tmp_path):
    state = tmp_path / "st"
    proc, _ = await start_ldmd(host_file, state)
    try:
        ran = await run_process([*DAEMON, "--config", str(host_file), "--state", str(state)], env=dict(os.environ))
        assert ran.returncode == 2
        assert ran.stderr.decode() == f"ldmd: {state}: another ldmd is running on this state directory\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)


async def test_a_broken_config_stops_ldmd_with_one_line(tmp_path):
    bad = tmp_path / "t5440-sys-9.toml"
    bad.write_text('[host]\nname = "t5440-sys-9"\n\n[[domains]]\nname = "ldg1"\nmemory = "lots"\n')
    ran = await run_process([*DAEMON, "--config", str(bad), "--state", str(tmp_path / "st")], env=dict(os.environ))
    assert ran.returncode == 2
    assert ran.stderr.decode() == "ldmd: t5440-sys-9.toml: [[domains]] #1 'memory': invalid size 'lots'\n"
    assert ran.stdout == b""
