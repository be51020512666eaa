"""The hybrid's fallback chain, the context re-ranker and the shop's business rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.errors import ConfigError
from segmint.recommend import (
    EASE,
    BusinessRules,
    ContextAware,
    Hybrid,
    Interactions,
    Popularity,
    apply_rules,
    context_values,
    recommend_with_rules,
)

pytestmark = pytest.mark.filterwarnings(
    # implicit converts BM25/cosine weights through COO internally; not ours to fix
    "ignore:Method expects CSR input:implicit.utils.ParameterWarning"
)

SHOES = [f"s{j}" for j in range(5)]
HATS = [f"h{j}" for j in range(5)]


# the hybrid's fallback chain ------------------------------------------------------------------


def two_communities() -> tuple[Interactions, pd.DataFrame, pd.Series, dict[str, str]]:
    """40 customers: a0-a19 chose four of five shoes, b0-b19 four of five hats.

    ``thin`` chose one shoe only. Segments place the a's (and ``newA``) in A, the b's (and
    ``newB``) in B, 21 each, above the fallback's 20-customer minimum.
    """
    rows, held = [], {}
    for products, prefix in ((SHOES, "a"), (HATS, "b")):
        for u in range(20):
            cid = f"{prefix}{u}"
            held[cid] = products[u % 5]
            rows += [(cid, p) for p in products if p != held[cid]]
    rows.append(("thin", "s0"))
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    catalogue = pd.DataFrame(
        {
            "product_id": SHOES + HATS,
            "title": [f"running shoe {p}" for p in SHOES] + [f"wool hat {p}" for p in HATS],
            "category": ["Shoes>Running"] * 5 + ["Hats>Winter"] * 5,
            "brand": ["Acme"] * 5 + ["Knit"] * 5,
        }
    )
    seg = {f"a{u}": "A" for u in range(20)} | {f"b{u}": "B" for u in range(20)}
    segments = pd.Series(seg | {"newA": "A", "newB": "B", "thin": "A"})
    return Interactions.from_frame(df), catalogue, segments, held


@pytest.fixture(scope="module")
def hybrid() -> tuple[Hybrid, dict[str, str]]:
    inter, catalogue, segments, held = two_communities()
    model = Hybrid(models=("ease", "item_knn", "content"), thin_history=3)
    return model.fit(inter, catalogue=catalogue, segments=segments), held


def test_rich_history_gets_the_blend(hybrid: tuple[Hybrid, dict[str, str]]) -> None:
    model, held = hybrid
    customers = ["a0", "a3", "b1", "b4"]
    out = model.recommend(customers, k=1)
    assert set(out["strategy"]) == {"blend"}
    assert out.set_index("customer_id")["product_id"].to_dict() == {c: held[c] for c in customers}


def test_thin_history_gets_content_and_segment_popularity(
    hybrid: tuple[Hybrid, dict[str, str]],
) -> None:
    model, _ = hybrid
    out = model.recommend(["thin"], k=4)
    assert set(out["strategy"]) == {"thin_history"}
    # one shoe bought: the other four shoes, by content and by segment A's popularity
    assert set(out["product_id"]) == set(SHOES) - {"s0"}
    assert set(out["reason"]) <= {
        "popular in your segment (A)",
        "similar to running shoe s0, which you chose",
    }


def test_unknown_customer_in_a_segment_gets_its_popularity(
    hybrid: tuple[Hybrid, dict[str, str]],
) -> None:
    model, _ = hybrid
    out = model.recommend(["newB", "newA"], k=5)
    by = out.groupby("customer_id", sort=False)
    assert list(by.groups) == ["newB", "newA"]
    assert set(by.get_group("newB")["product_id"]) == set(HATS)
    assert set(by.get_group("newA")["product_id"]) == set(SHOES)
    assert set(out["strategy"]) == {"cold_start"}
    assert set(by.get_group("newB")["reason"]) == {"popular in your segment (B)"}
    assert set(by.get_group("newA")["reason"]) == {"popular in your segment (A)"}


def test_unknown_customer_without_a_segment_gets_global_popularity(
    hybrid: tuple[Hybrid, dict[str, str]],
) -> None:
    model, _ = hybrid
    out = model.recommend(["nobody"], k=2)
    # every product has 16 customers, s0 has 17 (thin bought it too)
    assert out["product_id"].iloc[0] == "s0"
    assert out["score"].iloc[0] == pytest.approx(17, abs=1e-3)
    assert set(out["reason"]) == {"popular with all customers"}
    assert set(out["strategy"]) == {"cold_start"}


def test_one_call_mixes_every_path(hybrid: tuple[Hybrid, dict[str, str]]) -> None:
    model, _ = hybrid
    out = model.recommend(["nobody", "a1", "thin", "newB"], k=2)
    assert out.groupby("customer_id", sort=False)["strategy"].first().to_dict() == {
        "nobody": "cold_start",
        "a1": "blend",
        "thin": "thin_history",
        "newB": "cold_start",
    }
    assert all(r == [1, 2] for r in out.groupby("customer_id")["rank"].agg(list))


def test_weights_missing_a_member_weigh_zero() -> None:
    """Only EASE weighted: the hybrid ranks exactly as EASE alone (two routes, one answer)."""
    inter, *_ = two_communities()
    only = Hybrid(models=("ease", "item_knn"), weights={"ease": 1.0}).fit(inter)
    assert only.weights_ == {"ease": 1.0, "item_knn": 0.0}
    ease = EASE().fit(inter)
    customers = ["a0", "a7", "b2"]
    a = only.recommend(customers, k=6)[["customer_id", "product_id", "rank"]]
    b = ease.recommend(customers, k=6)[["customer_id", "product_id", "rank"]]
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weights": {"ease": -1.0, "item_knn": 1.0}}, "should be >= 0"),
        ({"weights": {"ease": 1.0, "bpr": 1.0}}, r"name \['bpr'\], not members"),
        ({"models": ()}, "models is empty"),
        ({"models": ("ease", "hybrid")}, "cannot be its own member"),
        ({"models": ("ease", "nope")}, "'nope' is unknown"),
    ],
)
def test_hybrid_validates_in_fit(params: dict, message: str) -> None:
    inter, *_ = two_communities()
    model = Hybrid(**{"models": ("ease", "item_knn"), **params})  # __init__ only stores
    with pytest.raises(ConfigError, match=message):
        model.fit(inter)


def test_hybrid_without_catalogue_skips_content() -> None:
    inter, *_ = two_communities()
    model = Hybrid(models=("ease", "content")).fit(inter)
    assert model.skipped_ == {"content": "no catalogue"}
    assert set(model.members_) == {"ease"}
    assert len(model.recommend(["a0"], k=2)) == 2


# context --------------------------------------------------------------------------------------


def by_device() -> Interactions:
    """A and B equally popular and each bought with C: A on mobile, B on desktop.

    ``probe`` bought only C (on a tablet), so the base model cannot tell A from B. D, bought
    once, is the least popular product: base scores are scaled to [0, 1] per customer before
    the context lift multiplies them, so a product at the minimum scores 0 whatever its lift.
    """
    rows = [(f"m{i}", p, "mobile") for i in range(10) for p in ("A", "C")]
    rows += [(f"d{i}", p, "desktop") for i in range(10) for p in ("B", "C")]
    rows += [("probe", "C", "tablet"), ("once", "D", "tablet"), ("once", "C", "tablet")]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "device"])
    return Interactions.from_frame(df, context=["device"])


@pytest.mark.parametrize("base", ["popularity", "ease"])
def test_context_device_reorders_equal_products(base: str) -> None:
    inter = by_device()
    plain = ContextAware(base=base, strength=1.0, smoothing=5.0).fit(inter)
    neutral = plain.recommend(["probe"], k=2)
    assert neutral["score"].iloc[0] == pytest.approx(neutral["score"].iloc[1])
    mobile = plain.recommend(["probe"], k=2, context={"device": "mobile"})
    desktop = plain.recommend(["probe"], k=2, context={"device": " Desktop "})
    assert mobile["product_id"].tolist() == ["A", "B"]
    assert desktop["product_id"].tolist() == ["B", "A"]
    assert mobile["score"].iloc[0] > mobile["score"].iloc[1]
    assert mobile["reason"].iloc[0].endswith("; popular on mobile")
    assert "; popular" not in mobile["reason"].iloc[1]
    # a device nobody used changes nothing
    unseen = plain.recommend(["probe"], k=2, context={"device": "watch"})
    np.testing.assert_allclose(unseen["score"], neutral["score"])


def test_context_lift_is_the_smoothed_share_ratio() -> None:
    inter = by_device()
    model = ContextAware(base="popularity", strength=1.0, smoothing=5.0).fit(inter)
    items = list(model.items_)
    # overall (43 rows, 4 products): shares with +1 smoothing; mobile: 20 rows, A 10 C 10
    overall = np.array([10, 10, 22, 1], float)
    share = (overall + 1) / (overall.sum() + 4)
    mobile = np.array([10, 0, 10, 0], float)
    expected = ((mobile + 5 * share) / (20 + 5)) / share
    assert items == ["A", "B", "C", "D"]
    np.testing.assert_allclose(model.boost({"device": "mobile"}), expected, rtol=1e-5)
    np.testing.assert_allclose(model.boost(None), 1.0)


def test_context_values_from_a_timestamp() -> None:
    # 2024-07-01 was a Monday
    assert context_values({"ts": "2024-07-01T20:00"}) == {
        "hour": "evening",
        "weekday": "0",
        "season": "summer",
    }
    assert context_values({"hour": 7, "device": " Mobile ", "country": "gb"}) == {
        "hour": "morning",
        "device": "mobile",
        "country": "GB",
    }
    assert context_values({"ts": "2024-01-06T03:00", "season": "Spring"})["season"] == "spring"
    assert context_values({"ts": "2024-01-06T03:00"})["hour"] == "night"
    assert context_values(None) == {}


def test_strength_zero_ranks_as_the_base_model() -> None:
    inter = by_device()
    rows = inter.frame.assign(device=np.where(np.arange(len(inter)) % 2, "mobile", "desktop"))
    inter = Interactions(rows)
    off = ContextAware(base="ease", params={"l2": 2.0}, strength=0.0).fit(inter)
    base = EASE(l2=2.0).fit(inter)
    ids = list(inter.users)
    cols = ["customer_id", "product_id", "rank", "reason_product_id"]
    for ctx in (None, {"device": "mobile"}, {"device": "desktop"}):
        pd.testing.assert_frame_equal(
            off.recommend(ids, k=2, context=ctx)[cols], base.recommend(ids, k=2)[cols]
        )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"strength": -0.1}, "strength=-0.1 should be >= 0"),
        ({"smoothing": 0.0}, "smoothing=0.0 > 0"),
        ({"base": "context"}, "cannot be another context model"),
    ],
)
def test_context_validates_in_fit(params: dict, message: str) -> None:
    model = ContextAware(**params)
    with pytest.raises(ConfigError, match=message):
        model.fit(by_device())


# business rules -------------------------------------------------------------------------------

#: products by how many other customers bought them, most first
SHOP = pd.DataFrame(
    {
        "product_id": ["p5", "p1", "p2", "p4", "p3", "p6", "p7", "p8"],
        "buyers": [8, 7, 6, 5, 4, 3, 1, 0],
        "category": ["Bags", "Shoes>Running", "Shoes>Trail", "Hats>Winter", "Hats>Caps",
                     "Bags>Tote", "Socks", "Socks"],
        "price": [40.0, 50.0, 55.0, 500.0, 20.0, 45.0, 30.0, 10.0],
        "in_stock": [False, True, True, True, True, True, True, True],
    }
)  # fmt: skip


def shop_history() -> Interactions:
    rows = [
        (f"{p}_{i}", p, "purchase")
        for p, n in zip(SHOP["product_id"], SHOP["buyers"], strict=True)
        for i in range(n)
    ]
    # the customer bought p8 and only looked at p7: p7 may be offered, p8 not
    rows += [("c", "p8", "purchase"), ("c", "p7", "product_view")]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "event_type"])
    return Interactions.from_frame(df, context=["event_type"])


RULES = BusinessRules(exclude_purchased=True, max_per_category=1, price_band=(0.5, 2.0))


def test_recommend_with_rules_applies_every_rule() -> None:
    history = shop_history()
    model = Popularity().fit(history)
    catalogue = SHOP.drop(columns="buyers")
    levels = pd.Series({"c": 40.0})  # band: 20 to 80
    out = recommend_with_rules(
        model, ["c"], k=3, rules=RULES, history=history, catalogue=catalogue, price_levels=levels
    )
    # p5 out of stock, p1 kept, p2 second Shoes, p4 too dear, p3 kept (20 is the band's edge),
    # p6 first Bags once p5 is gone
    assert out["product_id"].tolist() == ["p1", "p3", "p6"]
    assert out["rank"].tolist() == [1, 2, 3]
    wide = recommend_with_rules(
        model, ["c"], k=10, rules=RULES, history=history, catalogue=catalogue, price_levels=levels
    )
    # p7 was only viewed, so it stays; p8 was bought, so it goes
    assert wide["product_id"].tolist() == ["p1", "p3", "p6", "p7"]


def test_out_of_stock_is_never_returned() -> None:
    history = shop_history()
    model = Popularity().fit(history)
    loose = BusinessRules(exclude_purchased=False)
    out = recommend_with_rules(
        model, ["c", "stranger"], k=8, rules=loose, catalogue=SHOP.drop(columns="buyers")
    )
    assert "p5" not in set(out["product_id"])
    assert out.groupby("customer_id").size().to_dict() == {"c": 7, "stranger": 7}
    # without the rule it is the top product
    keep = BusinessRules(exclude_purchased=False, exclude_out_of_stock=False)
    top = recommend_with_rules(model, ["c"], k=1, rules=keep, catalogue=SHOP)
    assert top["product_id"].tolist() == ["p5"]


def test_apply_rules_on_candidates_renumbers_ranks() -> None:
    candidates = pd.DataFrame(
        {
            "customer_id": ["y"] * 4 + ["x"] * 4,
            "product_id": ["p1", "p2", "p3", "p6", "p8", "p2", "p4", "p3"],
            "score": [4.0, 3.0, 2.0, 1.0] * 2,
            "rank": [1, 2, 3, 4] * 2,
        }
    )
    history = Interactions(
        pd.DataFrame({"customer_id": ["x", "x"], "product_id": ["p8", "p3"], "weight": [1, -1]})
    )
    out = apply_rules(
        candidates,
        k=2,
        rules=RULES,
        history=history,
        catalogue=SHOP,
        price_levels=pd.Series({"x": 30.0, "y": 80.0}),
    )
    got = out.groupby("customer_id")["product_id"].agg(list).to_dict()
    # x (band 15-60): p8 bought, p2 kept, p4 too dear, p3 returned so offered again
    # y (band 40-160): p1 kept, p2 second Shoes, p3 too cheap, p6 kept
    assert got == {"x": ["p2", "p3"], "y": ["p1", "p6"]}
    assert out.groupby("customer_id")["rank"].agg(list).to_dict() == {"x": [1, 2], "y": [1, 2]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_per_category": 0}, "max_per_category=0 should be >= 1"),
        ({"price_band": (2.0, 0.5)}, r"price_band=\(2.0, 0.5\)"),
        ({"price_band": (-1.0, 2.0)}, "0 <= low < high"),
    ],
)
def test_business_rules_are_validated(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BusinessRules(**params)


# the served model: a hybrid inside the context re-ranker ----------------------------------------


def test_context_over_a_hybrid_keeps_the_fallback_chain(tmp_path) -> None:
    """Regression: a context model answered only customers it knew, so wrapping the hybrid
    lost its cold start; it now hands unknown customers to its base."""
    from segmint.recommend import load_model, save_model

    inter, catalogue, segments, _ = two_communities()
    model = ContextAware(
        base="hybrid", params={"models": ["ease", "item_knn"], "thin_history": 2}
    ).fit(inter, catalogue=catalogue, segments=segments)
    out = model.recommend(["a0", "nobody"], k=3)
    assert out.groupby("customer_id")["strategy"].first().to_dict() == {
        "a0": "blend",
        "nobody": "cold_start",
    }
    assert out["reason"].notna().all()
    path = save_model(model, tmp_path / "m.npz")
    again, _ = load_model(path)
    pd.testing.assert_frame_equal(again.recommend(["a0", "nobody"], k=3), out)


def test_evaluate_scores_the_hybrid_in_context() -> None:
    """``context`` beside ``hybrid`` in an evaluation is the hybrid re-ranked by each test
    customer's visit context, with the same blend weights."""
    from segmint.recommend import evaluate

    inter = by_device()
    ev = evaluate(inter, ["ease", "hybrid", "context"], split_method="stratified", seed=0)
    assert {"popularity", "ease", "hybrid", "context"} <= set(ev.table.index)
    served = ev.models["context"]
    assert served.base == "hybrid" and served.base_.weights_ == ev.models["hybrid"].weights_


