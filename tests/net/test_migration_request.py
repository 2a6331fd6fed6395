"""A console's migration as a request value: the ``migrate`` RPC answers with a typed result
that says what ``ldm migrate-domain`` over ``run`` prints, line for line."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from ldtui.core.cmd_migrate import MigrationRequest, MigrationStatus
from ldtui.core.errors import LdmError
from ldtui.core.model import READ
from ldtui.net.hostlink import HostLink
from migkit import ROOT_PASSWORD, lab  # noqa: F401  (lab: shared fixture)

SRC, DST = "t5440-sys-1", "t5440-sys-2"


async def link_to(lab, name: str, user: str = "root", password: str = ROOT_PASSWORD) -> HostLink:
    link = HostLink("127.0.0.1", lab[name].port, user, password=password, known_hosts=lab.known_hosts,
                    host_key_alias=name)
    await asyncio.wait_for(link.connect(), 10)
    return link


def argv(request: MigrationRequest) -> list[str]:
    where = (f"{request.user}@" if request.user else "") + request.host
    where += f":{request.new_name}" if request.new_name else ""
    return ["migrate-domain", *(["-n"] if request.dry_run else []), request.source, where]


async def both_ways(lab, request: MigrationRequest, password: str | None = ROOT_PASSWORD):
    """The typed result, and what ``run`` printed for the same request's command line (the
    domain is put back between the two when the first one moved it)."""
    link = await link_to(lab, SRC)
    try:
        typed = await link.migrate(request, password=password, timeout=60)
        printed = await link.run(argv(request), password=password, timeout=60)
    finally:
        await link.close()
    return typed, printed


@pytest.mark.parametrize("request_, status", [
    (MigrationRequest(source="ldg1", user="root", host=DST, dry_run=True), MigrationStatus.PASSED),
    (MigrationRequest(source="nope", user="root", host=DST), MigrationStatus.INVALID),
    (MigrationRequest(source="ldg1", user="us er", host=DST), MigrationStatus.INVALID),
    (MigrationRequest(source="ldg1", user="root", host="no-such-host"), MigrationStatus.FAILED),
    (MigrationRequest(source="ldg1", user="root", host="no-such-host", dry_run=True), MigrationStatus.FAILED),
    (MigrationRequest(source="primary", user="root", host=DST, dry_run=True), MigrationStatus.FAILED),
], ids=["dry-run-passes", "unknown-domain", "bad-user", "unknown-target", "unknown-target-dry", "control-domain"])
async def test_the_result_says_what_ldm_prints(lab, request_, status):
    typed, printed = await both_ways(lab, request_)
    assert typed.status is status
    assert typed.exit_code == printed.exit_code
    assert "\n".join(typed.lines) + ("\n" if typed.lines else "") == printed.stdout + printed.stderr
    if status is MigrationStatus.FAILED:
        assert typed.lines[-1].startswith("Domain Migration of LDom ldg1") or typed.lines[-1].startswith(
            "Domain Migration of LDom primary")
        assert typed.unmet == typed.lines[:-1]


async def test_a_refusing_target_is_refused_not_failed(lab):
    lab[DST].manager.set_settings(incoming_migration_enabled=False)
    typed, printed = await both_ways(lab, MigrationRequest(source="ldg1", user="root", host=DST))
    assert typed.status is MigrationStatus.REFUSED
    assert typed.lines[0] == f"Failed to establish connection with ldmd(1m) on target: {DST}"
    assert "\n".join(typed.lines) + "\n" == printed.stderr and typed.unmet == typed.lines


async def test_a_migration_completes_and_is_said_so(lab):
    link = await link_to(lab, SRC)
    try:
        result = await link.migrate(MigrationRequest(source="ldg1", user="root", host=DST, new_name="ldg-tgt"),
                                    password=ROOT_PASSWORD, timeout=60)
    finally:
        await link.close()
    assert (result.status, result.lines, result.exit_code) == (MigrationStatus.COMPLETED, (), 0)
    assert result.succeeded
    assert "ldg-tgt" in lab.ldm(DST, "list").stdout and "ldg1" not in lab.ldm(SRC, "list").stdout


async def test_a_read_only_user_is_refused_as_ldm_refuses_him(lab):
    lab[SRC].manager.add_user("watcher", password="watch-pw", authorizations=(READ,))
    link = await link_to(lab, SRC, "watcher", "watch-pw")
    try:
        result = await link.migrate(MigrationRequest(source="ldg1", user="root", host=DST), timeout=30)
        printed = await link.run(["migrate-domain", "ldg1", f"root@{DST}"], timeout=30)
    finally:
        await link.close()
    assert result.status is MigrationStatus.INVALID
    assert "\n".join(result.lines) + "\n" == printed.stderr
    assert result.lines[0].startswith("Authorization failed: user watcher")


async def test_a_malformed_request_is_a_usage_error_of_the_method(lab):
    link = await link_to(lab, SRC)
    try:
        with pytest.raises(LdmError) as err:
            await link._call("migrate", {"request": {"source": "ldg1"}, "password": None})
        assert err.value.code == "usage"
        with pytest.raises(LdmError) as err:
            await link._call("migrate", {"request": {**attrs.asdict(MigrationRequest(
                source="ldg1", user="root", host=DST)), "password": "inside"}})
        assert err.value.code == "usage"
    finally:
        await link.close()
    assert "ldg1" in lab.ldm(SRC, "list").stdout
