"""Ingestion end to end on small files with hand-checked answers, into a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.errors import ConfigError
from segmint.ingest import IngestReport, ingest
from tests.conftest import write


def project(tmp_path: Path, body: str) -> Path:
    head = "project: t\nwarehouse: duckdb:///.segmint/w.duckdb\ntimezone: UTC\n"
    return write(tmp_path / "segmint.yaml", head + textwrap.dedent(body))


def run(tmp_path: Path, **kw: object) -> IngestReport:
    return ingest(load_config(tmp_path), **kw)  # type: ignore[arg-type]


def query(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / ".segmint" / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def rules_of(report: IngestReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in report.files:
        for rule, info in f.rules.items():
            out[rule] = out.get(rule, 0) + info["rows"]
    return out


EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id,session_id,product_id,price,device,country
e1,product_view,2024-03-01 10:00:00,,a1,s1,p1,9.5,Mobile,Germany
e2,add_to_cart,2024-03-01 10:01:00,,a1,s1,p1,9.5,iPhone,DE
e3,login,2024-03-01 10:02:00,c1,a1,s1,,,mobile,de
e4,purchase,2024-03-01 10:03:00,c1,,s1,p1,9.5,PC,United Kingdom
e4,purchase,2024-03-01 10:03:00,c1,,s1,p1,9.5,PC,United Kingdom
e5,teleport,2024-03-01 10:04:00,c1,,s1,,,desktop,UK
e6,product_view,2024-13-45 10:00:00,c2,,s2,p2,5,desktop,EIRE
e7,product_view,2099-01-01 00:00:00,c2,,s2,p2,5,desktop,RSA
e8,product_view,1970-01-01 00:00:00,c2,,s2,p2,5,desktop,USA
e9,product_view,2024-03-02 09:00:00,,,s3,p2,5,desktop,FR
e10,product_view,2024-03-02 09:00:00,c2,,s2,p2,-5,toaster,Atlantis
e4,purchase,2024-03-01 10:03:00,c1,,s1,p1,9.5,desktop,FR
"""


def test_dirty_events_are_quarantined_by_rule_and_every_row_is_counted(tmp_path: Path) -> None:
    """Each dirty row lands under the rule it breaks; input = loaded + duplicates + rejected."""
    write(tmp_path / "events.csv", EVENTS)
    project(tmp_path, "sources:\n  - {name: web, path: events.csv, table: events}\n")
    report = run(tmp_path)
    (f,) = report.files
    assert f.status == "loaded" and f.balanced
    assert f.records == 12
    assert rules_of(report) == {
        "event_type_allowed": 1,  # teleport
        "ts_type": 1,  # month 13
        "ts_future": 1,
        "ts_too_old": 1,
        "identity_required": 1,  # e9: no customer, anonymous or device id
        "price_range": 1,  # -5 (the row also has an unknown device and country)
    }
    assert f.rejected == 6
    # e4 three times: an exact duplicate and a key duplicate (same event_id, other values)
    assert f.duplicates == 2
    assert f.loaded == 4
    assert f.records == f.loaded + f.duplicates + f.rejected
    rows = dict(query(tmp_path, "SELECT event_id, device FROM events"))
    assert rows == {"e1": "mobile", "e2": "mobile", "e3": "mobile", "e4": "desktop"}
    countries = dict(query(tmp_path, "SELECT event_id, country FROM events"))
    assert countries == {"e1": "DE", "e2": "DE", "e3": "DE", "e4": "GB"}


