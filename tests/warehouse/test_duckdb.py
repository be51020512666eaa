"""DuckDB's memory limit: one setting of the database, chosen in one place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from segmint.errors import ConfigError
from segmint.warehouse import connect
from segmint.warehouse._duckdb import DuckDBWarehouse, size_bytes


def limit(wh: DuckDBWarehouse) -> str:
    return str(wh.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0])


@pytest.fixture
def wh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DuckDBWarehouse]:
    monkeypatch.delenv("SEGMINT_MEMORY_LIMIT", raising=False)
    w = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert isinstance(w, DuckDBWarehouse)
    yield w
    w.close()


def test_default_limit_is_2gb(wh: DuckDBWarehouse) -> None:
    assert limit(wh) == "1.8 GiB"
    assert wh.current_memory_limit == "2GB"


@pytest.mark.parametrize(("value", "shown"), [("1500MB", "1.3 GiB"), ("3GiB", "3.0 GiB")])
def test_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, shown: str
) -> None:
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", value)
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as w:
        assert isinstance(w, DuckDBWarehouse)
        assert limit(w) == shown


def test_default_leaves_duckdbs_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    own = duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "default")
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as w:
        assert isinstance(w, DuckDBWarehouse)
        assert limit(w) == own
        assert w.current_memory_limit is None


def test_a_bad_limit_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "2 gigs")
    with pytest.raises(ConfigError, match="SEGMINT_MEMORY_LIMIT='2 gigs': expected a size"):
        connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with pytest.raises(ConfigError, match="memory limit='-1GB'"):
        DuckDBWarehouse(":memory:", memory_limit="-1GB")


def test_a_block_changes_the_limit_of_every_cursor_and_restores_it(wh: DuckDBWarehouse) -> None:
    before = limit(wh)
    cursor = wh.raw.cursor()
    with pytest.raises(RuntimeError), wh.memory_limit("300MB"):
        assert limit(wh) == "286.1 MiB"
        assert cursor.execute("SELECT current_setting('memory_limit')").fetchone() == ("286.1 MiB",)
        raise RuntimeError
    assert limit(wh) == before
    with wh.memory_limit(None):  # DuckDB's own, for the block
        assert limit(wh) != before
    assert limit(wh) == before


def test_sizes() -> None:
    assert size_bytes("2GB") == 2_000_000_000
    assert size_bytes("512 MiB") == 512 * 2**20
    assert size_bytes("1.5gb") == 1_500_000_000
