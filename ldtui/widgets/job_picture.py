"""The selected migration as a picture under the jobs table.

Left, its rate and dirty rate over time, as this console sampled them
(``console.job_history``); right, the guest memory each round sent, as the source recorded
it (``MigrationProgress.round_bytes``), the round sent with the domain suspended in its own
colour. Lines of text drawn with block characters (four lines of bars, eight on a tall
terminal, a title above and times or totals below), for any width from 80 columns.

Why not Textual's ``Sparkline``: it scales a series from its own minimum to its maximum, so
a steady rate with a little jitter fills its whole height and a rate and a dirty rate drawn
side by side cannot be compared; and it stretches the samples it has over its width, so the
first seconds of a migration are wide blocks that narrow at every refresh. Here both rates
share one scale from zero, one column is one sample until the columns run out, and the
dirty rate stands in front of the rate: what shows of the rate above it is what the link
moves faster than the guest dirties — the margin a pre-copy converges by.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

from rich.text import Text
from textual.widgets import Static

from ldtui.core.snapshot import MigrationProgress
from ldtui.console.jobtext import format_bytes, format_rate
from ldtui.widgets.cells import themed
from ldtui.console.fleet import clock_text
from ldtui.console.job_history import RateSample

BARS = 4
"""Lines of bars of the picture below 40 rows; from 40 rows, ``TALL_BARS``."""
TALL_BARS = 8
TALL_FROM = 40
_LEVELS = 8
_EIGHTHS = " ▁▂▃▄▅▆▇█"

RATE_STYLE = "$accent"
DIRTY_STYLE = "$warning"
ROUND_STYLE = "$primary"
SUSPENDED_STYLE = "$warning"
"""The round the domain waited for is drawn in the dirty rate's colour: both are what the
guest pays for the move."""
MUTED = "dim"

_LATE = 5.0
"""Seconds between a job's start and this console's first sample beyond which the picture
says that the start was not seen."""
_ROUNDS_TEXT = 21
"""Columns of the list beside the round bars: ``12 254.0M suspended``."""


def rounds_width(width: int) -> int:
    """Columns of the rounds panel for a picture ``width`` columns wide."""
    return 56 if width >= 118 else 32


def nice_top(value: float) -> float:
    """A round scale at or above ``value`` (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten
    of K, M or G), so the picture rescales only when the rate leaves its range."""
    if value <= 0:
        return 1.0
    unit = next((size for size in (1 << 30, 1 << 20, 1 << 10) if value >= size), 1)
    scaled = value / unit
    power = 10 ** math.floor(math.log10(scaled))
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if scaled <= step * power * (1 + 1e-9):
            return step * power * unit
    return 10 * power * unit  # pragma: no cover - the loop ends at 10


def _scale_label(top: float) -> str:
    unit, size = next(((u, s) for u, s in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)) if top >= s), ("", 1))
    return f"{top / size:g}{unit}/s"


def bars_for(rows: int) -> int:
    """Lines of bars for a terminal ``rows`` high: the picture takes two lines more."""
    return TALL_BARS if rows >= TALL_FROM else BARS


def _level(value: float, top: float, bars: int) -> int:
    """Eighths of a cell, 0 … 8 × bars; anything above zero shows."""
    if value <= 0 or top <= 0:
        return 0
    return max(1, min(bars * _LEVELS, round(value / top * bars * _LEVELS)))


def _cell(level: int, row: int) -> int:
    """How many eighths of the cell in ``row`` (0 at the bottom) a bar of ``level`` fills."""
    return max(0, min(_LEVELS, level - row * _LEVELS))


def _line() -> Text:
    return Text(no_wrap=True, overflow="crop", end="")


def _runs(cells: list[tuple[str, str]]) -> Text:
    """One line of (character, style) cells, a span per run of one style (fewer spans to
    theme and to paint)."""
    line = _line()
    for style, run in itertools.groupby(cells, key=lambda cell: cell[1]):
        line.append("".join(ch for ch, _ in run), style or None)
    return line


def _pad(text: Text, width: int) -> Text:
    text.truncate(width, overflow="crop", pad=True)
    return text


# -- rate and dirty rate ----------------------------------------------------------------

def _buckets(samples: Sequence[RateSample], columns: int) -> list[tuple[float, float]]:
    """(rate, dirty rate) per column: one sample each while they fit, else the mean of
    ``k`` consecutive samples, ``k`` the smallest that fits."""
    k = max(1, math.ceil(len(samples) / max(columns, 1)))
    out = []
    for i in range(0, len(samples), k):
        part = samples[i:i + k]
        out.append((sum(s.rate for s in part) / len(part), sum(s.dirty_rate for s in part) / len(part)))
    return out


def rate_lines(job: MigrationProgress, samples: Sequence[RateSample], width: int, bars: int = BARS) -> list[Text]:
    """The left panel: rate (and, live, dirty rate) over time, ``bars`` + 2 lines."""
    live = job.live
    running = job.state == "running"
    if not samples:
        why = ("this console did not see it run" if not running else "waiting for the first sample")
        body = [_line() for _ in range(bars)]
        body[bars // 2 - 1].append(why, MUTED)
        title, _ = _rate_title(job, width, None, running)
        return [_pad(title, width), *(_pad(b, width) for b in body), _pad(_line(), width)]
    columns = _buckets(samples, width)
    top = nice_top(max(max(r, d) for r, d in columns))
    scale = _scale_label(top)
    title, scaled = _rate_title(job, width, scale, running)
    levels = [(_level(r, top, bars), _level(d, top, bars) if live else 0) for r, d in columns]
    rows = []
    for row in reversed(range(bars)):
        cells = []
        for rate, dirty in levels:
            r, d = _cell(rate, row), _cell(dirty, row)
            if d >= _LEVELS:
                cells.append(("█", DIRTY_STYLE))
            elif d:
                # The dirty rate's top is in this cell: above it, the rate if it fills
                # most of what is left.
                over = f" on {RATE_STYLE}" if r >= (d + _LEVELS + 1) // 2 else ""
                cells.append((_EIGHTHS[d], DIRTY_STYLE + over))
            elif r:
                cells.append((_EIGHTHS[r], RATE_STYLE))
            else:
                cells.append((" ", ""))
        rows.append(_pad(_runs(cells), width))
    return [_pad(title, width), *rows, _pad(_time_axis(job, samples, len(columns), width, "" if scaled else scale), width)]


def _rate_title(job: MigrationProgress, width: int, scale: str | None, running: bool) -> tuple[Text, bool]:
    """``█ rate 6.6M/s  █ dirty 1.4M/s  scale 0–8M/s``: as long a form as fits; whether
    the scale is in it."""
    tails = (f"scale 0–{scale}", f"top {scale}", "") if scale else ("",)
    forms = [(sep, tail) for tail in tails for sep in ("  ", " ")]
    for sep, tail in forms:
        title = _line()
        title.append("█ ", RATE_STYLE)
        title.append(f"rate {format_rate(job.rate)}" + ("" if running else " average"))
        if job.live:
            title.append(sep)
            title.append("█ ", DIRTY_STYLE)
            title.append(f"dirty {format_rate(job.dirty_rate)}")
        if tail:
            title.append(sep + tail, MUTED)
        if title.cell_len <= width:
            break
    return title, bool(tail)


def _time_axis(job: MigrationProgress, samples: Sequence[RateSample], used: int, width: int,
               scale: str = "") -> Text:
    """``since 01:37:22 … 01:38:27``: the first sample's time, and the last one's under the
    last column; ``scale`` too when the title had no room for it."""
    first, last = samples[0].when, samples[-1].when
    left = f"since {clock_text(first)}"
    if job.started and first - job.started > _LATE:
        left += f" (started {clock_text(job.started)})"
    right = clock_text(last) if len(samples) > 1 else ""
    if scale and len(left) + len(right) + len(scale) + 12 <= width:
        left += f" · scale 0–{scale}"
    axis = _line()
    axis.append(left, MUTED)
    # The last sample's time under the last column drawn, where there is room.
    gap = max(used, len(left) + 1 + len(right)) - len(left) - len(right)
    if right and len(left) + gap + len(right) <= width:
        axis.append(" " * gap + right, MUTED)
    return axis


# -- rounds -----------------------------------------------------------------------------

def round_lines(job: MigrationProgress, width: int, bars: int = BARS) -> list[Text]:
    """The right panel: one bar per round of guest memory sent, ``bars`` + 2 lines."""
    rounds = job.round_bytes
    suspended = job.suspended_round
    running = job.state == "running"
    title = _line()
    if not job.live and len(rounds) <= 1:
        title.append("one round (suspended copy)")
    else:
        title.append("pre-copy rounds")
        if 0 <= suspended < len(rounds):
            title.append("  ")
            title.append("█ ", SUSPENDED_STYLE)
            title.append("suspended")
    lines = [_pad(title, width)]
    if not rounds:
        body = [_line() for _ in range(bars)]
        body[bars // 2 - 1].append("no memory sent yet" if running else "no memory was sent", MUTED)
        return lines + [_pad(b, width) for b in body] + [_pad(_line(), width)]
    text_width = min(_ROUNDS_TEXT, max(width - 4, 0))
    room = max(width - text_width - 1, 1)
    first = max(0, len(rounds) - room)      # the latest rounds when they cannot all be drawn
    shown = list(range(first, len(rounds)))
    bar, gap = (2, 1) if len(shown) * 3 <= room else (1, 1) if len(shown) * 2 <= room else (1, 0)
    top = max(rounds) or 1
    levels = [_level(rounds[i], top, bars) for i in shown]
    listed = _listed(len(rounds), bars)
    for row in reversed(range(bars)):
        cells = []
        for i, level in zip(shown, levels):
            filled = _cell(level, row)
            style = SUSPENDED_STYLE if i == suspended else ROUND_STYLE
            cells.extend([(_EIGHTHS[filled], style if filled else "")] * bar + [(" ", "")] * gap)
        line = _runs(cells)
        # The list starts two columns after the last bar: beside them, not across the panel.
        line = _pad(line, min(len(shown) * (bar + gap) - gap + 2, room + 1))
        entry = listed[bars - 1 - row]
        if entry is not None:
            line.append_text(_round_entry(job, entry, running))
        lines.append(_pad(line, width))
    total = _line()
    count = f"{len(rounds)} round{'s' if len(rounds) != 1 else ''}"
    total.append(f"{count}, {format_bytes(sum(rounds))} sent" + (" so far" if running else ""), MUTED)
    lines.append(_pad(total, width))
    return lines


def _listed(count: int, lines: int) -> list[int | str | None]:
    """Which rounds the list beside the bars names, one a line: all if they fit, else the
    first full copy, a gap, and the latest."""
    if count <= lines:
        return [*range(count), *([None] * (lines - count))]
    return [0, "…", *range(count - lines + 2, count)]


def _round_entry(job: MigrationProgress, entry: int | str, running: bool) -> Text:
    if isinstance(entry, str):
        return Text(f"{entry:>2}", MUTED)
    last = entry == len(job.round_bytes) - 1
    text = Text(f"{entry:>2} {format_bytes(job.round_bytes[entry])}")
    if entry == job.suspended_round:
        text.append(" suspended", SUSPENDED_STYLE)
    elif last and running:
        text.append(" sending", MUTED)
    return text


# -- the whole ----------------------------------------------------------------------------

def job_picture(job: MigrationProgress, samples: Sequence[RateSample], width: int, bars: int = BARS) -> Text:
    """Both panels side by side, ``bars`` + 2 lines of exactly ``width`` columns."""
    if not job.detail_reported:
        return _nothing_to_draw(job, width, bars)
    right = rounds_width(width)
    left = max(width - right - 3, 10)
    rates = rate_lines(job, samples, left, bars)
    rounds = round_lines(job, right, bars)
    out = Text(no_wrap=True, overflow="crop")
    for i, (a, b) in enumerate(zip(rates, rounds)):
        if i:
            out.append("\n")
        out.append_text(a)
        out.append(" │ ", MUTED)
        out.append_text(b)
    return out


def _nothing_to_draw(job: MigrationProgress, width: int, bars: int) -> Text:
    """A migration whose host tells only its percent (Oracle's ``ldm``): no rates or
    rounds to draw, and the picture says so instead of drawing empty charts."""
    lines = [_line() for _ in range(bars + 2)]
    lines[0].append("no rate chart and no rounds: this host's ldm does not report them", MUTED)
    out = Text(no_wrap=True, overflow="crop")
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append_text(_pad(line, width))
    return out


class JobPicture(Static):
    """The picture of one job, redrawn only when what it shows changed: the job, its
    latest sample, the width or the theme. A refresh never asks for a layout pass: the
    height changes only with the terminal's (:meth:`fit_to`)."""

    DEFAULT_CSS = f"JobPicture {{ height: {BARS + 2}; padding: 0 1; }}"

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._job: MigrationProgress | None = None
        self._samples: Sequence[RateSample] = ()
        self._drawn: tuple | None = None
        self.bars = BARS

    def fit_to(self, rows: int) -> None:
        """Taller bars on a terminal ``rows`` high that has room for them."""
        bars = bars_for(rows)
        if bars != self.bars:
            self.bars = bars
            self.styles.height = bars + 2
            self._draw()

    def show(self, job: MigrationProgress | None, samples: Sequence[RateSample]) -> None:
        self._job, self._samples = job, samples
        if self.display != (job is not None):
            # Without a job there is nothing to draw: the table takes the room (a layout
            # pass only when the first job appears or the last one goes).
            self.display = job is not None
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.content_size.width
        if width <= 0:
            return          # not laid out yet: the resize that follows draws it
        job, samples = self._job, self._samples
        key = (job, len(samples), samples[-1] if samples else None, width, self.bars, self.app.theme)
        if key == self._drawn:
            return
        self._drawn = key
        if job is None:
            self.update("", layout=False)
            return
        picture = job_picture(job, samples, width, self.bars)
        self.update(themed(picture, self.app.theme_variables), layout=False)
