"""Two routes to one answer: the batch compiler (Ibis, in the warehouse) and the per-profile
evaluator (compiled Python) give the same value for random rules on random customers.

Values are whole numbers and halves and times whole seconds, so both routes compute exactly
the same floats; nulls, empty windows, window boundaries, division by zero, strings with
LIKE wildcards and membership of other segments are all drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.segments.rules import Catalog, Columns, Profile, aggregate_events, compile_rule
from segmint.segments.rules._ibis import aggregates
from segmint.warehouse import IbisWarehouse, connect

T = datetime(2024, 3, 1)
CATALOG = Catalog(
    {"n1": "number", "n2": "number", "s1": "string", "b1": "bool"},
    event_types=("product_view", "add_to_cart", "purchase"),
    segments=frozenset({"vip"}),
)
WORDS = ("mobile", "desktop", "Dresses", "paid_search", "a%b", "")
DEVICES = ("mobile", "desktop", "tablet")

# --- random rules -------------------------------------------------------------------------

num_lit = st.one_of(st.integers(-3, 40).map(str), st.integers(-6, 60).map(lambda i: str(i / 2)))
str_lit = st.sampled_from(WORDS).map(lambda w: '"' + w + '"')
window = st.sampled_from(["1h", "1d", "7d", "30d", "2w"])
etype = st.sampled_from(["product_view", "add_to_cart", "purchase"])


def event_pred() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        etype,
        st.sampled_from(DEVICES).map(lambda d: f'device == "{d}"'),
        num_lit.map(lambda n: f"price > {n}"),
        st.just("quantity is null"),
        st.sampled_from(WORDS).map(lambda w: f'contains(category, "{w}")'),
    )
    return st.recursive(
        leaf,
        lambda p: st.one_of(
            st.tuples(p, p).map(lambda t: f"({t[0]} and {t[1]})"),
            st.tuples(p, p).map(lambda t: f"({t[0]} or {t[1]})"),
            p.map(lambda x: f"not ({x})"),
        ),
        max_leaves=3,
    )


def event_num() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just("price"),
        st.just("quantity"),
        st.just("price * quantity"),
        etype.map(lambda t: f"{t}.price"),
    )


def aggregate() -> st.SearchStrategy[str]:
    p = event_pred()
    where = st.one_of(st.just(""), p.map(lambda x: f" where {x}"))
    return st.one_of(
        st.tuples(st.one_of(p, st.just("*")), window).map(lambda t: f"count({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["sum", "avg", "min", "max"]), event_num(), where, window).map(
            lambda t: f"{t[0]}({t[1]}{t[2]}, {t[3]})"
        ),
        st.tuples(st.sampled_from(["product_id", "device", "price"]), where, window).map(
            lambda t: f"distinct({t[0]}{t[1]}, {t[2]})"
        ),
        st.tuples(p, where, window).map(lambda t: f"share({t[0]}{t[1]}, {t[2]})"),
        st.tuples(st.one_of(p, st.just("*")), st.one_of(st.just(""), window.map(", ".__add__))).map(
            lambda t: f"days_since({t[0]}{t[1]})"
        ),
        st.tuples(where, st.one_of(st.just(""), window.map(", ".__add__))).map(
            lambda t: f"last(price{t[0]}{t[1]})"
        ),
    )


def num_expr() -> st.SearchStrategy[str]:
    leaf = st.one_of(num_lit, st.sampled_from(["n1", "n2"]), aggregate())
    return st.recursive(
        leaf,
        lambda n: st.one_of(
            st.tuples(n, st.sampled_from("+-*/"), n).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            n.map(lambda x: f"-({x})"),
            n.map(lambda x: f"abs({x})"),
            st.tuples(n, n).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        ),
        max_leaves=4,
    )


def str_expr() -> st.SearchStrategy[str]:
    return st.one_of(
        str_lit,
        st.just("s1"),
        st.just("lower(s1)"),
        st.tuples(st.one_of(st.just(""), event_pred().map(" where ".__add__)), window).map(
            lambda t: f"last(device{t[0]}, {t[1]})"
        ),
        str_lit.map(lambda w: f"coalesce(s1, {w})"),
    )


def bool_expr() -> st.SearchStrategy[str]:
    n, s = num_expr(), str_expr()
    leaf = st.one_of(
        st.tuples(n, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), n).map(" ".join),
        st.tuples(s, st.sampled_from(["==", "!="]), s).map(" ".join),
        st.tuples(
            s, st.sampled_from(["in", "not in"]), st.lists(str_lit, min_size=1, max_size=3)
        ).map(lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"),
        st.tuples(n, st.sampled_from(["between", "not between"]), n, n).map(
            lambda t: f"{t[0]} {t[1]} {t[2]} and {t[3]}"
        ),
        st.tuples(st.one_of(n, s), st.sampled_from(["is null", "is not null"])).map(" ".join),
        st.sampled_from(["b1", 'in_segment("vip")', "true", "false"]),
        st.tuples(s, st.sampled_from(["startswith", "contains"]), str_lit).map(
            lambda t: f"{t[1]}({t[0]}, {t[2]})"
        ),
    )
    return st.recursive(
        leaf,
        lambda b: st.one_of(
            st.tuples(b, b).map(lambda t: f"({t[0]} and {t[1]})"),
            st.tuples(b, b).map(lambda t: f"({t[0]} or {t[1]})"),
            b.map(lambda x: f"not ({x})"),
        ),
        max_leaves=4,
    )


# --- random customers ---------------------------------------------------------------------

OFFSETS = [
    0,
    -1,
    -3600,
    -86_400,
    -7 * 86_400,
    -14 * 86_400,
    -30 * 86_400,
    -30 * 86_400 - 1,
    -45 * 86_400,
    3_600,
]
half = st.integers(-4, 60).map(lambda i: i / 2)
event = st.fixed_dictionaries(
    {
        "ts": st.one_of(
            st.sampled_from(OFFSETS), st.integers(-60 * 24, 24).map(lambda h: h * 3600)
        ).map(lambda s: T + timedelta(seconds=s)),
        "event_type": etype,
        "product_id": st.sampled_from(["p1", "p2", "p3", None]),
        "category": st.sampled_from([*WORDS, None]),
        "price": st.one_of(st.none(), half),
        "quantity": st.one_of(st.none(), st.integers(0, 4)),
        "device": st.sampled_from([*DEVICES, None]),
    }
)
customer = st.fixed_dictionaries(
    {
        "n1": st.one_of(st.none(), half),
        "n2": st.one_of(st.none(), st.integers(-2, 10)),
        "s1": st.sampled_from([*WORDS, "MOBILE", None]),
        "b1": st.sampled_from([True, False, None]),
        "vip": st.booleans(),
        "events": st.lists(event, max_size=6),
    }
)

EVENT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("ts", pa.timestamp("us")),
        ("event_type", pa.string()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("device", pa.string()),
    ]
)
BASE_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("n1", pa.float64()),
        ("n2", pa.int64()),
        ("s1", pa.string()),
        ("b1", pa.bool_()),
    ]
)


def arrow_table(rows: list[dict[str, Any]], schema: pa.Schema) -> ibis.Table:
    return ibis.memtable(pa.Table.from_pylist(rows, schema=schema))


def event_table(ids: list[str], people: list[dict[str, Any]]) -> ibis.Table:
    rows = [
        {"customer_id": c, **ev} for c, p in zip(ids, people, strict=True) for ev in p["events"]
    ]
    return arrow_table(rows, EVENT_SCHEMA)


def batch_values(wh: IbisWarehouse, text: str, people: list[dict[str, Any]]) -> dict[str, Any]:
    """customer -> the rule's value computed in the warehouse."""
    rule = compile_rule(text, CATALOG)
    ids = [f"c{i}" for i in range(len(people))]
    base = arrow_table(
        [{"customer_id": c, **p} for c, p in zip(ids, people, strict=True)], BASE_SCHEMA
    )
    events = event_table(ids, people)
    vip = arrow_table(
        [{"customer_id": c} for c, p in zip(ids, people, strict=True) if p["vip"]],
        pa.schema([("customer_id", pa.string())]),
    )
    names = {s.key: f"_agg{i}" for i, s in enumerate(rule.aggregates)}
    table = base
    if rule.aggregates:
        agg = aggregates(events, rule.aggregates, T, names)
        table = base.left_join(agg, "customer_id").drop("customer_id_right")
    cols = Columns(aggregates=names, segments=lambda name: vip)
    out = table.select("customer_id", value=rule.to_ibis(table, cols))
    return {r["customer_id"]: r["value"] for r in wh.to_arrow(out).to_pylist()}


