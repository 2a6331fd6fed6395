"""How ``ldm`` reads its own command line before handing the rest to ldmd (SPEC G-1, S-2)."""

from __future__ import annotations

import pytest

from ldtui.net.client import ClientError, parse_target, split_options, take_password_file


def test_host_forms_an_operator_types():
    assert parse_target("root@t5440-sys-1:2222", "me") == ("root", "t5440-sys-1", 2222)
    assert parse_target("t5440-sys-2", "me") == ("me", "t5440-sys-2", 22)
    assert parse_target("admin@[::1]:2200", "me") == ("admin", "::1", 2200)
    with pytest.raises(ClientError, match=r"ldm: invalid port in 'root@h:99999'"):
        parse_target("root@h:99999", "me")


def test_only_options_before_the_subcommand_belong_to_the_client():
    assert split_options(["-H", "root@h:22", "list", "-l"]) == ({"host": "root@h:22"}, ["list", "-l"])
    assert split_options(["-Hh", "--known-hosts=/kh", "-i", "/id", "list"]) == \
        ({"host": "h", "known_hosts": "/kh", "identity": "/id"}, ["list"])
    assert split_options(["migrate", "-H", "x"]) == ({}, ["migrate", "-H", "x"])
    with pytest.raises(ClientError, match="ldm: option -H needs a value"):
        split_options(["-H"])


def test_a_password_file_is_read_here_and_never_sent_as_an_argument(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("target-secret\nsecond line\n")
    pw.chmod(0o600)
    argv, password = take_password_file(["migrate-domain", "-n", "-p", str(pw), "ldg-src", "root@t5440-sys-2"])
    assert argv == ["migrate-domain", "-n", "ldg-src", "root@t5440-sys-2"]
    assert password == "target-secret"
    argv, password = take_password_file(["migrate", "ldg1", "t5440-sys-2"])
    assert (argv, password) == (["migrate", "ldg1", "t5440-sys-2"], None)
    with pytest.raises(ClientError, match=r"Unable to read password file /nonexistent/pw: No such file or directory"):
        take_password_file(["migrate", "-p", "/nonexistent/pw", "ldg1", "t5440-sys-2"])


def test_a_fresh_ldm_reads_its_migration_line_with_only_what_it_imports():
    """The client loads nothing it does not need (S-1), yet must know a migrate-domain line
    (to ask the Target Password or say it is missing) in a process of its own (G-1)."""
    import subprocess
    import sys
    program = ("from ldtui.net.client import _migration_line as m\n"
               "print(m(['migrate-domain', 'ldg1', 't5440-sys-2']).operands,"
               " m(['migrate-domain', '--help']), m(['migrate-domain', '--frobnicate', 'a', 'b']))\n")
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout.split() == ["['ldg1',", "'t5440-sys-2']", "None", "None"]


@pytest.mark.parametrize("text", ["root@h:22", "h", "h:2201", "[::1]:2201", "[fd00::2]", "u@[fd00::2]:22",
                                  "admin@t5440-sys-2", "10.0.1.12:2201", "h:0", "h:x", "h:65536", "@h", "[::1]:x"])
def test_ldm_reads_a_host_as_the_one_target_grammar_reads_a_host_field(text):
    # ldm's connection option keeps its own small reader (it starts before any heavy import);
    # it must agree with core.migration_target's host-field reading on what it accepts.
    from ldtui.core.migration_target import MigrationTarget, TargetError
    from ldtui.net.client import ClientError, split_target

    try:
        grammar = MigrationTarget.parse_host_field(text)
        wanted = None if not grammar.host or ("@" in text and not grammar.user) else \
            (grammar.user, grammar.host, grammar.port)
    except TargetError:
        wanted = None
    try:
        got = split_target(text)
    except ClientError:
        got = None
    assert got == wanted
