"""How ``ldm`` reads a command line: subcommands, options, properties and operands.

The subcommand table, options, ``key=value`` properties and the operand checks every
subcommand shares.

A subcommand is declared once with :func:`command` — its name, the aliases operators type,
its synopsis (printed as its usage) and the authorization it needs (``solaris.ldoms.read``
to list, ``solaris.ldoms.write`` to change anything).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ldtui.core.errors import LdmError, UsageError
from ldtui.core.model import READ, WRITE
from ldtui.core.units import parse_size


@attrs.frozen
class Output:
    """What a subcommand hands back: text for stdout and, for migrations, a request."""

    stdout: str = ""
    request: Any = None


@attrs.frozen
class Context:
    manager: Any
    user: str
    password: str | None = attrs.field(default=None, repr=False)
    read_file: Callable[[str], str | bytes] | None = None


@attrs.frozen
class Options:
    """What a subcommand accepts besides operands (see :class:`Args`): declared once with
    the subcommand, so its usage, the man page and shell completion can be checked
    against what it really takes."""

    flags: str = ""
    valued: str = ""
    long: tuple[str, ...] = ()
    long_valued: tuple[str, ...] = ()
    props: tuple[str, ...] = ()
    pairs_are_operands: bool = False

    def words(self) -> tuple[str, ...]:
        """Every option as typed: ``-e``, ``-o``, ``--live``, ``--streams``, ``mblock=``."""
        return (*(f"-{c}" for c in self.flags + self.valued), *(f"--{w}" for w in self.long + self.long_valued),
                *(f"{p}=" for p in self.props))


@attrs.frozen
class CommandSpec:
    name: str
    synopses: tuple[str, ...]
    aliases: tuple[str, ...]
    auth: str
    handler: Callable[[Context, list[str], CommandSpec], Output]
    summary: str
    notes: tuple[str, ...] = ()
    options: Options = Options()

    @property
    def usage(self) -> str:
        lines = ["Usage:", *(f"    ldm {s}" for s in self.synopses), *(f"    {n}" for n in self.notes)]
        return "\n".join(lines)


COMMANDS: dict[str, CommandSpec] = {}
"""Every subcommand by its name and by each alias."""
ORDERED: list[CommandSpec] = []


def command(name: str, *synopses: str, aliases: Iterable[str] = (), auth: str = WRITE, summary: str = "",
            notes: Iterable[str] = (), flags: str = "", valued: str = "", long: Iterable[str] = (),
            long_valued: Iterable[str] = (), props: Iterable[str] = (), pairs_are_operands: bool = False):
    """Declare a subcommand; ``synopses`` are the usage lines, without the leading ``ldm``;
    ``notes`` are explanations printed under them; the options are those of :class:`Args`,
    and every one of them appears in a synopsis (a test holds each subcommand to that)."""
    options = Options(flags, valued, tuple(long), tuple(long_valued), tuple(props), pairs_are_operands)

    def register(fn):
        spec = CommandSpec(name, tuple(synopses), tuple(aliases), auth, fn, summary, tuple(notes), options)
        for key in (name, *spec.aliases):
            if key in COMMANDS:
                raise ValueError(f"subcommand {key} declared twice")
            COMMANDS[key] = spec
        ORDERED.append(spec)
        return fn

    return register


def read_command(name: str, *synopses: str, aliases: Iterable[str] = (), summary: str = "",
                 notes: Iterable[str] = (), **options):
    return command(name, *synopses, aliases=aliases, auth=READ, summary=summary, notes=notes, **options)


class Args:
    """One subcommand's arguments, read as its :class:`Options` say: flag letters, valued
    options, properties, operands.

    ``flags`` are single letters (``"elp"``; ``-lp`` combines them); ``valued`` letters take
    the next word (``-o memory`` or ``-omemory``); ``long`` are ``--word`` flags and
    ``long_valued`` ``--word VALUE`` (or ``--word=VALUE``) options, kept in ``values``;
    ``props`` are the ``key=value`` words this subcommand knows; any other ``key=value`` is
    an invalid property unless ``pairs_are_operands`` (``set-variable``). Anything else
    starting with ``-`` is an invalid option; ``--`` ends the options.
    """

    def __init__(self, argv: list[str], spec: CommandSpec) -> None:
        self.spec = spec
        self.flags: set[str] = set()
        self.values: dict[str, str] = {}
        self.props: dict[str, str] = {}
        self.operands: list[str] = []
        o = spec.options
        flags, valued, pairs_are_operands = o.flags, o.valued, o.pairs_are_operands
        props, long, long_valued = set(o.props), set(o.long), set(o.long_valued)
        words = list(argv)
        options_done = False
        while words:
            w = words.pop(0)
            if not options_done and w == "--":
                options_done = True
            elif not options_done and w.startswith("--") and len(w) > 2:
                name, eq, value = w[2:].partition("=")
                if name in long_valued:
                    if not eq:
                        if not words:
                            raise self.error(f"Option --{name} needs a value")
                        value = words.pop(0)
                    if name in self.values:
                        raise self.error(f"Option --{name} given more than once")
                    self.values[name] = value
                elif w[2:] in long:
                    self.flags.add(w[2:])
                else:
                    raise self.error(f"Invalid option: {w}")
            elif not options_done and w.startswith("-") and len(w) > 1:
                letters = w[1:]
                while letters:
                    c, letters = letters[0], letters[1:]
                    if c in valued:
                        if not letters and not words:
                            raise self.error(f"Option -{c} needs a value")
                        value = letters or words.pop(0)
                        if c in self.values:
                            raise self.error(f"Option -{c} given more than once")
                        self.values[c] = value
                        letters = ""
                    elif c in flags:
                        self.flags.add(c)
                    else:
                        raise self.error(f"Invalid option: -{c}")
            elif "=" in w and not pairs_are_operands:
                key, value = w.split("=", 1)
                if key not in props:
                    raise self.error(f"Invalid property: {key}=")
                if key in self.props:
                    raise self.error(f"Property {key} given more than once")
                self.props[key] = value
            else:
                self.operands.append(w)

    def error(self, message: str) -> UsageError:
        return UsageError(message, self.spec.usage)

    def exact(self, *names: str) -> list[str]:
        """Exactly these operands (``names`` as the synopsis calls them, for the message)."""
        if len(self.operands) != len(names):
            few = len(self.operands) < len(names)
            raise self.error(f"{'Too few' if few else 'Too many'} operands: expected {' '.join(names)}")
        return list(self.operands)

    def at_least(self, *names: str) -> list[str]:
        if len(self.operands) < len(names):
            raise self.error(f"Too few operands: expected {' '.join(names)}")
        return list(self.operands)


# -- operand values ------------------------------------------------------------------------

def parse_count(text: str, what: str) -> int:
    """A positive whole number of vCPUs, crypto units …"""
    if not text.isdigit() or int(text) <= 0:
        raise LdmError("bad-number", f"Invalid number of {what}: {text}")
    return int(text)


def parse_memory_size(text: str) -> int:
    """``1G``, ``512M``, ``1536m``, or bytes; ldm's ``size[unit]``."""
    return parse_size(text)


