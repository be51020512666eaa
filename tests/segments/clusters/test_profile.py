"""Cluster profiles and their plain-language names."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from segmint.segments.clusters import SegmentClusterer, profile
from segmint.segments.clusters._profile import NOISE_NAME
from tests.segments.clusters.synthetic import behaviour


def test_frequent_mobile_buyers_are_named_so() -> None:
    X, y = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    frequent = np.bincount(model.labels_[y == 0]).argmax()
    name = model.names_[int(frequent)]
    assert "frequent" in name.split()
    assert "mobile" in name
    assert name.endswith("customers")
    assert name == "frequent low-basket mobile customers"
    desktop = model.names_[int(np.bincount(model.labels_[y == 1]).argmax())]
    assert "high-basket" in desktop
    assert "desktop" in desktop
    browsers = model.names_[int(np.bincount(model.labels_[y == 2]).argmax())]
    assert "heavy-browsing" in browsers
    assert "infrequent" in browsers


def test_sizes_add_up_and_profiles_are_largest_first() -> None:
    X, _ = behaviour(sizes=(150, 500, 250))
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    sizes = [p.size for p in model.profile_]
    assert sum(sizes) == len(X)
    assert sizes == sorted(sizes, reverse=True)
    assert sum(p.share for p in model.profile_) == pytest.approx(1.0)
    assert {p.id: p.size for p in model.profile_} == dict(
        zip(*np.unique(model.labels_, return_counts=True), strict=True)
    )
    assert len(set(model.names_.values())) == 3


def test_means_and_effects_by_hand() -> None:
    X = pd.DataFrame({"frequency": [9, 8, 9, 1, 1, 2], "avg_order_value": [20, 25, 22, 90, 80, 85]})
    a, b = profile(X, [0, 0, 0, 1, 1, 1])
    assert a.means["frequency"] == pytest.approx(26 / 3)
    assert a.overall["frequency"] == pytest.approx(5.0)
    sd = X["frequency"].std(ddof=0)
    assert a.effects["frequency"] == pytest.approx((26 / 3 - 5) / sd, abs=1e-4)
    assert a.effects["frequency"] == pytest.approx(-b.effects["frequency"], abs=1e-4)
    assert a.top[0] in {"frequency", "avg_order_value"}
    assert a.name == "frequent low-basket customers"


def test_noise_is_unclustered_and_listed_last() -> None:
    X = pd.DataFrame({"frequency": [9, 8, 9, 1, 1, 2, 50]})
    profiles = profile(X, [0, 0, 0, 1, 1, 1, -1])
    assert [p.id for p in profiles] == [0, 1, -1]
    assert profiles[-1].name == NOISE_NAME


def test_twins_get_further_words_then_numbers() -> None:
    X = pd.DataFrame({"frequency": [9, 9, 9, 9, 1, 1], "share_mobile": [1, 1, 0, 0, 0.5, 0.5]})
    names = {p.id: p.name for p in profile(X, [0, 0, 1, 1, 2, 2])}
    assert names[0] != names[1]
    assert "mobile" in names[0]
    assert "desktop" in names[1]
    same = pd.DataFrame({"frequency": [9, 9, 9, 9, 1, 1]})
    listed = [p.name for p in profile(same, [0, 0, 1, 1, 2, 2])]
    assert listed[:2] == ["frequent customers", "frequent customers (2)"]


def test_own_words_and_features_without_words() -> None:
    X = pd.DataFrame({"loyalty_points": [900, 800, 950, 10, 20, 15]})
    plain = profile(X, [0, 0, 0, 1, 1, 1])
    assert plain[0].name == "customers with high loyalty points"
    worded = profile(X, [0, 0, 0, 1, 1, 1], words={"loyalty_points": ("loyal", "casual")})
    assert [p.name for p in worded] == ["loyal customers", "casual customers"]
    with pytest.raises(ValueError, match="word when high, word when low"):
        profile(X, [0, 0, 0, 1, 1, 1], words={"loyalty_points": "loyal"})


def test_windowed_features_use_their_stem() -> None:
    X = pd.DataFrame({"orders_30d": [9, 8, 9, 0, 1, 0]})
    assert profile(X, [0, 0, 0, 1, 1, 1])[0].name == "frequent customers"


def test_a_column_without_values_in_a_cluster_is_none_and_quiet() -> None:
    # customers who never ordered have no basket value
    X = pd.DataFrame(
        {"frequency": [5, 6, 7, 0, 0, 0], "avg_order_value": [20, 30, 25, None, None, None]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        buyers, others = profile(X, [0, 0, 0, 1, 1, 1])
    assert others.means["avg_order_value"] is None
    assert others.effects["avg_order_value"] == 0.0
    assert buyers.means["avg_order_value"] == pytest.approx(25.0)


def test_labels_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match=r"labels has shape \(2,\), expected \(3,\)"):
        profile(pd.DataFrame({"a": [1, 2, 3]}), [0, 1])
