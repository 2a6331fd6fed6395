"""ldm(1), ldmd(8) and ldtui(1), generated from the argument definitions (SPEC G-1, S-1,
T-1): every subcommand and alias, every option of ldmd and ldtui, and nothing roff
cannot read."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ldtui.core.cmd_args import ORDERED
from ldtui.extras.cli import ldmd_parser, ldtui_parser, parser_options
from ldtui.extras.install import install, main
from ldtui.extras.manpages import LDM_ENVIRONMENT, esc, page


def test_ldm_page_lists_every_subcommand_its_aliases_and_options():
    text = page("ldm.1")
    sections = re.split(r"^\.SS ", text, flags=re.M)
    titles = {s.split("\n", 1)[0]: s for s in sections[1:]}
    for spec in ORDERED:
        section = titles[esc(spec.name)]
        for alias in spec.aliases:
            assert f"\\fB{esc(alias)}\\fR" in section, (spec.name, alias)
        for synopsis in spec.synopses:
            assert synopsis.split()[0] == spec.name
        for word in spec.options.words():
            assert f"\\fB{esc(word)}\\fR" in section, (spec.name, word)
        assert spec.auth in section


def test_ldm_page_names_the_client_options_and_environment():
    import ldtui.net.client as client
    from ldtui.net.client import OPTIONS

    text = page("ldm.1")
    for short, long, *_ in OPTIONS:
        assert esc(long) in text and (not short or esc(short) in text)
    import ldtui.net.ssh_exec as ssh_exec

    sources = Path(client.__file__).read_text() + Path(ssh_exec.__file__).read_text()
    read = set(re.findall(r'os\.environ\.get\("(LDM_\w+)"\)', sources))
    assert read == {name for name, _ in LDM_ENVIRONMENT}


@pytest.mark.parametrize("name, make", [("ldmd.8", ldmd_parser), ("ldtui.1", ldtui_parser)])
def test_the_daemon_and_console_pages_list_every_option(name, make):
    text = page(name)
    options = parser_options(make())
    assert options
    for o in options:
        for s in o.strings:
            assert f"\\fB{esc(s)}\\fR" in text, s
        if not o.strings:
            assert esc(o.value) in text
    assert "\\fB\\-\\-help\\fR" in text


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("name", ["ldm.1", "ldmd.8", "ldtui.1"])
def test_roff_reads_each_page_without_a_warning(tmp_path, name):
    (tmp_path / name).write_text(page(name))
    ran = subprocess.run(["groff", "-man", "-Tascii", "-ww", "-z", str(tmp_path / name)], capture_output=True,
                         text=True, timeout=60)
    assert (ran.returncode, ran.stderr) == (0, "")


def test_install_writes_pages_and_completion_where_the_system_looks(tmp_path, capsys):
    main(["--prefix", str(tmp_path)])
    for rel in ("share/man/man1/ldm.1", "share/man/man1/ldtui.1", "share/man/man8/ldmd.8",
                "share/bash-completion/completions/ldm", "share/bash-completion/completions/ldtui",
                "share/bash-completion/completions/ldmd", "share/zsh/site-functions/_ldm",
                "share/zsh/site-functions/_ldtui", "share/zsh/site-functions/_ldmd"):
        assert (tmp_path / rel).stat().st_size > 0, rel
    assert str(tmp_path / "share/man/man1/ldm.1") in capsys.readouterr().out
    assert (tmp_path / "share/man/man1/ldm.1").read_text() == page("ldm.1")
    again = install(tmp_path)                          # an upgrade replaces them
    assert len(again) == 9 and not list(tmp_path.rglob("*.tmp"))
    main(["--print", "ldmd.8"])
    assert capsys.readouterr().out == page("ldmd.8")
