"""The sections of ``ldm list -l`` / ``-e`` / ``-o`` for one domain.

A :class:`Section` carries both renderings — the aligned text an operator reads and the
``|key=value`` lines of ``-p`` — so the long listing, the ``-o`` formats and
``list-constraints`` assemble the same facts in the same words.
"""

from __future__ import annotations

import attrs

from ldtui.core.formats import ListingView, format_util, parseable_util, row, shows_runtime
from ldtui.core.model import Domain, DomainState, MigrationRole, VDisk, VNet
from ldtui.core.units import format_size


@attrs.frozen
class Section:
    """One titled block: ``title``, an optional column header, rows; and its ``-p`` lines."""

    title: str
    header: str | None
    rows: tuple[str, ...]
    prows: tuple[str, ...]

    def lines(self) -> list[str]:
        return [self.title, *([self.header] if self.header else []), *self.rows]

    def parseable(self) -> list[str]:
        return [self.title, *self.prows]

    @property
    def empty(self) -> bool:
        return not self.rows


def cpuset_text(view: ListingView, mau: int) -> str:
    """``(0, 1, 2, 3)``: the strands a crypto unit serves (the one on their core)."""
    return "(" + ", ".join(str(s) for s in view.machine.strands_of_core(mau)) + ")"


def cpuset_parseable(view: ListingView, mau: int) -> str:
    return ",".join(str(s) for s in view.machine.strands_of_core(mau))


def _service_owner(view: ListingView, kind: str, name: str) -> str | None:
    svc = next((s for s in view.services(kind) if s.name == name), None)
    return svc.ldom if svc is not None else None


# -- runtime (bindings) --------------------------------------------------------------------

def vcpu_section(view: ListingView, d: Domain) -> Section:
    strands = d.bindings.strands if d.bindings is not None else ()
    util = view.util(d) if shows_runtime(d) else None
    util_text = format_util(util) if util is not None else ""
    util_p = parseable_util(util) if util is not None else ""
    rows = tuple(f"    {str(vid):<7}{str(pid):<7}{util_text:<4} {'100%':>6}" for vid, pid in enumerate(strands))
    prows = tuple(f"|vid={vid}|pid={pid}|util={util_p}|strand=100" for vid, pid in enumerate(strands))
    return Section("VCPU", f"    {'VID':<7}{'PID':<7}{'UTIL':<4} {'STRAND':>6}", rows, prows)


def mau_section(view: ListingView, d: Domain) -> Section:
    maus = d.bindings.maus if d.bindings is not None else ()
    rows = tuple(row(("    " + str(m), 11), (cpuset_text(view, m), 0)) for m in maus)
    prows = tuple(f"|id={m}|cpuset={cpuset_parseable(view, m)}" for m in maus)
    return Section("MAU", "    ID     CPUSET", rows, prows)


def memory_section(d: Domain) -> Section:
    blocks = d.bindings.blocks if d.bindings is not None else ()
    rows = tuple(row(("    " + hex(b.ra), 21), (hex(b.pa), 17), (format_size(b.size), 0)) for b in blocks)
    prows = tuple(f"|ra={hex(b.ra)}|pa={hex(b.pa)}|size={b.size}" for b in blocks)
    return Section("MEMORY", row(("    RA", 21), ("PA", 17), ("SIZE", 0)), rows, prows)


def io_section(view: ListingView, d: Domain) -> Section:
    buses = d.bindings.io if d.bindings is not None else d.constraints.io
    rows, prows = [], []
    for bus in buses:
        alias = view.machine.pseudonym(bus) if bus in view.machine.pci_buses else ""
        rows.append(row(("    " + bus, 21), (alias, 0)))
        prows.append(f"|dev={bus}|alias={alias}")
    return Section("IO", "    DEVICE           PSEUDONYM        OPTIONS", tuple(rows), tuple(prows))


def vcons_section(view: ListingView, d: Domain) -> Section:
    if d.control:
        return Section("VCONS", "    NAME             SERVICE                     PORT", ("    SP",), ("|type=SP",))
    b = d.bindings
    if b is None or b.console_port is None:
        return Section("VCONS", "    NAME             SERVICE                     PORT", (), ())
    service = b.console_service or ""
    owner = _service_owner(view, "vcc", service) if service else None
    where = f"{service}@{owner}" if owner else service
    return Section("VCONS", "    NAME             SERVICE                     PORT",
                   (row(("    " + d.name, 21), (where, 28), (str(b.console_port), 0)),),
                   (f"|group={d.name}|service={where}|port={b.console_port}",))


# -- configuration (constraints) -----------------------------------------------------------

def variables_section(variables: dict[str, str]) -> Section:
    items = tuple(f"{k}={v}" for k, v in variables.items())
    return Section("VARIABLES", None, tuple("    " + i for i in items), tuple("|" + i for i in items))


def network_section(view: ListingView, vnets: list[VNet]) -> Section:
    # MODE only when some vnet asked for NIU hybrid I/O: the 1.2 layout has four columns.
    with_mode = any(v.mode for v in vnets)
    header = row(("    NAME", 21), ("SERVICE", 28), ("DEVICE", 11), ("MAC", 18 if with_mode else 0),
                 ("MODE" if with_mode else "", 0))
    rows, prows = [], []
    for v in vnets:
        owner = _service_owner(view, "vsw", v.switch)
        service = f"{v.switch}@{owner}" if owner else v.switch
        cells = [("    " + v.name, 21), (service, 28), (f"network@{v.id}", 11), (v.mac, 18 if with_mode else 0)]
        if with_mode:
            cells.append((v.mode, 0))
        rows.append(row(*cells))
        prows.append(f"|name={v.name}|dev=network@{v.id}|service={service}|mac-addr={v.mac}|mode={v.mode}")
    return Section("NETWORK", header, tuple(rows), tuple(prows))