def test_rejected_row_keeps_original_values_and_all_its_reasons(tmp_path: Path) -> None:
    write(tmp_path / "events.csv", EVENTS)
    project(tmp_path, "sources:\n  - {name: web, path: events.csv, table: events}\n")
    run(tmp_path)
    (row,) = query(
        tmp_path,
        "SELECT source, rule, action, message, \"row\" FROM quarantine WHERE rule = 'price_range'",
    )
    source, rule, action, message, original = row
    assert (source, rule, action) == ("web", "price_range", "rejected")
    # one row breaks three rules: all are named in the message
    assert "price=-5.0 is below the minimum 0" in message
    assert "device=toaster is not a known device" in message
    assert "country=Atlantis is not an ISO 3166 country" in message
    assert json.loads(original)["country"] == "Atlantis"


def test_unknown_values_are_removed_and_recorded_but_the_row_kept(tmp_path: Path) -> None:
    write(
        tmp_path / "crm.csv",
        "customer_id,country,gender,age\nc1,Narnia,Frau,30\nc2,Unspecified,x,40\nc3,UK,robot,50\n",
    )
    project(tmp_path, "sources:\n  - {name: crm, path: crm.csv, table: customers}\n")
    report = run(tmp_path)
    assert report.files[0].loaded == 3 and report.files[0].rejected == 0
    assert rules_of(report) == {"country_unknown": 1, "gender_vocabulary": 1}
    got = query(tmp_path, "SELECT customer_id, country, gender FROM customer_records ORDER BY 1")
    # 'Unspecified' is a known way to say "no country": null without a finding
    assert got == [("c1", None, "female"), ("c2", None, "other"), ("c3", "GB", None)]
    assert query(tmp_path, "SELECT count(*) FROM quarantine WHERE action = 'nullified'") == [(2,)]


def test_rule_action_can_be_overridden_in_the_project_file(tmp_path: Path) -> None:
    write(tmp_path / "crm.csv", "customer_id,country\nc1,Narnia\nc2,DE\n")
    project(
        tmp_path,
        "rules: {country_unknown: reject}\n"
        "sources:\n  - {name: crm, path: crm.csv, table: customers}\n",
    )
    report = run(tmp_path)
    assert report.files[0].rejected == 1 and report.files[0].loaded == 1


def test_nullify_removes_the_offending_value_and_keeps_the_row(tmp_path: Path) -> None:
    """Regression: with `age_range: nullify` the row was kept but its age of -4 stayed in it.

    A nullify on a required column (an unknown event type) still rejects the row."""
    write(tmp_path / "crm.csv", "customer_id,age,signup_at\nc1,-4,2020-01-02\nc2,30,soon\n")
    write(
        tmp_path / "ev.csv",
        "event_id,event_type,ts,customer_id\ne1,teleport,2020-01-01,c1\ne2,search,2020-01-01,c1\n",
    )
    project(
        tmp_path,
        "rules: {age_range: nullify, type: nullify, event_type_allowed: nullify}\n"
        "sources:\n  - {name: crm, path: crm.csv, table: customers}\n"
        "  - {name: web, path: ev.csv, table: events}\n",
    )
    report = run(tmp_path)
    crm, web = report.files
    assert (crm.loaded, crm.rejected, crm.nullified) == (2, 0, 2)
    assert query(
        tmp_path, "SELECT customer_id, age, signup_at FROM customer_records ORDER BY 1"
    ) == [("c1", None, dt.datetime(2020, 1, 2)), ("c2", 30, None)]
    assert (web.loaded, web.rejected) == (1, 1)


def test_rules_that_can_only_reject(tmp_path: Path) -> None:
    """A nullify for a missing required value has nothing to remove: refused with the reason."""
    project(tmp_path, "rules: {ts_required: nullify}\n")
    with pytest.raises(ConfigError, match="'ts_required' can only reject"):
        load_config(tmp_path / "segmint.yaml")


def test_negative_and_impossible_ages_use_rule_age_range(tmp_path: Path) -> None:
    write(
        tmp_path / "crm.csv", "customer_id,age,birth_year\nc1,-4,\nc2,121,\nc3,35,1989\nc4,,1800\n"
    )
    # three of four rows are bad on purpose: not a wrong option (max_quarantined_share)
    project(
        tmp_path,
        "sources:\n  - {name: crm, path: crm.csv, table: customers, max_quarantined_share: 1}\n",
    )
    report = run(tmp_path)
    assert rules_of(report) == {"age_range": 2, "birth_year_range": 1}
    assert query(tmp_path, "SELECT customer_id, age FROM customer_records") == [("c3", 35)]