def profile_values(text: str, people: list[dict[str, Any]]) -> dict[str, Any]:
    rule = compile_rule(text, CATALOG)
    out = {}
    for i, p in enumerate(people):
        values = {k: p[k] for k in ("n1", "n2", "s1", "b1")}
        prof = Profile(
            values=values,
            aggregates=aggregate_events(rule.aggregates, p["events"], T),
            segments={"vip"} if p["vip"] else set(),
        )
        out[f"c{i}"] = rule.evaluate(prof)
    return out


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


@pytest.fixture(scope="module")
def duck() -> Iterator[IbisWarehouse]:
    with connect("duckdb://:memory:") as wh:
        yield wh


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=bool_expr(), people=st.lists(customer, min_size=1, max_size=5))
def test_batch_and_profile_agree_on_duckdb(
    duck: IbisWarehouse, text: str, people: list[dict[str, Any]]
) -> None:
    got, want = batch_values(duck, text, people), profile_values(text, people)
    assert set(got) == set(want)
    for c in want:
        assert same(got[c], want[c]), (text, c, got[c], want[c])


@pytest.mark.postgres
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=bool_expr(), people=st.lists(customer, min_size=1, max_size=4))
def test_batch_and_profile_agree_on_postgres(
    pg_wh: IbisWarehouse, text: str, people: list[dict[str, Any]]
) -> None:
    got, want = batch_values(pg_wh, text, people), profile_values(text, people)
    for c in want:
        assert same(got[c], want[c]), (text, c, got[c], want[c])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agg=aggregate(), people=st.lists(customer, min_size=1, max_size=5))
def test_aggregates_agree(duck: IbisWarehouse, agg: str, people: list[dict[str, Any]]) -> None:
    """The numbers themselves, not only the verdicts, are equal."""
    text = f"({agg}) is null or ({agg}) is not null"
    rule = compile_rule(text, CATALOG)
    (spec,) = rule.aggregates
    ids = [f"c{i}" for i in range(len(people))]
    events = event_table(ids, people)
    got = {
        r["customer_id"]: r["v"]
        for r in duck.to_arrow(aggregates(events, [spec], T, {spec.key: "v"})).to_pylist()
    }
    for c, p in zip(ids, people, strict=True):
        want = aggregate_events([spec], p["events"], T)[spec.key]
        if c not in got:  # no events before T at all: zero or null, as the evaluator says
            assert want in (0, None) or not [e for e in p["events"] if e["ts"] < T]
            continue
        assert same(
            got[c] if got[c] is not None or spec.func not in ("count", "sum", "distinct") else 0,
            want,
        ), (spec.key, c, got[c], want)
