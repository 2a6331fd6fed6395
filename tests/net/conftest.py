"""A small host for network tests: one ldmd on 127.0.0.1, port 0, in the test's own loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ldtui.core.hostconfig import load_host_config
from ldtui.net.hostlink import HostLink
from netkit import HOST_TOML, ROOT_PASSWORD


@pytest.fixture
def host_file(tmp_path) -> Path:
    p = tmp_path / "t5440-sys-1.toml"
    p.write_text(HOST_TOML)
    return p


@pytest.fixture
def host_config(host_file):
    return load_host_config(host_file)


@pytest.fixture
async def ldmd(host_config, tmp_path):
    """A running host; its known_hosts file is ``ldmd.known_hosts_file``."""
    from ldtui.net.server import Ldmd
    from ldtui.net.ratelimit import LoginThrottle

    d = Ldmd(host_config, tmp_path / "state", listen=("127.0.0.1", 0),
             throttle=LoginThrottle(base=0.05, cap=0.2))
    await asyncio.wait_for(d.start(), 10)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} {d.host_public_key}\n")
    d.known_hosts_file = kh
    yield d
    await asyncio.wait_for(d.stop(), 10)


@pytest.fixture
async def link(ldmd):
    hl = HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD, known_hosts=ldmd.known_hosts_file)
    await asyncio.wait_for(hl.connect(), 10)
    yield hl
    await asyncio.wait_for(hl.close(), 10)


