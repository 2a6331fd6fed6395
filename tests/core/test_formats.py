"""``ldm list`` layouts, byte for byte (SPEC L-1…L-4, LDM-FORMATS.md, seed 8-1, 8-5, 8-6).

The seed's examples come first, then the same rules with other names, sizes and
addresses. Domains are plain model objects seen through a small read-only view, so each
test states exactly what the operator's host holds.
"""

from __future__ import annotations

import attrs
import pytest

from ldtui.core.formats import format_util, list_domains, list_domains_parseable
from ldtui.core.formats_long import list_formats, list_formats_parseable, list_long, parse_formats
from ldtui.core.errors import LdmError
from ldtui.core.model import (
    Bindings,
    Constraints,
    Domain,
    DomainState,
    MigrationInfo,
    MigrationRole,
    Vcc,
    Vds,
    VdsVolume,
    VDisk,
    VNet,
    Vsw,
)
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import MachineSpec

G = 1 << 30
M = 1 << 20


@attrs.define
class View:
    """What a manager shows, given outright: flags, console, util and uptime per domain."""

    doms: list[Domain]
    flag: dict[str, str] = attrs.Factory(dict)
    cons: dict[str, str] = attrs.Factory(dict)
    utils: dict[str, float] = attrs.Factory(dict)
    uptimes: dict[str, int] = attrs.Factory(dict)
    svcs: dict[str, list] = attrs.Factory(lambda: {"vcc": [], "vsw": [], "vds": []})
    machine: MachineSpec = MachineSpec(hostname="t5440-sys-1")

    def domains(self):
        return list(self.doms)

    def domain(self, name):
        return next(d for d in self.doms if d.name == name)

    def services(self, kind):
        return list(self.svcs[kind])

    def flags(self, d):
        return self.flag.get(d.name, "------")

    def console(self, d):
        return self.cons.get(d.name, "")

    def util(self, d):
        return self.utils.get(d.name)

    def uptime(self, d):
        return self.uptimes.get(d.name)

    def free_strands(self):
        return []

    def free_memory(self):
        return []

    def free_maus(self):
        return []

    def free_io(self):
        return []


def bound(name, *, state=DomainState.BOUND, strands=(8,), blocks=((0x8000000, 0x48000000, G),), **kw) -> Domain:
    return Domain(name=name, uuid=f"uuid-{name}", state=state,
                  constraints=Constraints(vcpus=len(strands), memory=sum(b[2] for b in blocks)),
                  bindings=Bindings(strands=tuple(strands), blocks=tuple(MemoryBlock(*b) for b in blocks),
                                    console_port=kw.pop("port", None), console_service=kw.pop("vcc", None)),
                  **kw)


def no_trailing_spaces(text: str) -> None:
    assert all(line == line.rstrip(" ") for line in text.split("\n")), text


# -- ldm list ------------------------------------------------------------------------------

def test_seed_source_domain_while_migrating_lists_suspended_with_flag_s():
    src = bound("ldg-src", state=DomainState.SUSPENDED,
                migration=MigrationInfo(id="m1", role=MigrationRole.SOURCE, peer_host="t5440-sys-2",
                                        peer_domain="ldg-tgt", progress=17))
    view = View([src], flag={"ldg-src": "-n---s"}, utils={"ldg-src": 0.0}, uptimes={"ldg-src": 2 * 3600 + 7 * 60})
    assert list_domains(view, [src]) == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "ldg-src    suspended  -n---s          1     1G       0.0%  2h 7m\n")


def test_seed_target_domain_while_migrating_lists_bound_with_flag_t_and_no_util():
    tgt = bound("ldg-tgt", port=5000)
    view = View([tgt], flag={"ldg-tgt": "-----t"}, cons={"ldg-tgt": "5000"}, utils={"ldg-tgt": 0.0},
                uptimes={"ldg-tgt": 60})
    assert list_domains(view, [tgt]) == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "ldg-tgt    bound      -----t  5000    1     1G\n")