def test_rerun_is_idempotent_and_new_files_append(tmp_path: Path) -> None:
    """Regression: re-running ingest on the same inputs must not duplicate rows."""
    write(tmp_path / "ev" / "day1.csv", EVENTS)
    project(tmp_path, "sources:\n  - {name: web, path: ev/*.csv, table: events}\n")
    first = run(tmp_path)
    assert first.files[0].loaded == 4
    second = run(tmp_path)
    assert [f.status for f in second.files] == ["skipped"]
    forced = run(tmp_path, force=True)
    assert forced.files[0].loaded == 0 and forced.files[0].already_loaded == 4
    assert forced.files[0].balanced
    assert query(tmp_path, "SELECT count(*) FROM events") == [(4,)]
    # the quarantine of a re-read file is replaced, not doubled
    assert query(tmp_path, "SELECT count(*) FROM quarantine WHERE action='rejected'") == [(6,)]
    write(
        tmp_path / "ev" / "day2.csv",
        "event_id,event_type,ts,customer_id\ne4,purchase,2024-03-01 10:03:00,c1\n"
        "e20,search,2024-03-03 08:00:00,c1\n",
    )
    third = run(tmp_path)
    assert [f.status for f in third.files] == ["skipped", "loaded"]
    assert third.files[1].loaded == 1 and third.files[1].already_loaded == 1
    assert query(tmp_path, "SELECT count(*) FROM events") == [(5,)]


def test_crm_upsert_keeps_the_newest_record(tmp_path: Path) -> None:
    write(
        tmp_path / "crm" / "a.csv",
        "customer_id,city,updated_at\nc1,Berlin,2024-01-01\nc1,Hamburg,2024-02-01\nc2,Rome,2024-01-01\n",
    )
    project(tmp_path, "sources:\n  - {name: crm, path: crm/*.csv, table: customers}\n")
    r1 = run(tmp_path)
    assert r1.files[0].duplicates == 1  # c1 twice in one file: the newer wins
    write(
        tmp_path / "crm" / "b.csv",
        "customer_id,city,updated_at\nc1,Munich,2024-03-01\nc2,Naples,2023-01-01\n",
    )
    r2 = run(tmp_path)
    assert r2.files[1].updated == 1  # c1 replaced by a newer record; c2's is older
    got = query(tmp_path, "SELECT customer_id, city FROM customer_records ORDER BY 1")
    assert got == [("c1", "Munich"), ("c2", "Rome")]


def test_cancellations_are_returns_not_errors(tmp_path: Path) -> None:
    write(
        tmp_path / "tx.csv",
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "100,A,2,2011-06-01 10:00:00,3.0,7,United Kingdom\n"
        "100,B,1,2011-06-01 10:00:00,5.0,7,United Kingdom\n"
        "C101,A,-1,2011-06-02 10:00:00,3.0,7,United Kingdom\n"
        "102,D,-3,2011-06-03 10:00:00,0,,United Kingdom\n",
    )
    project(
        tmp_path,
        """\
        timezone: Europe/London
        sources:
          - name: tx
            path: tx.csv
            table: order_lines
            columns: {order_id: InvoiceNo, product_id: StockCode, quantity: Quantity,
                      ts: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID,
                      country: Country}
            returns: {order_id_prefix: C}
        """.replace("timezone: UTC\n", ""),
    )
    cfg_text = (tmp_path / "segmint.yaml").read_text().replace("timezone: UTC\n", "", 1)
    (tmp_path / "segmint.yaml").write_text(cfg_text)
    report = run(tmp_path)
    assert report.files[0].rejected == 0 and report.files[0].loaded == 4
    orders = query(tmp_path, "SELECT order_id, status, is_return, total, ts FROM orders ORDER BY 1")
    from datetime import datetime

    assert orders == [
        # British Summer Time: 10:00 in London is 09:00 UTC
        ("100", "placed", False, 11.0, datetime(2011, 6, 1, 9, 0)),
        ("102", "returned", True, -0.0, datetime(2011, 6, 3, 9, 0)),
        ("C101", "cancelled", True, -3.0, datetime(2011, 6, 2, 9, 0)),
    ]
    (prof,) = query(tmp_path, "SELECT n_orders, n_returns, revenue FROM customers")
    assert prof == (1, 1, 8.0)  # net revenue after the cancellation


