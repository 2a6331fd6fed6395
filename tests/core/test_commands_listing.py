"""What operators type and see on a real manager (SPEC L-1…L-5, M-4, G-11; seed chapter 8).

Each test sets up a host with ``ldm`` commands, then compares what ``ldm`` prints with the
seed's examples — and with the same rules on other names, sizes and addresses.
"""

from __future__ import annotations

import pytest

from ldtui.core.commands import execute
from ldtui.core.manager import Manager
from ldtui.core.migration import SourceRun, TargetRun, host_ops
from ldtui.core.migration.events import Received
from ldtui.core.migration.messages import CheckResult
from ldtui.core.model import MigrationInfo, MigrationRole
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30


class Host:
    """One ``ldmd``'s manager with a clock the test moves, and ``ldm`` as ``root``."""

    def __init__(self, path, hostname: str, *, memory_end: int, cores: int = 4, buses=("pci@400", "pci@500")):
        self.now = 1_000_000.0
        self.m = Manager(MachineSpec(hostname=hostname, cores=cores, strands_per_core=4,
                                     memory=(MemoryRange(0, memory_end),), pci_buses=tuple(buses)),
                         path / hostname, clock=lambda: self.now)
        self.m.create_control_domain(vcpus=4, memory=4 * G, crypto=1, io=(buses[0],))
        self.m.add_user("root", password="secret")
        self.ldm("add-vcc port-range=5000-5100 primary-vcc0 primary")

    def ldm(self, line: str) -> str:
        r = execute(self.m, "root", line.split())
        assert r.exit_code == 0, r.stderr
        assert r.stderr == ""
        return r.stdout

    def fails(self, line: str) -> str:
        r = execute(self.m, "root", line.split())
        assert r.exit_code == 1 and r.stdout == "", (r.stdout, r.stderr)
        return r.stderr


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path, "t5440-sys-1", memory_end=0x288000000)
    yield h
    h.m.close()


@pytest.fixture
def seed_target(tmp_path):
    """The seed's target: 2G free, but split in two 1G ranges around a bound domain."""
    h = Host(tmp_path, "dt212-239", memory_end=0x1C8000000)
    h.ldm("add-domain ldg-a")
    h.ldm("add-vcpu 1 ldg-a")
    h.ldm("set-memory mblock=0x148000000:1G ldg-a")
    h.ldm("bind ldg-a")
    yield h
    h.m.close()


def test_seed_list_devices_memory_shows_two_free_1g_ranges(seed_target):
    assert seed_target.ldm("list-devices memory") == (
        "MEMORY\n"
        "    PA                   SIZE\n"
        "    0x108000000          1G\n"
        "    0x188000000          1G\n")


def test_seed_memory_format_of_the_source_domain(host):
    host.ldm("add-domain ldg-src")
    host.ldm("add-vcpu 1 ldg-src")
    host.ldm("set-memory mblock=0x208000000:2G ldg-src")
    host.ldm("bind ldg-src")
    host.ldm("start ldg-src")
    assert host.ldm("list -o memory ldg-src") == (
        "NAME\n"
        "ldg-src\n"
        "\n"
        "MEMORY\n"
        "    RA               PA               SIZE\n"
        "    0x8000000        0x208000000      2G\n")


def test_memory_format_follows_where_the_domain_was_bound(host):
    host.ldm("add-domain web")
    host.ldm("add-vcpu 1 web")
    host.ldm("set-memory mblock=0x148000000:512M,0x248000000:256M web")
    host.ldm("bind web")
    assert host.ldm("ls -o memory web") == (
        "NAME\nweb\n\nMEMORY\n    RA               PA               SIZE\n"
        "    0x8000000        0x148000000      512M\n"
        "    0x28000000       0x248000000      256M\n")


def assert_seed_then_detail(out: str, seed: str) -> None:
    """A running migration: the seed's status lines byte for byte, then its detail (B-4)."""
    assert out.startswith(seed) and out[len(seed):].startswith("    MODE "), out


