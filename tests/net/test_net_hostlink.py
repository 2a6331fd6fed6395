"""The console's link to a host: one SSH connection, the ldtui-rpc channel (SPEC S-3, S-4, T-2)."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from ldtui.core.commands import execute
from ldtui.core.errors import LdmError
from ldtui.core.snapshot import HostSnapshot
from ldtui.net.framing import FrameDecoder, FrameType, encode_json, hello
from ldtui.net.hostlink import CONNECTED, DOWN, HostLink, LinkDown
from ldtui.net.server import Ldmd
from netkit import OPERATOR_PASSWORD, ROOT_PASSWORD


async def test_run_gives_what_ldm_prints(ldmd, link):
    got = await link.run(["list-services"])
    want = execute(ldmd.manager, "root", ["list-services"])
    assert (got.stdout, got.stderr, got.exit_code) == (want.stdout, want.stderr, want.exit_code)
    assert got.stdout.startswith("VCC\n    NAME             LDOM             PORT-RANGE\n")


async def test_run_reports_refusals_like_ldm(ldmd, link):
    got = await link.run(["remove-domain", "ldg1"])
    want_state = ldmd.manager.domain("ldg1").state
    assert got.exit_code != 0
    assert got.stderr.count("\n") >= 1 and got.stdout == ""
    assert ldmd.manager.domain("ldg1").state == want_state


async def test_snapshot_is_the_managers_view(ldmd, link):
    snap = await link.snapshot()
    assert isinstance(snap, HostSnapshot)
    assert snap.hostname == "t5440-sys-1"
    rows = {r.name: r for r in snap.domains}
    assert list(rows) == ["primary", "ldg1", "ldg2", "ldg3"]
    assert (rows["primary"].flags, rows["primary"].cons, rows["primary"].vcpus) == ("-n-cv-", "SP", 8)
    assert (rows["ldg1"].state, rows["ldg1"].flags, rows["ldg1"].memory) == ("active", "-n----", 1 << 30)
    assert (rows["ldg2"].state, rows["ldg2"].util, rows["ldg2"].uptime) == ("bound", None, None)
    local = ldmd.manager.snapshot()
    assert (snap.strands_free, snap.memory_free) == (local.strands_free, local.memory_free)


async def test_concurrent_calls_share_one_connection(link):
    results = await asyncio.gather(*(link.run(["list"]) for _ in range(5)), link.snapshot(), link.ping())
    assert all(r.exit_code == 0 for r in results[:5])
    assert len({r.stdout.splitlines()[0] for r in results[:5]}) == 1


async def test_read_only_user_may_look_but_not_touch(ldmd):
    hl = HostLink("127.0.0.1", ldmd.port, "operator", password=OPERATOR_PASSWORD, known_hosts=ldmd.known_hosts_file)
    await asyncio.wait_for(hl.connect(), 10)
    try:
        assert (await hl.snapshot()).hostname == "t5440-sys-1"
        r = await hl.run(["stop-domain", "ldg1"])
        assert r.exit_code == 1
        assert r.stderr == "Authorization failed: user operator does not have solaris.ldoms.write on t5440-sys-1\n"
        assert ldmd.manager.domain("ldg1").state.value == "active"
    finally:
        await hl.close()


async def test_wrong_password_leaves_the_link_down_with_a_reason(ldmd):
    hl = HostLink("127.0.0.1", ldmd.port, "root", password="guess", known_hosts=ldmd.known_hosts_file)
    with pytest.raises(LinkDown, match=r"Permission denied for root@\[127.0.0.1\]:\d+"):
        await asyncio.wait_for(hl.connect(), 10)
    assert hl.state == DOWN
    with pytest.raises(LinkDown):
        await hl.snapshot()


async def test_unknown_host_key_is_refused_for_programs(ldmd, tmp_path):
    hl = HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD, known_hosts=tmp_path / "none")
    with pytest.raises(LinkDown, match="Host key verification failed"):
        await asyncio.wait_for(hl.connect(), 10)


async def test_snapshot_needs_read_authorization(ldmd):
    ldmd.manager.add_user("guest", password="guest-pw", authorizations=())
    hl = HostLink("127.0.0.1", ldmd.port, "guest", password="guest-pw", known_hosts=ldmd.known_hosts_file)
    await asyncio.wait_for(hl.connect(), 10)
    try:
        with pytest.raises(LdmError) as e:
            await hl.snapshot()
        assert e.value.code == "not-authorized"
        assert e.value.message == "Authorization failed: user guest does not have solaris.ldoms.read on t5440-sys-1"
    finally:
        await hl.close()


async def test_link_notices_a_dead_host_and_comes_back(host_config, tmp_path):
    """S-4: a drop turns the link down; reconnect_forever brings it back on restart."""
    state = tmp_path / "state"
    first = Ldmd(host_config, state, listen=("127.0.0.1", 0))
    port = await first.start()
    kh = tmp_path / "kh"
    kh.write_text(f"[127.0.0.1]:{port} {first.host_public_key}\n")
    states = []
    hl = HostLink("127.0.0.1", port, "root", password=ROOT_PASSWORD, known_hosts=kh,
                  on_state=lambda link: states.append(link.state))
    keeper = asyncio.create_task(hl.reconnect_forever(first_delay=0.05, max_delay=0.2))
    try:
        await _until(lambda: hl.state == CONNECTED)
        await first.stop()
        await _until(lambda: hl.state != CONNECTED)
        with pytest.raises(LinkDown):
            await hl.run(["list"])
        second = Ldmd(host_config, state, listen=("127.0.0.1", port))   # same key, same port
        await second.start()
        try:
            await _until(lambda: hl.state == CONNECTED)
            assert (await hl.run(["list"])).exit_code == 0
        finally:
            await hl.close()
            await second.stop()
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
    assert states[0] == "connecting" and DOWN in states and states.count(CONNECTED) >= 2


async def _until(cond, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(wait(), timeout)


async def _raw_channel(ldmd, subsystem="ldtui-rpc"):
    conn = await asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=ROOT_PASSWORD,
                                  known_hosts=str(ldmd.known_hosts_file), client_keys=None, agent_path=None,
                                  config=None)
    writer, reader, _ = await conn.open_session(subsystem=subsystem, encoding=None)
    return conn, writer, reader


async def _frames(reader, n: int):
    dec, out = FrameDecoder(), []
    while len(out) < n:
        data = await asyncio.wait_for(reader.read(65536), 10)
        if not data:
            break
        out += dec.feed(data)
    return out


async def test_garbage_on_the_rpc_channel_gets_one_error_and_a_close(ldmd):
    conn, writer, reader = await _raw_channel(ldmd)
    async with conn:
        (server_hello,) = await _frames(reader, 1)
        assert server_hello.type is FrameType.HELLO
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        frames = await _frames(reader, 1)
        assert [f.type for f in frames] == [FrameType.ERROR]
        assert "frame length" in frames[0].json()["message"]
        assert await asyncio.wait_for(reader.read(), 10) == b""


async def test_a_client_of_another_major_version_is_refused(ldmd):
    conn, writer, reader = await _raw_channel(ldmd)
    async with conn:
        await _frames(reader, 1)
        writer.write(encode_json(FrameType.HELLO, {"protocol": "ldtui-rpc", "version": [2, 0]}))
        (err,) = await _frames(reader, 1)
        assert err.json()["message"] == "protocol version 2.0 is not compatible with 1.0"


async def test_unknown_method_is_an_error_not_a_disconnect(ldmd):
    conn, writer, reader = await _raw_channel(ldmd)
    async with conn:
        await _frames(reader, 1)
        writer.write(hello("client"))
        writer.write(encode_json(FrameType.REQUEST, {"id": 7, "method": "format-disk", "params": {}}))
        writer.write(encode_json(FrameType.REQUEST, {"id": 8, "method": "ping", "params": {}}))
        err, reply = await _frames(reader, 2)
        assert err.json() == {"id": 7, "code": "no-such-method", "message": "unknown method 'format-disk'"}
        assert reply.type is FrameType.REPLY and reply.json()["result"]["hostname"] == "t5440-sys-1"


async def test_unknown_subsystems_are_refused(ldmd):
    with pytest.raises(asyncssh.ChannelOpenError):
        await _raw_channel(ldmd, subsystem="sftp")
    async with asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=ROOT_PASSWORD,
                                known_hosts=str(ldmd.known_hosts_file), client_keys=None, agent_path=None,
                                config=None) as conn:
        proc = await conn.create_process(subsystem="netconf", encoding=None)
        err = await asyncio.wait_for(proc.stderr.read(), 10)
        done = await asyncio.wait_for(proc.wait(), 10)
    assert (done.exit_status, err) == (1, b"ldmd: unknown subsystem 'netconf'\n")


async def test_manager_errors_arrive_as_ldm_errors(ldmd, link):
    with pytest.raises(LdmError) as e:
        await link._call("run", {"argv": "list"})
    assert e.value.code == "usage"


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _down_code(link: HostLink) -> str:
    with pytest.raises(LinkDown) as e:
        await asyncio.wait_for(link.connect(), 15)
    assert link.state == DOWN and link.last_error_code == e.value.code and link.last_error == str(e.value)
    return e.value.code


async def test_a_link_says_in_one_word_why_it_is_down(ldmd, tmp_path, monkeypatch):
    """Issue 15 item 3: refused, unresolvable, login refused, host key changed, version mismatch."""
    assert await _down_code(HostLink("127.0.0.1", _closed_port(), "root", password="x")) == "refused"
    assert await _down_code(HostLink("nosuchhost.invalid", 22, "root", password="x")) == "unresolvable"
    assert await _down_code(HostLink("127.0.0.1", ldmd.port, "root", password="guess",
                                     known_hosts=ldmd.known_hosts_file)) == "permission-denied"
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    changed = tmp_path / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{ldmd.port} {other}")
    assert await _down_code(HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD,
                                     known_hosts=changed)) == "host-key-changed"

    import ldtui.net.rpc as rpc
    from ldtui.net.framing import IncompatiblePeer
    real = rpc.check_hello

    def newer_server(frame):
        body = real(frame)
        if body.get("role") == "server":
            raise IncompatiblePeer("protocol version 2.0 is not compatible with 1.0")
        return body
    monkeypatch.setattr(rpc, "check_hello", newer_server)
    link = HostLink("127.0.0.1", ldmd.port, "root", password=ROOT_PASSWORD, known_hosts=ldmd.known_hosts_file)
    assert await _down_code(link) == "version"
    assert "incompatible manager: protocol version 2.0" in link.last_error
