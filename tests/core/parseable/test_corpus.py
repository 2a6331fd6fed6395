"""Tests of the ``ldm -p`` readers on Oracle's published outputs, odd input and our ldmd.

See docs/LDM-PARSEABLE.md for the corpus and its sources.

Each fixture under ``fixtures/`` opens with ``# `` lines naming its source page, then
``# ---``, then the output as published. Files named ``not-p_*`` are published outputs
that are not ``-p`` output (tables, error messages): the readers must refuse them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ldtui.core.commands import execute
from ldtui.core.ldm_output import (
    DOCUMENTED_FLAG_WORDS,
    FLAG_WORDS,
    read_devices,
    read_domains,
    read_services,
    read_status,
    read_version,
    six_flags,
    unknown_flag_words,
)
from ldtui.core.migration import SourceRun, TargetRun, host_ops
from ldtui.core.migration.events import Received
from ldtui.core.migration.messages import CheckResult
from ldtui.core.parseable import ParseError, fields_of, parse
from tests.core.test_commands_listing import Host

FIXTURES = Path(__file__).parent / "fixtures"
G = 1 << 30


def fixture(name: str) -> str:
    """The output part of a fixture, after its ``# ---`` line."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    head, sep, body = text.partition("# ---\n")
    assert sep and all(line.startswith("# ") for line in head.splitlines()), name
    return body


