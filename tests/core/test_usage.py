"""Every subcommand's usage names every option it accepts, and accepts every option its
usage names (SPEC G-1, L-3, L-5, M-2, M-3): an operator reading ``ldm SUBCOMMAND --help``,
the man page or the shell's completion sees all of what the subcommand takes."""

from __future__ import annotations

import re

import pytest

from ldtui.core.cmd_args import ORDERED, CommandSpec
from ldtui.core.commands import execute
from ldtui.core.manager import Manager
from ldtui.hv.machine import MachineSpec, MemoryRange

SPECS = sorted({id(s): s for s in ORDERED}.values(), key=lambda s: s.name)


def named_in_usage(spec: CommandSpec) -> dict[str, set[str]]:
    """The options the synopses show, by kind: ``-x`` letters (with or without a value
    word after them), ``--word`` and ``key=`` properties."""
    text = " ".join(spec.synopses)
    letters = re.findall(r"(?<![\w-])-([A-Za-z])(?![\w-])( [a-z]\w*)?", text)
    longs = re.findall(r"(?<![\w-])--([a-z][\w-]*)( [a-z]\w*)?", text)
    props = set() if spec.options.pairs_are_operands else set(re.findall(r"(?<![\w-])([a-z][\w-]*)=", text))
    return {
        "flags": {c for c, value in letters if not value}, "valued": {c for c, value in letters if value},
        "long": {w for w, value in longs if not value}, "long_valued": {w for w, value in longs if value},
        "props": props,
    }


def declared(spec: CommandSpec) -> dict[str, set[str]]:
    o = spec.options
    return {"flags": set(o.flags), "valued": set(o.valued), "long": set(o.long),
            "long_valued": set(o.long_valued), "props": set(o.props)}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_the_usage_names_exactly_the_options_the_subcommand_accepts(spec):
    assert named_in_usage(spec) == declared(spec), spec.usage


def test_migrate_domain_usage_lists_every_option():
    """The case that started it: -b, -d, --live, --streams and --tunnelled, and the
    bandwidth=/downtime= spellings of -b and -d."""
    spec = next(s for s in SPECS if s.name == "migrate-domain")
    words = spec.synopses[0].split()
    for option in ("-n", "-p", "-P", "-b", "-d", "--live", "--streams", "--tunnelled", "[bandwidth=rate]",
                   "[downtime=ms]"):
        assert option in words or f"[{option}" in words or f"[{option}]" in words, option


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    mgr = Manager(MachineSpec(hostname="t5440-sys-1", cores=4, strands_per_core=4,
                              memory=(MemoryRange(0, 0x288000000),)), tmp_path_factory.mktemp("h1"))
    mgr.create_control_domain(vcpus=4, memory=4 << 30, crypto=1, io=("pci@400",))
    mgr.add_user("root", password="secret")
    yield mgr
    mgr.close()


REFUSED_AS_OPTION = ("Invalid option", "Invalid property", "needs a value")


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_option_in_the_usage_is_taken_as_one(m, spec):
    """Given alone to the subcommand, each option fails, if at all, for another reason
    (operands missing, a value out of range), never as an option it does not know."""
    named = named_in_usage(spec)
    lines = [[f"-{c}"] for c in named["flags"]] + [[f"-{c}", "1"] for c in named["valued"]]
    lines += [[f"--{w}"] for w in named["long"]] + [[f"--{w}", "1"] for w in named["long_valued"]]
    lines += [[f"{p}=1"] for p in named["props"]]
    for words in lines:
        r = execute(m, "root", [spec.name, *words])
        first = r.stderr.splitlines()[0] if r.stderr else ""
        assert not any(x in first for x in REFUSED_AS_OPTION), (words, r.stderr)
