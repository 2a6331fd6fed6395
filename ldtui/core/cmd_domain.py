"""Subcommands that change domains and their resources.

Each one parses its operands, then calls one ``Manager`` mutation; the notice lines the
manager returns (delayed reconfiguration, …) are what ``ldm`` prints.
"""

from __future__ import annotations

from collections.abc import Callable

from ldtui.core.cmd_args import (
    Args,
    CommandSpec,
    Context,
    Output,
    command,
    parse_count,
    parse_mac,
    parse_memory_size,
    parse_rate,
    parse_switch,
)
from ldtui.core.errors import LdmError
from ldtui.core.model import MigrationRole
from ldtui.core.formats import lines_text
from ldtui.core.units import parse_address, parse_size
from ldtui.hv.machine import MemoryRange


class PartialFailure(LdmError):
    """A command over several domains stopped at one: what it printed before, then why."""

    def __init__(self, done: str, error: LdmError) -> None:
        super().__init__(error.code, error.message, lines=error.lines, exit_code=error.exit_code)
        self.done = done


def notices(lines) -> Output:
    return Output(lines_text(lines or []))


def _each(ctx: Context, a: Args, verb: Callable[[str], list[str]]) -> Output:
    """Run ``verb`` on the named domains, or with ``-a`` on every domain but the control one."""
    if "a" in a.flags:
        if a.operands:
            raise a.error("Give either -a or domain names, not both")
        names = [d.name for d in ctx.manager.domains() if not d.control]
    else:
        names = a.at_least("ldom")
    out: list[str] = []
    for name in names:
        try:
            out += verb(name)
        except LdmError as e:
            raise PartialFailure(lines_text(out), e) from None
    return Output(lines_text(out))


# -- lifecycle -----------------------------------------------------------------------------

@command("add-domain", "add-domain [mac-addr=num] [hostid=num] ldom", aliases=("create", "add-dom"),
         summary="create an inactive domain", props=("mac-addr", "hostid"))
def add_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    (name,) = a.exact("ldom")
    return notices(ctx.manager.add_domain(name, mac=parse_mac(a.props.get("mac-addr")),
                                          hostid=_hostid(a.props.get("hostid"))))


@command("set-domain", "set-domain [mac-addr=num] [hostid=num] ldom", aliases=("set-dom",),
         summary="change a domain's MAC address or host ID", props=("mac-addr", "hostid"))
def set_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    (name,) = a.exact("ldom")
    if not a.props:
        raise a.error("Nothing to set: give mac-addr= or hostid=")
    setter = getattr(ctx.manager, "set_domain", None)
    if setter is None:
        raise LdmError("unsupported", f"set-domain is not supported by the manager on {ctx.manager.hostname}")
    return notices(setter(name, mac=parse_mac(a.props.get("mac-addr")), hostid=_hostid(a.props.get("hostid"))))


def _hostid(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFFFFFF:
        raise LdmError("bad-hostid", f"Invalid host ID: {text}")
    return f"0x{value:08x}"


@command("remove-domain", "remove-domain (-a | ldom...)", aliases=("rm-domain", "destroy", "rm-dom"),
         summary="remove inactive domains, or the source copy of a domain in the migration error state", flags="a")
def remove_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)

    def remove(name: str) -> list[str]:
        # After a connection lost at the handoff (docs/CONSOLE.md, "Recovering a domain in
        # the error state"): once the operator has seen the target run the domain, the
        # suspended source copy in `e` goes. Only ever when named: `-a` never destroys a copy
        # in `e`.
        if "a" not in a.flags and ctx.manager.domain(name).migration_role is MigrationRole.ERROR:
            from ldtui.core.migration.errorstate_actions import destroy_after_error
            destroy_after_error(ctx.manager, name)
            return [f"Source copy of LDom {name} destroyed: the migration target now holds the only copy"]
        return ctx.manager.remove_domain(name)

    return _each(ctx, a, remove)


@command("bind-domain", "bind-domain ldom", aliases=("bind", "bind-dom"), summary="bind resources to a domain")
def bind_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (name,) = Args(argv, spec).exact("ldom")
    return notices(ctx.manager.bind_domain(name))


@command("unbind-domain", "unbind-domain ldom", aliases=("unbind", "unbind-dom"),
         summary="release a stopped domain's resources")
def unbind_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (name,) = Args(argv, spec).exact("ldom")
    return notices(ctx.manager.unbind_domain(name))


@command("start-domain", "start-domain (-a | ldom...)", aliases=("start", "start-dom"), summary="start domains",
         flags="a")
def start_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    def start(name: str) -> list[str]:
        return [*ctx.manager.start_domain(name), f"LDom {name} started"]

    return _each(ctx, Args(argv, spec), start)


@command("stop-domain", "stop-domain [-f] [-r] (-a | ldom...)", aliases=("stop", "stop-dom"),
         summary="stop (-r: reboot) domains", notes=("-f stops at once, -r reboots",), flags="afr")
def stop_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)

    def stop(name: str) -> list[str]:
        lines = ctx.manager.stop_domain(name, force="f" in a.flags, reboot="r" in a.flags)
        return [*lines, f"LDom {name} {'rebooted' if 'r' in a.flags else 'stopped'}"]

    return _each(ctx, a, stop)


# -- vCPUs, memory, crypto, I/O buses ------------------------------------------------------