def test_guide_listing_right_aligns_util_under_its_header():
    primary = bound("primary", state=DomainState.ACTIVE, strands=range(8), blocks=((0x8000000, 0x8000000, 4 * G),),
                    control=True)
    ldg1 = bound("ldg1", state=DomainState.ACTIVE, strands=range(8, 16), port=5000)
    ldg2 = bound("ldg2", strands=(16,), blocks=((0x8000000, 0x148000000, 512 * M),), port=5001)
    ldg3 = Domain(name="ldg3", uuid="u3", constraints=Constraints(vcpus=2, memory=G))
    view = View([primary, ldg1, ldg2, ldg3], flag={"primary": "-n-cv-", "ldg1": "-n----"},
                cons={"primary": "SP", "ldg1": "5000", "ldg2": "5001"},
                utils={"primary": 0.3, "ldg1": 23.0}, uptimes={"primary": 3 * 86400 + 21 * 3600 + 7 * 60, "ldg1": 120})
    assert list_domains(view, view.domains()) == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "primary    active     -n-cv-  SP      8     4G       0.3%  3d 21h 7m\n"
        "ldg1       active     -n----  5000    8     1G        23%  2m\n"
        "ldg2       bound      ------  5001    1     512M\n"
        "ldg3       inactive   ------          2     1G\n")


def test_a_name_of_ten_characters_fills_the_column_up_to_one_space():
    long_name = bound("webserver1", state=DomainState.ACTIVE, strands=(1, 2, 3), port=5002,
                      blocks=((0x8000000, 0x88000000, 1536 * M),))
    short = Domain(name="db", uuid="u", constraints=Constraints(vcpus=4, memory=3 * G))
    view = View([long_name, short], flag={"webserver1": "-n----"}, cons={"webserver1": "5002"},
                utils={"webserver1": 100.0}, uptimes={"webserver1": 59})
    assert list_domains(view, view.domains()) == (
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "webserver1 active     -n----  5002    3     1536M    100%  59s\n"
        "db         inactive   ------          4     3G\n")


def test_a_longer_name_widens_the_name_column_of_every_row_to_its_length_plus_one():
    d = Domain(name="accounting-prod-2", uuid="u", constraints=Constraints(vcpus=1, memory=256 * M))
    e = Domain(name="x", uuid="v", constraints=Constraints(vcpus=2, memory=G))
    assert list_domains(View([d, e]), [d, e]) == (
        "NAME              STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n"
        "accounting-prod-2 inactive   ------          1     256M\n"
        "x                 inactive   ------          2     1G\n")


@pytest.mark.parametrize("util,text", [(0.0, "0.0%"), (0.34, "0.3%"), (9.94, "9.9%"), (9.96, "10%"),
                                       (23.0, "23%"), (67.5, "68%"), (100.0, "100%")])
def test_util_has_one_decimal_below_ten_percent_and_none_above(util, text):
    assert format_util(util) == text


def test_parseable_list_gives_bytes_and_seconds_and_empty_runtime_fields():
    primary = bound("primary", state=DomainState.ACTIVE, strands=range(8), blocks=((0x8000000, 0x8000000, 4 * G),),
                    control=True)
    ldg2 = bound("ldg2", strands=(16,), blocks=((0x8000000, 0x148000000, 512 * M),), port=5001)
    view = View([primary, ldg2], flag={"primary": "-n-cv-"}, cons={"primary": "SP", "ldg2": "5001"},
                utils={"primary": 0.3, "ldg2": 5.0}, uptimes={"primary": 335220, "ldg2": 10})
    assert list_domains_parseable(view, view.domains()) == (
        "VERSION 1.3\n"
        "DOMAIN|name=primary|state=active|flags=-n-cv-|cons=SP|ncpu=8|mem=4294967296|util=0.3|uptime=335220\n"
        "DOMAIN|name=ldg2|state=bound|flags=------|cons=5001|ncpu=1|mem=536870912|util=|uptime=\n")


# -- ldm list -o memory / -o status --------------------------------------------------------

