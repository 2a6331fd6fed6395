"""``ldm list`` as operators read it: the domain table and its parseable form.

Every function here renders from a :class:`ListingView` — the read-only face of a manager —
and returns the exact text ``ldm`` prints, each line ending in ``\\n`` and none carrying
trailing spaces (the output matches the Logical Domains 1.2 guides' listings byte for
byte up to those).

The long listing, ``-o`` formats and migration status live in ``formats_long``; devices and
services in ``formats_devices``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from ldtui.core.model import Domain, DomainState
from ldtui.core.units import format_size, format_uptime
from ldtui.hv.machine import MachineSpec, MemoryRange

PARSEABLE_VERSION = "VERSION 1.3"
SEPARATOR = "-" * 78
"""Between domains in ``ldm list -l`` / ``-o`` (as wide as the guides print it)."""

# The Logical Domains 1.2 guide's "ldm list" table: the widths every column starts with.
NAME_WIDTH = 11
STATE_WIDTH = 11
FLAGS_WIDTH = 8
CONS_WIDTH = 8
VCPU_WIDTH = 6
MEMORY_WIDTH = 9
UTIL_WIDTH = 6
UTIL_TEXT_WIDTH = 4
"""UTIL values end under the last letter of ``UTIL``: `` 23%`` sits under ``0.3%``."""


class ListingView(Protocol):
    """What the listings read from a manager; ``core.manager.Manager`` satisfies it."""

    machine: MachineSpec

    def domains(self) -> list[Domain]: ...

    def domain(self, name: str) -> Domain: ...

    def services(self, kind: str) -> list: ...

    def flags(self, domain: Domain) -> str: ...

    def console(self, domain: Domain) -> str: ...

    def util(self, domain: Domain) -> float | None: ...

    def uptime(self, domain: Domain) -> int | None: ...

    def free_strands(self) -> Sequence[int]: ...

    def free_memory(self) -> Sequence[MemoryRange]: ...

    def free_maus(self) -> Sequence[int]: ...

    def free_io(self) -> Sequence[str]: ...


# -- small shared helpers ------------------------------------------------------------------

def lines_text(lines: Iterable[str]) -> str:
    """Join output lines, dropping trailing spaces; empty input gives empty output."""
    out = [line.rstrip(" ") for line in lines]
    return "".join(f"{line}\n" for line in out)


def row(*cells: tuple[str, int]) -> str:
    """Left-aligned cells, each padded to its width; the last one's width may be 0.

    A cell as wide as its column still gets one space, so columns never run together.
    """
    return "".join(text.ljust(width) if len(text) < width or not width else text + " "
                   for text, width in cells).rstrip(" ")


def format_util(util: float) -> str:
    """``0.3%``, ``23%``, ``100%``: one decimal below 10 %, whole percent above (as ldm)."""
    value = round(max(util, 0.0), 1)
    return f"{value:.1f}%" if value < 10 else f"{round(value):.0f}%"


def parseable_util(util: float) -> str:
    return format_util(util)[:-1]


def shows_runtime(domain: Domain) -> bool:
    """UTIL and UPTIME are printed for a running domain and for a suspended migration source
    (the 1.2 guide's example: ``ldg-src suspended -n---s … 0.0%  2h 7m``); blank for bound
    and inactive ones."""
    return domain.state in (DomainState.ACTIVE, DomainState.SUSPENDED)


def vcpu_count(domain: Domain) -> int:
    if domain.bindings is not None:
        return len(domain.bindings.strands)
    return domain.constraints.vcpus


def memory_bytes(domain: Domain) -> int:
    if domain.bindings is not None:
        return domain.bindings.memory_size
    return domain.constraints.memory_size


def name_width(domains: Sequence[Domain]) -> int:
    """11, or the longest name + 1 once a name reaches 10 characters (as the 1.2 guides print it)."""
    longest = max((len(d.name) for d in domains), default=0)
    return max(NAME_WIDTH, longest + 1)


# -- ldm list ------------------------------------------------------------------------------

def domain_table_lines(view: ListingView, domains: Sequence[Domain], *, width: int | None = None) -> list[str]:
    """The ``NAME STATE FLAGS CONS VCPU MEMORY UTIL UPTIME`` header and one row per domain."""
    nw = width if width is not None else name_width(domains)
    lines = [row(("NAME", nw), ("STATE", STATE_WIDTH), ("FLAGS", FLAGS_WIDTH), ("CONS", CONS_WIDTH),
                 ("VCPU", VCPU_WIDTH), ("MEMORY", MEMORY_WIDTH), ("UTIL", UTIL_WIDTH), ("UPTIME", 0))]
    for d in domains:
        util_text, uptime_text = "", ""
        if shows_runtime(d):
            util = view.util(d)
            up = view.uptime(d)
            util_text = format_util(util).rjust(UTIL_TEXT_WIDTH) if util is not None else ""
            uptime_text = format_uptime(up) if up is not None else ""
        lines.append(row((d.name, nw), (d.state.value, STATE_WIDTH), (view.flags(d), FLAGS_WIDTH),
                         (view.console(d), CONS_WIDTH), (str(vcpu_count(d)), VCPU_WIDTH),
                         (format_size(memory_bytes(d)), MEMORY_WIDTH), (util_text, UTIL_WIDTH),
                         (uptime_text, 0)))
    return lines


def list_domains(view: ListingView, domains: Sequence[Domain]) -> str:
    """``ldm list [ldom…]``."""
    return lines_text(domain_table_lines(view, domains))


def parseable_domain_line(view: ListingView, d: Domain) -> str:
    """``DOMAIN|name=…|state=…|flags=…|cons=…|ncpu=…|mem=BYTES|util=…|uptime=SECONDS``."""
    util_text, uptime_text = "", ""
    if shows_runtime(d):
        util = view.util(d)
        up = view.uptime(d)
        util_text = parseable_util(util) if util is not None else ""
        uptime_text = str(int(up)) if up is not None else ""
    return (f"DOMAIN|name={d.name}|state={d.state.value}|flags={view.flags(d)}|cons={view.console(d)}"
            f"|ncpu={vcpu_count(d)}|mem={memory_bytes(d)}|util={util_text}|uptime={uptime_text}")


def list_domains_parseable(view: ListingView, domains: Sequence[Domain]) -> str:
    """``ldm list -p [ldom…]``."""
    return lines_text([PARSEABLE_VERSION, *(parseable_domain_line(view, d) for d in domains)])
