"""The operator's ssh_config decides where a connection goes (SPEC S-3): aliases, HostName,
Port, User, IdentityFile, ProxyJump chains, ConnectTimeout, ServerAliveInterval, read
by asyncssh's parser as OpenSSH reads them."""

from __future__ import annotations

import pytest

from ldtui.net.sshroute import RouteError, config_files, resolve, split_destination

CONFIG = """\
Host bastion
    HostName 192.0.2.10
    Port 2222
    User ops
    IdentityFile ~/.ssh/bastion_key
    ServerAliveInterval 4

Host inner
    HostName 10.1.0.1
    ProxyJump outer

Host outer
    HostName 198.51.100.1

Host t5440-sys-*
    User root
    ProxyJump bastion
    ConnectTimeout 7

Host t5440-sys-1
    HostName 10.0.0.11
    Port 2201

Host deep
    ProxyJump inner,bastion

Host old-style
    ProxyCommand nc %h %p

Host loop-a
    ProxyJump loop-b
Host loop-b
    ProxyJump loop-a

Host aliased
    HostName 10.0.0.99
    HostKeyAlias t5440-sys-9
    ServerAliveInterval 0
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "config"
    path.write_text(CONFIG)
    return config_files(path)


def test_an_alias_gives_address_port_user_and_its_jump(files, tmp_path):
    route = resolve("t5440-sys-1", files=files, local_user="me")
    t = route.target
    assert (t.host, t.port, t.user, t.connect_timeout) == ("10.0.0.11", 2201, "root", 7.0)
    (jump,) = route.jumps
    assert (jump.label, jump.host, jump.port, jump.user, jump.keepalive_interval) == \
        ("bastion", "192.0.2.10", 2222, "ops", 4.0)
    assert jump.identities == (str(tmp_path / ".ssh" / "bastion_key"),)
    assert route.path == "via bastion"


def test_what_the_operator_typed_beats_the_file(files):
    route = resolve("t5440-sys-1", files=files, user="admin", port=2299, local_user="me")
    assert (route.target.user, route.target.port) == ("admin", 2299)


def test_a_name_the_file_does_not_know_goes_direct_as_typed(files):
    route = resolve("10.9.9.9", files=files, local_user="me")
    assert (route.target.host, route.target.port, route.target.user, route.jumps) == ("10.9.9.9", 22, "me", ())
    assert route.path == "direct"


def test_a_jump_chain_honours_the_first_jumps_own_proxyjump_as_openssh_does(files):
    # deep: ProxyJump inner,bastion — inner itself is behind outer; bastion's own ProxyJump
    # (none here) would not count, it is reached through the chain.
    route = resolve("deep", files=files, local_user="me")
    assert [h.label for h in route.jumps] == ["outer", "inner", "bastion"]
    assert route.path == "via outer → inner → bastion"


def test_an_explicit_jump_list_replaces_the_files_proxyjump(files):
    route = resolve("t5440-sys-1", files=files, jumps="admin@192.0.2.50:2022,bastion", local_user="me")
    first, second = route.jumps
    assert (first.label, first.host, first.port, first.user) == ("admin@192.0.2.50:2022", "192.0.2.50", 2022, "admin")
    assert (second.host, second.user) == ("192.0.2.10", "ops")
    assert resolve("t5440-sys-1", files=files, jumps="none", local_user="me").jumps == ()


def test_what_is_not_supported_is_refused_in_one_line(files, tmp_path):
    with pytest.raises(RouteError, match="old-style: ProxyCommand is not supported; use ProxyJump"):
        resolve("old-style", files=files, local_user="me")
    with pytest.raises(RouteError, match="a ProxyJump loop"):
        resolve("loop-a", files=files, local_user="me")
    with pytest.raises(RouteError, match=f"Can't open user config file {tmp_path / 'nope'}: No such file"):
        config_files(tmp_path / "nope")
    with pytest.raises(RouteError, match="Invalid port"):
        resolve("x", jumps="ops@bastion:http", local_user="me")


def test_host_key_alias_names_the_key_and_keepalive_never_turns_off(files):
    t = resolve("aliased", files=files, local_user="me").target
    assert t.key_host == ("t5440-sys-9", 22)
    assert t.keepalive_interval is None           # 0 would be never: the program's bound stays


def test_no_file_at_all_and_none(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_files() == ()
    assert config_files("none") == ()
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host a\n  Port 2\n")
    assert config_files() == (tmp_path / ".ssh" / "config",)


def test_destinations_as_openssh_spells_them():
    assert split_destination("ssh://ops@bastion:2222") == ("ops", "bastion", 2222)
    assert split_destination("[::1]:2200") == (None, "::1", 2200)
    assert split_destination("bastion") == (None, "bastion", None)