def parse_rate(text: str) -> int:
    """``64M/s``, ``512K``, ``1048576`` → bytes a second; ``0`` stops the workload."""
    body = text[:-2] if text.lower().endswith("/s") else text
    if body == "0":
        return 0
    try:
        return parse_size(body)
    except LdmError:
        raise LdmError("bad-rate", f"Invalid write rate: {text} (examples: 64M/s, 1048576)") from None


def parse_volume(text: str) -> tuple[str, str]:
    """``vol1@primary-vds0`` → ``("vol1", "primary-vds0")``."""
    volume, at, service = text.partition("@")
    if not at or not volume or not service or "@" in service:
        raise LdmError("bad-volume", f"Invalid volume: {text} (expected volume-name@service-name)")
    return volume, service


_MAC = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$")


def parse_mac(text: str | None) -> str | None:
    """``00:14:4f:f8:6c:5f`` (normalised to two lower-case digits a byte); None if not given."""
    if text is None:
        return None
    if not _MAC.match(text):
        raise LdmError("bad-mac", f"Invalid MAC address: {text}")
    return ":".join(f"{int(p, 16):02x}" for p in text.split(":"))


def parse_switch(text: str, prop: str, yes: str, no: str) -> bool:
    if text == yes:
        return True
    if text == no:
        return False
    raise LdmError("bad-value", f"Invalid value for {prop}: {text} (expected {yes} or {no})")


def parse_port_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    if not dash or not low.isdigit() or not high.isdigit() or not 0 < int(low) <= int(high) <= 65535:
        raise LdmError("bad-port-range", f"Invalid port range: {text} (expected port-range=x-y)")
    return int(low), int(high)
