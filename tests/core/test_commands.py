"""The ``ldm`` command language: dispatch, authorizations, usage errors, migration requests
(SPEC M-6, G-1, G-10, G-12, G-14; docs/CONTRACTS.md ``core.commands``)."""

from __future__ import annotations

import pytest

from ldtui.core.cmd_migrate import parse_target
from ldtui.core.commands import CancelMigrationRequest, MigrationRequest, execute
from ldtui.core.errors import LdmError
from ldtui.core.manager import Manager
from ldtui.core.model import READ
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30


@pytest.fixture
def m(tmp_path):
    mgr = Manager(MachineSpec(hostname="t5440-sys-1", cores=4, strands_per_core=4,
                              memory=(MemoryRange(0, 0x288000000),)), tmp_path / "h1")
    mgr.create_control_domain(vcpus=4, memory=4 * G, crypto=1, io=("pci@400",))
    mgr.add_user("root", password="secret")
    mgr.add_user("operator", password="secret", authorizations=(READ,))
    assert execute(mgr, "root", "add-vcc port-range=5000-5100 primary-vcc0 primary".split()).exit_code == 0
    yield mgr
    mgr.close()


def ldm(m, line, user="root", **kw):
    return execute(m, user, line.split(), **kw)


# -- dispatch and errors -------------------------------------------------------------------

def test_unknown_subcommand_names_it_and_suggests_common_ones(m):
    r = ldm(m, "lsit")
    assert r.exit_code == 1 and r.stdout == ""
    first, second, third = r.stderr.splitlines()
    assert first == "Unknown subcommand: lsit"
    assert second.startswith("Common subcommands: list-domain, list-devices")
    assert third == "Run 'ldm --help' for the full list."


def test_no_subcommand_prints_the_overview_and_fails(m):
    r = execute(m, "root", [])
    assert r.exit_code == 1 and r.stderr.startswith("Usage:\n    ldm <subcommand>")
    assert "    migrate-domain (migrate)" in r.stderr


def test_help_lists_every_subcommand_with_its_aliases(m):
    r = ldm(m, "--help")
    assert r.exit_code == 0
    for text in ("list-domain (list, ls", "remove-crypto (rm-crypto, remove-mau, rm-mau)",
                 "cancel-operation", "set-guest", "guest-info", "add-vdsdev"):
        assert text in r.stdout


def test_subcommand_help_prints_its_usage(m):
    r = ldm(m, "add-vdsdev --help")
    assert r == type(r)(stdout="Usage:\n    ldm add-vdsdev [options={ro,slice,excl}] backend "
                               "volume-name@service-name\n", stderr="", exit_code=0)


def test_a_wrong_operand_count_prints_the_reason_and_the_usage(m):
    r = ldm(m, "add-vcpu ldg1")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == "Too few operands: expected number ldom\nUsage:\n    ldm add-vcpu number ldom\n"
    r = ldm(m, "bind ldg1 ldg2")
    assert r.stderr == "Too many operands: expected ldom\nUsage:\n    ldm bind-domain ldom\n"


def test_an_unknown_option_prints_the_usage(m):
    r = ldm(m, "list -x")
    assert r.exit_code == 1
    assert r.stderr.splitlines()[:3] == ["Invalid option: -x", "Usage:",
                                         "    ldm list-domain [-e] [-l] [-o format[,format]] [-p] [ldom...]"]


def test_option_o_needs_a_value_and_known_formats(m):
    assert ldm(m, "list -o").stderr.splitlines()[0] == "Option -o needs a value"
    r = ldm(m, "list -o memry primary")
    assert r.exit_code == 1
    assert r.stderr.startswith("Invalid output format: memry; valid formats are: console, cpu, crypto")
    assert ldm(m, "list -l -o memory").stderr.startswith("Option -o cannot be combined with -l or -e\nUsage:")


