"""``segmint segment``, ``segments list|show|export`` and ``report`` as a user drives them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from segmint.generate import generate_shop
from segmint.privacy import generate_key
from tests.report.test_report import _chromium
from tests.test_cli import flat, says, segmint


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A generated shop (with its own segments and a clustering), ingested and segmented."""
    out = tmp_path_factory.mktemp("cli-shop")
    shop = generate_shop(out, customers=800, days=60, seed=5)
    env = {"SEGMINT_KEY": generate_key()}
    config = shop.config_path
    text = config.read_text().replace("k: auto\n    k_range: [3, 8]", "k: 3\n    stability: 2")
    config.write_text(text)
    segmint("ingest", "-c", config, env=env)
    yield config, env


def test_segment_prints_every_segment_and_the_clustering(shop: tuple[Path, dict]) -> None:
    config, env = shop
    out = segmint("segment", "-c", config, env=env).output
    says(out, "scored by RFM", "Clustering behaviour (v", "bootstrap stability ARI")
    for name in ("rfm_champions", "behaviour_0", "behaviour_2", "browsers", "mobile_first"):
        assert name in out
    assert "report: segmint report" in flat(out)


def test_segments_list_show_and_export(shop: tuple[Path, dict], tmp_path: Path) -> None:
    config, env = shop
    segmint("segment", "-c", config, env=env)
    listing = segmint("segments", "list", "-c", config, env=env).output
    says(listing, "browsers", "rule", "rfm_lost", "behaviour_1", "cluster")
    show = segmint("segments", "show", "browsers", "-c", config, env=env).output
    says(show, "Looked at products, bought nothing", "Size at each computation")
    target = tmp_path / "browsers.csv"
    segmint("segments", "export", "browsers", "-c", config, "--out", target, env=env)
    with target.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"customer_id", "entered_at", "score"}
    pq_target = tmp_path / "b.parquet"
    segmint(
        "segments",
        "export",
        "behaviour_0",
        "-c",
        config,
        "--format",
        "parquet",
        "--out",
        pq_target,
        env=env,
    )
    assert pq.read_table(pq_target).num_rows > 0


def test_report_has_every_section_and_renders_in_chromium(shop: tuple[Path, dict]) -> None:
    config, env = shop
    segmint("segment", "-c", config, env=env)
    out = segmint("report", "-c", config, env=env).output
    path = Path(flat(out).split("report: ")[1].split()[0])
    html = path.read_text()
    for title in ("Segments", "RFM tiers", "Clustering behaviour"):
        assert f"<h2>{title}</h2>" in html
    charts = path.with_suffix("")
    assert sorted(p.suffix for p in charts.iterdir()).count(".png") >= 4
    chromium = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    url = path.resolve().as_uri()
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            assert page.title().startswith("segmint segments")
            assert page.locator("svg").count() >= 4
            box = page.locator("svg").first.bounding_box()
            assert box is not None and box["width"] > 100
        finally:
            browser.close()
    assert requests == [url]


def test_bad_rules_are_reported_with_their_line(tmp_path: Path) -> None:
    write_dir = tmp_path / "p"
    write_dir.mkdir()
    (write_dir / "lines.csv").write_text("order_id,product_id,ts,customer_id\n1,a,2024-01-01,c\n")
    (write_dir / "segmint.yaml").write_text(
        "project: p\nsources:\n  - {name: s, path: lines.csv, table: order_lines}\n"
        "segments:\n  - name: x\n    rule: count(purchase, 30d) >\n"
    )
    out = segmint("validate", "-c", write_dir, code=1).output
    says(out, "segmint.yaml:6: segments[0].rule: column 23: expected a number")
    out = segmint("segment", "-c", write_dir, code=2).output
    says(out, "segmint.yaml:6: segments[0].rule")


def test_segment_and_report_before_their_inputs_exist(tmp_path: Path) -> None:
    (tmp_path / "lines.csv").write_text("order_id,product_id,ts,customer_id\n1,a,2024-01-01,c\n")
    (tmp_path / "segmint.yaml").write_text(
        "project: p\nsources:\n  - {name: s, path: lines.csv, table: order_lines}\n"
    )
    says(segmint("segment", "-c", tmp_path, code=2).output, "segmint ingest")
    says(segmint("report", "-c", tmp_path, code=2).output, "segmint segment")


def test_segments_list_shows_segments_defined_over_the_api(shop: tuple[Path, dict]) -> None:
    """Regression (issue 15): a segment defined over the API was listed without its rule, or
    not at all before the next ``segmint segment``."""
    from segmint.config import load_config
    from segmint.realtime import Runtime

    config, env = shop
    rt = Runtime.open(load_config(config))
    try:
        rt.define("api_cart_fans", "count(add_to_cart, 30d) >= 2", "Carted twice")
        listing = flat(segmint("segments", "list", "-c", config, env=env).output)
    finally:
        rt.undefine("api_cart_fans")
        rt.close()
    says(listing, "api_cart_fans", "rule (api)", "count(add_to_cart, 30d) >= 2")
