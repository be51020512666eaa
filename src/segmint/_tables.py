"""Printing Rich tables so that no header is ever cut to "precision…" on a narrow terminal.

Every table the CLI and the reports print goes through :func:`print_table`. Each column is
made at least as wide as its header; when the columns cannot all fit at that width, the table
is printed in several parts, as pandas does with wide frames: each part repeats the first
(key) column and takes as many of the following columns as fit.
"""

from __future__ import annotations

import copy

from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text, TextType


def _header_width(console: Console, column: Column) -> int:
    header = column.header
    text = console.render_str(header) if isinstance(header, str) else header
    if isinstance(text, Text):
        return max((len(line) for line in text.plain.splitlines()), default=0)
    return Measurement.get(console, console.options, header).maximum


def _column_width(console: Console, table: Table, column: Column) -> int:
    """Narrowest width of a column with its header on one line, padding and border included.

    Cells of a column that may wrap count by their longest word, the others by their width;
    those of a column that folds (``overflow="fold"``) can be cut anywhere, so do not count.
    """
    widest = _header_width(console, column)
    if column.overflow == "fold" and not column.no_wrap:
        return widest + _padding(table)
    for cell in column.cells:
        measured = Measurement.get(console, console.options, cell)
        widest = max(widest, measured.maximum if column.no_wrap else measured.minimum)
    if column.max_width is not None:
        widest = min(widest, max(column.max_width, _header_width(console, column)))
    return widest + _padding(table)


def _padding(table: Table) -> int:
    """What padding and the border beside it add to a column's width."""
    left, right = table.padding[3], table.padding[1]
    return left + right + (1 if table.box else 0)


def _edge(table: Table) -> int:
    """What the borders add to the sum of :func:`_column_width` over the columns."""
    if not table.box:
        return 0
    return 1 if table.show_edge else -1


def _part(table: Table, columns: list[Column], title: TextType | None, last: bool) -> Table:
    part = copy.copy(table)
    part.columns = [copy.copy(c) for c in columns]
    part.title = title
    part.rows = list(table.rows)
    if not last:
        part.caption = None
    return part


def fit_headers(console: Console, table: Table) -> None:
    """Make every column at least as wide as the longest line of its header."""
    for column in table.columns:
        need = _header_width(console, column)
        column.min_width = max(column.min_width or 0, need)
        if column.max_width is not None:
            column.max_width = max(column.max_width, need)


def split_table(console: Console, table: Table, width: int | None = None) -> list[Table]:
    """The table itself when it fits ``width``, else parts that each fit, key column repeated."""
    fit_headers(console, table)
    width = width or console.width
    columns = table.columns
    widths = [_column_width(console, table, c) for c in columns]
    edge = _edge(table)
    if len(columns) <= 2 or sum(widths) + edge <= width:
        return [table]
    parts: list[list[int]] = []
    current: list[int] = []
    used = edge + widths[0]
    for i in range(1, len(columns)):
        if current and used + widths[i] > width:
            parts.append(current)
            current, used = [], edge + widths[0]
        current.append(i)
        used += widths[i]
    parts.append(current)
    if len(parts) == 1:
        return [table]
    title = table.title
    out = []
    for n, idx in enumerate(parts):
        part_title = title if n == 0 or not isinstance(title, str) else f"{title} (continued)"
        cols = [columns[0], *(columns[i] for i in idx)]
        out.append(_part(table, cols, part_title, last=n == len(parts) - 1))
    return out


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console`` with every header whole (see the module's docstring)."""
    for part in split_table(console, table):
        console.print(part)
