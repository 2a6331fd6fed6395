"""ldmd's test knobs and the sshd bridge's small decisions, without a network."""

from __future__ import annotations

import pytest

from ldtui.core.errors import LdmError
from ldtui.net.bridge import is_subsystem_request
from ldtui.net.daemon import hold_after_phase, parse_hold, parse_keepalive
from ldtui.net.secretfile import PasswordFileError, read_password_file


def test_keepalive_and_hold_knobs_parse_or_say_what_they_expect():
    assert parse_keepalive("2:3") == (2.0, 3)
    assert parse_keepalive("0.5") == (0.5, 3)
    assert parse_hold("source:go_sent:1.5") == ("source", "go_sent", 1.5)
    for bad in ("x", "0:3", "1:-2"):
        with pytest.raises(LdmError, match="--keepalive: expected SECONDS:COUNT"):
            parse_keepalive(bad)
    for bad in ("middle:go:1", "source::1", "target:go:soon", "target:go:-1"):
        with pytest.raises(LdmError, match="--hold-phase: expected"):
            parse_hold(bad)


def test_the_hold_freezes_once_right_after_the_phase_is_journaled(monkeypatch):
    written, slept = [], []

    class Store:
        def journal_write(self, *args):
            written.append(args[1:4])

    monkeypatch.setattr("time.sleep", slept.append)
    store = Store()
    hold_after_phase(store, "target", "ready", 0.7)
    store.journal_write("m1", "target", "ldg1", "transfer", {}, 0.0)
    store.journal_write("m1", "source", "ldg1", "ready", {}, 0.0)
    assert slept == []
    store.journal_write("m1", "target", "ldg1", "ready", {}, 0.0)
    store.journal_write("m2", "target", "ldg1", "ready", {}, 0.0)
    assert slept == [0.7]                        # committed first, then frozen, only once
    assert written[2] == ("target", "ldg1", "ready")


@pytest.mark.parametrize("command, rpc", [
    ("ldtui-rpc", True), ("/usr/bin/ldmd-bridge --rpc", True), ("/opt/x/ldmd-bridge --socket /s --rpc", True),
    ("ldm list", False), ("ldmd-bridge --exec", False), ("", False), ("'unbalanced", False),
])
def test_a_subsystem_request_under_forcecommand_is_recognised(command, rpc):
    assert is_subsystem_request(command) is rpc


def test_password_files_must_be_private(tmp_path):
    p = tmp_path / "pw"
    p.write_text("s3cret\nignored\n")
    p.chmod(0o600)
    assert read_password_file(str(p)) == "s3cret"
    for mode in (0o640, 0o604, 0o620, 0o666):
        p.chmod(mode)
        with pytest.raises(PasswordFileError, match=f"accessible by others \\(mode {mode:04o}\\)"):
            read_password_file(str(p))
    with pytest.raises(PasswordFileError, match="is not a regular file"):
        read_password_file(str(tmp_path))
    with pytest.raises(PasswordFileError, match="No such file"):
        read_password_file(str(tmp_path / "none"))
