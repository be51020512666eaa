"""Identity resolution: transitive merges, anonymous browsing joined at login, noisy ids."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import pytest

from segmint.config import IdentityConfig, load_config
from segmint.errors import NotFoundError
from segmint.identity import RESOLVED_ID, resolve_identities, resolved
from segmint.ingest import ingest
from segmint.privacy import PiiCipher, load_master_key
from segmint.profiles import customer_profile
from segmint.schema import T
from segmint.warehouse import IbisWarehouse, connect
from tests.conftest import SHARED_EMAIL, shared_email_project, write

CRM = """\
customer_id,email,crm_id
u1,Anna@Example.com,crm-1
u2, anna@example.com ,crm-2
u3,bob@example.com,crm-3
u4,test@shop.com,
u5,test@shop.com,
u6,test@shop.com,
"""
EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id
1,product_view,2024-01-01 10:00,,anon-x
2,add_to_cart,2024-01-01 10:01,,anon-x
3,login,2024-01-01 10:02,u3,anon-x
4,product_view,2024-01-02 10:00,,anon-y
5,purchase,2024-01-03 10:00,u2,
"""


def setup(tmp_path: Path, limit: int = 25) -> Path:
    write(tmp_path / "crm.csv", CRM)
    write(tmp_path / "ev.csv", EVENTS)
    write(
        tmp_path / "segmint.yaml",
        "project: id\nwarehouse: duckdb:///w.duckdb\npii: [email]\n"
        f"identity: {{max_accounts_per_identifier: {limit}}}\n"
        "sources:\n  - {name: crm, path: crm.csv, table: customers}\n"
        "  - {name: web, path: ev.csv, table: events}\n",
    )
    return tmp_path


def persons(root: Path) -> dict[str, str]:
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT identifier_type || ':' || identifier, customer_id FROM identities "
            "WHERE identifier_type <> 'email'"
        ).fetchall()
    return dict(rows)


def test_links_are_transitive_and_anonymous_browsing_joins_at_login(
    tmp_path: Path, pii_key: str
) -> None:
    report = ingest(load_config(setup(tmp_path, limit=2)))
    p = persons(tmp_path)
    # u1 and u2 share an e-mail (case and spaces differ): one person, keyed by the smaller id
    assert p["customer_id:u1"] == p["customer_id:u2"] == p["crm_id:crm-2"] == "u1"
    # anon-x browsed, then logged in as u3
    assert p["anonymous_id:anon-x"] == p["customer_id:u3"] == "u3"
    # anon-y never logged in: a person of their own, typed so it cannot collide
    assert p["anonymous_id:anon-y"] == "anonymous_id:anon-y"
    # test@shop.com is shared by 3 accounts > limit 2: not used to merge, and reported
    assert len({p["customer_id:u4"], p["customer_id:u5"], p["customer_id:u6"]}) == 3
    assert [n["accounts"] for n in report.identity.noisy] == [3]
    assert report.identity.merged_accounts == 2


def test_profile_counts_browsing_done_before_login(tmp_path: Path, pii_key: str) -> None:
    ingest(load_config(setup(tmp_path)))
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        got = dict(con.execute("SELECT customer_id, n_events FROM customers").fetchall())
    assert got["u3"] == 3  # two anonymous events and the login
    assert got["u1"] == 1  # the purchase made as u2
    # with the default limit, the three test@shop.com accounts merge into one
    assert "u5" not in got and "u6" not in got


def test_canonical_id_follows_the_priority(tmp_path: Path, pii_key: str) -> None:
    setup(tmp_path)
    cfg = load_config(tmp_path)
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        resolve_identities(wh, IdentityConfig(priority=["crm_id", "customer_id"]))
    assert persons(tmp_path)["customer_id:u2"] == "crm_id:crm-1"


def _stamps(root: Path) -> dict[str, str | None]:
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        return dict(con.execute("SELECT event_id, _resolved_id FROM events").fetchall())


def _both_routes(wh: IbisWarehouse, table: str) -> tuple[list[tuple], list[tuple]]:
    """A table resolved through its kept ids, and through the joins to ``identities``."""
    from segmint.identity import _joined

    def rows(t: ibis.Table) -> list[tuple]:
        return sorted(tuple(r.values()) for r in wh.to_arrow(t).to_pylist())

    raw = wh.table(table).drop(RESOLVED_ID)
    return rows(resolved(wh, table)), rows(_joined(wh, raw))


