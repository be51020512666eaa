"""The data-quality report of an ingest run: JSON that accounts for every row, and an HTML page
that is self-contained (no fetch of any kind), shows the same numbers, and renders in a real
browser without a single network request.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from segmint.config import load_config
from segmint.ingest import ingest
from segmint.report import write_reports
from segmint.warehouse import connect
from tests.conftest import write

#: an event type that is an HTML tag fetching from the network, if the page let it through
PIXEL = "<img src=http://127.0.0.1:9/pixel.png>"
DAY1 = f"""\
event_id,event_type,ts,customer_id,anonymous_id,price,country
e1,product_view,2024-03-01 10:00:00,,a1,9.5,Germany
e2,add_to_cart,2024-03-01 10:01:00,,a1,9.5,DE
e3,login,2024-03-01 10:02:00,c1,a1,,de
e4,purchase,2024-03-01 10:03:00,c1,,9.5,United Kingdom
e4,purchase,2024-03-01 10:03:00,c1,,9.5,United Kingdom
e5,{PIXEL},2024-03-01 10:04:00,c1,,,UK
e6,product_view,2024-13-45 10:00:00,c3,,5,FR
e7,product_view,2024-03-02 09:00:00,c3,,-5,Atlantis
"""
DAY2 = """\
event_id,event_type,ts,customer_id,anonymous_id,price,country
e4,purchase,2024-03-01 10:03:00,c1,,9.5,United Kingdom
e8,search,2024-03-03 08:00:00,c3,,,Narnia
e9,search,2099-01-01 00:00:00,c3,,,FR
"""
CRM_A = """\
customer_id,age,country,updated_at
c1,34,DE,2024-01-01
c2,121,FR,2024-01-01
c3,28,Narnia,2024-01-01
"""
#: c1 is a newer record (replaces the stored one); c3's is older (kept as it was)
CRM_B = """\
customer_id,age,country,updated_at
c1,35,DE,2024-03-01
c3,29,IT,2023-01-01
"""
PROJECT = """\
project: report-shop
warehouse: duckdb:///.segmint/w.duckdb
sources:
  - {name: web, path: ev/*.csv, table: events}
  - {name: crm, path: crm/*.csv, table: customers}
"""
#: per source, by hand: input = loaded + duplicates + quarantined
SOURCES = {
    # day1: e1-e4 load, e4 again is a duplicate, e5 e6 e7 are rejected;
    # day2: e4 was loaded by day1, e8 loads without its country, e9 is in the future
    "web": {"records": 11, "loaded": 5, "duplicates": 2, "rejected": 4, "nullified": 1},
    # a: c1 and c3 load (c3 without its country), c2 is 121; b: c1 replaces, c3 is older
    "crm": {"records": 5, "loaded": 3, "duplicates": 1, "rejected": 1, "nullified": 1},
}
TOTALS = {"records": 16, "loaded": 8, "duplicates": 3, "rejected": 5, "nullified": 2}
RULES = {
    "web": {
        "event_type_allowed": ("rejected", 1),
        "ts_type": ("rejected", 1),
        "price_range": ("rejected", 1),
        "ts_future": ("rejected", 1),
        "country_unknown": ("nullified", 1),
    },
    "crm": {"age_range": ("rejected", 1), "country_unknown": ("nullified", 1)},
}
SUM_TEXT = "16 input rows = 8 loaded + 3 duplicates + 5 quarantined ✓ every row accounted for"


@dataclass
class Run:
    folder: Path
    data: dict[str, Any]
    json_path: Path
    html_path: Path

    @property
    def html(self) -> str:
        return self.html_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("report")
    write(folder / "ev" / "day1.csv", DAY1)
    write(folder / "ev" / "day2.csv", DAY2)
    write(folder / "crm" / "a.csv", CRM_A)
    write(folder / "crm" / "b.csv", CRM_B)
    write(folder / "segmint.yaml", PROJECT)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SEGMINT_WAREHOUSE", raising=False)
        cfg = load_config(folder)
        report = ingest(cfg)
    json_path, html_path = write_reports(report, cfg.home_dir / "reports")
    yield Run(folder, json.loads(json_path.read_text()), json_path, html_path)


class Page(HTMLParser):
    """Tags with their attributes, table rows as lists of cell texts, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._cell: list[str] | None = None
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []
            self.rows[-1].append("")
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.styles.append(data)
            return
        self.text.append(data)
        if self._cell is not None and self.rows:
            self.rows[-1][-1] = " ".join((self.rows[-1][-1] + " " + data).split())

    @property
    def flat_text(self) -> str:
        return " ".join(" ".join(self.text).split())


# --- JSON ------------------------------------------------------------------------------------


def test_json_accounts_for_every_row_per_file_per_source_and_in_total(run: Run) -> None:
    """input = loaded + duplicates + quarantined, for each file, each source and the run.

    Regression: a CRM record replaced by a newer one was counted twice as loaded (``loaded``
    already holds the replaced rows; the report added ``updated`` again), so the printed sum
    did not add up while still showing ✓."""
    d = run.data
    assert d["balanced"] is True
    for f in d["files"]:
        assert f["records"] == f["loaded"] + f["already_loaded"] + f["duplicates"] + f["rejected"]
    crm_b = next(f for f in d["files"] if f["path"].endswith("b.csv"))
    assert (crm_b["records"], crm_b["loaded"], crm_b["updated"]) == (2, 1, 1)
    keys = ("records", "loaded", "duplicates", "rejected", "nullified")
    got = {name: {k: s[k] for k in keys} for name, s in d["sources"].items()}
    assert got == SOURCES
    for s in d["sources"].values():
        assert s["records"] == s["loaded"] + s["duplicates"] + s["rejected"]
        assert s["files"] == 2 and s["skipped_files"] == s["failed_files"] == 0
    assert d["totals"] == TOTALS
    for k in keys:
        assert d["totals"][k] == sum(s[k] for s in d["sources"].values())


def test_json_has_rule_counts_and_example_rows(run: Run) -> None:
    """Each rule that fired: its action, its row count, what it means, and example rows with
    their file, record number, message and original values."""
    got = {
        src: {rule: (r["action"], r["rows"]) for rule, r in s["rules"].items()}
        for src, s in run.data["sources"].items()
    }
    assert got == RULES
    for s in run.data["sources"].values():
        for r in s["rules"].values():
            assert r["meaning"]
            assert 1 <= len(r["examples"]) <= 5
            assert {"file", "record", "message", "row"} <= set(r["examples"][0])
    (price,) = run.data["sources"]["web"]["rules"]["price_range"]["examples"]
    assert (price["file"], price["record"]) == ("day1.csv", 8)
    assert "price=-5.0 is below the minimum 0" in price["message"]
    assert "country=Atlantis is not an ISO 3166 country" in price["message"]
    assert json.loads(price["row"])["event_id"] == "e7"
    (future,) = run.data["sources"]["web"]["rules"]["ts_future"]["examples"]
    assert (future["file"], future["record"]) == ("day2.csv", 3)
    (age,) = run.data["sources"]["crm"]["rules"]["age_range"]["examples"]
    assert json.loads(age["row"]) == {
        "customer_id": "c2",
        "age": "121",
        "country": "FR",
        "updated_at": "2024-01-01",
    }


def test_json_agrees_with_the_warehouse(run: Run) -> None:
    """Two routes: the report's rule counts, file counts and table sizes are what the
    warehouse holds (``ingested_files`` had the same double count of replaced records)."""
    with connect("duckdb:///.segmint/w.duckdb", run.folder) as wh:
        q = wh.to_arrow("quarantine").to_pylist()
        tables = {t: wh.count(t) for t in run.data["tables"]}
        logged = wh.to_arrow("ingested_files").to_pylist()
    files = {
        f["path"]: (f["records"], f["loaded"], f["duplicates"] + f["already_loaded"], f["rejected"])
        for f in run.data["files"]
    }
    assert {
        f["path"]: (f["records"], f["loaded"], f["duplicates"], f["rejected"]) for f in logged
    } == files
    stored: dict[str, dict[str, tuple[str, int]]] = {}
    for row in q:
        action, n = stored.setdefault(row["source"], {}).get(row["rule"], (row["action"], 0))
        stored[row["source"]][row["rule"]] = (action, n + 1)
    assert stored == RULES
    assert tables == run.data["tables"]
    assert tables["events"] == 5 and tables["customer_records"] == 2


# --- HTML ------------------------------------------------------------------------------------

ALLOWED_URLS = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_html_is_self_contained(run: Run) -> None:
    """Nothing in the page can fetch: no script, stylesheet, image or frame, no URL in any
    attribute but the SVG namespaces, no ``url(...)`` or ``@import`` in the inline style.

    Regression: values from the data were not HTML-escaped (the template is ``.html.j2``,
    which autoescape did not cover), so an event type ``<img src=http://...>`` in a
    quarantined row became a real tag that fetched from the network when the report opened."""
    html = run.html
    assert "<script src=" not in html and "<link href=http" not in html
    fetch = r"""(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//"""
    assert [t for t in re.findall(r"<[a-zA-Z][^>]*>", html) if re.search(fetch, t)] == []
    page = Page(html)
    fetching = {"script", "link", "img", "iframe", "object", "embed", "source", "video", "audio"}
    assert not {tag for tag, _ in page.tags} & fetching
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if value and re.search(r"https?:|//", value):
                assert name.startswith("xmlns") and value in ALLOWED_URLS, (tag, name, value)
    style = "".join(page.styles)
    assert style and "url(" not in style and "@import" not in style
    # the data's tag is shown as text
    assert "&lt;img src=http://127.0.0.1:9/pixel.png&gt;" in html
    assert PIXEL in page.flat_text


def test_html_has_an_inline_svg_chart_of_the_rules(run: Run) -> None:
    html = run.html
    assert html.count("<svg") == 1
    svg = html[html.index("<svg") : html.index("</svg>")]
    labels = set(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    expected = {f"{src}: {rule}" for src, rules in RULES.items() for rule in rules}
    assert expected <= labels
    assert "Rows set aside or changed, by rule" in labels


def test_html_shows_the_numbers_of_the_json(run: Run) -> None:
    """The row sum, each source's counts, each rule's count and each file's counts, as in the
    JSON (and the sum is the one the run really added up)."""
    page = Page(run.html)
    text = page.flat_text
    assert SUM_TEXT in text
    assert f"{TOTALS['nullified']} rows were kept with a value removed" in text
    d = run.data
    for name, s in d["sources"].items():
        row = [
            name,
            str(s["files"]),
            *(str(s[k]) for k in ("records", "loaded", "duplicates", "rejected", "nullified")),
        ]
        assert row in page.rows
        for rule, r in s["rules"].items():
            assert f"{name} · {rule} · {r['action']} · {r['rows']} rows" in text
            for e in r["examples"]:
                assert e["message"] in text
    for f in d["files"]:
        loaded = f["loaded"]
        dups = f["duplicates"] + f["already_loaded"]
        row = [f["source"], f["path"], f["status"], str(f["records"]), str(loaded), str(dups)]
        assert any(r[:6] == row for r in page.rows), row
    for table, n in d["tables"].items():
        assert [table, f"{n:,}"] in page.rows


# --- a real browser --------------------------------------------------------------------------


def _chromium() -> str:
    path = os.environ.get("SEGMINT_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.skip(f"no Chromium at {path}: apt-get install chromium (make test does)")
    return path


@pytest.mark.browser
def test_html_renders_in_chromium_without_network_requests(run: Run) -> None:
    """Opened from disk in headless Chromium: the title, the row sum and a drawn chart show,
    nothing from the data became markup, and the page asks for nothing but itself."""
    chromium = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install 'segmint[browser]'"
    )
    url = run.html_path.resolve().as_uri()
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            # anything but the file itself is recorded and refused, never really fetched
            page.route(
                "**/*",
                lambda route: route.continue_() if route.request.url == url else route.abort(),
            )
            page.goto(url, wait_until="load")
            assert page.title() == "segmint data-quality report: report-shop"
            summary = page.locator("p.sum")
            assert summary.is_visible()
            assert SUM_TEXT in " ".join(summary.inner_text().split())
            box = page.locator("svg").first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            assert page.locator("img, script, iframe").count() == 0
            assert page.get_by_text(PIXEL).first.is_visible()
        finally:
            browser.close()
    assert requests == [url]
