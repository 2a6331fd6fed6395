"""Migration locks (SPEC M-7, G-8) and authorizations (SPEC M-6, S-5)."""

import attrs
import pytest

from ldtui.core.auth import hash_password, verify_password
from ldtui.core.errors import AuthError, LdmError
from ldtui.core.manager import Manager
from ldtui.core.model import READ, WRITE, DomainState, MigrationInfo, MigrationRole
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30
M = 1 << 20


def new_host(tmp_path, name="t5440-sys-1"):
    m = Manager(MachineSpec(hostname=name, cores=4, memory=(MemoryRange(0, 16 * G),)), tmp_path / name,
                clock=lambda: 1_000_000.0)
    m.create_control_domain(8, 4 * G)
    m.add_vcc("primary-vcc0", "primary", 5000, 5100)
    for n in ("ldg-src", "ldg2", "ldg3"):
        m.add_domain(n)
        m.set_vcpu(1, n)
        m.set_memory(512 * M, n)
    m.bind_domain("ldg-src")
    m.start_domain("ldg-src")
    m.bind_domain("ldg2")
    m.start_domain("ldg2")
    return m


# -- locks -------------------------------------------------------------------------------------
def test_while_a_domain_migrates_it_cannot_change(tmp_path):
    m = new_host(tmp_path)
    with m.migration_lock("ldg-src", "mig-1"):
        for op in (lambda: m.add_vcpu(1, "ldg-src"), lambda: m.stop_domain("ldg-src"),
                   lambda: m.set_variable("ldg-src", boot_device="disk"),
                   lambda: m.add_vnet("vnet9", "primary-vsw0", "ldg-src")):
            with pytest.raises(LdmError) as e:
                op()
            assert (e.value.code, e.value.message) == ("migrating",
                                                       "Operation not allowed: domain ldg-src is being migrated")
        assert m.migrating() == {"ldg-src": "mig-1"}
    assert m.migrating() == {}
    m.add_vcpu(1, "ldg-src")
    m.close()


def test_while_a_domain_migrates_bind_and_stop_of_others_are_refused(tmp_path):
    m = new_host(tmp_path)
    m.begin_migration("ldg-src")
    msg = "Operation not allowed: a migration of domain ldg-src is in progress on this machine"
    with pytest.raises(LdmError, match=f"^{msg}$"):
        m.bind_domain("ldg3")
    with pytest.raises(LdmError, match=f"^{msg}$"):
        m.stop_domain("ldg2")
    with pytest.raises(LdmError) as e:
        m.set_memory(2 * G, "primary")
    assert e.value.code == "migration-in-progress"
    assert m.domain("primary").pending is None
    m.add_vcpu(1, "ldg3")          # an inactive domain's constraints are not in the machine description
    m.end_migration("ldg-src")
    m.bind_domain("ldg3")
    m.stop_domain("ldg2")
    m.close()


def test_a_pending_delayed_reconfiguration_refuses_migration(tmp_path):
    m = new_host(tmp_path)
    m.set_memory(2 * G, "primary")
    with pytest.raises(LdmError) as e:
        m.check_can_migrate("ldg-src")
    assert e.value.code == "reconf-pending"
    assert e.value.message == ("Unable to migrate LDom ldg-src: a delayed reconfiguration of the primary domain "
                               "is pending on t5440-sys-1")
    with pytest.raises(LdmError):
        m.begin_migration("ldg-src")
    m.cancel_reconf("primary")
    m.check_can_migrate("ldg-src")
    m.close()


def test_a_domain_in_the_migration_error_state_says_how_to_recover(tmp_path):
    m = new_host(tmp_path)
    info = MigrationInfo(id="mig-1", role=MigrationRole.ERROR, peer_host="t5440-sys-2", peer_domain="ldg-src",
                         progress=100, error=True)
    m.set_migration("ldg-src", info, state=DomainState.SUSPENDED)
    assert m.flags(m.domain("ldg-src")) == "-n---e"
    with pytest.raises(LdmError) as e:
        m.stop_domain("ldg-src")
    assert e.value.message == ("Operation not allowed: domain ldg-src is in the migration error state; "
                               "if the target runs it, destroy this copy with ldm remove-domain ldg-src, "
                               "else restore it with ldm cancel-operation migration ldg-src")
    m.close()