def test_refusals_are_one_line_on_stderr(m):
    r = ldm(m, "list nosuch")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "LDom nosuch does not exist\n")
    r = ldm(m, "add-vcpu two primary")
    assert r.stderr == "Invalid number of virtual CPUs: two\n"
    r = ldm(m, "add-memory 1X primary")
    assert r.exit_code == 1 and r.stderr == "Invalid memory size: 1X\n"
    r = ldm(m, "add-vdsdev /dev/x vol1")
    assert r.stderr == "Invalid volume: vol1 (expected volume-name@service-name)\n"
    r = ldm(m, "add-vsw mac-addr=00:14:zz:00:00:01 sw0 primary")
    assert r.stderr == "Invalid MAC address: 00:14:zz:00:00:01\n"
    r = ldm(m, "add-vcc port-range=6000-5000 vcc1 primary")
    assert r.stderr == "Invalid port range: 6000-5000 (expected port-range=x-y)\n"
    r = ldm(m, "add-vdsdev options=rw /dev/x vol1@primary-vds0")
    assert r.stderr == "Invalid vdsdev option: rw (valid: ro, slice, excl)\n"
    r = ldm(m, "set-guest cpu-dr=maybe primary")
    assert r.stderr == "Invalid value for cpu-dr: maybe (expected on or off)\n"


def test_a_bug_is_one_internal_error_line_with_status_2():
    class Broken:
        def authorize(self, user, auth):
            pass

        def domains(self):
            raise KeyError("uuid-42")

    r = execute(Broken(), "root", ["list"])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "Internal error: KeyError: 'uuid-42'\n"


# -- authorizations (SPEC M-6) -------------------------------------------------------------

def test_a_reader_may_list_but_not_change(m):
    assert ldm(m, "list", user="operator").exit_code == 0
    assert ldm(m, "list-devices -a", user="operator").exit_code == 0
    r = ldm(m, "add-domain ldg1", user="operator")
    assert r.exit_code == 1
    assert r.stderr == "Authorization failed: user operator does not have solaris.ldoms.write on t5440-sys-1\n"
    assert [d.name for d in m.domains()] == ["primary"]


def test_authorization_comes_before_the_command_line_is_read(m):
    r = ldm(m, "add-vcpu", user="operator")
    assert r.stderr.startswith("Authorization failed: user operator does not have solaris.ldoms.write")
    r = ldm(m, "migrate ldg1 t5440-sys-2", user="operator")
    assert r.exit_code == 1 and r.request is None
    r = ldm(m, "list", user="nobody")
    assert r.stderr == "Authorization failed: user nobody is not known on t5440-sys-1\n"


# -- commands over several domains ---------------------------------------------------------

def test_start_and_stop_report_each_domain(m):
    for name in ("ldg1", "ldg2"):
        assert ldm(m, f"create {name}").exit_code == 0
        assert ldm(m, f"add-vcpu 1 {name}").exit_code == 0
        assert ldm(m, f"add-mem 256M {name}").exit_code == 0
        assert ldm(m, f"bind {name}").exit_code == 0
    r = ldm(m, "start -a")
    assert (r.exit_code, r.stdout) == (0, "LDom ldg1 started\nLDom ldg2 started\n")
    r = ldm(m, "stop ldg2 ldg1")
    assert (r.exit_code, r.stdout) == (0, "LDom ldg2 stopped\nLDom ldg1 stopped\n")


def test_a_failure_midway_keeps_what_was_printed_before(m):
    assert ldm(m, "create ldg1").exit_code == 0
    assert ldm(m, "add-vcpu 1 ldg1").exit_code == 0
    assert ldm(m, "add-mem 256M ldg1").exit_code == 0
    assert ldm(m, "bind ldg1").exit_code == 0
    r = ldm(m, "start ldg1 ghost")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "LDom ldg1 started\n", "LDom ghost does not exist\n")


