"""`segmint segment` as a library call: features, RFM, rules in dependency order, history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from segmint.config import load_config
from segmint.errors import ConfigError
from segmint.segments import compile_segments, definitions, run_segments
from segmint.segments.membership import members_at, sizes_over_time
from segmint.warehouse import connect
from tests.features.test_features import shop

SEGMENTS = """
features:
  - name: spend_per_view
    expr: monetary / views_90d
    description: net revenue per product view
segments:
  - name: engaged_buyers
    description: depends on a segment defined after it
    rule: in_segment("viewers") and frequency >= 1
  - name: viewers
    rule: count(product_view, 30d) >= 2
  - name: thrifty
    rule: spend_per_view < 41
"""


def project(tmp_path: Path, extra: str = SEGMENTS) -> Path:
    root = shop(tmp_path)
    cfg = root / "segmint.yaml"
    cfg.write_text(cfg.read_text() + extra)
    return cfg


def test_segments_in_dependency_order_with_history(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path))
    assert list(compile_segments(cfg)) == ["viewers", "engaged_buyers", "thrifty"]
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        first = run_segments(cfg, wh, datetime(2024, 3, 1))
        changes = {c.segment: c for c in first.changes}
        # a viewed 3 products in the 30 days before March 1st and has 2 orders; b one
        assert {r["customer_id"] for r in wh.to_arrow(members_at(wh, "viewers")).to_pylist()} == {
            "a"
        }
        assert changes["engaged_buyers"].members == 1
        assert changes["thrifty"].members == 2  # a: 120 / 3 views, b: 40 / 1 view
        assert "spend_per_view" in wh.table("features").columns
        # a month later, a has viewed nothing for 30 days: leaves both
        second = run_segments(cfg, wh, datetime(2024, 4, 15))
        later = {c.segment: c for c in second.changes}
        assert (later["viewers"].members, later["viewers"].exited) == (0, 1)
        assert later["engaged_buyers"].exited == 1
        history = sizes_over_time(wh, "viewers")
        assert [(r["members"], r["entered"], r["exited"]) for r in history] == [
            (1, 1, 0),
            (0, 0, 1),
        ]
        # members as of the first computation are still known
        assert wh.to_arrow(members_at(wh, "viewers", datetime(2024, 3, 2))).num_rows == 1
        defs = definitions(wh)
        assert defs["viewers"]["definition"] == "count(product_view, 30d) >= 2"
        assert defs["rfm_champions"]["kind"] == "rfm"
        assert defs["engaged_buyers"]["description"] == "depends on a segment defined after it"


def test_rfm_tiers_become_segments(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path))
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        run = run_segments(cfg, wh, datetime(2024, 3, 1))
        rfm = {c.segment: c.members for c in run.changes if c.kind == "rfm"}
    assert len(rfm) == 11
    assert sum(rfm.values()) == run.rfm.customers == 2  # a and b have orders before March


def test_cycles_are_refused(tmp_path: Path) -> None:
    cfg = load_config(
        project(
            tmp_path,
            "segments:\n  - {name: a1, rule: 'in_segment(\"b1\")'}\n"
            "  - {name: b1, rule: 'in_segment(\"a1\") or is_new'}\n",
        )
    )
    with pytest.raises(ConfigError, match="cycle: a1 -> b1 -> a1"):
        compile_segments(cfg)


def test_every_bad_rule_is_reported_with_its_line(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        "segments:\n"
        "  - name: rfm_champions\n    rule: is_new\n"
        "  - name: typo\n    rule: recency > 3\n"
        "  - name: unknown_segment\n    rule: in_segment('nope')\n",
    )
    cfg = load_config(path)
    with pytest.raises(ConfigError) as info:
        compile_segments(cfg)
    problems = info.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("segmint.yaml:7: segments[0].rule: 'rfm_champions' is the name")
    assert problems[1].startswith("segmint.yaml:9: segments[1].rule: column 1: unknown feature")
    assert "did you mean 'recency_days'" in problems[1]
    assert "unknown segment 'nope'" in problems[2]


def test_a_bad_custom_feature_is_reported(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, "features:\n  - {name: x, expr: 'monetary + \"a\"'}\n"))
    with pytest.raises(ConfigError, match=r"features\[0\]\.expr: column 12: '\+' needs numbers"):
        compile_segments(cfg)