def disk_section(view: ListingView, vdisks: list[VDisk]) -> Section:
    rows, prows = [], []
    for disk in vdisks:
        volume = f"{disk.volume}@{disk.service}"
        server = _service_owner(view, "vds", disk.service) or ""
        tout = "" if disk.timeout is None else str(disk.timeout)
        rows.append(row(("    " + disk.name, 21), (volume, 28), (tout, 5), (f"disk@{disk.id}", 8), (server, 0)))
        prows.append(f"|name={disk.name}|vol={volume}|timeout={tout}|dev=disk@{disk.id}|server={server}")
    return Section("DISK", "    NAME             VOLUME                      TOUT DEVICE  SERVER",
                   tuple(rows), tuple(prows))


# -- services this domain provides ---------------------------------------------------------

def vcc_section(view: ListingView, d: Domain) -> Section:
    vccs = [s for s in view.services("vcc") if s.ldom == d.name]
    return Section("VCC", "    NAME             PORT-RANGE",
                   tuple(row(("    " + s.name, 21), (f"{s.port_start}-{s.port_end}", 0)) for s in vccs),
                   tuple(f"|name={s.name}|port-range={s.port_start}-{s.port_end}" for s in vccs))


def vsw_mode(vsw) -> str:
    """The switch device's mode as the guides print it; ``sc`` (SunCluster) is added to it."""
    return "prog,promisc" + (f",{vsw.mode}" if vsw.mode else "")


def vsw_section(view: ListingView, d: Domain) -> Section:
    vsws = [s for s in view.services("vsw") if s.ldom == d.name]
    rows = tuple(row(("    " + s.name, 21), (s.mac, 18), (s.net_dev, 10), (f"switch@{s.id}", 11), (vsw_mode(s), 0))
                 for s in vsws)
    prows = tuple(f"|name={s.name}|mac-addr={s.mac}|net-dev={s.net_dev}|dev=switch@{s.id}|mode={vsw_mode(s)}"
                  for s in vsws)
    return Section("VSW", "    NAME             MAC               NET-DEV   DEVICE     MODE", rows, prows)


def vds_section(view: ListingView, d: Domain) -> Section:
    rows, prows = [], []
    for s in (s for s in view.services("vds") if s.ldom == d.name):
        prows.append(f"|name={s.name}")
        if not s.volumes:
            rows.append("    " + s.name)
        for i, vol in enumerate(s.volumes):
            rows.append(row(("    " + (s.name if i == 0 else ""), 21), (vol.name, 15), (vol.options, 17),
                            (vol.device, 0)))
            prows.append(f"|vol={vol.name}|opts={vol.options}|dev={vol.device}")
    return Section("VDS", "    NAME             VOLUME         OPTIONS          DEVICE", tuple(rows), tuple(prows))


# -- extended (-e) and status --------------------------------------------------------------

def extended_sections(d: Domain) -> list[Section]:
    """``SOFTSTATE``, ``MAC``, ``HOSTID``, ``CONTROL``, ``DEPENDENCY`` (``ldm list -e``)."""
    soft = {DomainState.ACTIVE: "Solaris running", DomainState.SUSPENDED: "Solaris suspended"}.get(d.state)
    out = []
    if soft:
        out.append(Section("SOFTSTATE", None, (soft,), ("|" + soft,)))
    if d.mac:
        out.append(Section("MAC", None, ("    " + d.mac,), (f"|mac-addr={d.mac}",)))
    if d.hostid:
        out.append(Section("HOSTID", None, ("    " + d.hostid,), (f"|hostid={d.hostid}",)))
    out.append(Section("CONTROL", None, ("    failure-policy=ignore",), ("|failure-policy=ignore",)))
    out.append(Section("DEPENDENCY", None, ("    master=",), ("|master=",)))
    return out


def status_section(d: Domain, job=None) -> Section:
    """The ``STATUS`` section, as the Logical Domains 1.2 guide's migration examples show it.

    A domain that is not migrating has no operation row.

    The source side (and a source left in the error state ``e``) names the TARGET host; the
    target side names the SOURCE host. ``job`` (the running ``MigrationProgress``) adds the
    detail lines and fields of ``core.migration.status`` after the guide's: progress detail
    as ``virsh domjobinfo`` gives it.
    """
    m = d.migration
    if m is None or m.role is MigrationRole.NONE:
        return Section("STATUS", None, (), ())
    peer_column = "SOURCE" if m.role is MigrationRole.TARGET else "TARGET"
    error = m.error or m.role is MigrationRole.ERROR
    progress = max(0, min(100, int(m.progress)))
    rows, extra = (), ""
    if job is not None:
        from ldtui.core.migration.status import detail_fields, detail_rows
        rows, extra = detail_rows(job), detail_fields(job)
    elif error:
        from ldtui.core.migration.status import error_fields, error_rows
        rows, extra = error_rows(d.name, m), error_fields(m)
    return Section("STATUS", row(("    OPERATION", 17), ("PROGRESS", 12), (peer_column, 0)),
                   (row(("    migration", 17), (f"{progress}%", 12), (m.peer_host, 0)), *rows),
                   (f"|op=migration|progress={progress}|error={'yes' if error else 'no'}"
                    f"|{peer_column.lower()}={m.peer_host}{extra}",))