def test_variables_are_set_and_removed(m):
    assert ldm(m, "create ldg1").exit_code == 0
    assert ldm(m, "set-variable auto-boot?=false boot-device=disk:a ldg1").exit_code == 0
    assert m.domain("ldg1").constraints.variables == {"auto-boot?": "false", "boot-device": "disk:a"}
    assert ldm(m, "remove-variable auto-boot? ldg1").exit_code == 0
    assert m.domain("ldg1").constraints.variables == {"boot-device": "disk:a"}
    assert ldm(m, "set-variable ldg1").stderr.startswith("Too few operands: expected name=value ldom")


def test_io_buses_by_name_or_pseudonym(m):
    assert ldm(m, "create iodom").exit_code == 0
    assert ldm(m, "add-io pci_1 iodom").exit_code == 0
    assert m.domain("iodom").constraints.io == ("pci@500",)
    assert ldm(m, "rm-io pci@500 iodom").exit_code == 0
    assert m.domain("iodom").constraints.io == ()


def test_add_domain_with_mac_and_hostid(m):
    assert ldm(m, "add-domain mac-addr=0:14:4F:FA:B:BA hostid=0x84fa0bba ldg1").exit_code == 0
    d = m.domain("ldg1")
    assert (d.mac, d.hostid) == ("00:14:4f:fa:0b:ba", "0x84fa0bba")
    assert ldm(m, "add-domain hostid=0x1234567890 ldg2").stderr == "Invalid host ID: 0x1234567890\n"


# -- migrate-domain (SPEC G-1, G-10, G-14) -------------------------------------------------

@pytest.fixture
def mg(m):
    assert ldm(m, "add-domain ldg-src").exit_code == 0
    return m


def test_seed_8_2_migrates_as_the_invoking_user(mg):
    r = ldm(mg, "migrate-domain ldg-src t5440-sys-2", user="root", password="pw")
    assert (r.stdout, r.stderr, r.exit_code) == ("", "", 0)
    assert r.request == MigrationRequest(source="ldg-src", user="root", host="t5440-sys-2", password="pw")
    assert r.request.target_name == "ldg-src"


def test_seed_8_3_migrates_with_a_user_and_a_new_name(mg):
    mg.add_user("admin", password="x")
    r = ldm(mg, "migrate ldg-src root@t5440-sys-2:ldg-tgt", user="admin")
    req = r.request
    assert (req.user, req.host, req.new_name, req.target_name, req.dry_run) == (
        "root", "t5440-sys-2", "ldg-tgt", "ldg-tgt", False)


def test_dry_run_password_file_port_and_live(mg):
    read = {"/root/pw.txt": b"s3cret\nignored\n"}
    r = ldm(mg, "migrate -n -p /root/pw.txt -P 2222 --live ldg-src ops@10.0.0.7:copy1", read_file=read.__getitem__)
    assert r.request == MigrationRequest(source="ldg-src", user="ops", host="10.0.0.7", new_name="copy1",
                                         dry_run=True, password_file="/root/pw.txt", live=True, port=2222,
                                         password="s3cret")
    assert "s3cret" not in repr(r.request)


def test_without_a_file_reader_the_password_file_is_passed_on(mg):
    r = ldm(mg, "migrate -p pw.txt ldg-src hostb")
    assert (r.request.password_file, r.request.password) == ("pw.txt", None)


def test_an_unreadable_or_empty_password_file_is_refused(mg):
    def missing(path):
        raise FileNotFoundError(2, "No such file or directory")

    r = ldm(mg, "migrate -p /nope ldg-src hostb", read_file=missing)
    assert (r.exit_code, r.request) == (1, None)
    assert r.stderr == "Unable to read password file /nope: No such file or directory\n"
    r = ldm(mg, "migrate -p /empty ldg-src hostb", read_file=lambda p: "")
    assert r.stderr == "Password file /empty is empty\n"