def test_timestamps_with_offsets_ignore_the_project_zone(tmp_path: Path) -> None:
    write(
        tmp_path / "ev.csv",
        "event_id,event_type,ts,customer_id\n"
        "a,search,2024-07-01T12:00:00+02:00,c\nb,search,2024-07-01T12:00:00Z,c\n"
        "c,search,2024-07-01 12:00:00,c\nd,search,2024-01-15 12:00,c\n",
    )
    project(tmp_path, "sources:\n  - {name: web, path: ev.csv, table: events}\n")
    text = (tmp_path / "segmint.yaml").read_text().replace("UTC", "America/New_York")
    (tmp_path / "segmint.yaml").write_text(text)
    run(tmp_path)
    got = {e: ts.strftime("%H:%M") for e, ts in query(tmp_path, "SELECT event_id, ts FROM events")}
    assert got == {"a": "10:00", "b": "12:00", "c": "16:00", "d": "17:00"}


def test_malformed_csv_lines_are_quarantined(tmp_path: Path) -> None:
    write(
        tmp_path / "ev.csv",
        "event_id,event_type,ts,customer_id\na,search,2024-01-01,c\nb,search\n"
        "c,search,2024-01-01,c,extra,fields\nd,search,2024-01-02,c\n",
    )
    project(tmp_path, "sources:\n  - {name: web, path: ev.csv, table: events}\n")
    report = run(tmp_path)
    f = report.files[0]
    assert (f.records, f.loaded, f.rejected) == (4, 2, 2), f.message
    assert rules_of(report) == {"csv_malformed": 2}
    assert f.balanced


@pytest.mark.parametrize(
    ("content", "status", "needle"),
    [
        (b"", "empty", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "failed", "PNG"),
        (b"\x00\x01\x02garbage", "failed", "binary data"),
        (b"PK\x03\x04xl/workbook.xml", "failed", "Excel"),
        (b"event_id,kind\n1,x\n", "failed", "no column"),
    ],
)
def test_unreadable_files_fail_alone_with_a_clear_message(
    tmp_path: Path, content: bytes, status: str, needle: str
) -> None:
    """A bad file among good ones is reported; the good file still loads (no crash)."""
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a_bad.csv").write_bytes(content)
    write(
        tmp_path / "ev" / "b_good.csv",
        "event_id,event_type,ts,customer_id\nx,search,2024-01-01,c\n",
    )
    project(
        tmp_path,
        "sources:\n  - name: web\n    path: ev/*.csv\n    table: events\n"
        "    columns: {event_id: event_id, event_type: event_type, ts: ts,\n"
        "              customer_id: customer_id}\n",
    )
    report = run(tmp_path)
    bad, good = report.files
    assert bad.status == status and needle in bad.message
    assert good.status == "loaded" and good.loaded == 1


def test_missing_file_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    project(tmp_path, "sources:\n  - name: web\n    path: nowhere/*.csv\n    table: events\n")
    with pytest.raises(ConfigError) as exc:
        run(tmp_path)
    assert "segmint.yaml:6" in str(exc.value) and "no file matches" in str(exc.value)