def test_seed_source_domain_while_migrating(host):
    host.ldm("add-domain ldg-src")
    host.ldm("add-vcpu 1 ldg-src")
    host.ldm("add-memory 1G ldg-src")
    host.ldm("bind ldg-src")
    host.ldm("start ldg-src")
    host.now += 2 * 3600 + 7 * 60 + 30
    uuid = host.m.domain("ldg-src").uuid
    run = SourceRun(host.m, "ldg-src", target_host="t5440-sys-2", target_name="ldg-tgt", user="root")
    run.start()
    run.feed(Received(CheckResult(ok=True)))            # the target's checks passed: suspended
    host_ops.set_progress(host.m, "ldg-src", uuid, 17)
    assert host.ldm("list ldg-src") == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "ldg-src    suspended  -n---s          1     1G       0.0%  2h 7m\n")
    assert_seed_then_detail(host.ldm("list -o status ldg-src"), (
        "NAME\nldg-src\n\nSTATUS\n    OPERATION    PROGRESS    TARGET\n    migration    17%         t5440-sys-2\n"))
    host_ops.set_progress(host.m, "ldg-src", uuid, 42)
    assert host.ldm("list -o status -p ldg-src").startswith(
        "VERSION 1.3\nDOMAIN|name=ldg-src|\nSTATUS\n|op=migration|progress=42|error=no|target=t5440-sys-2|mode=")


def test_seed_target_domain_while_migrating(host, tmp_path):
    host.ldm("add-domain ldg-src")
    host.ldm("add-vcpu 1 ldg-src")
    host.ldm("add-memory 1G ldg-src")
    host.ldm("bind ldg-src")
    target = Host(tmp_path, "t5440-sys-2", memory_end=0x288000000)
    try:
        offer = SourceRun(host.m, "ldg-src", target_host="t5440-sys-2", target_name="ldg-tgt",
                          user="root").start()
        [answer] = TargetRun(target.m, user="root").receive(*offer)
        assert answer.ok                                 # phase 2: the receiving domain exists
        host_ops.set_progress(target.m, "ldg-tgt", target.m.domain("ldg-tgt").uuid, 55)
        assert target.ldm("list ldg-tgt") == (
            "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
            "ldg-tgt    bound      -----t  5000    1     1G\n")
        assert_seed_then_detail(target.ldm("list -o status ldg-tgt"), (
            "NAME\nldg-tgt\n\nSTATUS\n    OPERATION    PROGRESS    SOURCE\n    migration    55%         t5440-sys-1\n"))
        assert target.ldm("list -o status -p ldg-tgt").splitlines()[-1].startswith(
            "|op=migration|progress=55|error=no|source=t5440-sys-1|mode=")
    finally:
        target.m.close()


def test_a_source_in_error_shows_e_and_error_yes(host):
    host.ldm("add-domain mail")
    host.ldm("add-memory 256M mail")
    host.ldm("add-vcpu 2 mail")
    host.ldm("bind mail")
    host_ops.enter_error(host.m, "mail", host.m.domain("mail").uuid,
                         MigrationInfo(id="m9", role=MigrationRole.SOURCE, peer_host="far-away",
                                       peer_domain="mail", progress=100))
    assert host.ldm("list -p mail").splitlines()[1].startswith("DOMAIN|name=mail|state=bound|flags=-----e|")
    # Seed 8-6's fields first; then what is known of the error (issue 15: sent, confirmed, since).
    line = host.ldm("list -o status -p mail").splitlines()[-1]
    assert line.startswith("|op=migration|progress=100|error=yes|target=far-away|phase=handoff|")
    assert "|confirmed=no|" in line


def test_list_shows_every_domain_in_creation_order_with_the_control_domain_first(host):
    for name, cpus, mem in (("ldg1", 4, "1G"), ("ldg2", 1, "512M"), ("ldg3", 2, "1G")):
        host.ldm(f"add-domain {name}")
        host.ldm(f"add-vcpu {cpus} {name}")
        host.ldm(f"add-memory {mem} {name}")
    host.ldm("bind ldg1")
    host.ldm("bind ldg2")
    host.ldm("start ldg1")
    host.now += 3 * 86400 + 21 * 3600 + 7 * 60
    assert host.ldm("list") == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "primary    active     -n-cv-  SP      4     4G       0.3%  3d 21h 7m\n"
        "ldg1       active     -n----  5000    4     1G       0.3%  3d 21h 7m\n"
        "ldg2       bound      ------  5001    1     512M\n"
        "ldg3       inactive   ------          2     1G\n")
    assert host.ldm("list -p ldg2 ldg3") == (
        "VERSION 1.3\n"
        "DOMAIN|name=ldg2|state=bound|flags=------|cons=5001|ncpu=1|mem=536870912|util=|uptime=\n"
        "DOMAIN|name=ldg3|state=inactive|flags=------|cons=|ncpu=2|mem=1073741824|util=|uptime=\n")