def test_migrating_an_unknown_domain_is_refused_before_any_prompt(mg):
    r = ldm(mg, "migrate ghost hostb")
    assert (r.exit_code, r.stderr, r.request) == (1, "LDom ghost does not exist\n", None)


def test_migrate_takes_streams_or_tunnelled(mg):
    """B-5: --streams N (1 to 8) or --tunnelled, never both."""
    r = execute(mg, "root", "migrate-domain --streams 3 ldg-src hostb".split(), password="pw")
    assert (r.request.streams, r.request.tunnelled) == (3, False)
    r = execute(mg, "root", "migrate-domain --streams=2 ldg-src hostb".split(), password="pw")
    assert r.request.streams == 2
    r = execute(mg, "root", "migrate-domain --tunnelled ldg-src hostb".split(), password="pw")
    assert (r.request.streams, r.request.tunnelled) == (None, True)
    assert ldm(mg, "migrate --streams 9 ldg-src hostb").stderr == "Invalid number of streams: 9 (1 to 8)\n"
    assert ldm(mg, "migrate --streams ldg-src").stderr.startswith("Too few operands")
    assert ldm(mg, "migrate --streams 2 --tunnelled ldg-src hostb").stderr.startswith(
        "Options --streams and --tunnelled exclude each other\n")


def test_migrate_usage_errors(mg):
    r = ldm(mg, "migrate ldg-src")
    assert r.stderr.startswith("Too few operands: expected source-ldom [user@]target-host[:target-ldom]\nUsage:\n"
                               "    ldm migrate-domain [-n] [-p filename] [-P port] [-b rate] [-d ms] [--live] [--streams n] "
                                   "[--tunnelled] [bandwidth=rate] [downtime=ms] source-ldom")
    assert ldm(mg, "migrate -P 70000 ldg-src hostb").stderr == "Invalid port: 70000\n"
    assert ldm(mg, "migrate --fast ldg-src hostb").stderr.startswith("Invalid option: --fast\n")


@pytest.mark.parametrize("text,expected", [
    ("t5440-sys-2", ("me", "t5440-sys-2", None)),
    ("root@t5440-sys-2:ldg-tgt", ("root", "t5440-sys-2", "ldg-tgt")),
    ("dt212-239", ("me", "dt212-239", None)),
    ("admin@host.example.com", ("admin", "host.example.com", None)),
    ("[fd00::2]:new", ("me", "fd00::2", "new")),
    ("u@[::1]", ("u", "::1", None)),
])
def test_targets_are_user_host_and_new_name(text, expected):
    assert parse_target(text, "me") == expected


@pytest.mark.parametrize("text", ["", "@host", "host:", "host:a:b", "host:2222:new", "-host", "[zz]", "[::1]x",
                                  "us er@host"])
def test_malformed_targets_are_refused(text):
    with pytest.raises(LdmError) as e:
        parse_target(text, "me")
    assert e.value.code == "bad-target"


# -- cancel-operation (SPEC G-12, M-4) -----------------------------------------------------

def test_cancel_migration_is_handed_to_the_migration_engine(mg):
    r = ldm(mg, "cancel-operation migration ldg-src")
    assert (r.stdout, r.stderr, r.exit_code, r.request) == ("", "", 0, CancelMigrationRequest("ldg-src"))
    assert ldm(mg, "cancel-op migration ghost").stderr == "LDom ghost does not exist\n"


def test_cancel_needs_migration_or_reconf(mg):
    r = ldm(mg, "cancel-operation memory ldg-src")
    assert r.stderr.startswith("Invalid operation: memory (expected migration or reconf)\nUsage:\n"
                               "    ldm cancel-operation (migration | reconf) ldom")
    r = ldm(mg, "cancel-operation reconf primary")
    assert (r.exit_code, r.stderr) == (1, "No delayed reconfiguration is pending on LDom primary\n")


# -- set-domain ----------------------------------------------------------------------------