def test_seed_memory_format_shows_real_and_physical_address():
    src = bound("ldg-src", state=DomainState.ACTIVE, blocks=((0x8000000, 0x208000000, 2 * G),))
    assert list_formats(View([src]), [src], ("memory",)) == (
        "NAME\n"
        "ldg-src\n"
        "\n"
        "MEMORY\n"
        "    RA               PA               SIZE\n"
        "    0x8000000        0x208000000      2G\n")


def test_memory_format_with_several_blocks_and_other_addresses():
    d = bound("db01", state=DomainState.ACTIVE,
              blocks=((0x8000000, 0x1c0000000, 768 * M), (0x38000000, 0x400000000, 4 * G)))
    assert list_formats(View([d]), [d], ("memory",)) == (
        "NAME\n"
        "db01\n"
        "\n"
        "MEMORY\n"
        "    RA               PA               SIZE\n"
        "    0x8000000        0x1c0000000      768M\n"
        "    0x38000000       0x400000000      4G\n")


def migrating(name, role, peer, progress, *, state=DomainState.SUSPENDED, error=False):
    return bound(name, state=state, migration=MigrationInfo(id="m", role=role, peer_host=peer, peer_domain="x",
                                                            progress=progress, error=error))


def test_seed_8_1_status_on_the_source_names_the_target_host():
    src = migrating("ldg-src", MigrationRole.SOURCE, "t5440-sys-2", 17)
    out = list_formats(View([src]), [src], ("status",))
    assert out == ("NAME\nldg-src\n\nSTATUS\n    OPERATION    PROGRESS    TARGET\n"
                   "    migration    17%         t5440-sys-2\n")
    no_trailing_spaces(out)


def test_seed_8_5_status_on_the_target_names_the_source_host():
    tgt = migrating("ldg-tgt", MigrationRole.TARGET, "t5440-sys-1", 55, state=DomainState.BOUND)
    assert list_formats(View([tgt]), [tgt], ("status",)) == (
        "NAME\nldg-tgt\n\nSTATUS\n    OPERATION    PROGRESS    SOURCE\n    migration    55%         t5440-sys-1\n")


def test_status_with_other_names_and_full_progress():
    src = migrating("mail", MigrationRole.SOURCE, "dt212-239.example.com", 100)
    assert list_formats(View([src]), [src], ("status",)).splitlines()[-1] == (
        "    migration    100%        dt212-239.example.com")


def test_seed_8_6_parseable_status_of_the_source():
    src = migrating("ldg-src", MigrationRole.SOURCE, "t5440-sys-2", 42)
    assert list_formats_parseable(View([src]), [src], ("status",)) == (
        "VERSION 1.3\nDOMAIN|name=ldg-src|\nSTATUS\n|op=migration|progress=42|error=no|target=t5440-sys-2\n")


def test_parseable_status_on_the_target_says_source():
    tgt = migrating("web-b", MigrationRole.TARGET, "hostA", 3, state=DomainState.BOUND)
    assert list_formats_parseable(View([tgt]), [tgt], ("status",)).splitlines()[-1] == (
        "|op=migration|progress=3|error=no|source=hostA")


def test_a_source_in_the_error_state_reports_error_yes():
    src = migrating("ldg-src", MigrationRole.ERROR, "t5440-sys-2", 100)
    # The seed's fields and lines first; what is known of the error follows (issue 15).
    assert list_formats_parseable(View([src]), [src], ("status",)).splitlines()[-1].startswith(
        "|op=migration|progress=100|error=yes|target=t5440-sys-2|")
    lines = list_formats(View([src]), [src], ("status",)).splitlines()
    assert lines[4:6] == ["    OPERATION    PROGRESS    TARGET", "    migration    100%        t5440-sys-2"]
    assert lines[7].startswith("    CONFIRMATION none: t5440-sys-2 never confirmed")


def test_a_domain_that_is_not_migrating_has_a_status_section_without_operation():
    d = bound("ldg1", state=DomainState.ACTIVE)
    assert list_formats(View([d]), [d], ("status",)) == "NAME\nldg1\n\nSTATUS\n"
    assert list_formats_parseable(View([d]), [d], ("status",)) == "VERSION 1.3\nDOMAIN|name=ldg1|\nSTATUS\n"


