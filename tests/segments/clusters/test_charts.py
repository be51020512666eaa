"""Charts of a clustering: valid Vega-Lite with the model's numbers in them."""

from __future__ import annotations

from segmint.segments.clusters import (
    SegmentClusterer,
    profile_heatmap,
    selection_chart,
    sizes_chart,
)
from tests.segments.clusters.synthetic import behaviour, with_gaps


def _values(spec: dict | list) -> list[dict]:
    found = []
    if isinstance(spec, dict):
        if "values" in spec and isinstance(spec["values"], list):
            found += spec["values"]
        for v in spec.values():
            found += _values(v) if isinstance(v, dict | list) else []
    elif isinstance(spec, list):
        for v in spec:
            found += _values(v)
    return found


def test_charts_carry_the_selection_sizes_and_effects() -> None:
    X = with_gaps(behaviour()[0])
    model = SegmentClusterer(k="auto", k_range=(2, 5), random_state=0).fit(X)
    sel = selection_chart(model.selection_).to_dict()
    rows = _values(sel)
    assert [r["k"] for r in rows] == [2, 3, 4, 5]
    assert [r["chosen"] for r in rows].count("chosen") == 1
    sizes = _values(sizes_chart(model.profile_).to_dict())
    assert sum(r["customers"] for r in sizes) == len(X)
    heat = _values(profile_heatmap(model.profile_, top=2).to_dict())
    assert len(heat) == 2 * model.n_clusters_
