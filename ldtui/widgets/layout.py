"""Which columns the main screen shows for the width of the terminal.

From ``WIDE_FROM`` columns on, the wide layout: the six one-letter FLAGS columns and every
column ``ldm list`` prints. Below it the narrow layout: FLAGS as one six-letter column,
the hosts panel one line per host, and the domain columns that fit, chosen by what an
operator needs most: which domain, in what state, and how its migration goes first; UTIL,
UPTIME and CONS only when there is room.

The choice depends on the width alone, never on what the rows hold, so the columns change
only when the terminal is resized, never in the middle of a refresh.
"""

from __future__ import annotations

from typing import Mapping

import attrs

from ldtui.widgets.cells import (COMPACT_DOMAIN_COLUMNS, COMPACT_DOMAIN_WIDTHS, COMPACT_FLAG_LEGEND,
                                 COMPACT_HOST_COLUMNS, DOMAIN_COLUMNS, DOMAIN_WIDTHS, FLAG_COLUMNS, FLAG_LEGEND,
                                 HOST_COLUMNS, HOST_WIDTHS)

WIDE_FROM = 120
"""Terminal width (columns) from which the wide layout is used."""

_ALWAYS = ("host", "name", "state", "flags", "vcpu", "memory", "progress")
_IF_ROOM = ("util", "uptime", "cons")
"""Columns of the narrow layout shown only when they fit, the most wanted first."""

_ROOM = {"host": 11, "name": 10, "state": 9, "flags": 6, "vcpu": 4, "memory": 6, "progress": 15,
         "util": 6, "uptime": 11, "cons": 4}
"""Room each column takes in the narrow layout (typical host and domain names)."""

_CELL_PADDING = 2
"""DataTable pads every cell with one space on each side."""
_SCROLLBAR = 2

SORT_STAND_INS: Mapping[str, str] = {**{column: "flags" for column in FLAG_COLUMNS}, "flags": "f6"}
"""A sort by a column the other layout lacks goes on by the column standing for it there."""


@attrs.frozen
class Layout:
    """The main screen's tables for one terminal width."""

    compact: bool
    domain_columns: tuple[tuple[str, str], ...]
    domain_widths: Mapping[str, int]
    host_columns: tuple[tuple[str, str], ...]
    host_widths: Mapping[str, int]
    legend: str


def _fit(width: int) -> tuple[tuple[str, str], ...]:
    room = width - _SCROLLBAR
    chosen = set(_ALWAYS)
    used = sum(_ROOM[c] + _CELL_PADDING for c in chosen)
    for column in _IF_ROOM:
        need = _ROOM[column] + _CELL_PADDING
        if used + need > room:
            break           # a column is never shown while a more wanted one is not
        chosen.add(column)
        used += need
    return tuple((key, label) for key, label in COMPACT_DOMAIN_COLUMNS if key in chosen)


def layout_for(width: int) -> Layout:
    if width >= WIDE_FROM:
        return Layout(False, DOMAIN_COLUMNS, DOMAIN_WIDTHS, HOST_COLUMNS, HOST_WIDTHS, FLAG_LEGEND)
    return Layout(True, _fit(width), COMPACT_DOMAIN_WIDTHS, COMPACT_HOST_COLUMNS, {}, COMPACT_FLAG_LEGEND)
