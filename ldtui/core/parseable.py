"""The line format of ``ldm``'s machine-readable (``-p``) listings, LDoms 1.x to 3.x.

The layout is line based. ``VERSION x.y`` comes first. A line ``WORD|key=value|…`` is a
record of kind ``WORD``; a line that is one upper-case ``WORD`` opens a section; a line
``|key=value|…`` is a row of the section open above it (or of the record itself, as the
``|vol=…`` rows under a ``VDS|…`` record of ``list-services``). Which record kinds open a
block of their own (``DOMAIN`` in ``list -l -p``) is the caller's to say; any other record
inside a block is a section whose first row is the record's own fields (``UUID|uuid=…``,
``CONTROL|failure-policy=…``); ``|…`` rows right under such a record are rows of that same
section (``VDS|name=…`` then its ``|vol=…`` rows in ``list-constraints -p``).

Tolerant the way a parseable format asks: unknown fields, records and sections are kept
and never an error; a value may hold ``=`` (only the first one splits); blank lines and
trailing ``\\r`` are ignored. What cannot be read at all raises :class:`ParseError`
with the line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import attrs


class ParseError(ValueError):
    """Output that is not ``ldm -p`` output; ``str()`` names the line."""


@attrs.frozen(kw_only=True)
class Block:
    """One record and what belongs to it: its own rows, and its sections in order."""

    kind: str
    """``DOMAIN``, ``VCC``…; empty for sections that come before any record (``list-devices``)."""
    fields: Mapping[str, str] = attrs.field(factory=dict)
    rows: tuple[Mapping[str, str], ...] = ()
    """``|key=value`` lines right under the record, before any section or inner record."""
    sections: Mapping[str, tuple[Mapping[str, str], ...]] = attrs.field(factory=dict)
    """Section name → its rows. A section seen twice in one block keeps the rows of both."""

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)

    def section(self, name: str) -> tuple[Mapping[str, str], ...]:
        return self.sections.get(name, ())


@attrs.frozen(kw_only=True)
class Parsed:
    version: tuple[int, int] | None
    """``VERSION 1.3`` → ``(1, 3)``; ``None`` when the output has no version line."""
    blocks: tuple[Block, ...]

    def of_kind(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind]

    def section(self, name: str) -> tuple[Mapping[str, str], ...]:
        """Every row of section ``name``, across all blocks, in order."""
        return tuple(r for b in self.blocks for r in b.section(name))


def fields_of(text: str) -> dict[str, str]:
    """``key=value|key=value`` → a dict; an item without ``=`` is a key with no value."""
    out: dict[str, str] = {}
    for item in text.split("|"):
        if not item:
            continue
        key, _, value = item.partition("=")
        out[key.strip()] = value
    return out


_SECTION = re.compile(r"[A-Z][A-Z0-9_-]*\s*")


def _is_section_name(line: str) -> bool:
    """``VCPU``, ``MEMORY``, ``STATUS``: one upper-case word, not indented (an indented
    word is the human-readable listing's)."""
    return _SECTION.fullmatch(line) is not None


def parse(text: str, *, blocks: Collection[str] | None = None) -> Parsed:
    """Read one ``-p`` output. ``blocks``: the record kinds that open a block (``None``:
    every record does)."""
    version: tuple[int, int] | None = None
    out: list[_Building] = []
    current: _Building | None = None
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("VERSION"):
            version = _version(line, number)
            continue
        if line.startswith("|"):
            if current is None:
                current = _Building("")
                out.append(current)
            row = fields_of(line[1:])
            if section is None:
                current.rows.append(row)
            else:
                current.sections.setdefault(section, []).append(row)
            continue
        kind, bar, rest = line.partition("|")
        kind = kind.strip()
        if bar:
            if not kind or not kind.replace("_", "").replace("-", "").isalnum():
                raise ParseError(f"line {number}: not a record: {line!r}")
            opens = blocks is None or kind in blocks or current is None
            if opens:
                current = _Building(kind, fields_of(rest))
                out.append(current)
                section = None
            else:
                current.sections.setdefault(kind, []).append(fields_of(rest))
                section = kind
            continue
        if _is_section_name(line):
            if current is None:
                current = _Building("")
                out.append(current)
            section = line.strip()
            current.sections.setdefault(section, [])
            continue
        raise ParseError(f"line {number}: not ldm -p output: {line!r}")
    return Parsed(version=version, blocks=tuple(b.freeze() for b in out))


def _version(line: str, number: int) -> tuple[int, int]:
    word = line[len("VERSION"):].strip()
    major, _, minor = word.partition(".")
    if not major.isdigit() or not (minor.split(".")[0] or "0").isdigit():
        raise ParseError(f"line {number}: unreadable version: {line!r}")
    return int(major), int(minor.split(".")[0] or 0)


class _Building:
    def __init__(self, kind: str, fields: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.fields = fields or {}
        self.rows: list[dict[str, str]] = []
        self.sections: dict[str, list[dict[str, str]]] = {}

    def freeze(self) -> Block:
        return Block(kind=self.kind, fields=self.fields, rows=tuple(self.rows),
                     sections={k: tuple(v) for k, v in self.sections.items()})
