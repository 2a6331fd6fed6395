"""Known hosts and login throttling, without a network (SPEC S-1, S-5)."""

from __future__ import annotations

import asyncssh

from ldtui.net.knownhosts import CHANGED, KNOWN, UNKNOWN, KnownHosts, host_pattern
from ldtui.net.ratelimit import LoginThrottle


def test_known_hosts_tell_known_unknown_and_changed(tmp_path):
    kh = KnownHosts(tmp_path / "known_hosts")
    key, impostor = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    assert kh.check("127.0.0.1", 2222, key) == UNKNOWN
    kh.add("127.0.0.1", 2222, key)
    assert (tmp_path / "known_hosts").read_text().startswith("[127.0.0.1]:2222 ssh-ed25519 ")
    assert kh.check("127.0.0.1", 2222, key) == KNOWN
    assert kh.check("127.0.0.1", 2222, impostor) == CHANGED
    assert kh.check("127.0.0.1", 2223, key) == UNKNOWN          # another port is another host
    assert kh.recorded("127.0.0.1", 2222) == [1]


def test_openssh_style_lines_are_understood(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    blob = key.export_public_key("openssh").decode().split()[1]
    (tmp_path / "kh").write_text(f"# a comment\nt5440-sys-1,10.0.0.1 ssh-ed25519 {blob}\n")
    kh = KnownHosts(tmp_path / "kh")
    assert kh.check("10.0.0.1", 22, key) == KNOWN
    assert host_pattern("10.0.0.1", 22) == "10.0.0.1" and host_pattern("h", 5) == "[h]:5"


def test_each_failure_doubles_the_wait_up_to_the_cap():
    now = [0.0]
    t = LoginThrottle(base=0.25, cap=2.0, forget_after=600, clock=lambda: now[0])
    assert t.delay("root", "10.0.0.9") == 0
    waits = [t.failed("root", "10.0.0.9") for _ in range(6)]
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert t.delay("root", "10.0.0.8") == 0               # another address is not punished
    t.succeeded("root", "10.0.0.9")
    assert t.delay("root", "10.0.0.9") == 0
    t.failed("root", "10.0.0.9")
    now[0] = 601
    assert t.delay("root", "10.0.0.9") == 0               # an old failure is forgotten
