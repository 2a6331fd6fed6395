"""Migration between two real ldmd over SSH on loopback (seed examples 8-1…8-6; SPEC G-1…G-14)."""

import asyncio

import asyncssh
import pytest

from migkit import Hosts, lab, slow_lab, fill_memory, ssh_ldm, wait_for  # noqa: F401  (lab, slow_lab: shared fixtures)

pytestmark = pytest.mark.timeout(120)


def names(lab, host):
    return [d.name for d in lab[host].manager.domains()]


async def test_seed_8_2_migrate_a_guest_domain(lab):
    """# ldm migrate-domain ldg1 t5440-sys-2 / Target Password: — and nothing else."""
    src = lab["t5440-sys-1"].manager
    digest = fill_memory(src, "ldg1", 64)
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2")
    assert (code, out, err) == (0, "Target Password:\n", "")
    assert "ldg1" not in names(lab, "t5440-sys-1")
    tgt = lab["t5440-sys-2"].manager
    info = tgt.guest_info("ldg1")
    assert info["run_state"] == "running"
    assert info["digest"] == digest or info["write_rate"] > 0  # the guest runs on and writes
    listing = lab.ldm("t5440-sys-2", "list ldg1").stdout.splitlines()
    assert listing[1].split()[:3] == ["ldg1", "active", "-n----"]
    # It arrives with one vCPU; CPU DR stays off until it reboots (G-6).
    assert listing[1].split()[4] == "1"
    assert tgt.hv.get(tgt.domain("ldg1").uuid).cpu_dr_disabled


async def test_seed_8_3_rename_and_user_on_target(lab):
    """# ldm migrate ldg-src root@t5440-sys-2:ldg-tgt — here with ldg1, which fits."""
    src = lab["t5440-sys-1"].manager
    src.add_user("admin", password="admin-pw")   # known on the source only
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate ldg1 t5440-sys-2:ldg-tgt", user="admin",
                                   login_password="admin-pw")
    assert code == 1
    assert err == "Permission denied for admin on t5440-sys-2\nDomain Migration of LDom ldg1 failed\n"
    assert "ldg1" in names(lab, "t5440-sys-1")
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate ldg1 root@t5440-sys-2:ldg-tgt", user="admin",
                                   login_password="admin-pw")
    assert (code, out, err) == (0, "Target Password:\n", "")
    assert "ldg-tgt" in names(lab, "t5440-sys-2") and "ldg1" not in names(lab, "t5440-sys-2")
    assert "ldg1" not in names(lab, "t5440-sys-1")


async def test_seed_8_4_target_refuses_incoming_migrations(lab):
    lab["t5440-sys-2"].manager.set_settings(incoming_migration_enabled=False)
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate ldg1 t5440-sys-2")
    assert code == 1
    assert out == "Target Password:\n"
    assert err == (
        "Failed to establish connection with ldmd(1m) on target: t5440-sys-2\n"
        "Check that the 'ldmd' service is enabled on the target machine and\n"
        "that the version supports Domain Migration. Check that the 'xmpp_enabled'\n"
        "and 'incoming_migration_enabled' properties of the 'ldmd' service on\n"
        "the target machine are set to 'true' using svccfg(1M).\n")
    assert lab.ldm("t5440-sys-1", "list ldg1").stdout.splitlines()[1].split()[1] == "active"


async def test_no_answer_to_the_target_password_prompt_ends_its_line(lab):
    """G-1: ``ssh host ldm migrate …`` with nothing on stdin. Before, the reason was printed
    on the prompt's line (``Target Password:A target password is required``)."""
    d = lab["t5440-sys-1"]
    async with asyncssh.connect("127.0.0.1", d.port, username="root", password="solaris", known_hosts=None,
                                client_keys=None, agent_path=None, config=None) as conn:
        proc = await conn.create_process("ldm migrate ldg1 t5440-sys-2", encoding=None)
        proc.stdin.write_eof()
        done = await asyncio.wait_for(proc.wait(check=False), 30)
    assert (done.exit_status, done.stdout, done.stderr) == (
        1, b"Target Password:\n", b"A target password is required\nDomain Migration of LDom ldg1 failed\n")
    assert d.manager.domain("ldg1").migration is None


