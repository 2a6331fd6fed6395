"""Which path a migration's memory takes, and the way back to the SSH tunnel (SPEC B-5, S-6).

Native by default: the data on a direct stream, control on the SSH link. Tunnelled when
asked (``--tunnelled``, ``transport = "tunnelled"``), when the target is reached through a
jump host, or when the direct connection cannot be made (nothing answers at the offered
address): then every byte goes through the SSH link, and the status says so and why.
"""

from __future__ import annotations

import socket

import attrs
import pytest

from migkit import Hosts, ssh_ldm

pytestmark = pytest.mark.timeout(120)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def hosts_with(tmp_path, **target_migration):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    if target_migration:
        cfg = hosts.configs["t5440-sys-2"]
        hosts.configs["t5440-sys-2"] = attrs.evolve(cfg, migration=attrs.evolve(cfg.migration, **target_migration))
    await hosts.start()
    return hosts


def last(host, role="source"):
    return next(j for j in reversed(host.manager.snapshot().jobs) if j.domain == "ldg1" and j.role == role)


def completed(hosts, host: str, field: str) -> str:
    text = hosts.ldm(host, "list -o status --completed -p ldg1").stdout.splitlines()[3]
    return dict(p.split("=", 1) for p in text.strip("|").split("|"))[field]


async def test_native_by_default_and_both_hosts_say_so(tmp_path):
    hosts = await hosts_with(tmp_path)
    try:
        code, _, err = await ssh_ldm(hosts["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2")
        assert code == 0, err
        assert (last(hosts["t5440-sys-1"]).transport, last(hosts["t5440-sys-1"]).streams) == ("native", 1)
        assert last(hosts["t5440-sys-2"], "target").transport == "native"
        assert completed(hosts, "t5440-sys-1", "transport") == "native"
        assert completed(hosts, "t5440-sys-2", "streams") == "1"
        text = hosts.ldm("t5440-sys-2", "list -o status --completed ldg1").stdout
        assert "    TRANSPORT    native, 1 stream\n" in text
    finally:
        await hosts.stop()


async def test_tunnelled_when_asked(tmp_path):
    hosts = await hosts_with(tmp_path)
    try:
        code, _, err = await ssh_ldm(hosts["t5440-sys-1"], "migrate-domain --tunnelled ldg1 t5440-sys-2")
        assert code == 0, err
        job = last(hosts["t5440-sys-1"])
        assert (job.transport, job.transport_reason) == ("tunnelled", "asked for")
        assert last(hosts["t5440-sys-2"], "target").transport == "tunnelled"
        text = hosts.ldm("t5440-sys-1", "list -o status --completed ldg1").stdout
        assert "    TRANSPORT    tunnelled through SSH (asked for)\n" in text
    finally:
        await hosts.stop()


async def test_a_target_that_cannot_be_reached_directly_is_tunnelled_to(tmp_path):
    """The offered address answers nothing (a firewall): the source tunnels, within seconds."""
    hosts = await hosts_with(tmp_path, data_address="127.0.0.1", data_address_port=closed_port())
    try:
        src = hosts["t5440-sys-1"]
        src.manager.set_guest("ldg1", write_rate=0)
        digest = src.manager.guest_info("ldg1")["digest"]
        code, _, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        assert code == 0, err
        job = last(src)
        assert job.transport == "tunnelled" and "data stream" in job.transport_reason, job.transport_reason
        assert job.finished - job.started < 10
        assert hosts["t5440-sys-2"].manager.guest_info("ldg1")["digest"] == digest
    finally:
        await hosts.stop()


async def test_a_host_that_tunnels_by_configuration_offers_no_data_port(tmp_path):
    hosts = await hosts_with(tmp_path, transport="tunnelled")
    try:
        code, _, err = await ssh_ldm(hosts["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2")
        assert code == 0, err
        job = last(hosts["t5440-sys-1"])
        assert (job.transport, job.transport_reason) == ("tunnelled", "the target offers no data connections")
    finally:
        await hosts.stop()


async def test_an_unexpected_failure_opening_the_streams_tunnels_instead_of_hanging(tmp_path, monkeypatch):
    """Whatever goes wrong while the data streams open, the migration is never left waiting (B-5)."""
    from ldtui.net import source_pump

    async def broken(offer, **kw):
        raise RuntimeError("something nobody expected")
    monkeypatch.setattr(source_pump, "open_streams", broken)
    hosts = await hosts_with(tmp_path)
    try:
        src = hosts["t5440-sys-1"]
        src.manager.set_guest("ldg1", write_rate=0)
        digest = src.manager.guest_info("ldg1")["digest"]
        code, _, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2", timeout=60)
        assert code == 0, err
        job = last(src)
        assert (job.transport, job.transport_reason) == (
            "tunnelled", "the data streams could not be opened (RuntimeError)"), job.transport_reason
        assert hosts["t5440-sys-2"].manager.guest_info("ldg1")["digest"] == digest
    finally:
        await hosts.stop()
