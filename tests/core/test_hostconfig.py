"""Host and lab files (SPEC H-1, M-5, M-6, S-5): read, validated, seeded into a manager."""

from __future__ import annotations

import pytest

from ldtui.core.auth import verify_password
from ldtui.core.hostconfig import HostConfigError, apply_seed, load_host_config, load_lab
from ldtui.core.manager import Manager
from ldtui.core.model import READ, WRITE
from ldtui.core.units import format_size
from ldtui.net.lab import default_lab_file

HOST = """\
[host]
name = "t5440-sys-2"
port = 0

[machine]
memory = [{ pa = "0x0", size = "0x208000000" }]
reserved = [{ pa = "0x0", size = "128M" }]

[[users]]
name = "root"
password = "secret"
authorizations = ["write"]

[primary]
vcpus = 8
memory = "4G"

[[services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[services.vds]]
name = "primary-vds0"
volumes = [{ name = "vol5", device = "/ldoms/ldg5.img" }]

[[domains]]
name = "ldg5"
vcpus = 2
mblocks = ["0x148000000:1G"]
vdisks = [{ name = "vdisk1", volume = "vol5@primary-vds0" }]
state = "bound"

[[domains]]
name = "ldg6"
vcpus = 4
mblocks = ["0x1c8000000:1G"]
state = "active"

[[domains]]
name = "ldg7"
vcpus = 1
memory = "512M"
"""