def test_several_formats_and_several_domains():
    a = bound("ldg-a", state=DomainState.ACTIVE, blocks=((0x8000000, 0x100000000, G),))
    b = migrating("ldg-b", MigrationRole.SOURCE, "far", 9)
    out = list_formats(View([a, b]), [a, b], ("memory", "status"))
    assert out == ("NAME\nldg-a\n\nMEMORY\n    RA               PA               SIZE\n"
                   "    0x8000000        0x100000000      1G\n\nSTATUS\n"
                   "\n" + "-" * 78 + "\n"
                   "NAME\nldg-b\n\nMEMORY\n    RA               PA               SIZE\n"
                   "    0x8000000        0x48000000       1G\n\nSTATUS\n"
                   "    OPERATION    PROGRESS    TARGET\n    migration    9%          far\n")


def test_format_names_are_checked():
    assert parse_formats("memory,status,memory") == ("memory", "status")
    with pytest.raises(LdmError) as e:
        parse_formats("memory,disks")
    assert "disks" in e.value.message and e.value.code == "bad-format"


# -- ldm list -l ---------------------------------------------------------------------------

def test_long_listing_sections_in_the_guide_order():
    primary = bound("primary", state=DomainState.ACTIVE, strands=(0, 1), control=True,
                    blocks=((0x8000000, 0x8000000, 4 * G),))
    primary.bindings.io = ("pci@400",)
    ldg1 = bound("ldg1", state=DomainState.ACTIVE, strands=(8, 9), port=5000, vcc="primary-vcc0")
    ldg1.constraints.variables = {"auto-boot?": "false"}
    ldg1.constraints.vnets = [VNet(name="vnet1", switch="primary-vsw0", mac="00:14:4f:f8:91:4f")]
    ldg1.constraints.vdisks = [VDisk(name="vdisk1", volume="vol1", service="primary-vds0")]
    view = View([primary, ldg1], flag={"primary": "-n-cv-", "ldg1": "-n----"},
                cons={"primary": "SP", "ldg1": "5000"}, utils={"primary": 0.3, "ldg1": 29.0},
                uptimes={"primary": 600, "ldg1": 120},
                svcs={"vcc": [Vcc(name="primary-vcc0", ldom="primary", port_start=5000, port_end=5100)],
                      "vsw": [Vsw(name="primary-vsw0", ldom="primary", mac="00:14:4f:f8:6c:5f", net_dev="e1000g0")],
                      "vds": [Vds(name="primary-vds0", ldom="primary",
                                  volumes=[VdsVolume(name="vol1", device="/dev/dsk/c2t1d0s2")])]})
    out = list_long(view, view.domains())
    no_trailing_spaces(out)
    assert out == """\
NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME
primary    active     -n-cv-  SP      2     4G       0.3%  10m

VCPU
    VID    PID    UTIL STRAND
    0      0      0.3%   100%
    1      1      0.3%   100%

MEMORY
    RA               PA               SIZE
    0x8000000        0x8000000        4G

IO
    DEVICE           PSEUDONYM        OPTIONS
    pci@400          pci_0

VCC
    NAME             PORT-RANGE
    primary-vcc0     5000-5100

VSW
    NAME             MAC               NET-DEV   DEVICE     MODE
    primary-vsw0     00:14:4f:f8:6c:5f e1000g0   switch@0   prog,promisc

VDS
    NAME             VOLUME         OPTIONS          DEVICE
    primary-vds0     vol1                            /dev/dsk/c2t1d0s2

VCONS
    NAME             SERVICE                     PORT
    SP

------------------------------------------------------------------------------
NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME
ldg1       active     -n----  5000    2     1G        29%  2m

VCPU
    VID    PID    UTIL STRAND
    0      8      29%    100%
    1      9      29%    100%

MEMORY
    RA               PA               SIZE
    0x8000000        0x48000000       1G

VARIABLES
    auto-boot?=false

NETWORK
    NAME             SERVICE                     DEVICE     MAC
    vnet1            primary-vsw0@primary        network@0  00:14:4f:f8:91:4f

DISK
    NAME             VOLUME                      TOUT DEVICE  SERVER
    vdisk1           vol1@primary-vds0                disk@0  primary

VCONS
    NAME             SERVICE                     PORT
    ldg1             primary-vcc0@primary        5000
"""


