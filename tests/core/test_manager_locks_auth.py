"""Migration locks (SPEC M-7, G-8) and authorizations (SPEC M-6, S-5)."""

import uuid as uuidlib

import attrs
import pytest

from ldtui.core.auth import hash_password, verify_password
from ldtui.core.errors import AuthError, LdmError
from ldtui.core.manager import Manager
from ldtui.core.migration import LinkLost, SourceRun, TargetRun, cancel_migration, host_ops
from ldtui.core.migration.checks import machine_info
from ldtui.core.migration.events import Received
from ldtui.core.migration.messages import CheckResult, DomainDescription, Go, Offer, Ready, TransferDone
from ldtui.core.model import READ, WRITE, DomainState, MigrationRole
from ldtui.hv.hypervisor import HvError, RunState
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
    m.begin_migration("ldg-src", "mig-1")
    try:
        for op in (lambda: m.add_vcpu(1, "ldg-src"), lambda: m.stop_domain("ldg-src"),
                   lambda: m.set_variable("ldg-src", boot_device="disk"),
                   lambda: m.add_vnet("vnet9", "primary-vsw0", "ldg-src")):
            with pytest.raises(LdmError) as e:
                op()
            assert (e.value.code, e.value.message) == ("migrating",
                                                       "Operation not allowed: domain ldg-src is being migrated")
        assert m.migrating() == {"ldg-src": "mig-1"}
    finally:
        m.end_migration("ldg-src")
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


def start_moving(m, name="ldg-src"):
    """The migration engine takes ``name`` through phases 1 and 2 against a target whose
    checks pass: the domain is held by the migration and, if it ran, suspended."""
    run = SourceRun(m, name, target_host="t5440-sys-2", user="root")
    run.start()
    run.feed(Received(CheckResult(ok=True)))
    return run


def hand_off(run):
    """Phase 3 to the end, then the target's ``Ready``: the engine gives the image away and
    sends ``Go`` (the commit point)."""
    sent = []
    while run.wants_pages:
        sent += run.pump()
    assert any(isinstance(msg, TransferDone) for msg in sent)
    assert any(isinstance(msg, Go) for msg in run.feed(Received(Ready())))


def test_a_domain_in_the_migration_error_state_says_how_to_recover(tmp_path):
    m = new_host(tmp_path)
    uuid = m.domain("ldg-src").uuid
    run = start_moving(m)
    hand_off(run)
    run.feed(LinkLost())                # no word from the target after Go
    assert m.migrating() == {}          # the engine let go; the domain's record holds it now
    d = m.domain("ldg-src")
    assert (d.state, d.migration_role, d.migration.error) == (DomainState.SUSPENDED, MigrationRole.ERROR, True)
    assert m.flags(d) == "-n---e"
    with pytest.raises(LdmError) as e:
        m.stop_domain("ldg-src")
    assert e.value.message == ("Operation not allowed: domain ldg-src is in the migration error state; "
                               "if the target runs it, destroy this copy with ldm remove-domain ldg-src, "
                               "else restore it with ldm cancel-operation migration ldg-src")
    # The image went to the target: rolling back as if Go had not been sent cannot run it here.
    gen = m.hv.get(uuid).generation
    with pytest.raises(HvError, match=f"^image generation {gen} of domain ldg-src has already run$"):
        host_ops.restore_source(m, "ldg-src", uuid, strands=(), reserved=(), was_active=True)
    assert m.domain("ldg-src").state is DomainState.SUSPENDED and m.flags(m.domain("ldg-src")) == "-n---e"
    assert m.hv.get(uuid).run_state is RunState.SUSPENDED
    m.close()


def test_a_suspended_migration_source_lists_as_the_seed_shows_and_resumes_once(tmp_path):
    m = new_host(tmp_path)
    uuid = m.domain("ldg-src").uuid
    run = start_moving(m)
    gen = m.hv.get(uuid).generation
    assert m.migrating() == {"ldg-src": run.mig_id}
    r = next(r for r in m.snapshot().domains if r.name == "ldg-src")
    assert (r.state, r.flags, r.cons, r.vcpus, r.memory, r.util) == ("suspended", "-n---s", "", 1, 512 * M, 0.0)
    with pytest.raises(LdmError) as e:
        m.stop_domain("ldg-src")
    assert e.value.code == "migrating"
    counter = m.guest_info("ldg-src")["counter"]
    m.tick(1_000_000.0)
    m.tick(1_000_000.5)
    assert m.guest_info("ldg-src")["counter"] == counter
    cancel_migration(m, "ldg-src")                       # before Go: the engine rolls back
    assert m.hv.get(uuid).run_state is RunState.RUNNING and m.hv.get(uuid).generation == gen + 1
    with pytest.raises(LdmError) as e:
        cancel_migration(m, "ldg-src")                   # a second cancel changes nothing
    assert e.value.code == "no-migration"
    assert m.hv.get(uuid).run_state is RunState.RUNNING and m.hv.get(uuid).generation == gen + 1
    assert m.domain("ldg-src").state is DomainState.ACTIVE and m.migrating() == {}
    start_moving(m)
    assert m.hv.get(uuid).generation == gen + 1
    with pytest.raises(HvError, match=f"^domain ldg-src holds image generation {gen + 1}, not {gen}$"):
        m.hv.resume(uuid, gen)                           # never an image that already ran
    assert m.domain("ldg-src").state is DomainState.SUSPENDED
    assert m.hv.get(uuid).run_state is RunState.SUSPENDED
    cancel_migration(m, "ldg-src")
    assert m.domain("ldg-src").state is DomainState.ACTIVE and m.flags(m.domain("ldg-src")) == "-n----"
    assert m.hv.get(uuid).run_state is RunState.RUNNING and m.migrating() == {}
    m.close()


def test_a_dry_run_lists_every_problem_of_a_domain_offered_to_this_host(tmp_path):
    m = new_host(tmp_path)
    src = m.domain("ldg-src")
    offered = DomainDescription(name="ldg-new", uuid=str(uuidlib.uuid4()), state="bound", vcpus=40, mac=src.mac,
                                constraints=attrs.evolve(src.constraints, vcpus=40, memory=20 * G))

    def dry_run():
        offer = Offer(mig_id="mig-1", source=attrs.evolve(machine_info(m), hostname="t5440-sys-2"),
                      domain=offered, target_name="ldg-new", user="root", dry_run=True)
        [answer] = TargetRun(m).receive(offer)
        assert not answer.ok and "ldg-new" not in [d.name for d in m.domains()]
        return answer.unmet

    assert dry_run() == ("Not enough free virtual CPUs: 40 requested, 22 available",
                         "Not enough free memory: 20G requested, 11136M available",
                         f"MAC address {src.mac} of LDom ldg-new is already used by LDom ldg-src on t5440-sys-1")
    host_ops.destroy_source(m, "ldg-src", src.uuid)     # the domain left: its MAC and resources are free
    assert dry_run() == ("Not enough free virtual CPUs: 40 requested, 23 available",
                         "Not enough free memory: 20G requested, 11648M available")
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
    root = m.store.user("root")     # what ldmd's login checks
    assert verify_password(root.password_hash, "s3cret") and not verify_password(root.password_hash, "S3cret")
    assert m.store.user("nobody") is None
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