def test_list_devices_all_shows_holders_and_sys(seed_target):
    seed_target.ldm("add-crypto 1 ldg-a")
    assert seed_target.ldm("list-devices -a memory crypto io") == (
        "MAU\n"
        "    CPUSET                                  BOUND\n"
        "    (0, 1, 2, 3)                            primary\n"
        "    (4, 5, 6, 7)                            ldg-a\n"
        "    (8, 9, 10, 11)\n"
        "    (12, 13, 14, 15)\n"
        "MEMORY\n"
        "    PA                   SIZE            BOUND\n"
        "    0x0                  128M            _sys_\n"
        "    0x8000000            4G              primary\n"
        "    0x108000000          1G\n"
        "    0x148000000          1G              ldg-a\n"
        "    0x188000000          1G\n"
        "IO\n"
        "    DEVICE           PSEUDONYM        BOUND   OPTIONS\n"
        "    pci@400          pci_0            yes\n"
        "    pci@500          pci_1            no\n")


def test_list_devices_free_cpus_and_parseable_memory(seed_target):
    assert seed_target.ldm("list-devices cpu") == (
        "VCPU\n    PID  %FREE     PM\n" + "".join(f"    {p:<8}100    ---\n" for p in range(5, 16)))
    assert seed_target.ldm("ls-devices -p mem") == (
        "VERSION 1.3\nMEMORY\n|pa=0x108000000|size=1073741824\n|pa=0x188000000|size=1073741824\n")


def test_list_devices_leaves_out_a_class_with_nothing_free(seed_target):
    seed_target.ldm("add-io pci_1 ldg-a")
    assert seed_target.ldm("list-devices io") == ""


def test_list_services_and_parseable_form(host):
    host.ldm("add-vsw mac-addr=00:14:4f:f8:6c:5f net-dev=e1000g0 primary-vsw0 primary")
    host.ldm("add-vds primary-vds0 primary")
    host.ldm("add-vdsdev /dev/dsk/c2t1d0s2 vol1@primary-vds0")
    host.ldm("add-vdsdev options=slice,ro /export/iso/sol.iso iso@primary-vds0")
    assert host.ldm("list-services") == (
        "VCC\n"
        "    NAME             LDOM             PORT-RANGE\n"
        "    primary-vcc0     primary          5000-5100\n"
        "VSW\n"
        "    NAME             LDOM             MAC               NET-DEV   DEVICE     MODE\n"
        "    primary-vsw0     primary          00:14:4f:f8:6c:5f e1000g0   switch@0   prog,promisc\n"
        "VDS\n"
        "    NAME             LDOM             VOLUME         OPTIONS          DEVICE\n"
        "    primary-vds0     primary          vol1                            /dev/dsk/c2t1d0s2\n"
        "                                      iso            ro,slice         /export/iso/sol.iso\n")
    assert host.ldm("list-services -p") == (
        "VERSION 1.3\n"
        "VCC|name=primary-vcc0|ldom=primary|port-range=5000-5100\n"
        "VSW|name=primary-vsw0|ldom=primary|mac-addr=00:14:4f:f8:6c:5f|net-dev=e1000g0|dev=switch@0"
        "|mode=prog,promisc\n"
        "VDS|name=primary-vds0|ldom=primary\n"
        "|vol=vol1|opts=|dev=/dev/dsk/c2t1d0s2\n"
        "|vol=iso|opts=ro,slice|dev=/export/iso/sol.iso\n")


def test_long_listing_of_a_guest_with_virtual_io(host):
    host.ldm("add-vsw net-dev=e1000g0 primary-vsw0 primary")
    host.ldm("add-vds primary-vds0 primary")
    host.ldm("add-vdsdev /dev/dsk/c2t1d0s2 vol1@primary-vds0")
    host.ldm("add-domain ldg1")
    host.ldm("add-vcpu 2 ldg1")
    host.ldm("add-memory 1G ldg1")
    host.ldm("add-vnet mac-addr=00:14:4f:f8:91:4f vnet1 primary-vsw0 ldg1")
    host.ldm("add-vdisk timeout=15 vdisk1 vol1@primary-vds0 ldg1")
    host.ldm("set-variable auto-boot?=false boot-device=vdisk1 ldg1")
    host.ldm("bind ldg1")
    out = host.ldm("list -l ldg1")
    assert out.startswith("NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
                          "ldg1       bound      ------  5000    2     1G\n\nVCPU\n    VID    PID    UTIL STRAND\n")
    assert out.endswith(
        "VARIABLES\n    auto-boot?=false\n    boot-device=vdisk1\n\n"
        "NETWORK\n    NAME             SERVICE                     DEVICE     MAC\n"
        "    vnet1            primary-vsw0@primary        network@0  00:14:4f:f8:91:4f\n\n"
        "DISK\n    NAME             VOLUME                      TOUT DEVICE  SERVER\n"
        "    vdisk1           vol1@primary-vds0           15   disk@0  primary\n\n"
        "VCONS\n    NAME             SERVICE                     PORT\n"
        "    ldg1             primary-vcc0@primary        5000\n")
    assert host.ldm("list-bindings ldg1") == out