async def test_seed_memory_layout_failure(lab):
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg-src t5440-sys-2")
    assert (code, out) == (1, "Target Password:\n")
    assert err == "Unable to bind 2G memory region at real address 0x8000000\nDomain Migration of LDom ldg-src failed\n"
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain -n ldg-src t5440-sys-2")
    assert err == ("Unable to bind 2G memory region at real address 0x8000000\n"
                   "Domain Migration of LDom ldg-src would fail if attempted\n")
    # Nothing moved, nothing is left behind.
    assert lab.ldm("t5440-sys-1", "list ldg-src").stdout.splitlines()[1].split()[:3] == ["ldg-src", "active", "-n----"]
    assert "ldg-src" not in names(lab, "t5440-sys-2")
    assert lab["t5440-sys-2"].manager.store.journal_entries() == []


async def test_status_on_both_hosts_while_it_runs(slow_lab):
    lab = slow_lab
    fill_memory(lab["t5440-sys-1"].manager, "ldg1", 400)
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2"))
    seen_src, seen_tgt = [], []

    def progress(host, name):
        r = lab.ldm(host, f"list -o status {name}")
        lines = r.stdout.splitlines()
        # The seed's six lines first; the detail lines of B-4 follow while it runs.
        return lines if len(lines) >= 6 else None

    src = await wait_for(lambda: progress("t5440-sys-1", "ldg1"))
    assert src[:5] == ["NAME", "ldg1", "", "STATUS", "    OPERATION    PROGRESS    TARGET"]
    while not job.done():
        s, t = progress("t5440-sys-1", "ldg1"), progress("t5440-sys-2", "ldg1")
        if s and t:
            seen_src.append(int(s[5].split()[1].rstrip("%")))
            seen_tgt.append(int(t[5].split()[1].rstrip("%")))
            assert s[5].split()[2] == "t5440-sys-2"
            assert t[4] == "    OPERATION    PROGRESS    SOURCE"
            assert t[5].split()[2] == "t5440-sys-1"
            a = lab.ldm("t5440-sys-1", "list ldg1").stdout.splitlines()[1].split()
            b = lab.ldm("t5440-sys-2", "list ldg1").stdout.splitlines()[1].split()
            assert a[1:3] == ["suspended", "-n---s"] and b[1:3] == ["bound", "-----t"]
        await asyncio.sleep(0.05)
    assert (await job)[0] == 0
    assert len(seen_src) >= 3 and seen_src == sorted(seen_src) and seen_tgt == sorted(seen_tgt)
    assert seen_src[0] < 100 and max(seen_src) > 10


async def test_cancel_on_source_restores_and_refusal_on_target(slow_lab):
    lab = slow_lab
    digest = fill_memory(lab["t5440-sys-1"].manager, "ldg1", 400)
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2"))
    await wait_for(lambda: "ldg1" in names(lab, "t5440-sys-2"))
    code, out, err = await ssh_ldm(lab["t5440-sys-2"], "cancel-operation migration ldg1", password_line=None)
    assert (code, err) == (1, "Migration of LDom ldg1 can only be cancelled on the source machine t5440-sys-1\n")
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "cancel-operation migration ldg1", password_line=None)
    assert (code, err) == (0, "")
    code, out, err = await job
    assert code == 1
    assert err == "Migration of LDom ldg1 was cancelled\nDomain Migration of LDom ldg1 failed\n"
    await wait_for(lambda: "ldg1" not in names(lab, "t5440-sys-2"))
    src = lab["t5440-sys-1"].manager
    row = lab.ldm("t5440-sys-1", "list ldg1").stdout.splitlines()[1].split()
    assert row[1:3] == ["active", "-n----"] and row[4] == "8"  # all its vCPUs back
    assert src.hv.memory(src.domain("ldg1").uuid).digest() == digest or src.guest_info("ldg1")["write_rate"]


async def test_killing_ldm_cancels_the_migration(slow_lab):
    lab = slow_lab
    fill_memory(lab["t5440-sys-1"].manager, "ldg1", 400)
    started = asyncio.Event()
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2", started=started))
    await wait_for(lambda: "ldg1" in names(lab, "t5440-sys-2"))
    job.cancel()  # the client's connection goes away without a word, as after KILL
    await asyncio.gather(job, return_exceptions=True)
    await wait_for(lambda: "ldg1" not in names(lab, "t5440-sys-2"))
    await wait_for(lambda: lab.ldm("t5440-sys-1", "list ldg1").stdout.splitlines()[1].split()[1] == "active")


