"""A small host for network tests: one ldmd on 127.0.0.1, port 0, in the test's own loop."""

from __future__ import annotations

import asyncio

import pytest

from ldtui.net.hostlink import HostLink
from netkit import ROOT_PASSWORD, host_config, host_file, ldmd  # noqa: F401  (shared fixtures)


@pytest.fixture
async def link(ldmd):
    hl = HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD, known_hosts=ldmd.known_hosts_file)
    await asyncio.wait_for(hl.connect(), 10)
    yield hl
    await asyncio.wait_for(hl.close(), 10)


