"""Rich tables on a narrow terminal: every header is printed whole, never cut to "precision…"."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from segmint._tables import print_table, split_table
from tests.test_cli import rows
from tests.test_cli_recommend import EVERY_MODEL, evaluate_args, ratings  # noqa: F401

HEADERS = [
    "precision@10",
    "recall@10",
    "ndcg@10",
    "map@10",
    "hit_rate@10",
    "coverage",
    "novelty",
    "ndcg vs pop",
    "users",
    "fit s",
]


def metrics_table() -> Table:
    table = Table(title="Offline evaluation")
    table.add_column("model")
    for h in HEADERS:
        table.add_column(h, justify="right")
    for model in ("popularity", "item_knn", "hybrid"):
        table.add_row(model, *["0.1234"] * 7, "1.23x", "1,234", "0.5")
    return table


def printed(table: Table, width: int) -> str:
    buf = io.StringIO()
    print_table(Console(file=buf, width=width), table)
    return buf.getvalue()


def assert_headers_whole(out: str, headers: list[str]) -> None:
    assert "…" not in out
    header_lines = [line for line in out.splitlines() if line.startswith("┃")]
    for h in headers:
        assert any(h in line for line in header_lines), f"{h!r} not printed whole:\n{out}"


@pytest.mark.parametrize("width", [40, 60, 80])
def test_a_wide_table_on_a_narrow_console_is_printed_in_parts_with_whole_headers(
    width: int,
) -> None:
    out = printed(metrics_table(), width)
    assert_headers_whole(out, ["model", *HEADERS])
    assert all(len(line) <= width for line in out.splitlines())
    # each part repeats the key column, so every row is still named
    body = rows(out)
    assert len(body) % 3 == 0 and len(body) > 3
    assert [r[0] for r in body] == ["popularity", "item_knn", "hybrid"] * (len(body) // 3)
    assert "Offline evaluation (continued)" in out


def test_a_table_that_fits_is_printed_as_one() -> None:
    table = metrics_table()
    assert split_table(Console(width=200), table) == [table]
    out = printed(metrics_table(), 200)
    assert_headers_whole(out, [])
    assert len(rows(out)) == 3
    assert "(continued)" not in out


def test_long_text_wraps_in_its_column_instead_of_splitting_the_table() -> None:
    table = Table(title="Quarantine")
    for h in ("source", "hit_rate@10", "reason"):
        table.add_column(h)
    table.add_row("crm", "0.5", "a long reason that says why the row was set aside " * 4)
    out = printed(table, 80)
    assert_headers_whole(out, ["source", "hit_rate@10", "reason"])
    assert out.count("┏") == 1
