"""The read-only subcommands: ``list-domain``, the other ``list-*`` and ``guest-info``.

They need only ``solaris.ldoms.read``; ``guest-info`` reports on the simulated guest without
changing it."""

from __future__ import annotations

from ldtui.core.cmd_args import Args, CommandSpec, Context, Output, read_command
from ldtui.core.errors import LdmError
from ldtui.core.formats import list_domains, list_domains_parseable
from ldtui.core.formats_completed import list_completed, list_completed_parseable
from ldtui.core.formats_devices import (
    DEVICE_ALIASES,
    DEVICE_CLASSES,
    list_devices,
    list_devices_parseable,
    list_services,
    list_services_parseable,
)
from ldtui.core.formats_long import (
    list_constraints,
    list_constraints_parseable,
    list_formats,
    list_formats_parseable,
    list_long,
    list_long_parseable,
    parse_formats,
)


def _domains(ctx: Context, names: list[str]) -> list:
    """The named domains in the order given (each must exist), or every domain."""
    if not names:
        return ctx.manager.domains()
    return [ctx.manager.domain(n) for n in dict.fromkeys(names)]


@read_command("list-domain", "list-domain [-e] [-l] [-o format[,format]] [-p] [ldom...]",
              "list-domain -o status --completed [-p] [ldom...]",
              aliases=("list", "ls", "list-dom", "ls-dom"), summary="list domains",
              notes=("formats: console, cpu, crypto, disk, domain, memory, network, physio, serial, status",
                     "-e gives the long listing with extras; -o cannot be combined with -l or -e",
                     "--completed: the figures of each domain's last finished migration to or from",
                     "this host (kept until that domain migrates again)"),
              flags="elp", valued="o", long=("completed",))
def list_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    formats = parse_formats(a.values["o"]) if "o" in a.values else None
    if formats is not None and a.flags & {"l", "e"}:
        raise a.error("Option -o cannot be combined with -l or -e")
    parseable = "p" in a.flags
    if "completed" in a.flags:
        if formats != ("status",) or a.flags & {"l", "e"}:
            raise a.error("Option --completed goes only with -o status")
        view = list_completed_parseable if parseable else list_completed
        return Output(view(ctx.manager, a.operands))
    domains = _domains(ctx, a.operands)
    if formats is not None:
        view = list_formats_parseable if parseable else list_formats
        return Output(view(ctx.manager, domains, formats))
    if a.flags & {"l", "e"}:
        view = list_long_parseable if parseable else list_long
        return Output(view(ctx.manager, domains, extended="e" in a.flags))
    view = list_domains_parseable if parseable else list_domains
    return Output(view(ctx.manager, domains))


@read_command("list-bindings", "list-bindings [-e] [-p] [ldom...]", aliases=("ls-bindings",),
              summary="list what each domain has bound", flags="ep")
def list_bindings(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    domains = _domains(ctx, a.operands)
    view = list_long_parseable if "p" in a.flags else list_long
    return Output(view(ctx.manager, domains, extended="e" in a.flags))


@read_command("list-constraints", "list-constraints [-p] [ldom...]", aliases=("ls-constraints",),
              summary="list what each domain was configured with", flags="p")
def list_constraints_cmd(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    domains = _domains(ctx, a.operands)
    view = list_constraints_parseable if "p" in a.flags else list_constraints
    return Output(view(ctx.manager, domains))


@read_command("list-devices", "list-devices [-a] [-p] [cpu | crypto | memory | io]",
              aliases=("ls-devices", "list-dev", "ls-dev"), summary="list free (-a: all) resources", flags="ap")
def list_devices_cmd(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    classes = []
    for word in a.operands:
        cls = DEVICE_ALIASES.get(word)
        if cls is None:
            raise a.error(f"Invalid device class: {word}")
        classes.append(cls)
    # Always in ldm's order, whatever order they were asked for in.
    classes = [c for c in DEVICE_CLASSES if c in classes] or list(DEVICE_CLASSES)
    view = list_devices_parseable if "p" in a.flags else list_devices
    return Output(view(ctx.manager, classes, all_="a" in a.flags))


@read_command("list-services", "list-services [-p] [ldom]", aliases=("ls-services",),
              summary="list virtual I/O services", flags="p")
def list_services_cmd(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    if len(a.operands) > 1:
        raise a.error(f"Unexpected operand: {a.operands[1]}")
    ldom = ctx.manager.domain(a.operands[0]).name if a.operands else None
    view = list_services_parseable if "p" in a.flags else list_services
    return Output(view(ctx.manager, ldom=ldom))


@read_command("guest-info", "guest-info ldom", summary="show the simulated guest's counter and memory digest")
def guest_info(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (name,) = Args(argv, spec).exact("ldom")
    info = ctx.manager.guest_info(name)
    keys = ("counter", "digest", "write_rate", "run_state", "generation")
    missing = [k for k in keys if k not in info]
    if missing:
        raise LdmError("guest-info", f"Guest information of LDom {name} is incomplete: {', '.join(missing)}")
    lines = [f"{k.replace('_', '-')}={info[k]}" for k in keys]
    return Output("".join(line + "\n" for line in lines))
