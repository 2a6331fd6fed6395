"""Subcommands for virtual I/O services and devices: vds/vdsdev/vdisk, vsw/vnet, vcc.

Operand syntax follows the synopses of the Logical Domains 1.2 guides."""

from __future__ import annotations

from ldtui.core.cmd_args import (
    Args,
    CommandSpec,
    Context,
    Output,
    command,
    parse_mac,
    parse_port_range,
    parse_volume,
)
from ldtui.core.cmd_domain import notices
from ldtui.core.errors import LdmError

VDSDEV_OPTIONS = ("ro", "slice", "excl")


def _vdsdev_options(text: str) -> str:
    """``options=ro,slice`` → ``"ro,slice"``; each option at most once, in ldm's order."""
    given = [o for o in text.split(",") if o]
    bad = [o for o in given if o not in VDSDEV_OPTIONS]
    if bad:
        raise LdmError("bad-option", f"Invalid vdsdev option: {bad[0]} (valid: {', '.join(VDSDEV_OPTIONS)})")
    return ",".join(o for o in VDSDEV_OPTIONS if o in given)


@command("add-vds", "add-vds service-name ldom", summary="add a virtual disk server")
def add_vds(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    service, ldom = Args(argv, spec).exact("service-name", "ldom")
    return notices(ctx.manager.add_vds(service, ldom))


@command("remove-vds", "remove-vds service-name", aliases=("rm-vds",), summary="remove a virtual disk server")
def remove_vds(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (service,) = Args(argv, spec).exact("service-name")
    return notices(ctx.manager.remove_vds(service))


@command("add-vdsdev", "add-vdsdev [options={ro,slice,excl}] backend volume-name@service-name",
         aliases=("add-vdiskserverdevice",), summary="export a backend as a volume", props=("options",))
def add_vdsdev(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    backend, target = a.exact("backend", "volume-name@service-name")
    volume, service = parse_volume(target)
    return notices(ctx.manager.add_vdsdev(backend, volume, service,
                                          options=_vdsdev_options(a.props.get("options", ""))))


@command("remove-vdsdev", "remove-vdsdev volume-name@service-name",
         aliases=("rm-vdsdev", "remove-vdiskserverdevice"), summary="remove an exported volume")
def remove_vdsdev(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (target,) = Args(argv, spec).exact("volume-name@service-name")
    volume, service = parse_volume(target)
    return notices(ctx.manager.remove_vdsdev(volume, service))


@command("add-vdisk", "add-vdisk [timeout=seconds] disk-name volume-name@service-name ldom",
         summary="give a domain a virtual disk", props=("timeout",))
def add_vdisk(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    disk, target, ldom = a.exact("disk-name", "volume-name@service-name", "ldom")
    volume, service = parse_volume(target)
    timeout = None
    if "timeout" in a.props:
        if not a.props["timeout"].isdigit():
            raise LdmError("bad-timeout", f"Invalid timeout: {a.props['timeout']} (expected seconds)")
        timeout = int(a.props["timeout"])
    return notices(ctx.manager.add_vdisk(disk, volume, service, ldom, timeout=timeout))


@command("remove-vdisk", "remove-vdisk disk-name ldom", aliases=("rm-vdisk",), summary="remove a virtual disk")
def remove_vdisk(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    disk, ldom = Args(argv, spec).exact("disk-name", "ldom")
    return notices(ctx.manager.remove_vdisk(disk, ldom))


@command("add-vsw", "add-vsw [mac-addr=num] [net-dev=device] [mode=sc] vswitch-name ldom",
         aliases=("add-vswitch",), summary="add a virtual switch", props=("mac-addr", "net-dev", "mode"))
def add_vsw(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    name, ldom = a.exact("vswitch-name", "ldom")
    mode = a.props.get("mode", "")
    if mode not in ("", "sc"):
        raise LdmError("bad-mode", f"Invalid vsw mode: {mode} (valid: sc)")
    return notices(ctx.manager.add_vsw(name, ldom, mac=parse_mac(a.props.get("mac-addr")),
                                       net_dev=a.props.get("net-dev", ""), mode=mode))


@command("remove-vsw", "remove-vsw vswitch-name", aliases=("rm-vsw",), summary="remove a virtual switch")
def remove_vsw(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (name,) = Args(argv, spec).exact("vswitch-name")
    return notices(ctx.manager.remove_vsw(name))


@command("add-vnet", "add-vnet [mac-addr=num] [mode=hybrid] if-name vswitch-name ldom",
         summary="give a domain a virtual network device", props=("mac-addr", "mode"))
def add_vnet(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    ifname, switch, ldom = a.exact("if-name", "vswitch-name", "ldom")
    mode = a.props.get("mode", "")
    if mode not in ("", "hybrid"):
        raise LdmError("bad-mode", f"Invalid vnet mode: {mode} (valid: hybrid)")
    return notices(ctx.manager.add_vnet(ifname, switch, ldom, mac=parse_mac(a.props.get("mac-addr")), mode=mode))


@command("remove-vnet", "remove-vnet if-name ldom", aliases=("rm-vnet",), summary="remove a virtual network device")
def remove_vnet(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    ifname, ldom = Args(argv, spec).exact("if-name", "ldom")
    return notices(ctx.manager.remove_vnet(ifname, ldom))


@command("add-vcc", "add-vcc port-range=x-y vcc-name ldom", aliases=("add-vconscon",),
         summary="add a virtual console concentrator", props=("port-range",))
def add_vcc(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    name, ldom = a.exact("vcc-name", "ldom")
    if "port-range" not in a.props:
        raise a.error("Missing property: port-range=x-y")
    low, high = parse_port_range(a.props["port-range"])
    return notices(ctx.manager.add_vcc(name, ldom, low, high))


@command("remove-vcc", "remove-vcc vcc-name", aliases=("rm-vcc",), summary="remove a virtual console concentrator")
def remove_vcc(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    (name,) = Args(argv, spec).exact("vcc-name")
    return notices(ctx.manager.remove_vcc(name))