def test_kept_ids_follow_a_later_login(tmp_path: Path, pii_key: str) -> None:
    """A visitor browses anonymously; a later ingest brings the login that makes them u3's
    browsing, and the next one a visitor who stays anonymous. The ids kept on the rows
    follow each time, and agree with resolving through the identities table."""
    setup(tmp_path)
    write(tmp_path / "ev.csv", EVENTS.replace("3,login,2024-01-01 10:02,u3,anon-x\n", ""))
    cfg = load_config(tmp_path)
    ingest(cfg)
    before = _stamps(tmp_path)
    assert before["1"] == before["2"] == "anonymous_id:anon-x"
    assert before["5"] == "u1"  # u2 shares u1's e-mail
    write(
        tmp_path / "ev2.csv",
        "event_id,event_type,ts,customer_id,anonymous_id\n3,login,2024-01-01 10:02,u3,anon-x\n",
    )
    write(
        tmp_path / "segmint.yaml",
        (tmp_path / "segmint.yaml").read_text()
        + "  - {name: web2, path: ev2.csv, table: events}\n",
    )
    cfg = load_config(tmp_path)
    ingest(cfg)
    after = _stamps(tmp_path)
    assert after["1"] == after["2"] == after["3"] == "u3"
    assert after["4"] == "anonymous_id:anon-y" and after["5"] == "u1"
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        for table in (T.EVENTS, T.CUSTOMER_RECORDS):
            kept, joined = _both_routes(wh, table)
            assert kept == joined
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        got = dict(con.execute("SELECT customer_id, n_events FROM customers").fetchall())
    assert got["u3"] == 3 and "anonymous_id:anon-x" not in got


def test_rows_without_a_kept_id_are_resolved_through_identities(
    tmp_path: Path, pii_key: str
) -> None:
    """Rows written after the last resolution (not by ingest) have no kept id yet: the
    table is then resolved through ``identities``, as before ids were kept."""
    cfg = load_config(setup(tmp_path))
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        wh.execute(
            "INSERT INTO events (event_id, event_type, ts, anonymous_id) "
            "VALUES ('9', 'page_view', TIMESTAMP '2024-01-04 10:00:00', 'anon-x')"
        )
        kept, joined = _both_routes(wh, T.EVENTS)
        assert kept == joined
        e = resolved(wh, T.EVENTS)
        assert RESOLVED_ID not in e.columns
        row = wh.to_arrow(e.filter(e.event_id == "9")).to_pylist()[0]
        assert row["customer_id"] == "u3"
        resolve_identities(wh, IdentityConfig())
    assert _stamps(tmp_path)["9"] == "u3"


def test_a_shared_placeholder_email_is_no_phantom_customer(tmp_path: Path, pii_key: str) -> None:
    """Regression (issue 14, defect 6): an e-mail shared by more accounts than the limit was
    rightly not used for linking, but still became a customer ``email:<hash>`` with nothing
    attached (one customer too many). Now it is no customer and is reported."""
    shared_email_project(tmp_path)
    cfg = load_config(tmp_path)
    report = ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        shared_hash = PiiCipher(load_master_key()).hash(SHARED_EMAIL)
        ids = wh.to_arrow(wh.table(T.IDENTITIES)).to_pylist()
        customers = wh.to_arrow(wh.table(T.CUSTOMERS).select("customer_id")).to_pylist()
        shared = wh.to_arrow(wh.table(T.SHARED_IDENTIFIERS)).to_pylist()
    # five accounts, five customers; none keyed by an e-mail
    assert sorted(c["customer_id"] for c in customers) == ["s1", "s2", "s3", "s4", "s5"]
    assert report.identity.persons == 5
    assert report.tables[T.CUSTOMERS] == 5
    assert not any(i["identifier"] == shared_hash for i in ids)
    assert {i["customer_id"] for i in ids} == {"s1", "s2", "s3", "s4", "s5"}
    # the shared e-mail is reported (hashed, as stored) and kept where a look-up finds it
    assert report.identity.noisy == [
        {"identifier_type": "email", "identifier": shared_hash, "accounts": 4}
    ]
    assert shared == [{"identifier_type": "email", "identifier": shared_hash, "accounts": 4}]
    # the own e-mail still links to its account
    own = PiiCipher(load_master_key()).hash("own@example.com")
    assert {i["customer_id"] for i in ids if i["identifier"] == own} == {"s5"}
    # looking the shared e-mail up says why it finds no one, without quoting it
    with pytest.raises(NotFoundError, match="shared by 4 accounts") as exc:
        customer_profile(cfg, "NoReply@example.com")
    assert "noreply" not in str(exc.value).lower()
