"""Starting the console: command line, links that keep themselves up, the embedded lab (T-1)."""

from __future__ import annotations

import asyncio

import pytest

from ldtui.app import LdtuiApp, OpenedHosts
from ldtui.screens.commands import palette_commands
from ldtui.cli import main, parser
from tests.tui.fakes import FakeHost
from tests.tui.scenario import FROZEN, seed_hosts, settle


def test_a_wrong_target_is_refused_before_the_screen_opens(capsys):
    assert main(["root@t5440-sys-1:http"]) == 2
    assert capsys.readouterr().err == "ldtui: Invalid host: root@t5440-sys-1:http (expected USER@HOST:PORT)\n"


def test_a_missing_hosts_file_is_refused(tmp_path, capsys):
    assert main(["--hosts", str(tmp_path / "nope.toml")]) == 2
    assert "Cannot read" in capsys.readouterr().err


def test_ssh_settings_that_cannot_be_used_are_refused_before_the_screen_opens(tmp_path, capsys):
    """S-3: a missing -F file, --jump without hosts, a ProxyCommand: one line, exit 2."""
    assert main(["-F", str(tmp_path / "nope"), "root@t5440-sys-1:2201"]) == 2
    assert capsys.readouterr().err == (f"ldtui: Can't open user config file {tmp_path / 'nope'}: "
                                       "No such file or directory\n")
    (tmp_path / "hosts.toml").write_text('[[host]]\naddress = "10.0.0.2"\n')
    assert main(["--jump", "ops@bastion", "--hosts", str(tmp_path / "hosts.toml")]) == 2
    assert capsys.readouterr().err == ("ldtui: --jump needs hosts on the command line "
                                       "(a hosts file says jump = per host)\n")
    (tmp_path / "ssh_config").write_text("Host old\n    ProxyCommand nc %h %p\n")
    assert main(["-F", str(tmp_path / "ssh_config"), "old"]) == 2
    assert capsys.readouterr().err == "ldtui: old: ProxyCommand is not supported; use ProxyJump\n"


def test_options():
    args = parser().parse_args(["root@a:2201", "--theme", "ldtui-light"])
    assert args.targets == ["root@a:2201"] and args.theme == "ldtui-light" and args.hosts_file is None
    args = parser().parse_args(["-F", "cfg", "--jump", "ops@bastion:22,inner", "root@a:2201"])
    assert (args.ssh_config, args.jump) == ("cfg", "ops@bastion:22,inner")


class KeptLink(FakeHost):
    """Like HostLink: starts down, keeps itself up in ``reconnect_forever``, reports ``last_error``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = "down"
        self.last_error = ""

    async def reconnect_forever(self) -> None:
        while True:
            if self.down:
                self.state, self.last_error = "down", f"Cannot connect to {self.hostname}: Connection refused"
            else:
                self.state = "connected"
            await asyncio.sleep(0.05)

    async def snapshot(self):
        if self.state != "connected":
            raise ConnectionError(self.last_error or "not connected")
        return await super().snapshot()


async def test_a_link_that_reconnects_by_itself_is_followed_down_and_up():
    a, b = seed_hosts()
    kept = KeptLink("t5440-sys-2", b.domains)
    app = LdtuiApp({"t5440-sys-1": a, "t5440-sys-2": kept}, clock=lambda: FROZEN, poll_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.fleet.hosts["t5440-sys-2"].snapshot is not None)
        kept.down = True
        # The poller may see the failed snapshot before it notices the link's new state.
        await settle(pilot, lambda: app.fleet.hosts["t5440-sys-2"].stale
                     and any(e.text == "link connected → down" for e in app.events))
        assert app.fleet.hosts["t5440-sys-2"].last_error == "Cannot connect to t5440-sys-2: Connection refused"
        kept.down = False
        await settle(pilot, lambda: not app.fleet.hosts["t5440-sys-2"].stale)


async def test_hosts_opened_off_the_ui_thread_are_adopted_and_closed_at_exit():
    a, b = seed_hosts()
    closed = []

    def open_hosts() -> OpenedHosts:
        return OpenedHosts(sources={"t5440-sys-1": a, "t5440-sys-2": b}, users={"t5440-sys-1": "operator"},
                           close=lambda: closed.append(True))

    app = LdtuiApp(open_hosts=open_hosts, clock=lambda: FROZEN, poll_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: len(app.fleet.connected()) == 2)
        assert app.user_for("t5440-sys-1") == "operator"
    assert closed == [True] and a.closed and b.closed


async def test_the_embedded_lab_over_ssh(tmp_path):
    """No argument: the lab's hosts, reached over loopback SSH like remote ones."""
    pytest.importorskip("ldtui.net.lab")
    from ldtui.console.opening import open_lab

    app = LdtuiApp(open_hosts=lambda: open_lab(None, tmp_path / "lab"), poll_interval=0.2, request_timeout=10)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: len(app.fleet.hosts) >= 2 and len(app.fleet.connected()) == len(app.fleet.hosts),
                     timeout=60)
        keys = app.main_screen().domains_table.keys()
        assert "t5440-sys-1/primary" in keys and "t5440-sys-2/primary" in keys
        names = [n for n, _, _ in palette_commands(app)]
        assert "Stop host t5440-sys-2" in names
        app.main_screen().domains_table.select_key("t5440-sys-1/primary")
        await pilot.press("enter")
        await settle(pilot, lambda: getattr(app.screen, "text", ""), timeout=20)
        assert app.screen.text.splitlines()[0].startswith("NAME")