def test_without_a_catalogue_short_histories_get_the_blend() -> None:
    """Regression: with no content member the thin-history mix was popularity alone, so on
    the clickstream a third of the sessions lost their one or two products' evidence."""
    inter, *_ = two_communities()
    model = Hybrid(models=("ease", "item_knn"), thin_history=3).fit(inter)
    out = model.recommend(["thin"], k=2)
    assert set(out["strategy"]) == {"blend"}
    # the blend reads the shoe they chose: shoes come first, not the overall favourites
    assert all(p.startswith("s") for p in out["product_id"])


def test_rules_widen_the_pool_for_a_customer_who_bought_the_favourites() -> None:
    """Regression: a wholesaler who had bought every product of the first candidate pool
    (k x 4) got no recommendations at all; the pool now widens until k are left."""
    rows = [(f"u{i}", f"p{j:02d}") for j in range(20) for i in range(20 - j)]
    rows += [("whale", f"p{j:02d}") for j in range(15)]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"]).assign(event_type="purchase")
    history = Interactions.from_frame(df, context=["event_type"])
    model = Popularity().fit(history)
    out = recommend_with_rules(model, ["whale"], k=3, rules=BusinessRules(), history=history)
    assert out["product_id"].tolist() == ["p15", "p16", "p17"]
    assert out["rank"].tolist() == [1, 2, 3]
