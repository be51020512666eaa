"""Ingest's DuckDB memory limit: held while ingesting, the warehouse's own restored after."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmint.config import ProjectConfig, load_config
from segmint.errors import ConfigError
from segmint.ingest import ingest
from segmint.warehouse import connect
from segmint.warehouse._duckdb import DuckDBWarehouse, ingest_memory_limit
from tests.conftest import write

EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id,session_id
e1,product_view,2024-03-01 10:00:00,,a1,s1
e2,login,2024-03-01 10:02:00,c1,a1,s1
"""


def limit(wh: DuckDBWarehouse) -> str:
    return str(wh.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0])


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectConfig:
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "3GB")
    monkeypatch.setenv("SEGMINT_INGEST_MEMORY_LIMIT", "256MB")
    write(tmp_path / "ev.csv", EVENTS)
    write(
        tmp_path / "segmint.yaml",
        "project: m\nwarehouse: duckdb:///w.duckdb\n"
        "sources:\n  - {name: web, path: ev.csv, table: events}\n",
    )
    return load_config(tmp_path)


def test_limit_held_while_ingesting_and_restored_after(cfg: ProjectConfig) -> None:
    seen: list[str] = []
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        assert isinstance(wh, DuckDBWarehouse)
        general = limit(wh)
        assert general == "2.7 GiB"  # 3GB
        ingest(cfg, warehouse=wh, progress=lambda *_: seen.append(limit(wh)))
        assert set(seen) == {"244.1 MiB"}  # 256MB, on the warehouse's own connection too
        assert limit(wh) == general
        assert wh.count("customers") == 1


def test_limit_restored_when_ingest_fails(cfg: ProjectConfig) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("stop")

    with connect(cfg.warehouse, cfg.base_dir) as wh:
        assert isinstance(wh, DuckDBWarehouse)
        general = limit(wh)
        with pytest.raises(RuntimeError, match="stop"):
            ingest(cfg, warehouse=wh, progress=boom)
        assert limit(wh) == general


def test_ingest_limit_is_never_above_the_general_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMINT_INGEST_MEMORY_LIMIT", raising=False)
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "512MB")
    assert ingest_memory_limit() == "512MB"
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "8GB")
    assert ingest_memory_limit() == "1GB"
    monkeypatch.setenv("SEGMINT_INGEST_MEMORY_LIMIT", "2GiB")
    assert ingest_memory_limit() == "2GiB"
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "default")
    assert ingest_memory_limit() == "2GiB"
    monkeypatch.setenv("SEGMINT_INGEST_MEMORY_LIMIT", "default")
    assert ingest_memory_limit() is None


def test_a_bad_limit_stops_ingest_before_any_write(
    cfg: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_INGEST_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match="SEGMINT_INGEST_MEMORY_LIMIT='lots'"):
        ingest(cfg)
    assert not (cfg.base_dir / "w.duckdb").exists()
