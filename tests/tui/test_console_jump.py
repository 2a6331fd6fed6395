"""The console reaches managers through jump hosts as ``ldtui --jump`` and a hosts file's
``jump =`` (or the ssh_config's ProxyJump) say, shows each host's path, and follows a jump
host down and back up (SPEC S-3, S-4, T-2). The jump hosts are stock OpenSSH sshd's on
loopback; the managers are the embedded lab's real ldmd's."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import attrs
import pytest

from ldtui.app import LdtuiApp
from ldtui.console.opening import links_for
from ldtui.console.hostspec import load_hosts_file, parse_target
from tests.tui.labkit import DST, SRC
from tests.tui.scenario import screen_text, settle

sys.path.insert(0, str(Path(__file__).parent.parent / "net"))
from sshdkit import SSHD, Bastion, public_line, write_key  # noqa: E402

pytestmark = [pytest.mark.skipif(SSHD is None, reason="OpenSSH server not installed"),
              pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root to switch users")]


@pytest.fixture
def operator(tmp_path, monkeypatch):
    """An operator whose ~/.ssh/id_ed25519 the jump hosts accept; no ssh-agent."""
    home = tmp_path / "operator"
    (home / ".ssh").mkdir(parents=True)
    key = write_key(home / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home, key


def known_hosts(lab, tmp_path, *bastions) -> str:
    path = tmp_path / "console_known_hosts"
    shutil.copy(lab.known_hosts_path, path)
    with open(path, "a") as f:
        for b in bastions:
            f.write(b.known_hosts_line)
    return str(path)


def endpoint(lab, name):
    return next(e for e in lab.endpoints() if e.hostname == name)


async def test_the_console_reaches_managers_through_one_and_two_jump_hosts_and_shows_the_path(
        lab, operator, tmp_path):
    home, key = operator
    outer = Bastion(tmp_path / "outer", [public_line(key)])
    inner = Bastion(tmp_path / "inner", [public_line(key)])
    outer.start()
    inner.start()
    try:
        kh = known_hosts(lab, tmp_path, outer, inner)
        a, b = endpoint(lab, SRC), endpoint(lab, DST)
        # ldtui --jump root@127.0.0.1:OUTER root@127.0.0.1:PORT-OF-SYS-1
        one = attrs.evolve(parse_target(f"root@127.0.0.1:{a.port}"), jump=f"root@127.0.0.1:{outer.port}",
                           password=a.password, known_hosts=kh)
        # a hosts file entry with jump = "outer,inner", both aliases of the ssh_config (-F)
        (tmp_path / "ssh_config").write_text(
            f"Host outer\n    HostName 127.0.0.1\n    Port {outer.port}\n    User root\n"
            f"Host inner\n    HostName 127.0.0.1\n    Port {inner.port}\n    User root\n")
        (tmp_path / "hosts.toml").write_text(
            f'[[host]]\nname = "{DST}"\naddress = "127.0.0.1"\nport = {b.port}\nuser = "root"\n'
            f'password = "{b.password}"\nknown_hosts = "{kh}"\njump = "outer,inner"\n')
        sources = links_for([one, *load_hosts_file(tmp_path / "hosts.toml")], str(tmp_path / "ssh_config"))
        app = LdtuiApp(sources, users={n: "root" for n in sources}, poll_interval=0.2, request_timeout=10)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot, lambda: len(app.fleet.connected()) == 2, timeout=30)
            shown = screen_text(app)
            assert f"via root@127.0.0.1:{outer.port}" in shown
            assert "via outer → inner" in shown
            assert app.fleet.hosts[DST].snapshot.hostname == DST
        # Both jumps really carried the second host's link, in order.
        assert f"port {inner.port}" in outer.log and f"port {b.port}" in inner.log
    finally:
        inner.stop()
        outer.stop()


async def test_a_jump_host_that_goes_down_marks_the_hosts_behind_it_and_they_come_back(lab, operator, tmp_path):
    home, key = operator
    bastion = Bastion(tmp_path / "bastion", [public_line(key)])
    bastion.start()
    try:
        kh = known_hosts(lab, tmp_path, bastion)
        specs = [attrs.evolve(parse_target(f"root@127.0.0.1:{e.port}"), name=e.hostname,
                              jump=f"root@127.0.0.1:{bastion.port}", password=e.password, known_hosts=kh)
                 for e in (endpoint(lab, SRC), endpoint(lab, DST))]
        sources = links_for(specs)
        app = LdtuiApp(sources, users={n: "root" for n in sources}, poll_interval=0.2, request_timeout=5)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot, lambda: len(app.fleet.connected()) == 2, timeout=30)
            bastion.stop()
            behind = [app.fleet.hosts[SRC], app.fleet.hosts[DST]]
            await settle(pilot, lambda: all(v.stale and v.down_code == "jump-unreachable" for v in behind),
                         timeout=30)
            assert screen_text(app).count("jump unreachable · stale since") == 2
            # The link's loss is told first, then why it cannot come back (T-2).
            assert any(e.text in (f"down ({now}jump unreachable): Cannot connect to jump host "
                                  f"[127.0.0.1]:{bastion.port}: Connection refused" for now in ("", "now "))
                       for e in app.events), [e.text for e in app.events]
            bastion.start()
            await settle(pilot, lambda: all(not v.stale and v.state == "connected" for v in behind), timeout=30)
            assert "jump unreachable" not in screen_text(app)
            assert sum(e.text == "reachable again" for e in app.events) == 2
    finally:
        bastion.stop()