def test_extended_listing_adds_softstate_mac_hostid_control_dependency():
    d = bound("ldg7", state=DomainState.ACTIVE, mac="00:14:4f:fa:0b:ba", hostid="0x84fa0bba")
    view = View([d], flag={"ldg7": "-n----"}, utils={"ldg7": 1.0}, uptimes={"ldg7": 3600})
    lines = list_long(view, [d], extended=True).splitlines()
    assert lines[2:15] == ["", "SOFTSTATE", "Solaris running", "", "MAC", "    00:14:4f:fa:0b:ba", "",
                           "HOSTID", "    0x84fa0bba", "", "CONTROL", "    failure-policy=ignore", ""]
    assert lines[15:17] == ["DEPENDENCY", "    master="]


def test_hybrid_vnets_add_a_mode_column_and_timeouts_show_in_tout():
    d = Domain(name="ldg5", uuid="u5", constraints=Constraints(
        vcpus=1, memory=G,
        vnets=[VNet(name="vnet0", switch="sw-b", mac="00:14:4f:f9:00:01", mode="hybrid", id=0)],
        vdisks=[VDisk(name="boot", volume="root", service="vds9", timeout=30, id=2)]))
    view = View([d], svcs={"vcc": [], "vsw": [Vsw(name="sw-b", ldom="io-dom", mac="00:14:4f:f9:00:00")],
                           "vds": [Vds(name="vds9", ldom="io-dom")]})
    out = list_long(view, [d]).splitlines()
    assert out[3:9] == [
        "NETWORK",
        "    NAME             SERVICE                     DEVICE     MAC               MODE",
        "    vnet0            sw-b@io-dom                 network@0  00:14:4f:f9:00:01 hybrid",
        "",
        "DISK",
        "    NAME             VOLUME                      TOUT DEVICE  SERVER"]
    assert out[9] == "    boot             root@vds9                   30   disk@2  io-dom"


# -- the other -o formats ------------------------------------------------------------------

def guest_with_everything() -> View:
    d = bound("ldg4", state=DomainState.ACTIVE, strands=(12, 13), port=5004, vcc="vcc0",
              blocks=((0x8000000, 0x300000000, 2 * G),), mac="00:14:4f:fb:00:04", hostid="0x84fb0004")
    d.bindings.maus = (3,)
    d.bindings.io = ("pci@600",)
    d.constraints.vnets = [VNet(name="net0", switch="sw0", mac="00:14:4f:fb:10:00", id=1)]
    d.constraints.vdisks = [VDisk(name="root", volume="r4", service="vds0")]
    return View([d], flag={"ldg4": "-n--v-"}, cons={"ldg4": "5004"}, utils={"ldg4": 4.25}, uptimes={"ldg4": 61},
                svcs={"vcc": [Vcc(name="vcc0", ldom="primary", port_start=5000, port_end=5010),
                              Vcc(name="vcc4", ldom="ldg4", port_start=6000, port_end=6001)],
                      "vsw": [Vsw(name="sw0", ldom="primary", mac="00:14:4f:fb:ff:00"),
                              Vsw(name="sw4", ldom="ldg4", mac="00:14:4f:fb:ff:04", net_dev="nxge0", id=1,
                                  mode="sc")],
                      "vds": [Vds(name="vds0", ldom="primary"), Vds(name="vds4", ldom="ldg4")]})


