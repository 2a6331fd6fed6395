"""The three command lines as data for man pages and completion.

``ldm``'s subcommands come from the ``@command`` table, with each one's options as it
declares them; what its operands are (a domain, one of a few words, anything) is read from
its synopsis, the same text ``ldm SUBCOMMAND --help`` prints. ``ldmd`` and ``ldtui`` are
described by their argparse parsers.
"""

from __future__ import annotations

import argparse
import re

import attrs

from ldtui.core.cmd_args import CommandSpec


@attrs.frozen
class Slot:
    """One operand position of a subcommand: ``kind`` is ``domain``, ``words`` (one of
    ``words``) or ``any``; ``repeats`` when the synopsis ends it with ``...``."""

    kind: str
    words: tuple[str, ...] = ()
    repeats: bool = False


@attrs.frozen
class ParserOption:
    """One argparse argument: its option strings (none for a positional), the value it
    takes (``""`` for a switch), its help, whether it names a file or a directory."""

    strings: tuple[str, ...]
    value: str
    help: str
    required: bool = False
    group: str = ""
    path: str = ""
    """``file``, ``dir`` or ``""``."""


def ldm_specs() -> list[CommandSpec]:
    """Every subcommand once, in the order ``ldm --help`` lists them."""
    from ldtui.core.commands import COMMANDS, command_names
    return [COMMANDS[name] for name in command_names()]


def _groups(text: str) -> list[str]:
    """Top-level words of a synopsis; brackets keep their contents together."""
    out, depth, word = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == " " and depth == 0:
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out


def _enclosed(word: str) -> bool:
    """``[…]`` or ``(…)`` as a whole (not ``[user@]host[:ldom]``)."""
    if word[:1] not in "[(":
        return False
    depth = 0
    for i, ch in enumerate(word):
        depth += ch in "[("
        depth -= ch in "])"
        if depth == 0:
            return i == len(word) - 1
    return False


def _is_option(word: str, spec: CommandSpec) -> bool:
    return word.startswith("-") or ("=" in word and not spec.options.pairs_are_operands)


def operand_slots(spec: CommandSpec) -> tuple[Slot, ...]:
    """The operands of the subcommand's first synopsis, in order."""
    slots = []
    for word in _groups(spec.synopses[0])[1:]:
        inner = word[1:-1] if _enclosed(word) else word
        alternatives = [a.strip() for a in inner.split(" | ")]
        operands = [a for a in alternatives if a and not _is_option(a.split()[0], spec)]
        if not operands:
            continue                       # options only: [-n], [-o format], [mac-addr=num]
        repeats = any(a.endswith("...") for a in operands)
        names = [a.removesuffix("...") for a in operands]
        if len(names) > 1 and all(re.fullmatch(r"[a-z][\w-]*", n) for n in names):
            slots.append(Slot("words", tuple(names), repeats))
        elif len(names) == 1 and re.fullmatch(r"([a-z]+-)?ldom", names[0]):
            slots.append(Slot("domain", (), repeats))
        else:
            slots.append(Slot("any", (), repeats))
    return tuple(slots)


def property_values(spec: CommandSpec) -> dict[str, tuple[str, ...]]:
    """``cpu-dr=on|off`` in a synopsis: the words a property takes, where it names them."""
    values = {}
    for prop in spec.options.props:
        m = re.search(rf"(?<![\w-]){re.escape(prop)}=([a-z]+(?:\|[a-z]+)+)(?![\w|])", " ".join(spec.synopses))
        if m:
            values[prop] = tuple(m.group(1).split("|"))
    return values


def valued_options(spec: CommandSpec) -> tuple[str, ...]:
    o = spec.options
    return (*(f"-{c}" for c in o.valued), *(f"--{w}" for w in o.long_valued))


def client_options() -> tuple[tuple[str, str, str, str, str], ...]:
    """``ldm``'s own options: (short, long, value, key, help)."""
    from ldtui.net.client import OPTIONS
    return OPTIONS


_PATHS = {"--config": "file", "--state": "dir", "--port-file": "file", "--peers": "file", "--socket": "file",
          "--hosts": "file", "--lab-file": "file", "--state-dir": "dir"}


def parser_options(parser: argparse.ArgumentParser) -> list[ParserOption]:
    """Every argument of ``parser`` but ``--help``, grouped as its ``--help`` groups them."""
    out = []
    for group in parser._action_groups:            # argparse keeps its groups only here
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction):
                continue
            takes_value = action.nargs != 0
            value = (action.metavar or action.dest.upper().replace("_", "-")) if takes_value else ""
            title = "" if group.title in ("options", "optional arguments", "positional arguments") else group.title
            path = _PATHS.get(next(iter(action.option_strings), ""), "")
            out.append(ParserOption(tuple(action.option_strings), value, action.help or "",
                                    bool(action.required), title or "", path))
    return out


def ldmd_parser() -> argparse.ArgumentParser:
    from ldtui.net.daemon import parser
    return parser()


def ldtui_parser() -> argparse.ArgumentParser:
    from ldtui.cli import parser
    return parser()


def theme_names() -> list[str]:
    """What ``ldtui --theme`` takes from the shipped themes (Textual's own work too)."""
    try:
        from ldtui.widgets.themes import shipped_themes
        return [t.name for t in shipped_themes()]
    except Exception:                               # a theme file that does not load names nothing
        return []
