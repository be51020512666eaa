"""The synthetic shop: deterministic, counted dirt, and a ground truth ingestion recovers."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.generate import GeneratedShop, generate_shop
from segmint.ingest import ingest

# which quarantine rule (or de-duplication) each injected kind of dirty row must end up in
REJECTED_AS = {
    "events_bad_ts": ("web_events", "ts_type"),
    "events_future_ts": ("web_events", "ts_future"),
    "events_too_old_ts": ("web_events", "ts_too_old"),
    "events_unknown_type": ("web_events", "event_type_allowed"),
    "events_no_identity": ("web_events", "identity_required"),
    "order_lines_bad_quantity": ("order_lines", "quantity_type"),
}
NULLIFIED_AS = {
    "customers_bad_email": ("crm", "email_format"),
    "customers_unknown_country": ("crm", "country_unknown"),
}


def _rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> GeneratedShop:
    return generate_shop(
        tmp_path_factory.mktemp("shop"), customers=1500, days=45, seed=11, events_per_file=20_000
    )


@pytest.fixture(scope="module")
def ingested(shop: GeneratedShop) -> duckdb.DuckDBPyConnection:
    """The shop ingested with its own segmint.yaml; a read-only connection to the warehouse."""
    mp = pytest.MonkeyPatch()
    from segmint.privacy import generate_key

    mp.setenv("SEGMINT_KEY", generate_key())
    try:
        report = ingest(load_config(shop.config_path))
    finally:
        mp.undo()
    assert report.balanced and not report.failed
    con = duckdb.connect(str(shop.out_dir / ".segmint" / "warehouse.duckdb"), read_only=True)
    truth = shop.out_dir / "truth"
    con.execute(f"CREATE TEMP TABLE truth AS FROM read_csv('{truth / 'customers.csv'}')")
    con.execute(f"CREATE TEMP TABLE anon AS FROM read_csv('{truth / 'anonymous.csv'}')")
    return con


def test_same_seed_same_bytes_other_seed_other_shop(tmp_path: Path) -> None:
    """Benchmarks and ground-truth tests rely on a seed reproducing the shop byte for byte."""
    a = generate_shop(tmp_path / "a", customers=300, days=20, seed=5)
    b = generate_shop(tmp_path / "b", customers=300, days=20, seed=5)
    c = generate_shop(tmp_path / "c", customers=300, days=20, seed=6)
    for kind, paths in a.files.items():
        for pa_, pb in zip(paths, b.files[kind], strict=True):
            assert pa_.read_bytes() == pb.read_bytes(), pa_.name
    assert (a.out_dir / "events-0000.csv").read_bytes() != (
        c.out_dir / "events-0000.csv"
    ).read_bytes()
    assert a.counts == b.counts and a.injected == b.injected


def test_files_hold_the_counted_rows(shop: GeneratedShop) -> None:
    """`counts` and `events_per_file` are what the files hold, so benchmarks can trust them."""
    for kind in ("customers", "products", "orders", "order_lines"):
        assert len(_rows(shop.files[kind][0])) == shop.counts[kind], kind
    sizes = [len(_rows(p)) for p in shop.files["events"]]
    assert sum(sizes) == shop.counts["events"]
    assert len(sizes) >= 2 and all(s == 20_000 for s in sizes[:-1]) and sizes[-1] <= 20_000
    injected = json.loads((shop.out_dir / "truth" / "injected.json").read_text())
    assert injected == shop.injected and all(v > 0 for v in injected.values())


def test_the_shop_looks_like_a_shop(shop: GeneratedShop) -> None:
    """Personas, buyer stages, a funnel and returns: what segmentation tests need to find."""
    truth = _rows(shop.out_dir / "truth" / "customers.csv")
    assert len(truth) == shop.counts["customers"]
    personas = Counter(r["persona"] for r in truth)
    assert len(personas) >= 5 and min(personas.values()) >= 20
    assert {r["buyer_stage"] for r in truth} >= {"dreamer", "searcher", "ready_to_buy"}
    # CRM duplicates: some persons own two customer ids
    per_person = Counter(r["person_id"] for r in truth)
    assert 0 < sum(n > 1 for n in per_person.values()) < 0.1 * len(per_person)
    types = Counter(r["event_type"] for p in shop.files["events"] for r in _rows(p))
    funnel = [types[t] for t in ("product_view", "add_to_cart", "checkout_start", "purchase")]
    assert funnel == sorted(funnel, reverse=True) and funnel[-1] > 0
    lines = _rows(shop.files["order_lines"][0])
    assert any(r["quantity"].startswith("-") for r in lines), "returns are negative lines"
    countries = {r["country"] for r in _rows(shop.files["customers"][0])}
    assert len(countries) > 10, "countries arrive in mixed forms (names, codes)"


def test_ingest_sets_aside_exactly_the_injected_rows(
    shop: GeneratedShop, ingested: duckdb.DuckDBPyConnection
) -> None:
    """Every deliberately dirty row is caught by the rule meant for it, no more, no fewer."""
    q = dict(
        ((s, r), n)
        for s, r, n in ingested.execute(
            "SELECT source, rule, count(DISTINCT (file, record)) FROM quarantine GROUP BY ALL"
        ).fetchall()
    )
    inj = shop.injected
    for kind, key in REJECTED_AS.items():
        assert q.pop(key, 0) == inj[kind], kind
    for kind, key in NULLIFIED_AS.items():
        assert q.pop(key, 0) == inj[kind], kind
    assert q.pop(("crm", "age_range"), 0) == (
        inj["customers_negative_age"] + inj["customers_age_over_120"]
    )
    assert not q, f"rules that fired on clean rows: {q}"
    dups = inj["events_exact_duplicate"] + inj["events_duplicate_event_id"]
    loaded = ingested.execute("SELECT count(*) FROM events").fetchone()
    rejected = sum(inj[k] for k in REJECTED_AS if k.startswith("events_"))
    assert loaded == (shop.counts["events"] - dups - rejected,)


def test_identity_resolution_recovers_the_true_persons(ingested: duckdb.DuckDBPyConnection) -> None:
    """CRM duplicates (same e-mail, other case) and cookies that log in join their person; no
    two persons are ever merged.

    A CRM record rejected by a rule (a negative age, say) carries no identity links, so its
    person may stay split; that is the only split allowed.
    """
    ingested.execute(
        """
        CREATE TEMP TABLE owner AS
        SELECT i.customer_id AS canonical, t.person_id FROM identities i
          JOIN truth t ON i.identifier_type = 'customer_id' AND i.identifier = t.customer_id
        UNION ALL
        SELECT i.customer_id, a.person_id FROM identities i
          JOIN anon a ON i.identifier_type = 'anonymous_id' AND i.identifier = a.anonymous_id
        """
    )
    merged_persons = ingested.execute(
        "SELECT count(*) FROM (SELECT canonical FROM owner GROUP BY 1 "
        "HAVING count(DISTINCT person_id) > 1)"
    ).fetchone()
    split_persons = ingested.execute(
        """
        SELECT person_id FROM owner GROUP BY 1 HAVING count(DISTINCT canonical) > 1
        EXCEPT
        SELECT person_id FROM truth
        WHERE customer_id NOT IN (SELECT customer_id FROM customer_records)
        """
    ).fetchall()
    assert merged_persons == (0,)
    assert split_persons == []
    persons, linked_cookies = ingested.execute(
        "SELECT (SELECT count(DISTINCT person_id) FROM truth), "
        "(SELECT count(*) FROM anon a JOIN identities i ON i.identifier = a.anonymous_id)"
    ).fetchone()
    assert linked_cookies > persons / 2, "most persons browsed logged out before logging in"


def test_orders_add_up(ingested: duckdb.DuckDBPyConnection) -> None:
    """An order's total is its lines less their discounts, so revenue features can be checked."""
    off = ingested.execute(
        """
        SELECT count(*) FROM order_records o JOIN (
            SELECT order_id, sum(quantity * unit_price - coalesce(discount, 0)) AS net
            FROM order_lines WHERE quantity > 0 GROUP BY 1) l USING (order_id)
        WHERE abs(o.total - l.net) > 0.01
        """
    ).fetchone()
    assert off == (0,)


def test_events_target_and_gzip(tmp_path: Path) -> None:
    """`events=` scales activity to the asked size (what the 10M-event benchmark relies on)."""
    shop = generate_shop(tmp_path, customers=400, days=30, seed=2, events=60_000, fmt="csv.gz")
    assert abs(shop.counts["events"] / 60_000 - 1) < 0.1
    assert all(p.name.endswith(".csv.gz") for p in shop.files["events"])
    assert "events-*.csv.gz" in shop.config_path.read_text()
    assert sum(len(_rows(p)) for p in shop.files["events"]) == shop.counts["events"]


def test_clean_shop_and_bad_arguments(tmp_path: Path) -> None:
    """dirty_rate=0 gives a clean shop; out-of-range arguments fail before writing anything."""
    clean = generate_shop(tmp_path / "clean", customers=200, days=10, seed=1, dirty_rate=0)
    assert not any(clean.injected.values())
    with pytest.raises(ValueError, match=r"customers must be at least 1.*dirty_rate"):
        generate_shop(tmp_path / "bad", customers=0, days=10, dirty_rate=0.5)
    assert not (tmp_path / "bad").exists()
