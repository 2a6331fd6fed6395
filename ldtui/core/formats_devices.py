"""``ldm list-devices [-a] [-p] [cpu|crypto|memory|io]`` and ``ldm list-services``.

Without ``-a`` only free resources are shown (the 1.2 guide's ``list-devices memory``
example); ``-a`` shows every resource and who holds it — ``_sys_`` for memory the hypervisor
keeps. A class with nothing to show is left out, as ldm does.
"""

from __future__ import annotations

from collections.abc import Sequence

from ldtui.core.formats import PARSEABLE_VERSION, ListingView, lines_text, row
from ldtui.core.formats_sections import cpuset_parseable, cpuset_text, vsw_mode
from ldtui.core.units import format_size

DEVICE_CLASSES = ("cpu", "crypto", "memory", "io")
DEVICE_ALIASES = {"cpu": "cpu", "vcpu": "cpu", "crypto": "crypto", "mau": "crypto", "memory": "memory",
                  "mem": "memory", "io": "io"}

SYS = "_sys_"


def _holders(view: ListingView) -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    """Who holds each crypto unit, and every held memory range as ``(pa, size, holder)``."""
    maus: dict[int, str] = {}
    blocks: list[tuple[int, int, str]] = [(r.pa, r.size, SYS) for r in view.machine.reserved]
    for d in view.domains():
        b = d.bindings
        if b is None:
            continue
        for m in b.maus:
            maus[m] = d.name
        blocks += [(blk.pa, blk.size, d.name) for blk in b.blocks]
    return maus, blocks


def _device_lines(view: ListingView, classes: Sequence[str], *, all_: bool, parseable: bool) -> list[str]:
    mau_owner, blocks = _holders(view) if all_ else ({}, [])
    free_strands = set(view.free_strands())
    free_maus = set(view.free_maus())
    free_io = set(view.free_io())
    free_mem = [(r.pa, r.size, "") for r in view.free_memory()]
    out: list[str] = []

    def emit(title: str, header: str, rows: list[str], prows: list[str]) -> None:
        if rows:
            out.extend([title, *prows] if parseable else [title, header, *rows])

    for cls in classes:
        if cls == "cpu":
            pids = range(view.machine.strands) if all_ else sorted(free_strands)
            rows, prows = [], []
            for pid in pids:
                free = pid in free_strands
                # The 1.2 guide's power-management column: NO on a bound strand, --- on a free one.
                pct, pm = ("100", "---") if free else ("0", "NO")
                rows.append(row((f"    {pid}", 12), (pct, 7), (pm, 0)))
                prows.append(f"|pid={pid}|free={pct}|pm={'no' if not free else ''}")
            emit("VCPU", "    PID  %FREE     PM", rows, prows)
        elif cls == "crypto":
            ids = range(view.machine.maus) if all_ else sorted(free_maus)
            # At least one space before BOUND, even for a 40-character cpuset like (248, …, 255).
            rows = [f"    {cpuset_text(view, m):<39} {mau_owner.get(m, '')}".rstrip() if all_
                    else f"    {cpuset_text(view, m)}" for m in ids]
            prows = [f"|cpuset={cpuset_parseable(view, m)}" + (f"|bound={mau_owner.get(m, '')}" if all_ else "")
                     for m in ids]
            header = "    CPUSET                                  BOUND" if all_ else "    CPUSET"
            emit("MAU", header, rows, prows)
        elif cls == "memory":
            ranges = sorted(blocks + free_mem) if all_ else sorted(free_mem)
            if all_:
                rows = [row((f"    {hex(pa)}", 25), (format_size(size), 16), (who, 0)) for pa, size, who in ranges]
                prows = [f"|pa={hex(pa)}|size={size}|bound={who}" for pa, size, who in ranges]
                emit("MEMORY", "    PA                   SIZE            BOUND", rows, prows)
            else:
                rows = [row((f"    {hex(pa)}", 25), (format_size(size), 0)) for pa, size, _ in ranges]
                prows = [f"|pa={hex(pa)}|size={size}" for pa, size, _ in ranges]
                emit("MEMORY", "    PA                   SIZE", rows, prows)
        elif cls == "io":
            buses = view.machine.pci_buses if all_ else [b for b in view.machine.pci_buses if b in free_io]
            rows, prows = [], []
            for bus in buses:
                alias = view.machine.pseudonym(bus)
                if all_:
                    bound = "no" if bus in free_io else "yes"
                    rows.append(row((f"    {bus}", 21), (alias, 17), (bound, 0)))
                    prows.append(f"|dev={bus}|alias={alias}|bound={bound}")
                else:
                    rows.append(row((f"    {bus}", 21), (alias, 0)))
                    prows.append(f"|dev={bus}|alias={alias}")
            header = ("    DEVICE           PSEUDONYM        BOUND   OPTIONS" if all_
                      else "    DEVICE           PSEUDONYM")
            emit("IO", header, rows, prows)
        else:  # the command layer validates classes; reaching here is a bug
            raise ValueError(f"unknown device class {cls!r}")
    return out