def _counted(verb: str, what: str, method: str, aliases: tuple[str, ...], summary: str) -> None:
    @command(verb, f"{verb} number ldom", aliases=aliases, summary=summary)
    def run(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
        count, name = Args(argv, spec).exact("number", "ldom")
        return notices(getattr(ctx.manager, method)(parse_count(count, what), name))


_counted("add-vcpu", "virtual CPUs", "add_vcpu", (), "add virtual CPUs")
_counted("set-vcpu", "virtual CPUs", "set_vcpu", (), "set the number of virtual CPUs")
_counted("remove-vcpu", "virtual CPUs", "remove_vcpu", ("rm-vcpu",), "remove virtual CPUs")
_counted("add-crypto", "crypto units", "add_crypto", ("add-mau",), "add crypto units (MAUs)")
_counted("set-crypto", "crypto units", "set_crypto", ("set-mau",), "set the number of crypto units")
_counted("remove-crypto", "crypto units", "remove_crypto", ("rm-crypto", "remove-mau", "rm-mau"),
         "remove crypto units")


@command("add-memory", "add-memory size[unit] ldom", aliases=("add-mem",), summary="add memory",
         notes=("units: K, M, G (no unit: bytes)",))
def add_memory(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    size, name = Args(argv, spec).exact("size", "ldom")
    return notices(ctx.manager.add_memory(parse_memory_size(size), name))


@command("remove-memory", "remove-memory size[unit] ldom", aliases=("rm-memory", "rm-mem", "remove-mem"),
         summary="remove memory")
def remove_memory(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    size, name = Args(argv, spec).exact("size", "ldom")
    return notices(ctx.manager.remove_memory(parse_memory_size(size), name))


@command("set-memory", "set-memory size[unit] ldom", "set-memory mblock=PA:size[,PA:size...] ldom",
         aliases=("set-mem",), summary="set memory by size or as named physical blocks", props=("mblock",))
def set_memory(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    if "mblock" in a.props:
        (name,) = a.exact("ldom")
        blocks = parse_mblocks(a.props["mblock"])
        return notices(ctx.manager.set_memory(sum(b.size for b in blocks), name, mblocks=blocks))
    size, name = a.exact("size", "ldom")
    return notices(ctx.manager.set_memory(parse_memory_size(size), name))


def parse_mblocks(text: str) -> tuple[MemoryRange, ...]:
    """``0x108000000:1G,0x208000000:512M`` → physical blocks, in the order given."""
    blocks = []
    for part in text.split(","):
        pa, colon, size = part.partition(":")
        if not colon or not pa or not size:
            raise LdmError("bad-mblock", f"Invalid memory block: {part} (expected mblock=PA:size)")
        blocks.append(MemoryRange(parse_address(pa), parse_size(size)))
    return tuple(blocks)


def _bus(ctx: Context, text: str) -> str:
    """An I/O bus by name (``pci@400``) or by pseudonym (``pci_0``)."""
    buses = ctx.manager.machine.pci_buses
    if text.startswith("pci_") and text[4:].isdigit() and int(text[4:]) < len(buses):
        return buses[int(text[4:])]
    return text


@command("add-io", "add-io bus ldom", summary="give a PCIe bus to a domain (an I/O domain)")
def add_io(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    bus, name = Args(argv, spec).exact("bus", "ldom")
    return notices(ctx.manager.add_io(_bus(ctx, bus), name))


@command("remove-io", "remove-io bus ldom", aliases=("rm-io",), summary="take a PCIe bus from a domain")
def remove_io(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    bus, name = Args(argv, spec).exact("bus", "ldom")
    return notices(ctx.manager.remove_io(_bus(ctx, bus), name))


# -- variables and the simulated guest -----------------------------------------------------

@command("set-variable", "set-variable name=value... ldom", aliases=("set-var",), summary="set OBP variables",
         pairs_are_operands=True)
def set_variable(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    words = a.at_least("name=value", "ldom")
    *pairs, name = words
    if not pairs:
        raise a.error("Missing operand: name=value")
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise a.error(f"Invalid variable: {pair} (expected name=value)")
        values[key] = value
    return notices(ctx.manager.set_variable(name, **values))


@command("remove-variable", "remove-variable name... ldom", aliases=("rm-variable", "rm-var"),
         summary="remove OBP variables")
def remove_variable(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    *names, ldom = a.at_least("name", "ldom")
    return notices(ctx.manager.remove_variable(ldom, *names))


@command("set-guest", "set-guest [write-rate=size/s] [cpu-dr=on|off] [bound-processes=yes|no] "
         "[processor-sets=yes|no] ldom", summary="control the simulated guest OS",
         props=("write-rate", "cpu-dr", "bound-processes", "processor-sets"))
def set_guest(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    (name,) = a.exact("ldom")
    if not a.props:
        raise a.error("Nothing to set")
    settings: dict[str, object] = {}
    if "write-rate" in a.props:
        settings["write_rate"] = parse_rate(a.props["write-rate"])
    if "cpu-dr" in a.props:
        settings["cpu_dr"] = parse_switch(a.props["cpu-dr"], "cpu-dr", "on", "off")
    if "bound-processes" in a.props:
        settings["bound_processes"] = parse_switch(a.props["bound-processes"], "bound-processes", "yes", "no")
    if "processor-sets" in a.props:
        settings["processor_sets"] = parse_switch(a.props["processor-sets"], "processor-sets", "yes", "no")
    return notices(ctx.manager.set_guest(name, **settings))
