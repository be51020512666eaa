"""``segmint train``, ``models list|show|promote`` and ``score`` as a user drives them, on a
slice of the real Online Shoppers sessions."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.test_cli import says, segmint

YAML = """project: shoppers
sources:
  - name: sessions
    path: sessions.csv
    table: shopper_sessions
    columns:
      session_id: {expr: "'s-' || _rec"}
      product_related: ProductRelated
      product_related_duration: ProductRelated_Duration
      bounce_rates: BounceRates
      exit_rates: ExitRates
      page_values: PageValues
      month: Month
      visitor_type: VisitorType
      weekend: Weekend
      revenue: Revenue
models:
  - name: purchase_intent
    entity: session
    table: shopper_sessions
    key: session_id
    label: {kind: column, column: revenue}
    search: 0
    folds: 3
"""


@pytest.fixture(scope="module")
def project(online_shoppers: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("cli-models")
    with online_shoppers.open() as src, (root / "sessions.csv").open("w") as dst:
        dst.writelines(itertools.islice(src, 4001))  # header + 4,000 real sessions
    (root / "segmint.yaml").write_text(YAML)
    segmint("ingest", "-c", root)
    yield root


@pytest.mark.realdata
def test_train_list_show_promote_score(project: Path) -> None:
    out = segmint("train", "purchase_intent", "-c", project).output
    says(
        out,
        "purchase_intent v0001: xgboost on 8 inputs",
        "baseline: majority",
        "baseline: logistic",
        "registered purchase_intent v0001",
    )
    segmint("train", "purchase_intent", "-c", project)
    listing = segmint("models", "list", "-c", project).output
    says(listing, "purchase_intent", "v0002")
    shown = segmint("models", "show", "purchase_intent", "--version", "1", "-c", project).output
    says(shown, "features: product_related", "content hash: sha256:", "libraries: python")
    says(
        segmint("models", "promote", "purchase_intent", "1", "-c", project).output,
        "purchase_intent v0001 is in production",
    )
    out = segmint("score", "purchase_intent", "-c", project).output
    says(out, "4,000 rows scored by purchase_intent v0001")
    con = duckdb.connect(str(project / ".segmint" / "warehouse.duckdb"), read_only=True)
    n, versions = con.execute("SELECT count(*), list(DISTINCT version) FROM scores").fetchone()
    assert (n, versions) == (4000, [1])


@pytest.mark.realdata
def test_mistakes_are_clear_messages(project: Path) -> None:
    says(
        segmint("train", "purchase_intnt", "-c", project, code=2).output,
        "no model named 'purchase_intnt'",
        "did you mean 'purchase_intent'",
    )
    says(segmint("models", "promote", "purchase_intent", "99", "-c", project, code=2).output, "99")
    says(segmint("models", "show", "nothing", "-c", project, code=2).output, "nothing")