def header(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").partition("# ---\n")[0].splitlines()


def as_ldm_prints(text: str) -> str:
    """Undo a guide's typesetting: a record wrapped after a ``|`` is one line again, and
    ``...`` lines (the guide's elisions) are dropped."""
    out: list[str] = []
    for line in text.splitlines():
        if line.strip() == "...":
            continue
        if out and out[-1].endswith("|") and line and not line.startswith("|") and "=" in line.split("|")[0]:
            out[-1] += line
        else:
            out.append(line)
    return "\n".join(out) + "\n"


ALL = sorted(p.name for p in FIXTURES.glob("*.txt"))
PARSEABLE = [n for n in ALL if not n.startswith("not-p_") and "ldm-V" not in n]
NOT_PARSEABLE = [n for n in ALL if n.startswith("not-p_")]


# --- the corpus itself ----------------------------------------------------------------------

def test_every_fixture_names_its_source():
    assert len(ALL) >= 10
    for name in ALL:
        head = header(name)
        assert head[0].startswith("# http"), name
        assert any("Release:" in line for line in head), name
        assert any("Section:" in line for line in head), name


@pytest.mark.parametrize("name", PARSEABLE)
def test_every_parseable_fixture_parses(name):
    body = fixture(name)
    if "mapping" in name:
        body = as_ldm_prints(body)
    parsed = parse(body, blocks=("DOMAIN",))
    assert parsed.blocks


@pytest.mark.parametrize("name", NOT_PARSEABLE)
def test_published_non_parseable_output_is_refused(name):
    body = fixture(name)
    for reader in (read_domains, read_devices, read_services, read_status):
        with pytest.raises(ParseError, match=r"line \d+"):
            reader(body)


# --- list -l -p -----------------------------------------------------------------------------

def test_3x_long_listing_with_spelled_out_flags():
    [primary, ldg1, ldg2] = read_domains(as_ldm_prints(fixture("ovmsparc-3.x_list-l-p-mapping.txt")))
    assert (primary.name, primary.state, primary.flags, primary.cons) == ("primary", "active", "-n-cv-", "SP")
    assert (primary.ncpu, primary.memory, primary.util, primary.uptime) == (4, 1073741824, 0.6, 64801)
    assert primary.softstate == "Solaris running"
    assert [r["pid"] for r in primary.block.section("VCPU")] == ["0", "1", "2", "3"]
    assert [r["alias"] for r in primary.block.section("IO")] == ["bus_a", "bus_b"]
    assert (ldg1.name, ldg1.flags, ldg1.cons, ldg1.ncpu, ldg1.memory, ldg1.util, ldg1.uptime) == (
        "ldg1", "-n----", "5000", 2, 805306368, 29.0, 903)
    assert (ldg2.name, ldg2.flags, ldg2.cons, ldg2.ncpu, ldg2.memory, ldg2.util, ldg2.uptime) == (
        "ldg2", "-n----", "5001", 3, 1073741824, 35.0, 775)
    assert ldg2.block.section("MEMORY") == ({"ra": "0x8000000", "pa": "0x78000000", "size": "1073741824"},)


def test_3x_long_listing_as_the_guide_typesets_it_is_not_ldm_output():
    """The guide's wrapped records are typesetting; read as is, they are refused, not guessed."""
    with pytest.raises(ParseError, match="line 3"):
        read_domains(fixture("ovmsparc-3.x_list-l-p-mapping.txt"))


def test_3x_inactive_domain_has_empty_flags_counts_and_a_uuid_record():
    parsed = parse(fixture("ovmsparc-3.5_ls-l-p-uuid.txt"), blocks=("DOMAIN",))
    assert parsed.version == (1, 6)
    [d] = read_domains(fixture("ovmsparc-3.5_ls-l-p-uuid.txt"))
    assert (d.name, d.state, d.flags, d.cons) == ("ldg1", "inactive", "------", "")
    assert (d.ncpu, d.memory, d.util, d.uptime) == (0, 0, None, None)
    assert d.uuid == "6c908858-12ef-e520-9eb3-f1cd3dbc3a59"


def test_1x_excerpt_without_version_or_domain_record():
    body = fixture("ldoms-1.3_list-l-p-vcpu.txt")
    parsed = parse(body, blocks=("DOMAIN",))
    assert parsed.version is None
    assert [r["util"] for r in parsed.section("VCPU")] == ["0.7%", "", "", "", "0.7%", "", "", ""]
    assert read_domains(body) == []                      # nothing to invent a domain from


def test_1x_constraints_records_inside_domain_blocks():
    body = fixture("ldoms-1.2_list-constraints-p.txt")
    parsed = parse(body, blocks=("DOMAIN",))
    assert parsed.version == (1, 0)
    primary, ldg1 = parsed.of_kind("DOMAIN")
    assert primary.section("VCPU") == ({"count": "4"},)
    assert primary.section("MEMORY") == ({"size": "805306368"},)
    assert [r.get("vol") for r in primary.section("VDS")] == [None, "disk-ldg2", "vol0"]
    assert primary.section("VDS")[0] == {"name": "primary-vds0"}
    assert primary.section("VSW")[0]["net-dev"] == "e1000g0"
    assert primary.rows == ()
    assert ldg1.section("VARIABLES")[1]["nvramrc"] == "devalias vnet0 /virtual-devices@100/channel-devices@200/network@0"
    assert ldg1.section("VARIABLES")[2] == {"use-nvramrc?": "true"}
    assert [d.name for d in read_domains(body)] == ["primary", "ldg1"]


# --- list-devices -a -p ---------------------------------------------------------------------

def test_1x_list_devices_cpu_free_and_pm():
    devices = read_devices(fixture("ldoms-1.3_list-devices-a-p-cpu.txt"))
    assert (devices.strands_total, devices.strands_free) == (11, 3)
    assert (devices.memory_total, devices.memory_free, devices.maus_total, devices.maus_free) == (0, 0, 0, 0)


def test_list_devices_memory_and_mau_free_are_the_unbound_ones():
    devices = read_devices(
        "VERSION 1.6\nVCPU\n|pid=0|free=0|pm=no\n|pid=1|%free=100|pm=\n"
        "MAU\n|cpuset=0,1,2,3|bound=primary\n|cpuset=4,5,6,7|bound=\n"
        "MEMORY\n|pa=0x0|size=134217728|bound=_sys_\n|pa=0x8000000|size=1073741824|bound=\n"
        "CORE\n|cid=0|cpuset=0,1,2,3\n")
    assert (devices.strands_total, devices.strands_free) == (2, 1)
    assert (devices.memory_total, devices.memory_free) == (134217728 + G, G)
    assert (devices.maus_total, devices.maus_free) == (2, 1)


# --- list-services -p / list -o status -p / -V ----------------------------------------------

def test_services_keep_the_volume_rows_of_a_vds():
    services = read_services(
        "VERSION 1.6\nVCC|name=primary-vcc0|ldom=primary|port-range=5000-5100\n"
        "VDS|name=primary-vds0|ldom=primary\n|vol=vol1|opts=|dev=/dev/dsk/c2t1d0s2\n")
    assert [(s.kind, s.name, s.ldom) for s in services] == [("VCC", "primary-vcc0", "primary"),
                                                            ("VDS", "primary-vds0", "primary")]
    assert services[1].rows == ({"vol": "vol1", "opts": "", "dev": "/dev/dsk/c2t1d0s2"},)


def test_status_inner_record_form_is_read_like_the_section_form():
    section = read_status("VERSION 1.3\nDOMAIN|name=a|\nSTATUS\n|op=migration|progress=42%|error=no|target=h2\n")
    record = read_status("VERSION 1.6\nDOMAIN|name=a\nSTATUS|op=migration|progress=42|error=no|target=h2\n")
    assert section == record
    assert (section["a"].operation, section["a"].progress, section["a"].error, section["a"].target) == (
        "migration", 42, False, "h2")


def test_version_of_the_1_2_banner():
    assert read_version(fixture("ldoms-1.2_ldm-V.txt")) == "1.2"


def test_version_of_other_banner_spellings():
    assert read_version("Logical Domains Manager (v 3.4.0.3.6)\n\tHypervisor control protocol v 1.12\n") == "3.4.0.3.6"
    assert read_version("Logical Domain Manager (version 1.0.3)\n") == "1.0.3"
    assert read_version("ldm: command not found\n") == ""
    assert read_version("") == ""


# --- tolerance ------------------------------------------------------------------------------

def test_unknown_fields_records_and_sections_are_kept_not_errors():
    text = ("VERSION 9.9\nDOMAIN|name=p|state=active|flags=-n-cv-|cons=SP|ncpu=8|mem=1024|util=1.5|uptime=60"
            "|norm_util=0.2|future=x\nFROBNICATOR|knob=1\nWIDGETS\n|a=1|b\nDOMAIN|name=q|state=bound\n")
    [p, q] = read_domains(text)
    assert p.block.get("future") == "x" and p.block.section("FROBNICATOR") == ({"knob": "1"},)
    assert p.block.section("WIDGETS") == ({"a": "1", "b": ""},)
    assert (p.ncpu, p.memory, p.util, p.uptime) == (8, 1024, 1.5, 60)
    assert (q.name, q.state, q.flags, q.ncpu, q.util) == ("q", "bound", "------", 0, None)
    assert parse(text).version == (9, 9)


def test_equals_inside_a_value_splits_only_at_the_first():
    assert fields_of("name=a|nvramrc=devalias x=y|boot-args=-k -v a=b") == {
        "name": "a", "nvramrc": "devalias x=y", "boot-args": "-k -v a=b"}


def test_crlf_blank_lines_and_no_version_line():
    text = "\r\n\r\nDOMAIN|name=primary|state=active|flags=-n-cv-|cons=SP|ncpu=4|mem=4294967296|util=0.3|uptime=5\r\n\r\n"
    [d] = read_domains(text)
    assert (d.name, d.cons, d.uptime) == ("primary", "SP", 5)
    assert parse(text).version is None


def test_unbound_domain_has_empty_util_and_uptime():
    [d] = read_domains("VERSION 1.3\nDOMAIN|name=ldg3|state=inactive|flags=------|cons=|ncpu=2|mem=1073741824|util=|uptime=\n")
    assert (d.util, d.uptime, d.ncpu, d.memory, d.cons) == (None, None, 2, G, "")


def test_empty_output_is_no_domains_and_no_devices():
    assert read_domains("") == [] and read_status("") == {} and read_services("") == []
    assert read_devices("").strands_total == 0


@pytest.mark.parametrize(("text", "six"), [
    ("normal,control,vio-service", "-n-cv-"),
    ("normal", "-n----"),
    ("", "------"),
    ("-n-cv-", "-n-cv-"),
    ("-t-cv", "-t-cv-"),                  # the five-column form of the 1.x guides
    ("---c-", "---c--"),
    ("starting", "s-----"), ("stopping", "s-----"),
    ("transition", "-t----"), ("degraded", "-d----"),
    ("normal,delayed-reconfig", "-nd---"), ("normal,delayed reconfig", "-nd---"),
    ("normal,delayed_reconfig", "-nd---"), ("normal,memory-dr", "-nr---"),
    ("normal,source", "-n---s"), ("normal,target", "-n---t"), ("normal,error", "-n---e"),
    ("Normal, Control ,VIO-Service", "-n-cv-"),
    ("normal,bogus,control", "-n-c--"),   # an unknown word is left out
    ("bogus", "------"),                  # five letters, but not a letter form
    ("normal,,control", "-n-c--"),
])
def test_six_flags(text, six):
    assert six_flags(text) == six


def test_documented_flag_words_are_known_and_unknown_ones_are_reported():
    assert DOCUMENTED_FLAG_WORDS <= FLAG_WORDS.keys()
    assert unknown_flag_words("normal,bogus,control,shiny-new") == ["bogus", "shiny-new"]
    assert unknown_flag_words("-n-cv-") == [] and unknown_flag_words("") == []


@pytest.mark.parametrize("text", [
    "Authorization failed\n",
    "Error: ldm: not found\n",
    "NAME             STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME\n",
    "NAME\nldg-src\n\nSTATUS\n    OPERATION    PROGRESS    TARGET\n",
    "VERSION one\n",
    "   VCPU\n|pid=0|free=100\n",
])
def test_text_that_is_not_parseable_output_raises_with_the_line(text):
    with pytest.raises(ParseError, match=r"line \d+: "):
        parse(text, blocks=("DOMAIN",))


def test_a_domain_record_without_a_name_is_an_error():
    with pytest.raises(ParseError, match="without a name"):
        read_domains("VERSION 1.3\nDOMAIN|state=active\n")


# --- our ldmd -------------------------------------------------------------------------------

def _run(m, *argv: str) -> str:
    r = execute(m, "root", list(argv))
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    return r.stdout


@pytest.fixture
def busy_host(tmp_path):
    """A source host with a guest in the middle of a migration, a bound guest with virtual
    I/O and an inactive one; and the target host, receiving."""
    src = Host(tmp_path, "t5440-sys-1", memory_end=0x288000000)
    dst = Host(tmp_path, "t5440-sys-2", memory_end=0x288000000)
    src.ldm("add-vsw net-dev=e1000g0 primary-vsw0 primary")
    src.ldm("add-vds primary-vds0 primary")
    src.ldm("add-vdsdev /dev/dsk/c2t1d0s2 vol1@primary-vds0")
    for line in ("add-domain ldg-src", "add-vcpu 1 ldg-src", "add-memory 1G ldg-src", "bind ldg-src",
                 "start ldg-src", "add-domain web", "add-vcpu 2 web", "add-memory 512M web",
                 "add-vnet vnet1 primary-vsw0 web", "add-vdisk vdisk1 vol1@primary-vds0 web", "bind web",
                 "add-domain spare", "add-vcpu 1 spare", "add-memory 256M spare"):
        src.ldm(line)
    src.now += 3600
    run = SourceRun(src.m, "ldg-src", target_host="t5440-sys-2", target_name="ldg-tgt", user="root")
    offer = run.start()
    [answer] = TargetRun(dst.m, user="root").receive(*offer)
    assert answer.ok
    run.feed(Received(CheckResult(ok=True)))
    host_ops.set_progress(src.m, "ldg-src", src.m.domain("ldg-src").uuid, 42)
    host_ops.set_progress(dst.m, "ldg-tgt", dst.m.domain("ldg-tgt").uuid, 55)
    yield src, dst
    src.m.close()
    dst.m.close()


@pytest.mark.parametrize("long", [True, False])
def test_our_domain_listing_reads_as_the_snapshot(busy_host, long):
    src, _ = busy_host
    snap = src.m.snapshot()
    argv = ("list", "-l", "-p") if long else ("list", "-p")
    got = [(d.name, d.state, d.flags, d.cons, d.ncpu, d.memory) for d in read_domains(_run(src.m, *argv))]
    assert got == [(r.name, r.state, r.flags, r.cons, r.vcpus, r.memory) for r in snap.domains]
    assert {d.name: d.flags for d in read_domains(_run(src.m, *argv))}["ldg-src"] == "-n---s"
    assert [(d.util, d.uptime) for d in read_domains(_run(src.m, *argv))] == [
        (r.util, r.uptime) for r in snap.domains]


def test_our_device_listing_reads_as_the_snapshot(busy_host):
    src, _ = busy_host
    snap = src.m.snapshot()
    devices = read_devices(_run(src.m, "list-devices", "-a", "-p"))
    assert (devices.strands_total, devices.strands_free) == (snap.strands_total, snap.strands_free)
    assert (devices.memory_total, devices.memory_free) == (snap.memory_total, snap.memory_free)
    assert (devices.maus_total, devices.maus_free) == (snap.maus_total, snap.maus_free)


def test_our_services_listing(busy_host):
    src, _ = busy_host
    services = read_services(_run(src.m, "list-services", "-p"))
    assert [(s.kind, s.name, s.ldom) for s in services] == [
        ("VCC", "primary-vcc0", "primary"), ("VSW", "primary-vsw0", "primary"), ("VDS", "primary-vds0", "primary")]
    assert services[0].fields["port-range"] == "5000-5100"
    assert [r["vol"] for r in services[2].rows] == ["vol1"]


def test_our_status_listing_on_both_sides_of_a_migration(busy_host):
    src, dst = busy_host
    source_side = read_status(_run(src.m, "list", "-o", "status", "-p"))
    assert list(source_side) == ["ldg-src"]                # domains with no operation are left out
    s = source_side["ldg-src"]
    assert (s.operation, s.progress, s.error, s.target, s.source) == ("migration", 42, False, "t5440-sys-2", "")
    assert "phase" in s.fields                            # our detail fields, kept
    t = read_status(_run(dst.m, "list", "-o", "status", "-p"))["ldg-tgt"]
    assert (t.operation, t.progress, t.error, t.source, t.target) == ("migration", 55, False, "t5440-sys-1", "")
    assert read_domains(_run(dst.m, "list", "-p", "ldg-tgt"))[0].flags == "-----t"


def test_our_status_of_a_source_in_error(busy_host):
    src, _ = busy_host
    from ldtui.core.model import MigrationInfo, MigrationRole
    host_ops.enter_error(src.m, "web", src.m.domain("web").uuid,
                         MigrationInfo(id="m9", role=MigrationRole.SOURCE, peer_host="far-away",
                                       peer_domain="web", progress=100))
    s = read_status(_run(src.m, "list", "-o", "status", "-p"))["web"]
    assert (s.operation, s.progress, s.error, s.target) == ("migration", 100, True, "far-away")
    assert read_domains(_run(src.m, "list", "-p", "web"))[0].flags == "-----e"


def test_our_version_banner(busy_host):
    src, _ = busy_host
    assert read_version(_run(src.m, "-V")) == src.m.snapshot().manager_version == "1.2"
