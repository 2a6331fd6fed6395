"""A live ldmd for the fuzz tests (the same small host as the network tests)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))

from netkit import HOST_TOML  # noqa: E402


@pytest.fixture
async def ldmd(tmp_path):
    from ldtui.core.hostconfig import load_host_config
    from ldtui.net.ratelimit import LoginThrottle
    from ldtui.net.server import Ldmd

    (tmp_path / "host.toml").write_text(HOST_TOML)
    d = Ldmd(load_host_config(tmp_path / "host.toml"), tmp_path / "state", listen=("127.0.0.1", 0),
             throttle=LoginThrottle(base=0.05, cap=0.2))
    await asyncio.wait_for(d.start(), 10)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} {d.host_public_key}\n")
    d.known_hosts_file = kh
    yield d
    await asyncio.wait_for(d.stop(), 10)
