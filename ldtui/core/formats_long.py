"""``ldm list -l`` / ``-e`` / ``-o FORMAT`` and ``ldm list-constraints``.

Blocks of several domains are separated by a blank line and a line of dashes; sections
within a block by one blank line; the output never ends in a blank line (the 1.2 guide's
``-o memory`` example ends right after its last row).
"""

from __future__ import annotations

from collections.abc import Sequence

from ldtui.core.errors import LdmError
from ldtui.core.formats import (
    PARSEABLE_VERSION,
    SEPARATOR,
    ListingView,
    domain_table_lines,
    format_util,
    lines_text,
    name_width,
    parseable_domain_line,
    parseable_util,
    row,
    shows_runtime,
)
from ldtui.core.formats_sections import (
    Section,
    disk_section,
    extended_sections,
    io_section,
    mau_section,
    memory_section,
    network_section,
    status_section,
    variables_section,
    vcc_section,
    vcons_section,
    vcpu_section,
    vds_section,
    vsw_section,
)
from ldtui.core.model import Domain
from ldtui.core.units import format_size

LIST_FORMATS = ("console", "cpu", "crypto", "disk", "domain", "memory", "network", "physio", "serial",
                "status")


def _join_blocks(blocks: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i, block in enumerate(blocks):
        if i:
            out += ["", SEPARATOR]
        out += block
    return out


def _with_sections(head: list[str], sections: list[Section], *, keep_empty: bool = False) -> list[str]:
    out = list(head)
    for s in sections:
        if s.empty and not keep_empty:
            continue
        out += ["", *s.lines()]
    return out


def _long_sections(view: ListingView, d: Domain, *, extended: bool) -> list[Section]:
    c = d.constraints
    out = extended_sections(d) if extended else []
    # While a migration runs (or failed), its status leads: it is what the operator looks for.
    out += [status_section(d, _running_job(view, d)), vcpu_section(view, d), mau_section(view, d), memory_section(d), variables_section(c.variables),
            io_section(view, d), vcc_section(view, d), vsw_section(view, d), vds_section(view, d),
            network_section(view, c.vnets), disk_section(view, c.vdisks), vcons_section(view, d)]
    return out


def list_long(view: ListingView, domains: Sequence[Domain], *, extended: bool = False) -> str:
    """``ldm list -l [-e] [ldom…]``: each domain's table row, then its non-empty sections."""
    width = name_width(domains)
    blocks = [_with_sections(domain_table_lines(view, [d], width=width), _long_sections(view, d, extended=extended))
              for d in domains]
    return lines_text(_join_blocks(blocks))


def list_long_parseable(view: ListingView, domains: Sequence[Domain], *, extended: bool = False) -> str:
    """``ldm list -l -p``: the ``DOMAIN|…`` line, then each non-empty section's lines."""
    out = [PARSEABLE_VERSION]
    for d in domains:
        out.append(parseable_domain_line(view, d))
        for s in _long_sections(view, d, extended=extended):
            if not s.empty:
                out += s.parseable()
    return lines_text(out)


# -- ldm list -o FORMAT[,FORMAT] -----------------------------------------------------------

def parse_formats(text: str) -> tuple[str, ...]:
    """``memory,status`` → ``("memory", "status")``; unknown names are an operator error."""
    names = text.split(",")
    bad = next((f for f in names if f not in LIST_FORMATS), None)
    if bad is not None:
        raise LdmError("bad-format", f"Invalid output format: {bad or '(empty)'}; valid formats are: "
                       + ", ".join(LIST_FORMATS))
    return tuple(dict.fromkeys(names))


def _format_sections(view: ListingView, d: Domain, fmt: str) -> list[tuple[Section, bool]]:
    """The sections one ``-o`` format asks for; ``True`` marks one shown even when empty."""
    c = d.constraints
    table = {
        "console": [(vcons_section(view, d), True)],
        "cpu": [(vcpu_section(view, d), True)],
        "crypto": [(mau_section(view, d), True)],
        "disk": [(disk_section(view, c.vdisks), True), (vds_section(view, d), False)],
        "domain": [(s, False) for s in extended_sections(d)],
        "memory": [(memory_section(d), True)],
        "network": [(network_section(view, c.vnets), True), (vsw_section(view, d), False)],
        "physio": [(io_section(view, d), True)],
        "serial": [(vcc_section(view, d), True)],
        "status": [(status_section(d, _running_job(view, d)), True)],
    }
    return table[fmt]


def _domain_head(view: ListingView, d: Domain, formats: tuple[str, ...]) -> list[str]:
    if "domain" not in formats:
        return ["NAME", d.name]
    util = view.util(d) if shows_runtime(d) else None
    nw = max(11, len(d.name) + 1)
    return [row(("NAME", nw), ("STATE", 11), ("FLAGS", 8), ("UTIL", 0)),
            row((d.name, nw), (d.state.value, 11), (view.flags(d), 8),
                (format_util(util).rjust(4) if util is not None else "", 0))]


def list_formats(view: ListingView, domains: Sequence[Domain], formats: tuple[str, ...]) -> str:
    """``ldm list -o FORMAT[,FORMAT] [ldom…]`` (as the 1.2 guide's ``-o memory`` and ``-o status`` examples)."""
    blocks = []
    for d in domains:
        block = _domain_head(view, d, formats)
        for fmt in formats:
            for section, always in _format_sections(view, d, fmt):
                if always or not section.empty:
                    block += ["", *section.lines()]
        blocks.append(block)
    return lines_text(_join_blocks(blocks))


def list_formats_parseable(view: ListingView, domains: Sequence[Domain], formats: tuple[str, ...]) -> str:
    """``ldm list -o FORMAT -p`` (as the 1.2 guide's parseable migration status example)."""
    out = [PARSEABLE_VERSION]
    for d in domains:
        if "domain" in formats:
            util = view.util(d) if shows_runtime(d) else None
            out.append(f"DOMAIN|name={d.name}|state={d.state.value}|flags={view.flags(d)}"
                       f"|util={parseable_util(util) if util is not None else ''}")
        else:
            out.append(f"DOMAIN|name={d.name}|")
        for fmt in formats:
            for section, always in _format_sections(view, d, fmt):
                if always or not section.empty:
                    out += section.parseable()
    return lines_text(out)


# -- ldm list-constraints ------------------------------------------------------------------

def _constraint_sections(view: ListingView, d: Domain) -> list[Section]:
    # A control domain in delayed reconfiguration lists what applies at its reboot.
    c = d.pending if d.pending is not None else d.constraints
    out = [Section("VCPU", "    COUNT", (f"    {c.vcpus}",), (f"|count={c.vcpus}",))]
    if c.mblocks:
        out.append(Section("MEMORY", row(("    PA", 21), ("SIZE", 0)),
                           tuple(row(("    " + hex(b.pa), 21), (format_size(b.size), 0)) for b in c.mblocks),
                           tuple(f"|pa={hex(b.pa)}|size={b.size}" for b in c.mblocks)))
    else:
        out.append(Section("MEMORY", "    SIZE", (f"    {format_size(c.memory)}",), (f"|size={c.memory}",)))
    if c.crypto:
        out.append(Section("MAU", "    COUNT", (f"    {c.crypto}",), (f"|count={c.crypto}",)))
    out.append(Section("IO", "    DEVICE           PSEUDONYM",
                       tuple(row(("    " + bus, 21), (view.machine.pseudonym(bus) if bus in view.machine.pci_buses
                                                      else "", 0)) for bus in c.io),
                       tuple(f"|dev={bus}" for bus in c.io)))
    out += [variables_section(c.variables), network_section(view, c.vnets), disk_section(view, c.vdisks)]
    return out


def list_constraints(view: ListingView, domains: Sequence[Domain]) -> str:
    """``ldm list-constraints [ldom…]``: what the operator configured, not what is bound."""
    blocks = [_with_sections(["DOMAIN", d.name], _constraint_sections(view, d)) for d in domains]
    return lines_text(_join_blocks(blocks))


def list_constraints_parseable(view: ListingView, domains: Sequence[Domain]) -> str:
    out = [PARSEABLE_VERSION]
    for d in domains:
        out.append(f"DOMAIN|name={d.name}|")
        for s in _constraint_sections(view, d):
            if not s.empty:
                out += s.parseable()
    return lines_text(out)


def _running_job(view: ListingView, d: Domain):
    """The migration this host runs for ``d``, for the extended status: progress detail as
    ``virsh domjobinfo`` gives it (data processed and remaining, rates, rounds, downtime)."""
    if d.migration is None:
        return None
    from ldtui.core.migration.status import running_job
    return running_job(view, d.migration.id)
