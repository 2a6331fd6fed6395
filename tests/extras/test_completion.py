"""Shell completion of ldm, ldtui and ldmd (SPEC G-1, L-3, T-1): the bash function run in
a real bash with COMP_WORDS/COMP_CWORD set, the zsh one in a real interactive zsh.

Domain names come from a stand-in ``ldm`` on PATH that prints a ``list -p`` and notes how
it was called, so the tests see which host was asked and how often."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ldtui.core.cmd_args import ORDERED
from ldtui.core.commands import COMMANDS
from ldtui.extras.cli import ldmd_parser, ldtui_parser, parser_options, theme_names
from ldtui.extras.completion import bash_script, zsh_script

LIST_P = ("VERSION 1.3\n"
          "DOMAIN|name=primary|state=active|flags=-n-cv-|cons=SP|ncpu=8|mem=4294967296|util=0.3|uptime=9\n"
          "DOMAIN|name=ldg1|state=active|flags=-n----|cons=5000|ncpu=8|mem=1073741824|util=1.0|uptime=9\n"
          "DOMAIN|name=ldg-src|state=bound|flags=------|cons=5001|ncpu=1|mem=2147483648|util=|uptime=\n")


@pytest.fixture
def shell_env(tmp_path):
    """PATH with the stand-in ldm first, a cache of its own; ``calls`` lists its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "ldm"
    fake.write_text(f"#!{sys.executable}\n"
                    "import json, os, sys\n"
                    f"with open({str(calls)!r}, 'a') as f:\n"
                    "    f.write(json.dumps([sys.argv[1:], os.environ.get('LDM_HOST', '')]) + '\\n')\n"
                    f"sys.stdout.write({LIST_P!r})\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "LANG": "C"}
    script = tmp_path / "ldm.bash"
    script.write_text(bash_script("ldm") + bash_script("ldtui") + bash_script("ldmd"))
    return {"env": env, "calls": calls, "script": script, "cache": tmp_path / "cache" / "ldtui", "tmp": tmp_path}


def called(shell_env) -> list:
    path = shell_env["calls"]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def complete(shell_env, *words: str, env: dict | None = None, function: str = "_ldm") -> list[str]:
    """COMPREPLY of ``function`` with COMP_WORDS = ``words`` (the last one is being typed)."""
    program = (f"source {shell_env['script']}\n"
               f"COMP_WORDS=({' '.join(_bash_quote(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n"
               f"COMP_LINE={_bash_quote(' '.join(words))}\nCOMP_POINT=${{#COMP_LINE}}\n"
               f"{function}\n"
               "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    ran = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                         env={**shell_env["env"], **(env or {})}, timeout=60)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    return [line for line in ran.stdout.splitlines() if line]


def _bash_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_the_first_word_offers_every_subcommand_and_alias(shell_env):
    offered = complete(shell_env, "ldm", "")
    assert sorted(offered) == sorted(COMMANDS)
    assert set(complete(shell_env, "ldm", "mig")) == {"migrate-domain", "migrate"}
    assert complete(shell_env, "ldm", "-") == ["-H", "--host", "-F", "--ssh-config", "-J", "--jump", "-i",
                                              "--identity", "--known-hosts", "--persist", "--close"]
    # After ldm's own options (bash splits the port off at ':'), still the subcommands.
    assert set(complete(shell_env, "ldm", "-H", "root@t5440-sys-1", ":", "2201", "cancel-")) == {
        "cancel-operation", "cancel-op"}
    assert called(shell_env) == []                    # nothing asked of any host for these


@pytest.mark.parametrize("spec", sorted({id(s): s for s in ORDERED}.values(), key=lambda s: s.name),
                         ids=lambda s: s.name)
def test_each_subcommand_offers_exactly_its_options(shell_env, spec):
    dashed = [w for w in spec.options.words() if w.startswith("-")]
    for name in (spec.name, *spec.aliases[:1]):
        assert sorted(complete(shell_env, "ldm", name, "-")) == sorted(dashed)
    props = [w for w in spec.options.words() if w.endswith("=")]
    if props and not spec.options.pairs_are_operands:
        assert set(props) <= set(complete(shell_env, "ldm", spec.name, ""))


def test_domain_names_come_from_the_host_of_the_command_line_and_are_kept_briefly(shell_env):
    words = ("ldm", "-H", "root@t5440-sys-1", ":", "2201", "stop-domain", "-f", "ldg")
    assert complete(shell_env, *words) == ["ldg1", "ldg-src"]
    assert called(shell_env) == [[["-H", "root@t5440-sys-1:2201", "list", "-p"], ""]]
    # Pressed again: the names of a few seconds ago, from the user's own cache file.
    assert complete(shell_env, *words) == ["ldg1", "ldg-src"]
    assert len(called(shell_env)) == 1
    (cache,) = shell_env["cache"].iterdir()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600 and stat.S_IMODE(shell_env["cache"].stat().st_mode) == 0o700
    # Once they are older than that, the host is asked again.
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join([str(int(lines[0]) - 60), *lines[1:]]) + "\n")
    assert complete(shell_env, *words) == ["ldg1", "ldg-src"]
    assert len(called(shell_env)) == 2


def test_without_minus_h_the_host_is_ldm_host_and_without_any_no_host_is_asked(shell_env):
    assert complete(shell_env, "ldm", "list", "") == []
    assert called(shell_env) == []
    offered = complete(shell_env, "ldm", "list", "-l", "", env={"LDM_HOST": "operator@10.0.0.11"})
    assert offered == ["primary", "ldg1", "ldg-src"]
    assert called(shell_env) == [[["list", "-p"], "operator@10.0.0.11"]]


def test_operands_properties_and_option_values(shell_env):
    env = {"LDM_HOST": "root@t5440-sys-1"}
    assert complete(shell_env, "ldm", "cancel-operation", "", env=env) == ["migration", "reconf"]
    assert complete(shell_env, "ldm", "cancel-operation", "migration", "l", env=env) == ["ldg1", "ldg-src"]
    # The target is a host, not a domain here: only the properties.
    assert set(complete(shell_env, "ldm", "migrate-domain", "--live", "ldg1", "", env=env)) == {"bandwidth=",
                                                                                                 "downtime="}
    assert complete(shell_env, "ldm", "list-devices", "") == ["cpu", "crypto", "memory", "io"]
    assert complete(shell_env, "ldm", "set-guest", "cpu") == ["cpu-dr="]
    assert complete(shell_env, "ldm", "set-guest", "cpu-dr", "=", "") == ["on", "off"]
    assert complete(shell_env, "ldm", "set-guest", "bound-processes", "=", "y") == ["yes"]
    assert complete(shell_env, "ldm", "list", "-o", "mem") == ["memory"]
    assert complete(shell_env, "ldm", "list", "-o", "memory,st") == ["memory,status"]
    assert complete(shell_env, "ldm", "migrate", "-b", "") == []          # a rate: nothing to offer


def test_ldtui_and_ldmd_complete_their_options(shell_env):
    for prog, parser, function in (("ldtui", ldtui_parser(), "_ldtui_complete"),
                                   ("ldmd", ldmd_parser(), "_ldmd_complete")):
        options = {s for o in parser_options(parser) for s in o.strings}
        long = {s for s in options if s.startswith("--")}
        assert set(complete(shell_env, prog, "--", function=function)) == long | {"--help"}
        assert set(complete(shell_env, prog, "-", function=function)) == options | {"-h", "--help"}
    themes = theme_names()
    assert themes and complete(shell_env, "ldtui", "--theme", "", function="_ldtui_complete") == themes
    (shell_env["tmp"] / "state-a").mkdir()
    assert complete(shell_env, "ldmd", "--state", str(shell_env["tmp"] / "state-"),
                    function="_ldmd_complete") == [str(shell_env["tmp"] / "state-a")]


# -- zsh ---------------------------------------------------------------------------------

ZSH_DRIVER = r'''
zmodload zsh/zpty || exit 3
zpty z "env -i HOME=$HOME PATH=$PATH TERM=dumb LDM_HOST=$LDM_HOST XDG_CACHE_HOME=$XDG_CACHE_HOME zsh -f -i"
zpty -w z "unset zle_bracketed_paste; PS1='P> '; LISTMAX=100000; stty rows 500 columns 200; fpath=($FUNCS \$fpath); autoload -Uz compinit; compinit -u -D; print READY"
out=""
for (( n = 0; n < 100; n++ )); do
    zpty -r -t z chunk && out+=$chunk
    [[ $out == *READY*P\>* ]] && break
    sleep 0.1
done
zpty -w -n z "$1"$'\t'
sleep 1.5
out=""
while zpty -r -t z chunk; do out+=$chunk; done
print -r -- "$out"
zpty -d z
'''


def zsh_complete(shell_env, line: str, tmp_path: Path) -> str:
    funcs = tmp_path / "site-functions"
    funcs.mkdir(exist_ok=True)
    for prog in ("ldm", "ldtui", "ldmd"):
        (funcs / f"_{prog}").write_text(zsh_script(prog))
    driver = tmp_path / "driver.zsh"
    driver.write_text(ZSH_DRIVER)
    env = {**shell_env["env"], "FUNCS": str(funcs), "LDM_HOST": "root@t5440-sys-1"}
    ran = subprocess.run(["zsh", "-f", str(driver), line], capture_output=True, text=True, env=env, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.split("READY", 1)[-1]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
def test_zsh_completes_subcommands_operands_and_domain_names(shell_env, tmp_path):
    listed = zsh_complete(shell_env, "ldm cancel-operation ", tmp_path)
    assert "migration" in listed and "reconf" in listed
    listed = zsh_complete(shell_env, "ldm cancel-operation migration ", tmp_path)
    assert all(name in listed for name in ("primary", "ldg1", "ldg-src"))
    assert called(shell_env)[0] == [["list", "-p"], "root@t5440-sys-1"]
    listed = zsh_complete(shell_env, "ldm migrate-d", tmp_path)
    assert "ldm migrate-domain " in listed                    # the one match, completed in place
    listed = zsh_complete(shell_env, "ldm set-guest cpu-dr=of", tmp_path)
    assert "ldm set-guest cpu-dr=off " in listed
    listed = zsh_complete(shell_env, "ldm set-guest bound-processes=", tmp_path)
    assert "yes" in listed.split("bound-processes=", 1)[1] and "no" in listed.split("bound-processes=", 1)[1]
    listed = zsh_complete(shell_env, "ldm list-bindings -", tmp_path)
    assert "-e" in listed and "-p" in listed
    listed = zsh_complete(shell_env, "ldtui --th", tmp_path)
    assert "ldtui --theme " in listed


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
def test_zsh_offers_every_subcommand(shell_env, tmp_path):
    listed = zsh_complete(shell_env, "ldm ", tmp_path)
    missing = [name for name in COMMANDS if name not in listed]
    assert missing == [], missing