def test_constraints_of_an_inactive_domain(host):
    host.ldm("add-domain ldg9")
    host.ldm("add-vcpu 3 ldg9")
    host.ldm("add-memory 1536M ldg9")
    assert host.ldm("list-constraints ldg9") == (
        "DOMAIN\nldg9\n\nVCPU\n    COUNT\n    3\n\nMEMORY\n    SIZE\n    1536M\n")
    assert host.ldm("list-constraints -p ldg9") == (
        "VERSION 1.3\nDOMAIN|name=ldg9|\nVCPU\n|count=3\nMEMORY\n|size=1610612736\n")


def test_delayed_reconfiguration_notices_and_flag_d(host):
    first = host.ldm("set-memory 2G primary")
    assert first == ("Initiating a delayed reconfiguration operation on the primary domain.\n"
                     "All configuration changes for other domains are disabled until the\n"
                     "primary domain reboots, at which time the new configuration for the\n"
                     "primary domain also takes effect.\n")
    assert host.ldm("add-memory 512M primary") == (
        "Notice: The primary domain is in the process of a delayed reconfiguration.\n"
        "Any changes made to the primary domain will only take effect after it reboots.\n")
    assert host.ldm("list primary").splitlines()[1].startswith("primary    active     -ndcv-  SP      4     4G")
    assert host.ldm("list-constraints primary").splitlines()[9] == "    2560M"
    assert host.ldm("cancel-operation reconf primary") == ""
    assert host.ldm("list primary").splitlines()[1].startswith("primary    active     -n-cv-")


def test_guest_info_and_set_guest(host):
    host.ldm("add-domain ldg1")
    host.ldm("add-vcpu 1 ldg1")
    host.ldm("add-memory 64M ldg1")
    host.ldm("bind ldg1")
    host.ldm("start ldg1")
    host.ldm("set-guest write-rate=2M/s cpu-dr=off bound-processes=yes ldg1")
    lines = host.ldm("guest-info ldg1").splitlines()
    assert [line.split("=")[0] for line in lines] == ["counter", "digest", "write-rate", "run-state", "generation"]
    assert lines[2] == f"write-rate={2 << 20}"
    assert lines[3] == "run-state=running"
    info = host.m.guest_info("ldg1")
    assert info["cpu_dr"] is False and info["bound_processes"] is True
    host.ldm("set-guest write-rate=0 ldg1")
    assert host.ldm("guest-info ldg1").splitlines()[2] == "write-rate=0"


def test_a_forty_character_cpuset_keeps_a_space_before_its_holder(tmp_path):
    m = Manager(MachineSpec(hostname="big"), tmp_path / "big")
    m.add_user("root", password="x")
    try:
        out = execute(m, "root", ["list-devices", "-a", "crypto"]).stdout.splitlines()
        assert out[-1] == "    (248, 249, 250, 251, 252, 253, 254, 255) primary"
        assert out[2] == "    (0, 1, 2, 3, 4, 5, 6, 7)                primary"
    finally:
        m.close()


def test_no_listing_ends_a_line_with_a_space(seed_target):
    h = seed_target
    h.ldm("add-vsw net-dev=nxge0 primary-vsw0 primary")
    h.ldm("add-vds primary-vds0 primary")
    h.ldm("add-vdsdev /dev/zvol/dsk/p/a vol-a@primary-vds0")
    h.ldm("add-vnet net0 primary-vsw0 ldg-a")
    h.ldm("add-vdisk d0 vol-a@primary-vds0 ldg-a")
    for line in ("list", "list -l", "list -e", "list -p", "list -l -p", "list-bindings", "list-constraints",
                 "list-devices", "list-devices -a", "list-devices -a -p", "list-services", "list-services -p",
                 "list -o console,cpu,crypto,disk,domain,memory,network,physio,serial,status"):
        out = h.ldm(line)
        assert out.endswith("\n") and not out.endswith("\n\n"), line
        assert all(not s.endswith(" ") for s in out.splitlines()), line
