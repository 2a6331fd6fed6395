"""What each ``ldm`` listing a console polls says, as values: ``list -l -p``,
``list-devices -a -p``, ``list-services -p``, ``list -o status -p`` and ``-V``.

Built on :mod:`ldtui.core.parseable`; every reader takes what any release prints and
ignores what it does not know. Sizes are bytes, as ``-p`` gives them.
"""

from __future__ import annotations

import re

import attrs

from ldtui.core.parseable import Block, ParseError, parse

FLAG_WORDS: dict[str, tuple[int, str]] = {
    "starting": (0, "s"), "stopping": (0, "s"),
    "normal": (1, "n"), "transition": (1, "t"), "degraded": (1, "d"),
    "delayed-reconfig": (2, "d"), "delayed_reconfig": (2, "d"), "delayed-reconfiguration": (2, "d"),
    "memory-dr": (2, "r"),
    "control": (3, "c"),
    "vio-service": (4, "v"), "service": (4, "v"),
    "source": (5, "s"), "migration-source": (5, "s"),
    "target": (5, "t"), "migration-target": (5, "t"),
    "error": (5, "e"), "migration-error": (5, "e"),
}
"""Spelled-out flags (``flags=normal,control,vio-service``) → column and letter of the
six-letter form."""


def six_flags(text: str) -> str:
    """The six-letter ``FLAGS`` column from either form ``ldm`` prints. Words this console
    does not know are left out rather than guessed."""
    text = text.strip()
    if len(text) == 6 and "," not in text and all(c == "-" or c.isalpha() for c in text) and text.lower() not in FLAG_WORDS:
        return text
    cols = ["-"] * 6
    for word in (w.strip().lower() for w in text.split(",")):
        if word in FLAG_WORDS:
            col, letter = FLAG_WORDS[word]
            cols[col] = letter
    return "".join(cols)


def _int(text: str | None, default: int | None = None) -> int | None:
    if text is None:
        return default
    text = text.strip()
    if not text:
        return default
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(float(text))
    except ValueError:
        return default


def _float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return None


@attrs.frozen(kw_only=True)
class ListedDomain:
    name: str
    state: str
    flags: str
    """Six letters, whichever form the host printed."""
    cons: str
    ncpu: int
    memory: int
    util: float | None
    uptime: int | None
    block: Block = attrs.field(eq=False, repr=False)
    """Everything printed for the domain, its sections included."""


def read_domains(text: str) -> list[ListedDomain]:
    """``ldm list -p`` or ``ldm list -l -p``: one value per domain, in the order printed."""
    parsed = parse(text, blocks=("DOMAIN",))
    out = []
    for b in parsed.of_kind("DOMAIN"):
        name = b.get("name")
        if not name:
            raise ParseError("a DOMAIN record without a name")
        out.append(ListedDomain(
            name=name, state=b.get("state"), flags=six_flags(b.get("flags")), cons=b.get("cons"),
            ncpu=_int(b.get("ncpu"), 0) or 0, memory=_int(b.get("mem"), 0) or 0,
            util=_float(b.get("util")), uptime=_int(b.get("uptime")), block=b))
    return out


@attrs.frozen(kw_only=True)
class Devices:
    strands_total: int
    strands_free: int
    memory_total: int
    """Every range of the host's memory, the hypervisor's own (``_sys_``) included."""
    memory_free: int
    maus_total: int
    maus_free: int


def read_devices(text: str) -> Devices:
    """``ldm list-devices -a -p``."""
    parsed = parse(text, blocks=())
    strands = parsed.section("VCPU")
    free_strands = sum(1 for r in strands if (_int(r.get("free", r.get("%free"))) or 0) >= 100)
    memory = parsed.section("MEMORY")
    maus = parsed.section("MAU")
    return Devices(
        strands_total=len(strands), strands_free=free_strands,
        memory_total=sum(_int(r.get("size"), 0) or 0 for r in memory),
        memory_free=sum(_int(r.get("size"), 0) or 0 for r in memory if not r.get("bound")),
        maus_total=len(maus), maus_free=sum(1 for r in maus if not r.get("bound")))


@attrs.frozen(kw_only=True)
class Service:
    kind: str
    """``VCC``, ``VSW``, ``VDS``…"""
    name: str
    ldom: str
    fields: dict[str, str] = attrs.field(factory=dict, eq=False)


def read_services(text: str) -> list[Service]:
    """``ldm list-services -p``."""
    return [Service(kind=b.kind, name=b.get("name"), ldom=b.get("ldom"), fields=dict(b.fields))
            for b in parse(text).blocks if b.kind and b.get("name")]


@attrs.frozen(kw_only=True)
class DomainStatus:
    """A domain's ``STATUS`` row while an operation runs on it."""

    domain: str
    operation: str
    progress: int
    error: bool
    target: str = ""
    """The target host, on the source side."""
    source: str = ""
    """The source host, on the target side."""
    fields: dict[str, str] = attrs.field(factory=dict, eq=False)
    """Every field printed, the ones this console does not read included."""


def read_status(text: str) -> dict[str, DomainStatus]:
    """``ldm list -o status -p``: domain name → its running operation (domains with none
    are left out)."""
    out: dict[str, DomainStatus] = {}
    for b in parse(text, blocks=("DOMAIN",)).of_kind("DOMAIN"):
        for r in (*b.section("STATUS"), *b.rows):
            op = r.get("op", "")
            if not op:
                continue
            out[b.get("name")] = DomainStatus(
                domain=b.get("name"), operation=op, progress=max(0, min(100, _int(r.get("progress", "").rstrip("%"), 0) or 0)),
                error=r.get("error", "no").strip().lower() in ("yes", "true", "1"),
                target=r.get("target", ""), source=r.get("source", ""), fields=dict(r))
            break
    return out


_VERSION = re.compile(r"\(v(?:ersion)?\s*([0-9][0-9A-Za-z.,_-]*)\)")


def read_version(text: str) -> str:
    """``ldm -V`` → the manager's version (``1.2``, ``3.4.0.3.6``); empty when the banner
    does not say."""
    for line in text.splitlines():
        if "Logical Domain" in line or "Manager" in line:
            m = _VERSION.search(line)
            if m:
                return m.group(1).rstrip(".,")
    return ""