def list_devices(view: ListingView, classes: Sequence[str] = DEVICE_CLASSES, *, all_: bool = False) -> str:
    return lines_text(_device_lines(view, classes, all_=all_, parseable=False))


def list_devices_parseable(view: ListingView, classes: Sequence[str] = DEVICE_CLASSES, *, all_: bool = False) -> str:
    return lines_text([PARSEABLE_VERSION, *_device_lines(view, classes, all_=all_, parseable=True)])


# -- ldm list-services ---------------------------------------------------------------------

def _services(view: ListingView, kind: str, ldom: str | None) -> list:
    return [s for s in view.services(kind) if ldom is None or s.ldom == ldom]


def list_services(view: ListingView, *, ldom: str | None = None) -> str:
    """``ldm list-services [ldom]``: every service, or those the named domain provides."""
    out: list[str] = []
    vccs = _services(view, "vcc", ldom)
    if vccs:
        out += ["VCC", "    NAME             LDOM             PORT-RANGE"]
        out += [row((f"    {s.name}", 21), (s.ldom, 17), (f"{s.port_start}-{s.port_end}", 0)) for s in vccs]
    vsws = _services(view, "vsw", ldom)
    if vsws:
        out += ["VSW", "    NAME             LDOM             MAC               NET-DEV   DEVICE     MODE"]
        out += [row((f"    {s.name}", 21), (s.ldom, 17), (s.mac, 18), (s.net_dev, 10), (f"switch@{s.id}", 11),
                    (vsw_mode(s), 0)) for s in vsws]
    vdss = _services(view, "vds", ldom)
    if vdss:
        out += ["VDS", "    NAME             LDOM             VOLUME         OPTIONS          DEVICE"]
        for s in vdss:
            if not s.volumes:
                out.append(row((f"    {s.name}", 21), (s.ldom, 0)))
            for i, vol in enumerate(s.volumes):
                first = i == 0
                out.append(row((f"    {s.name}" if first else "", 21), (s.ldom if first else "", 17),
                               (vol.name, 15), (vol.options, 17), (vol.device, 0)))
    return lines_text(out)


def list_services_parseable(view: ListingView, *, ldom: str | None = None) -> str:
    out = [PARSEABLE_VERSION]
    out += [f"VCC|name={s.name}|ldom={s.ldom}|port-range={s.port_start}-{s.port_end}"
            for s in _services(view, "vcc", ldom)]
    out += [f"VSW|name={s.name}|ldom={s.ldom}|mac-addr={s.mac}|net-dev={s.net_dev}|dev=switch@{s.id}"
            f"|mode={vsw_mode(s)}" for s in _services(view, "vsw", ldom)]
    for s in _services(view, "vds", ldom):
        out.append(f"VDS|name={s.name}|ldom={s.ldom}")
        out += [f"|vol={v.name}|opts={v.options}|dev={v.device}" for v in s.volumes]
    return lines_text(out)
