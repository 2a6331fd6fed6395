"""Tables that are updated in place: rows keyed, cells diffed, selection kept.

A refresh never clears and refills: rows that vanished are removed, new ones added, and
only cells whose text or style changed are rewritten, so the cursor, the scroll position
and the operator's place survive a snapshot arriving every second.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from ldtui.widgets.cells import sort_value, themed


def _width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def _same(a: Any, b: Text) -> bool:
    return (
        isinstance(a, Text)
        and a.plain == b.plain
        and str(a.style) == str(b.style)
        and a.spans == b.spans
        and sort_value(a) == sort_value(b)
    )


class KeyedTable(DataTable):
    """A DataTable fed whole pictures (``row key → column key → cell``) and diffed."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g", "scroll_top", "First row", show=False, id="table.top"),
        Binding("G", "scroll_bottom", "Last row", show=False, id="table.bottom"),
        Binding("s", "sort_next", "Sort", id="table.sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="table.reverse"),
    ]

    def __init__(self, columns: tuple[tuple[str, str], ...], *,
                 default_order: Callable[[Mapping[str, Any]], Any] | None = None,
                 widths: Mapping[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.column_spec = columns
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._wanted_sort: str | None = None
        """The column the operator sorted by, kept while another layout lacks it."""
        self._default_order = default_order
        self._pending_key: str | None = None
        """The row to select once the rows are back after ``set_columns``."""
        self._last_rows: Mapping[str, Mapping[str, Text]] = {}
        self._widths: Mapping[str, int] = dict(widths or {})
        self._add_columns()

    def _add_columns(self) -> None:
        # Columns whose text changes all the time (progress, rates) get a fixed width: a
        # column that changes width re-lays out the whole screen, and the columns jump.
        for key, label in self.column_spec:
            self.add_column(label, key=key, width=self._widths.get(key))

    def set_columns(self, columns: tuple[tuple[str, str], ...], widths: Mapping[str, int] | None = None, *,
                    stand_ins: Mapping[str, str] | None = None) -> None:
        """Show other columns (the main screen's narrow and wide layouts).

        The rows are dropped now and come back in the new columns at the next ``sync``,
        with the same row selected. A sort by a column the new set lacks goes on by its
        stand-in (``stand_ins``), else in the natural order, and comes back with its column.
        """
        widths = dict(widths or {})
        if columns == self.column_spec and widths == self._widths:
            return
        self._pending_key = self.selected_key or self._pending_key
        self.clear(columns=True)
        self.column_spec = columns
        self._widths = widths
        self._last_rows = {}
        self._add_columns()
        keys = {key for key, _ in columns}
        wanted = self._wanted_sort
        if wanted is None or wanted in keys:
            self.sort_column = wanted
        else:
            stand_in = (stand_ins or {}).get(wanted)
            self.sort_column = stand_in if stand_in in keys else None

    # -- what is selected ----------------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def select_key(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except Exception:
            return False
        self.move_cursor(row=index, animate=False)
        return True

    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    # -- feeding -------------------------------------------------------------------------

    def sync(self, rows: Mapping[str, Mapping[str, Text]]) -> None:
        """Make the table show exactly ``rows``, touching only what changed.

        A cell object the table already holds is taken as unchanged without looking at it
        (callers reuse the cells of rows that did not change). Column widths are settled once
        per sync: DataTable's own ``update_width`` re-measures a whole column for every cell
        that got narrower, which costs seconds on a table of thousands of rows.
        """
        selected = self._pending_key or self.selected_key
        index_before = self.cursor_row
        variables = self.app.theme_variables if self.is_attached else {}
        data = self._data
        # The rows the table holds, by their key's text: looking up a RowKey (whose
        # hash and equality are Python code) for each of thousands of rows adds up.
        held_rows = {key.value: cells for key, cells in data.items()}
        column_keys = [key for key, _ in self.column_spec]
        # The table's own key objects, in the order add_row laid out each row's cells.
        pairs = [(column.key.value, column.key) for column in self.ordered_columns]
        sort_column = self.sort_column
        changed_order = False
        touched: set[str] = set()
        changed: dict[str, list[str]] = {}
        """Row key → the columns whose cells were replaced."""
        added = False
        with self.app.batch_update():
            for gone in held_rows.keys() - rows.keys():
                self.remove_row(gone)
                changed_order = True
                touched.update(column_keys)       # it may have been the widest of its column
            last = self._last_rows.get
            for key, cells in rows.items():
                held = held_rows.get(key)
                if held is None:
                    self.add_row(*(themed(cells[c], variables) for c in column_keys), key=key)
                    changed_order = added = True
                    continue
                if last(key) is cells:
                    continue              # the very cells drawn last time: nothing to look at
                columns = None
                # A held row's cells are in column order (add_row builds them so): walking
                # them beside the columns spares a lookup by ColumnKey per cell.
                for (column, held_key), old in zip(pairs, held.values()):
                    new = cells[column]
                    if old is new:
                        continue
                    new = themed(new, variables)
                    if _same(old, new):
                        continue
                    held[held_key] = new
                    if columns is None:
                        columns = changed[key] = []
                    columns.append(column)
            for columns in changed.values():
                touched.update(columns)
            if sort_column in touched:
                changed_order = True
            self._last_rows = dict(rows)
            if touched:
                resized = self._settle_widths(touched)
                if resized or changed_order or added:
                    self._update_count += 1       # DataTable's own way: forget every render
                    self.refresh()
                else:
                    self._forget_cells(changed)
            if changed_order:
                self._apply_order()
            if selected is not None and selected in rows:
                self.select_key(selected)
            elif self.row_count:
                # The selected row went away: stay at the same height in the table.
                self.move_cursor(row=min(index_before, self.row_count - 1), animate=False)
            if self.row_count:
                self._pending_key = None

    def _settle_widths(self, columns: set[str]) -> bool:
        """Fit each touched column to its widest cell (all our cells are one-line Text)."""
        resized = False
        for column_key in columns:
            column = self.columns.get(ColumnKey(column_key))
            if column is None or not column.auto_width:
                continue
            widest = max((_width(row[column_key]) for row in self._data.values()), default=0)
            width = max(widest, _width(column.label))
            if width != column.content_width:
                column.content_width = width
                resized = True
        if resized:
            self._require_update_dimensions = True
        return resized

    def _forget_cells(self, changed: Mapping[str, list[str]]) -> None:
        """Drop the cached renders of these cells only, and repaint only the rows of them
        that are on screen.

        DataTable itself forgets every cell's render on any change, and repainting every
        visible row once a second (UTIL, UPTIME, PROGRESS: a few cells of a row) is what
        made keys slow while a migration ran, and a refresh of thousands of rows slow:
        rendering one cell costs ~0.1 ms, and a screenful is hundreds of them.
        """
        cells = {(row, column) for row, columns in changed.items() for column in columns}
        cache = self._cell_render_cache
        for cache_key in [k for k in cache.keys() if (k[0].value, k[1].value) in cells]:
            cache.discard(cache_key)
        rows = changed.keys()
        cache = self._row_render_cache
        for cache_key in [k for k in cache.keys() if k[0].value in rows]:
            cache.discard(cache_key)
        indices = {self._row_locations.get(RowKey(k)) for k in rows}
        cache = self._row_renderable_cache
        for cache_key in [k for k in cache.keys() if k[1] in indices]:
            cache.discard(cache_key)
        self._line_cache.clear()
        # Repaint the lines of changed rows that are in the window, nothing else.
        width, height = self.size
        if not width or not height or self.fixed_rows:
            self.refresh()
            return
        header = self.header_height if self.show_header else 0
        scroll_y = self.scroll_offset.y
        offsets = self._y_offsets
        top = scroll_y
        bottom = min(len(offsets), scroll_y + max(0, height - header))
        region_width = max(width, self.virtual_size.width)
        for y in range(top, bottom):
            row_key, _ = offsets[y]
            if row_key.value in rows:
                self._refresh_region(Region(0, header + y, region_width, 1))

    # -- ordering ------------------------------------------------------------------------

    def _apply_order(self) -> None:
        column = self.sort_column
        if column is not None:
            self.sort(column, key=sort_value, reverse=self.sort_reverse)
        elif self._default_order is not None:
            order = self._default_order
            # DataTable hands the key function a row's cells, so each row's own cells
            # carry what the default order needs (their ``sort`` values).
            columns = [key for key, _ in self.column_spec]
            self.sort(*columns, key=lambda cells: order(dict(zip(columns, cells))))

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        selected = self.selected_key
        self.sort_column = self._wanted_sort = column
        self.sort_reverse = reverse
        self._apply_order()
        if selected is not None:
            self.select_key(selected)

    def action_sort_next(self) -> None:
        """Sort by the next column (after the last: back to the natural order)."""
        keys = [key for key, _ in self.column_spec]
        if self.sort_column is None:
            nxt: str | None = keys[0]
        else:
            i = keys.index(self.sort_column) + 1
            nxt = keys[i] if i < len(keys) else None
        self.sort_by(nxt)
        label = dict(self.column_spec).get(nxt, "natural order") if nxt else "natural order"
        self.notify(f"sorted by {label}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = event.column_key.value
        reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_by(column, reverse)
