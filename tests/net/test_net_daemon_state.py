"""``ldmd`` on a state it must not use: one line, nothing written, ``--check`` explains (M-5)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys

from netkit import run_process
from test_net_daemon import start_ldmd

DAEMON = [sys.executable, "-m", "ldtui.net.daemon"]


def fingerprint(state):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(state.iterdir()) if p.is_file()}


async def test_a_truncated_store_stops_ldmd_and_stays_as_it_was(host_file, tmp_path):
    state = tmp_path / "st"
    proc, _ = await start_ldmd(host_file, state)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    db = state / "ldom.db"
    assert not (state / "ldom.db-wal").exists() or (state / "ldom.db-wal").stat().st_size == 0
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    before = fingerprint(state)
    ran = await run_process([*DAEMON, "--config", str(host_file), "--state", str(state)], env=dict(os.environ))
    assert ran.returncode == 2
    err = ran.stderr.decode()
    assert err.startswith(f"ldmd: {db}: the configuration database is damaged (")
    assert err.endswith(f"run 'ldmd --check --state {state}' for what is wrong and how to recover\n")
    assert err.count("\n") == 1 and ran.stdout == b""
    assert fingerprint(state) == before

    check = await run_process([*DAEMON, "--check", "--state", str(state)], env=dict(os.environ))
    assert check.returncode == 1
    out = check.stdout.decode().splitlines()
    assert out[1] == f"Configuration database {db}: damaged; SQLite says:"
    assert "How to recover (ldmd never changes a damaged database itself):" in out
    assert fingerprint(state) == before


async def test_check_of_a_sound_host(host_file, tmp_path):
    state = tmp_path / "st"
    proc, _ = await start_ldmd(host_file, state)
    try:
        # A running ldmd is no obstacle: the check only reads.
        check = await run_process([*DAEMON, "--check", "--state", str(state)], env=dict(os.environ))
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)
    assert check.returncode == 0, check.stdout
    lines = check.stdout.decode().splitlines()
    assert lines[0].startswith(f"State directory {state}: ok (owned by ")
    assert lines[1].startswith(f"Configuration database {state}/ldom.db: ok (SQLite integrity check passed; ")


async def test_a_read_only_state_directory_stops_ldmd_before_it_writes(host_file, tmp_path):
    state = tmp_path / "st"
    state.mkdir(mode=0o555)
    try:
        ran = await run_process([*DAEMON, "--config", str(host_file), "--state", str(state)], env=dict(os.environ))
    finally:
        state.chmod(0o755)
    assert ran.returncode == 2
    assert ran.stderr.decode() == (f"ldmd: {state}: the state directory is read-only (mode 0555); ldmd writes its "
                                   "database, runtimes and log there: chmod u+w it\n")
    assert list(state.iterdir()) == []


async def test_without_a_configuration_only_check_runs(tmp_path):
    ran = await run_process([*DAEMON, "--state", str(tmp_path)], env=dict(os.environ))
    assert ran.returncode == 2
    assert ran.stderr.decode().endswith("ldmd: error: the following arguments are required: --config\n")