def write(tmp_path, text: str, name: str = "lab.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_host_file_reads_into_values(tmp_path):
    cfg = load_host_config(write(tmp_path, HOST))
    assert cfg.name == "t5440-sys-2" and cfg.listen_port == 0
    assert cfg.machine.processor == "UltraSPARC-T2+" and cfg.machine.memory_total == 0x208000000
    assert [d.name for d in cfg.domains] == ["ldg5", "ldg6", "ldg7"]
    assert [d.state for d in cfg.domains] == ["bound", "active", "inactive"]
    (root,) = cfg.users
    assert root.authorizations == (WRITE,)
    assert verify_password(root.password_hash, "secret")
    assert "secret" not in root.password_hash


@pytest.mark.parametrize("line, broken, message", [
    ('memory = "512M"', 'memory = "lots"', "lab.toml: [[domains]] #3 'memory': invalid size 'lots'"),
    ('vcpus = 1', 'vcpus = "one"', "lab.toml: [[domains]] #3 'vcpus': expected integer, got 'one'"),
    ('name = "ldg7"', 'name = "ldg7"\ncolour = "blue"', "lab.toml: [[domains]] #3 'colour': unknown key"),
])
def test_a_broken_file_is_one_line_naming_file_table_and_key(tmp_path, line, broken, message):
    assert HOST.count(line) == 1
    with pytest.raises(HostConfigError) as e:
        load_host_config(write(tmp_path, HOST.replace(line, broken)))
    assert e.value.message == message
    assert "\n" not in e.value.message


def test_other_mistakes_name_their_key(tmp_path):
    cases = {
        HOST.replace('authorizations = ["write"]', 'authorizations = ["admin"]'):
            "lab.toml: [[users]] #1 'authorizations': unknown authorization 'admin' (use read, write or solaris.ldoms.*)",
        HOST.replace('state = "bound"', 'state = "running"'):
            "lab.toml: [[domains]] #1 'state': expected one of inactive, bound, active, got 'running'",
        HOST.replace('"vol5@primary-vds0"', '"vol5"'):
            "lab.toml: [[domains]] #1 vdisk 'volume': expected volume@service, got 'vol5'",
        HOST.replace('port = 0', 'port = 70000'): "lab.toml: [host] 'port': not a TCP port: 70000",
        HOST.replace('[primary]', '[primary]\nmblocks = ["0x8000000:4G"]'):
            "lab.toml: [primary] 'mblocks': not configurable for the control domain",
        HOST + '\n[[domains]]\nname = "ldg5"\n': "lab.toml: [[domains]] #4 'name': duplicate domain 'ldg5'",
        "[host\nname=1": None,
    }
    for text, message in cases.items():
        with pytest.raises(HostConfigError) as e:
            load_host_config(write(tmp_path, text))
        if message:
            assert e.value.message == message
        assert e.value.message.startswith("lab.toml: ") and "\n" not in e.value.message


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(HostConfigError, match=r"nope.toml: cannot read: No such file or directory"):
        load_host_config(tmp_path / "nope.toml")


def test_seeding_builds_the_configuration_once(tmp_path):
    """The seed's target host: free memory is two 1G ranges (seed, ldm list-devices memory)."""
    cfg = load_host_config(write(tmp_path, HOST))
    m = Manager(cfg.machine, tmp_path / "state")
    try:
        assert apply_seed(m, cfg) is True
        states = {d.name: d.state.value for d in m.domains()}
        assert states == {"primary": "active", "ldg5": "bound", "ldg6": "active", "ldg7": "inactive"}
        assert [(hex(r.pa), format_size(r.size)) for r in m.free_memory()] == \
            [("0x108000000", "1G"), ("0x188000000", "1G")]
        assert m.domain("primary").pending is None          # no delayed reconfiguration left behind
        m.remove_domain("ldg7")
        assert apply_seed(m, cfg) is False                 # operators' changes survive a restart
        assert "ldg7" not in [d.name for d in m.domains()]
    finally:
        m.close()


def test_a_seed_the_manager_refuses_names_the_entry_and_seeds_nothing(tmp_path):
    text = HOST.replace('mblocks = ["0x1c8000000:1G"]', 'mblocks = ["0x148000000:1G"]')   # overlaps ldg5
    cfg = load_host_config(write(tmp_path, text))
    m = Manager(cfg.machine, tmp_path / "state")
    try:
        with pytest.raises(HostConfigError) as e:
            apply_seed(m, cfg)
        assert e.value.message.startswith("lab.toml: [[domains]] #2 'ldg6': ")
        assert not m.initialized
        assert [d.name for d in m.domains()] == ["primary"]
    finally:
        m.close()


def test_the_default_lab_holds_the_seeds_hosts():
    hosts = {c.name: c for c in load_lab(default_lab_file())}
    assert {"t5440-sys-1", "t5440-sys-2"} <= set(hosts)
    one, two = hosts["t5440-sys-1"], hosts["t5440-sys-2"]
    for h in (one, two):
        assert (h.machine.processor, h.machine.clock_mhz, h.machine.cores, h.machine.strands_per_core) == \
            ("UltraSPARC-T2+", 1414, 32, 8)
        assert (h.primary.vcpus, h.primary.memory, h.primary.crypto) == (8, 4 << 30, 1)
        assert {u.name: u.authorizations for u in h.users} == {"root": (WRITE,), "operator": (READ,)}
    assert any(c.machine.processor != "UltraSPARC-T2+" for c in hosts.values())
    states = {d.state for h in hosts.values() for d in h.domains}
    assert states == {"inactive", "bound", "active"}
    src = next(d for d in one.domains if d.name == "ldg-src")
    assert [(hex(b.pa), format_size(b.size)) for b in src.mblocks] == [("0x208000000", "2G")]
    assert any(d.io for d in one.domains) and any(d.crypto for d in one.domains)


def test_the_default_lab_seeds_every_host(tmp_path):
    for cfg in load_lab(default_lab_file()):
        m = Manager(cfg.machine, tmp_path / cfg.name)
        try:
            apply_seed(m, cfg)
            wanted = {d.name: d.state for d in cfg.domains}
            assert {d.name: d.state.value for d in m.domains() if not d.control} == wanted
        finally:
            m.close()


def test_lab_errors_name_the_host(tmp_path):
    text = open(default_lab_file()).read().replace('memory = "512M"', 'memory = "lots"', 1)
    with pytest.raises(HostConfigError) as e:
        load_lab(write(tmp_path, text))
    assert e.value.message == "lab.toml: [[hosts]] #1 [[domains]] #2 'memory': invalid size 'lots'"


def test_jumps_name_a_peer_and_a_chain_of_jump_hosts(tmp_path):
    """S-3: a [jumps] entry reaches a peer through SSH jump hosts, listed as OpenSSH's
    ProxyJump lists them; a host only an ssh_config knows needs that ssh_config."""
    from ldtui.core.hostconfig import HostConfigError, load_host_config
    base = ('[host]\nname = "a"\n[machine]\ncores = 2\nstrands_per_core = 2\nmemory = [{ pa = "0x0", size = "8G" }]\n'
            '[peers]\nb = "10.0.0.2:2201"\n')
    ok = tmp_path / "ok.toml"
    ok.write_text(base + '[jumps]\nb = "ops@bastion:22, inner"\n')
    assert load_host_config(ok).jump_map() == {"b": "ops@bastion:22,inner"}
    bad = tmp_path / "bad.toml"
    bad.write_text(base + '[jumps]\nb = "ops@bastion:http"\n')
    with pytest.raises(HostConfigError,
                       match=r"\[jumps\] 'b': expected \[USER@\]HOST\[:PORT\], comma-separated, got 'ops@bastion:http'"):
        load_host_config(bad)
    stray = tmp_path / "stray.toml"
    stray.write_text(base + '[jumps]\nc = "ops@bastion:22"\n')
    with pytest.raises(HostConfigError, match=r"'c': no \[peers\] entry for this host"):
        load_host_config(stray)
    configured = tmp_path / "configured.toml"
    configured.write_text(base.replace('name = "a"\n', 'name = "a"\nssh_config = "peers_ssh_config"\n')
                          + '[jumps]\nc = "bastion"\n')
    config = load_host_config(configured)
    assert config.jump_map() == {"c": "bastion"} and config.ssh_config == str(tmp_path / "peers_ssh_config")


def test_migration_table_sets_transport_streams_and_data_ports(tmp_path):
    """B-5: [migration] chooses native or tunnelled, the stream count and the data ports."""
    base = '[host]\nname = "a"\n[machine]\ncores = 2\nstrands_per_core = 2\nmemory = [{ pa = "0x0", size = "8G" }]\n'
    plain = write(tmp_path, base, "plain.toml")
    m = load_host_config(plain).migration
    assert (m.transport, m.streams, m.data_ports, m.data_address) == ("native", 1, (49152, 49407), "")
    full = write(tmp_path, base + '[migration]\ntransport = "tunnelled"\nstreams = 3\ndata_ports = "50000-50009"\n'
                 'data_address = "192.0.2.7"\n', "full.toml")
    m = load_host_config(full).migration
    assert (m.transport, m.streams, m.data_ports, m.data_address) == ("tunnelled", 3, (50000, 50009), "192.0.2.7")
    forwarded = write(tmp_path, base + '[migration]\ndata_address = "198.51.100.4:7001"\n', "fwd.toml")
    m = load_host_config(forwarded).migration
    assert (m.data_address, m.data_address_port) == ("198.51.100.4", 7001)
    for line, message in (('transport = "fast"', r"\[migration\] 'transport': expected \"native\" or \"tunnelled\""),
                          ("streams = 0", r"'streams': must be at least 1"),
                          ("streams = 99", r"'streams': at most 8"),
                          ('data_ports = "9-2"', r"'data_ports': expected a port range"),
                          ('data_address = "ldmd.example"', r"'data_address': expected an IP address"),
                          ('data_address = "10.0.0.1:99999"', r"'data_address': not a TCP port"),
                          ("speed = 1", r"\[migration\] 'speed': unknown key")):
        bad = write(tmp_path, base + f"[migration]\n{line}\n", "bad.toml")
        with pytest.raises(HostConfigError, match=message):
            load_host_config(bad)