def test_a_suspended_migration_source_lists_as_the_seed_shows_and_resumes_once(tmp_path):
    m = new_host(tmp_path)
    info = MigrationInfo(id="mig-1", role=MigrationRole.SOURCE, peer_host="t5440-sys-2", peer_domain="ldg-src")
    with m.migration_lock("ldg-src", "mig-1"):
        gen = m.suspend_for_migration("ldg-src", info)
        r = next(r for r in m.snapshot().domains if r.name == "ldg-src")
        assert (r.state, r.flags, r.cons, r.vcpus, r.memory, r.util) == ("suspended", "-n---s", "", 1,
                                                                         512 * M, 0.0)
        counter = m.guest_info("ldg-src")["counter"]
        m.tick(1_000_000.0)
        m.tick(1_000_000.5)
        assert m.guest_info("ldg-src")["counter"] == counter
        m.resume_after_migration("ldg-src", gen)
        m.resume_after_migration("ldg-src", gen)          # a second cancel changes nothing
        assert m.suspend_for_migration("ldg-src", info) == gen + 1
        with pytest.raises(LdmError) as e:
            m.resume_after_migration("ldg-src", gen)      # never an image that already ran
        assert e.value.code == "resume-refused"
        assert m.domain("ldg-src").state is DomainState.SUSPENDED
        m.resume_after_migration("ldg-src", gen + 1)
    assert m.domain("ldg-src").state is DomainState.ACTIVE and m.flags(m.domain("ldg-src")) == "-n----"
    m.close()


def test_a_dry_run_lists_every_problem_of_a_domain_offered_to_this_host(tmp_path):
    m = new_host(tmp_path)
    offered = attrs.evolve(m.domain("ldg-src"), name="ldg-new", bindings=None,
                           constraints=attrs.evolve(m.domain("ldg-src").constraints, vcpus=40, memory=20 * G))
    assert [p.code for p in m.receive_problems(offered)] == ["mac-in-use", "no-cpus", "no-memory"]
    m.destroy_domain("ldg-src")
    assert [p.code for p in m.receive_problems(offered)] == ["no-cpus", "no-memory"]
    m.close()


# -- authorizations and passwords ---------------------------------------------------------------
def test_read_and_write_authorizations(tmp_path):
    m = new_host(tmp_path)
    m.add_user("root", password="s3cret", authorizations=[READ, WRITE])
    m.add_user("oper", password="look", authorizations=[READ])
    m.authorize("root", WRITE)
    m.authorize("oper", READ)
    with pytest.raises(AuthError) as e:
        m.authorize("oper", WRITE)
    assert e.value.code == "not-authorized"
    assert e.value.message == "Authorization failed: user oper does not have solaris.ldoms.write on t5440-sys-1"
    with pytest.raises(AuthError, match="^Authorization failed: user nobody is not known on t5440-sys-1$"):
        m.authorize("nobody", READ)
    assert m.verify_login("root", "s3cret") and not m.verify_login("root", "S3cret")
    assert not m.verify_login("nobody", "s3cret")
    m.close()


def test_passwords_are_stored_only_as_salted_hashes(tmp_path):
    m = new_host(tmp_path)
    m.add_user("root", password="s3cret")
    stored = m.users()[0].password_hash
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    db_files = list((tmp_path / "t5440-sys-1").glob("ldom.db*"))
    assert db_files and all(b"s3cret" not in f.read_bytes() for f in db_files)
    assert hash_password("s3cret") != hash_password("s3cret")
    assert verify_password(hash_password("pw"), "pw")
    assert not verify_password(hash_password("pw"), "pw ")
    assert not verify_password("", "pw") and not verify_password("scrypt$x", "pw")
    m.close()