class Recorder:
    hostname = "hosta"

    def __init__(self):
        self.calls = []

    def authorize(self, user, auth):
        self.calls.append(("authorize", user, auth))

    def set_domain(self, name, *, mac=None, hostid=None):
        self.calls.append(("set_domain", name, mac, hostid))
        return []


def test_set_domain_passes_the_new_mac_and_hostid():
    rec = Recorder()
    r = execute(rec, "root", ["set-domain", "mac-addr=00:14:4F:00:00:09", "hostid=0xabc", "ldg1"])
    assert r.exit_code == 0
    assert rec.calls == [("authorize", "root", "solaris.ldoms.write"),
                         ("set_domain", "ldg1", "00:14:4f:00:00:09", "0x00000abc")]
    assert execute(rec, "root", ["set-domain", "ldg1"]).stderr.startswith("Nothing to set: give mac-addr= or hostid=")


def test_set_domain_on_a_manager_without_it_is_a_clear_refusal():
    class Old:
        hostname = "hostb"

        def authorize(self, user, auth):
            pass

    r = execute(Old(), "root", ["set-domain", "hostid=1", "ldg1"])
    assert (r.exit_code, r.stderr) == (1, "set-domain is not supported by the manager on hostb\n")


def test_extended_listing_needs_no_l(m):
    assert ldm(m, "list -e primary").stdout == ldm(m, "list -l -e primary").stdout
    assert "\nSOFTSTATE\nSolaris running\n" in ldm(m, "ls -e").stdout


def test_an_unknown_property_is_named(m):
    r = ldm(m, "add-vsw mtu=9000 sw1 primary")
    assert r.stderr.startswith("Invalid property: mtu=\nUsage:\n    ldm add-vsw [mac-addr=num]")
    r = ldm(m, "add-vdisk timeout=5 timeout=6 d0 v@s primary")
    assert r.stderr.startswith("Property timeout given more than once\n")


def test_set_domain_changes_mac_and_hostid_of_an_inactive_domain(m):
    assert ldm(m, "add-domain ldg1").exit_code == 0
    assert ldm(m, "set-domain mac-addr=00:14:4f:fa:00:01 hostid=0x84fa0001 ldg1").exit_code == 0
    d = m.domain("ldg1")
    assert (d.mac, d.hostid) == ("00:14:4f:fa:00:01", "0x84fa0001")
    assert ldm(m, "add-domain ldg2").exit_code == 0
    r = ldm(m, "set-domain mac-addr=00:14:4f:fa:00:01 ldg2")
    assert r.exit_code == 1 and r.stderr == "MAC address 00:14:4f:fa:00:01 is already in use by ldg1\n"
    assert ldm(m, "set-domain ldg2").exit_code == 1


def test_a_migration_to_the_host_itself_is_refused_before_any_peer_lookup(m):
    assert ldm(m, "add-domain ldg1").exit_code == 0
    for target in ("t5440-sys-1", "root@T5440-SYS-1", "t5440-sys-1:ldg1-copy"):
        r = ldm(m, f"migrate-domain ldg1 {target}", password="x")
        assert r.exit_code != 0
        assert r.stderr.splitlines()[0] == (f"Target host {target.split('@')[-1].split(':')[0]} is the host LDom ldg1 "
                                            "runs on: a domain can only be migrated to another machine")


def test_ldm_V_names_the_manager_and_its_firmware_as_the_1_2_guide_lays_it_out(m):
    from ldtui.core.ldm_output import read_version

    r = execute(m, "root", ["-V"])
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout.splitlines()[:4] == ["", f"Logical Domain Manager (v {m.machine.manager_version})",
                                         "\tHypervisor control protocol v 1.3", "\tUsing Hypervisor MD v 0.1"]
    assert f"v. {m.machine.firmware}" in r.stdout
    assert read_version(r.stdout) == m.machine.manager_version
    assert execute(m, "root", ["-V", "list"]).stderr.startswith("Unknown subcommand: -V")