def test_ndjson_parquet_and_zip_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "ev.ndjson",
        '{"event_id": "n1", "event_type": "search", "ts": "2024-01-01 10:00", "customer_id": 1}\n'
        "{not json}\n"
        '{"event_id": "n2", "event_type": "cart", "ts": "2024-01-01 10:05:00", "customer_id": 1}\n',
    )
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'p' || i AS event_id, 'page_view' AS event_type, "
        f"TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS ts, 'c9' AS customer_id "
        f"FROM range(5) t(i)) TO '{tmp_path / 'ev.parquet'}' (FORMAT parquet)"
    )
    import zipfile

    with zipfile.ZipFile(tmp_path / "ev.zip", "w") as zf:
        zf.writestr("inner.csv", "event_id,event_type,ts,customer_id\nz1,login,2024-01-01,c\n")
    project(
        tmp_path,
        """\
        sources:
          - {name: nd, path: ev.ndjson, table: events}
          - {name: pq, path: ev.parquet, table: events}
          - {name: zp, path: ev.zip, table: events}
        """,
    )
    report = run(tmp_path)
    by = {f.source: f for f in report.files}
    assert (by["nd"].loaded, by["nd"].rejected) == (2, 1)
    assert rules_of(report) == {"json_malformed": 1}
    assert by["pq"].loaded == 5 and by["zp"].loaded == 1
    types = dict(query(tmp_path, "SELECT event_id, event_type FROM events WHERE _source='nd'"))
    assert types == {"n1": "search", "n2": "add_to_cart"}  # 'cart' is a known alias


def test_expressions_constants_and_value_maps(tmp_path: Path) -> None:
    """The clickstream shape: no timestamp column, no event type, coded values."""
    write(
        tmp_path / "clicks.csv",
        "year;month;day;order;session ID;page 2 (clothing model);colour\n"
        "2008;4;1;1;7;A13;1\n2008;4;1;2;7;B4;2\n",
    )
    project(
        tmp_path,
        """\
        sources:
          - name: clicks
            path: clicks.csv
            table: events
            columns:
              event_id: {expr: "\\"session ID\\" || '-' || \\"order\\""}
              event_type: {value: product_view}
              ts: {expr: "make_timestamp(year::INT, month::INT, day::INT, 0, 0, \\"order\\"::INT)"}
              anonymous_id: {expr: "'session-' || \\"session ID\\""}
              session_id: session ID
              product_id: page 2 (clothing model)
              channel: colour
            values: {channel: {"1": email, "2": social}}
        """,
    )
    report = run(tmp_path)
    assert report.files[0].loaded == 2, report.files[0].message
    got = query(tmp_path, "SELECT event_id, anonymous_id, ts, channel FROM events ORDER BY 1")
    assert [(r[0], r[1], r[2].isoformat(), r[3]) for r in got] == [
        ("7-1", "session-7", "2008-04-01T00:00:01", "email"),
        ("7-2", "session-7", "2008-04-01T00:00:02", "social"),
    ]


def test_custom_table_keeps_typed_columns(tmp_path: Path) -> None:
    write(tmp_path / "s.csv", "Visits,Bounce Rate,Weekend\n3,0.2,TRUE\n,0.1,FALSE\n5,0.3,TRUE\n")
    project(
        tmp_path,
        "sources:\n  - {name: sess, path: s.csv, table: shopper_sessions, required: [visits]}\n",
    )
    report = run(tmp_path)
    f = report.files[0]
    assert (f.loaded, f.rejected) == (2, 1)
    assert rules_of(report) == {"visits_required": 1}
    types = dict((c[0], c[1]) for c in query(tmp_path, "DESCRIBE shopper_sessions"))
    assert (types["visits"], types["bounce_rate"], types["weekend"]) == (
        "BIGINT",
        "DOUBLE",
        "BOOLEAN",
    )