@pytest.mark.parametrize("fmt,body", [
    ("console", "VCONS\n    NAME             SERVICE                     PORT\n"
                "    ldg4             vcc0@primary                5004\n"),
    ("cpu", "VCPU\n    VID    PID    UTIL STRAND\n    0      12     4.2%   100%\n    1      13     4.2%   100%\n"),
    ("crypto", "MAU\n    ID     CPUSET\n    3      (24, 25, 26, 27, 28, 29, 30, 31)\n"),
    ("disk", "DISK\n    NAME             VOLUME                      TOUT DEVICE  SERVER\n"
             "    root             r4@vds0                          disk@0  primary\n\n"
             "VDS\n    NAME             VOLUME         OPTIONS          DEVICE\n    vds4\n"),
    ("network", "NETWORK\n    NAME             SERVICE                     DEVICE     MAC\n"
                "    net0             sw0@primary                 network@1  00:14:4f:fb:10:00\n\n"
                "VSW\n    NAME             MAC               NET-DEV   DEVICE     MODE\n"
                "    sw4              00:14:4f:fb:ff:04 nxge0     switch@1   prog,promisc,sc\n"),
    ("physio", "IO\n    DEVICE           PSEUDONYM        OPTIONS\n    pci@600          pci_2\n"),
    ("serial", "VCC\n    NAME             PORT-RANGE\n    vcc4             6000-6001\n"),
])
def test_each_format_prints_its_section_under_the_name(fmt, body):
    view = guest_with_everything()
    assert list_formats(view, view.domains(), (fmt,)) == "NAME\nldg4\n\n" + body


def test_domain_format_heads_with_state_flags_util_and_adds_the_extras():
    view = guest_with_everything()
    assert list_formats(view, view.domains(), ("domain",)) == (
        "NAME       STATE      FLAGS   UTIL\n"
        "ldg4       active     -n--v-  4.2%\n\n"
        "SOFTSTATE\nSolaris running\n\nMAC\n    00:14:4f:fb:00:04\n\nHOSTID\n    0x84fb0004\n\n"
        "CONTROL\n    failure-policy=ignore\n\nDEPENDENCY\n    master=\n")
    assert list_formats_parseable(view, view.domains(), ("domain", "cpu")) == (
        "VERSION 1.3\nDOMAIN|name=ldg4|state=active|flags=-n--v-|util=4.2\n"
        "SOFTSTATE\n|Solaris running\nMAC\n|mac-addr=00:14:4f:fb:00:04\nHOSTID\n|hostid=0x84fb0004\n"
        "CONTROL\n|failure-policy=ignore\nDEPENDENCY\n|master=\n"
        "VCPU\n|vid=0|pid=12|util=4.2|strand=100\n|vid=1|pid=13|util=4.2|strand=100\n")


def test_an_inactive_domain_shows_the_asked_sections_empty():
    d = Domain(name="cold", uuid="c", constraints=Constraints(vcpus=2, memory=G))
    assert list_formats(View([d]), [d], ("cpu", "memory")) == (
        "NAME\ncold\n\nVCPU\n    VID    PID    UTIL STRAND\n\nMEMORY\n    RA               PA               SIZE\n")


def test_long_listing_of_a_migrating_domain_leads_with_its_status():
    src = migrating("ldg-src", MigrationRole.SOURCE, "t5440-sys-2", 64)
    view = View([src], flag={"ldg-src": "-n---s"}, utils={"ldg-src": 0.0}, uptimes={"ldg-src": 7620})
    assert list_long(view, [src]).splitlines()[:8] == [
        "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME",
        "ldg-src    suspended  -n---s          1     1G       0.0%  2h 7m",
        "",
        "STATUS",
        "    OPERATION    PROGRESS    TARGET",
        "    migration    64%         t5440-sys-2",
        "",
        "VCPU"]


def test_a_cell_as_wide_as_its_column_still_leaves_a_space():
    d = Domain(name="ldg1", uuid="u", constraints=Constraints(
        vcpus=1, memory=G, vdisks=[VDisk(name="a-seventeen-chars", volume="v", service="s")]))
    view = View([d], svcs={"vcc": [], "vsw": [], "vds": [Vds(name="s", ldom="primary")]})
    assert "    a-seventeen-chars v@s" in list_long(view, [d])
