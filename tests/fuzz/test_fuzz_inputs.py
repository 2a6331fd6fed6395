"""Random command lines and broken configuration files: one clear line, never a traceback.

Also: a live ldmd keeps answering its other clients while one client sends it garbage.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path

import asyncssh
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldtui.core.commands import execute
from ldtui.core.errors import LdmError
from ldtui.core.hostconfig import load_host_config, load_lab
from ldtui.net.client import ClientError, parse_target, split_options, take_password_file
from ldtui.net.framing import FrameType, encode_json, hello
from ldtui.net.hostlink import HostLink
from ldtui.net.lab import default_lab_file
from ldtui.net.server import RPC_SUBSYSTEM
from netkit import HOST_TOML, ROOT_PASSWORD

FAST = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

WORDS = ["list", "ls", "list-bindings", "list-constraints", "list-devices", "list-services", "add-domain",
         "remove-domain", "bind-domain", "unbind", "start-domain", "stop", "add-vcpu", "set-vcpu", "remove-vcpu",
         "add-memory", "set-memory", "set-mem", "add-crypto", "add-io", "add-vdisk", "add-vnet", "add-vsw",
         "add-vds", "add-vdsdev", "add-vcc", "set-variable", "set-guest", "guest-info", "migrate-domain",
         "migrate", "cancel-operation", "migration", "reconf", "-a", "-e", "-l", "-p", "-o", "-n", "-f", "-x",
         "--live", "-P", "ldg1", "ldg2", "ldg3", "primary", "nosuch", "1", "8", "0", "-1", "2G", "512M",
         "999999T", "pci@400", "vol1@primary-vds0", "primary-vsw0", "t5440-sys-2", "root@h:x", "mblock=0x0:1G",
         "write-rate=1M", "auto-boot?=false", "status,memory", "=", "", " ", "\x00", "é", "ldg1,ldg2"]
ARGV = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=7)

_manager = None


def _host_manager():
    """One host for all examples (the commands change it; that is part of the test)."""
    global _manager
    if _manager is None:
        from ldtui.core.hostconfig import apply_seed
        from ldtui.core.manager import Manager
        d = Path(tempfile.mkdtemp(prefix="ldtui-fuzz-"))
        atexit.register(shutil.rmtree, d, True)
        (d / "host.toml").write_text(HOST_TOML)
        cfg = load_host_config(d / "host.toml")
        _manager = Manager(cfg.machine, d / "state")
        apply_seed(_manager, cfg)
    return _manager


@FAST
@given(ARGV, st.sampled_from(["root", "operator", "nobody"]))
def test_any_ldm_command_line_ends_with_a_status_and_a_reason(argv, user):
    r = execute(_host_manager(), user, argv, read_file=lambda p: (_ for _ in ()).throw(OSError(2, "No such file")))
    assert r.exit_code in (0, 1, 2)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    if r.exit_code:
        first = r.stderr.splitlines()[0] if r.stderr else ""
        assert first.strip(), f"{argv!r} failed without saying why"


@FAST
@given(st.lists(st.one_of(st.sampled_from(["-H", "-i", "--known-hosts", "--host=x", "-Hroot@h:1", "list",
                                           "migrate", "-p", "/nonexistent", "a@b:99999", "[::1]:22"]),
                          st.text(max_size=10)), max_size=6))
def test_the_ldm_client_parses_any_argv_or_says_one_line(argv):
    try:
        opts, rest = split_options(argv)
        if "host" in opts:
            parse_target(opts["host"], "root")
        if rest and rest[0] in ("migrate", "migrate-domain"):
            take_password_file(rest)
    except ClientError as e:
        assert str(e) and "\n" not in str(e)


TOML_PIECES = ["[host]", "name = \"h\"", "[machine]", "memory = [{ pa = \"0x0\", size = \"16G\" }]",
               "memory = \"lots\"", "[[users]]", "name = \"root\"", "password = \"x\"", "authorizations = [\"write\"]",
               "authorizations = 3", "[primary]", "vcpus = 8", "vcpus = -1", "memory = \"4G\"", "[[domains]]",
               "name = \"ldg1\"", "state = \"active\"", "state = \"flying\"", "write_rate = \"1M\"", "[[hosts]]",
               "[hosts.host]", "port = 70000", "listen = 5", "[[services.vds]]", "volumes = [{ name = 1 }]",
               "= broken", "[[", "\x00", "key = \"unterminated", "[peers]", "x = \"127.0.0.1:notaport\""]


@FAST
@given(st.lists(st.sampled_from(TOML_PIECES), max_size=14), st.booleans())
def test_broken_host_and_lab_files_give_one_configuration_error(pieces, as_lab):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("lab.toml" if as_lab else "host.toml")
        p.write_text("\n".join(pieces), encoding="utf-8")
        try:
            (load_lab if as_lab else load_host_config)(p)
        except LdmError as e:
            assert e.message and "\n" not in e.message.strip()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_in_place_of_a_lab_file(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "lab.toml"
        p.write_bytes(data)
        try:
            load_lab(p)
        except LdmError as e:
            assert e.message


def test_the_packaged_lab_still_loads():
    assert len(load_lab(default_lab_file())) >= 2


GARBAGE = [b"\x00" * 64, b"GET / HTTP/1.1\r\n\r\n", b"\xff\xff\xff\xff\x01" + b"x" * 100,
           hello("client") + b"\x00\x00\x00\x05\x63hello",
           hello("client") + encode_json(FrameType.REQUEST, {"id": 1, "method": "run", "params": {"argv": 5}}),
           hello("client") + encode_json(FrameType.REPLY, {"id": 1}),
           hello("client") + b"\x00\x00\x00\x02\x02[]"]


@pytest.mark.timeout(60)
async def test_ldmd_keeps_serving_others_while_one_client_sends_garbage(ldmd):
    link = HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD, known_hosts=ldmd.known_hosts_file)
    await asyncio.wait_for(link.connect(), 10)
    answers = []
    try:
        async with asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=ROOT_PASSWORD,
                                    known_hosts=None, client_keys=None, agent_path=None, config=None) as conn:
            for junk in GARBAGE:
                writer, reader, _ = await conn.open_session(subsystem=RPC_SUBSYSTEM, encoding=None)
                writer.write(junk)
                got = await asyncio.wait_for(reader.read(65536), 15)  # the server's HELLO, maybe an ERROR
                answers.append(got)
                snap = await asyncio.wait_for(link.snapshot(), 10)     # meanwhile: business as usual
                assert snap.hostname == "t5440-sys-1"
                writer.close()
            # A garbage exec and a garbage shell request do not hurt either.
            r = await asyncio.wait_for(conn.run("ldm \x00 '\"", check=False), 10)
            assert r.exit_status == 1 and r.stderr.count("\n") == 1
        assert all(a for a in answers)
        r = await asyncio.wait_for(link.run(["list", "-p"]), 10)
        assert r.exit_code == 0 and r.stdout.startswith("VERSION 1.3")
    finally:
        await asyncio.wait_for(link.close(), 10)