@pytest.fixture
async def cut_lab(tmp_path):
    """As slow_lab, but sys-1 reaches sys-2 through a relay whose cable can be pulled."""
    from ldtui.net.proxy import LinkProxy
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start(page_delay=0.05, batch_pages=4, keepalive=(0.5, 2), wait_timeout=5.0)
    proxy = LinkProxy("127.0.0.1", hosts["t5440-sys-2"].port, name="sys-1->sys-2")
    await proxy.start()
    hosts["t5440-sys-1"].set_peers({"t5440-sys-2": ("127.0.0.1", proxy.port)})
    hosts.proxy = proxy
    yield hosts
    await proxy.stop()
    await hosts.stop()


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
async def test_a_link_lost_during_the_transfer_rolls_both_sides_back(cut_lab, fault):
    """G-12/S-4: before GO a dead link — reset at once, or silent until keepalive notices —
    ends with the source running again and no receiving domain left on the target."""
    lab = cut_lab
    digest = fill_memory(lab["t5440-sys-1"].manager, "ldg1", 400)
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain ldg1 t5440-sys-2"))
    await wait_for(lambda: "ldg1" in names(lab, "t5440-sys-2")
                   and lab["t5440-sys-2"].manager.domain("ldg1").migration.progress > 5)
    getattr(lab.proxy, fault)()
    code, out, err = await asyncio.wait_for(job, 60)
    assert code == 1
    assert err.endswith("Domain Migration of LDom ldg1 failed\n")
    assert "t5440-sys-2" in err.splitlines()[0]
    await wait_for(lambda: "ldg1" not in names(lab, "t5440-sys-2"), timeout=30)
    src = lab["t5440-sys-1"].manager
    assert src.guest_info("ldg1")["run_state"] == "running"
    assert src.domain("ldg1").migration is None
    assert src.hv.memory(src.domain("ldg1").uuid).digest() == digest or src.guest_info("ldg1")["write_rate"]
    assert src.store.journal_entries() == [] and lab["t5440-sys-2"].manager.store.journal_entries() == []


async def test_a_target_this_host_has_no_peer_entry_for(lab):
    """G-4, G-5: nothing was tried, so not the seed's 8-4 hint about the target's ldmd, but
    what is wrong here and how to fix it, before any password is asked."""
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate ldg1 t5440-sys-9", password_line=None)
    assert (code, out) == (1, "")
    assert err == ("Target host t5440-sys-9 is not known to the Logical Domains Manager on t5440-sys-1 "
                   "(it knows t5440-sys-2)\n"
                   'Add t5440-sys-9 = "ADDRESS:PORT" to the [peers] table of the host configuration '
                   "(lab.toml) and restart ldmd, or give ldmd a --peers file with that table\n"
                   "Domain Migration of LDom ldg1 failed\n")
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate -n ldg1 t5440-sys-9", password_line=None)
    assert err.splitlines()[-1] == "Domain Migration of LDom ldg1 would fail if attempted"
    assert lab["t5440-sys-1"].manager.domain("ldg1").migration is None


async def test_a_target_whose_manager_cannot_be_reached(lab):
    """G-4: known here, but nothing answers at its address: the seed's 8-4 text, as the
    product prints it when it cannot reach the target's ldmd."""
    src = lab["t5440-sys-1"]
    src.set_peers(dict(src.peers, **{"t5440-sys-2": ("127.0.0.1", closed_port())}))
    code, out, err = await ssh_ldm(src, "migrate ldg1 t5440-sys-2")
    assert (code, out) == (1, "Target Password:\n")
    assert err == (
        "Failed to establish connection with ldmd(1m) on target: t5440-sys-2\n"
        "Check that the 'ldmd' service is enabled on the target machine and\n"
        "that the version supports Domain Migration. Check that the 'xmpp_enabled'\n"
        "and 'incoming_migration_enabled' properties of the 'ldmd' service on\n"
        "the target machine are set to 'true' using svccfg(1M).\n")
    assert src.manager.domain("ldg1").migration is None


def closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
