"""Typed readers of the ``ldm`` listings a console polls, from their ``-p`` output.

``list -l -p``, ``list-devices -a -p``, ``list-services -p``, ``list -o status -p`` and ``-V``.

Built on :mod:`ldtui.core.parseable`; every reader takes what any release prints and
ignores what it does not know. Sizes are bytes, as ``-p`` gives them.
"""

from __future__ import annotations

import re

import attrs

from ldtui.core.parseable import Block, ParseError, parse

FLAG_WORDS: dict[str, tuple[int, str]] = {
    "normal": (1, "n"), "control": (3, "c"), "vio-service": (4, "v"),
    "starting": (0, "s"), "stopping": (0, "s"),
    "transition": (1, "t"), "degraded": (1, "d"),
    "delayed-reconfig": (2, "d"), "delayed-reconfiguration": (2, "d"),
    "memory-dr": (2, "r"),
    "source": (5, "s"), "migration-source": (5, "s"),
    "target": (5, "t"), "migration-target": (5, "t"),
    "error": (5, "e"), "migration-error": (5, "e"),
}
"""Spelled-out flags (``flags=normal,control,vio-service``) → column and letter of the
six-letter form. Words are compared lower-cased with spaces and ``_`` read as ``-``
(``delayed reconfig`` and ``delayed_reconfig`` are ``delayed-reconfig``)."""

DOCUMENTED_FLAG_WORDS = frozenset({"normal", "control", "vio-service"})
"""The words Oracle's guides print in a ``-l -p`` listing. The others in
:data:`FLAG_WORDS` follow the guides' column descriptions (starting or stopping,
transition, degraded, delayed reconfiguration, memory dynamic reconfiguration, source,
target, error); docs/LDM-PARSEABLE.md says which is which."""

_COLUMN_LETTERS = ("s-", "ntd-", "dr-", "c-", "v-", "ste-")
"""What each of the six columns can hold in the letter form."""


def _word(text: str) -> str:
    return "-".join(text.strip().lower().replace("_", " ").split())


def _is_letter_form(text: str) -> bool:
    """``-n-cv-`` (or the five columns of 1.x): each column holds one of its letters or ``-``."""
    return (len(text) in (5, 6) and _word(text) not in FLAG_WORDS
            and all(c in allowed for c, allowed in zip(text, _COLUMN_LETTERS)))


def six_flags(text: str) -> str:
    """The six-letter ``FLAGS`` column from either form ``ldm`` prints. The five-letter
    column of the 1.x guides (``-t-cv``, before the migration column) gets a ``-`` for
    the sixth. Words this console does not know are left out rather than guessed; an
    empty value (an inactive domain in 3.x) is ``------``."""
    text = text.strip()
    if _is_letter_form(text):
        return text.ljust(6, "-")
    cols = ["-"] * 6
    for word in (_word(w) for w in text.split(",")):
        if word in FLAG_WORDS:
            col, letter = FLAG_WORDS[word]
            cols[col] = letter
    return "".join(cols)


def unknown_flag_words(text: str) -> list[str]:
    """The words of a spelled-out ``flags=`` value that :func:`six_flags` left out."""
    text = text.strip()
    if _is_letter_form(text):
        return []
    return [w for w in (_word(x) for x in text.split(",")) if w and w not in FLAG_WORDS]


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
    """Percent; ``None`` when the domain is not running (``util=`` empty)."""
    uptime: int | None
    """Seconds; ``None`` when the domain is not running."""
    block: Block = attrs.field(eq=False, repr=False)
    """Everything printed for the domain, its sections included."""
    uuid: str = ""
    """From the ``UUID|uuid=…`` record 3.x prints under the domain; empty when absent."""
    softstate: str = ""
    """``softstate=`` of the ``DOMAIN`` record (3.x: ``Solaris running``); empty when absent."""


def read_domains(text: str) -> list[ListedDomain]:
    """``ldm list -p`` or ``ldm list -l -p``: one value per domain, in the order printed."""
    parsed = parse(text, blocks=("DOMAIN",))
    out = []
    for b in parsed.of_kind("DOMAIN"):
        name = b.get("name")
        if not name:
            raise ParseError("a DOMAIN record without a name")
        uuid = next((r.get("uuid", "") for r in b.section("UUID") if r.get("uuid")), "")
        out.append(ListedDomain(
            name=name, state=b.get("state"), flags=six_flags(b.get("flags")), cons=b.get("cons"),
            ncpu=_int(b.get("ncpu"), 0) or 0, memory=_int(b.get("mem"), 0) or 0,
            util=_float(b.get("util")), uptime=_int(b.get("uptime")), block=b,
            uuid=uuid, softstate=b.get("softstate")))
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
    strands = [r for r in parsed.section("VCPU") if r.get("pid", "").strip()]
    free_strands = sum(1 for r in strands if (_int(_free(r)) or 0) >= 100)
    memory = [r for r in parsed.section("MEMORY") if r.get("size", "").strip()]
    maus = [r for r in parsed.section("MAU") if "cpuset" in r or "bound" in r]
    return Devices(
        strands_total=len(strands), strands_free=free_strands,
        memory_total=sum(_int(r.get("size"), 0) or 0 for r in memory),
        memory_free=sum(_int(r.get("size"), 0) or 0 for r in memory if not r.get("bound")),
        maus_total=len(maus), maus_free=sum(1 for r in maus if not r.get("bound")))


def _free(row) -> str | None:
    """A strand's ``free=`` percent (``%free=`` taken too); ``None`` when neither is printed."""
    for key in ("free", "%free"):
        if key in row:
            return row[key].rstrip("%")
    return None


@attrs.frozen(kw_only=True)
class Service:
    kind: str
    """``VCC``, ``VSW``, ``VDS``…"""
    name: str
    ldom: str
    fields: dict[str, str] = attrs.field(factory=dict, eq=False)
    rows: tuple[dict[str, str], ...] = attrs.field(default=(), eq=False)
    """The ``|…`` rows under the record: a ``VDS``'s volumes (``|vol=…|opts=…|dev=…``)."""


def read_services(text: str) -> list[Service]:
    """``ldm list-services -p``."""
    return [Service(kind=b.kind, name=b.get("name"), ldom=b.get("ldom"), fields=dict(b.fields),
                    rows=tuple(dict(r) for r in b.rows))
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
