"""``segmint.open()`` and the Project: the library's front door, as a notebook user meets it."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pcsv
import pytest

import segmint
import segmint._project
from segmint.errors import ConfigError, NotFoundError
from segmint.generate import generate_shop
from segmint.privacy import generate_key
from segmint.segments._run import project_rules

from .conftest import REPO, copy_example


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[segmint.Project]:
    """A generated shop, ingested and segmented through the Project alone."""
    out = tmp_path_factory.mktemp("project-shop")
    made = generate_shop(out, customers=600, days=60, seed=11)
    text = made.config_path.read_text()
    made.config_path.write_text(
        text.replace("k: auto\n    k_range: [3, 8]", "k: 3\n    stability: 2")
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("SEGMINT_KEY", generate_key())
    project = segmint.open(out)
    assert project.ingest().failed == []
    project.segments.compute()
    yield project
    mp.undo()


def _agree(project: segmint.Project) -> dict[str, int]:
    """For every rule segment, the batch members and the rule on each customer's profile;
    returns the sizes, after asserting the two sets are equal."""
    profiles = project.profiles()
    with project.warehouse() as wh:
        rules = project_rules(project.config, wh)
    assert rules, "the project defines no rule segment"
    sizes = {}
    for name, rule in rules.items():
        batch = set(project.segments.members(name).column("customer_id").to_pylist())
        one_by_one = {cid for cid, p in profiles.items() if rule.matches(p)}
        assert batch == one_by_one, (name, sorted(batch ^ one_by_one)[:5])
        sizes[name] = len(batch)
    return sizes


def test_a_rule_on_one_profile_agrees_with_the_batch_on_every_customer(
    shop: segmint.Project,
) -> None:
    """Regression (issue 16, item 1): ``lapsing_vip`` evaluated on a member's profile said
    False, because the profile a user built lacked ``rfm_segment`` (another table); profiles
    now come from the table the batch computes rules on, so both answers are one."""
    sizes = _agree(shop)
    assert any(sizes.values())  # something to compare
    member = shop.segments.members("browsers").column("customer_id")[0].as_py()
    assert shop.check("browsers", member) is True
    assert "browsers" in shop.profile(member).segments


@pytest.fixture(scope="module")
def retail_sample(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``SEGMINT_DATA`` folder whose Online Retail file is every 40th line of the real one
    (13,548 lines over the whole year, so recency and RFM tiers mean what they do)."""
    root = tmp_path_factory.mktemp("retail-sample")
    (root / "online_retail").mkdir()
    with gzip.open(online_retail, "rt", encoding="utf-8") as src:
        lines = src.readlines()
    with gzip.open(root / "online_retail" / "online_retail.csv.gz", "wt", encoding="utf-8") as dst:
        dst.write(lines[0])
        dst.writelines(lines[1::40])
    return root


def test_the_online_retail_example_agrees_with_itself(
    retail_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rule of the Online Retail example (RFM tiers, in_segment chains, a model score
    that is not trained) on every customer of a year-long sample of the real file: one
    profile's answer is the batch's."""
    monkeypatch.setenv("SEGMINT_DATA", str(retail_sample))
    project = segmint.open(copy_example("online_retail", tmp_path / "retail"))
    assert project.ingest().failed == []
    project.segments.compute()
    sizes = _agree(project)
    assert sizes["lapsing_vip"] > 0 and sizes["uk_regulars"] > 0
    vip = project.segments.members("lapsing_vip").column("customer_id")[0].as_py()
    assert project.check("lapsing_vip", vip) is True
    assert project.profile(vip).values["rfm_segment"] in ("Champions", "Loyal")
    assert project.check('rfm_segment in ("Champions", "Loyal")', vip) is True


def test_as_of_computes_and_reads_at_another_time(tmp_path: Path, pii_key: str) -> None:
    """``Project.as_of`` is the same project at another time: a computation two weeks
    before the data's end, then one at its end; members as of each are that computation's."""
    made = generate_shop(tmp_path, customers=300, days=60, seed=4)
    project = segmint.open(made.config_path)
    assert project.ingest().failed == []
    with project.warehouse() as wh:
        end = segmint._project.default_as_of(wh)
    early = project.as_of(end - timedelta(days=14))
    first = early.segments.compute()
    project.segments.compute()
    assert [h["as_of"] for h in project.segments.history("browsers")] == [first.as_of, end]
    then = {r["customer_id"] for r in early.segments.members("browsers").to_pylist()}
    with project.warehouse() as wh:
        m = wh.table("segment_membership")
        kept = wh.to_arrow(m.filter(m.segment == "browsers", m.entered_at == first.as_of))
    assert then == set(kept.column("customer_id").to_pylist())
    with pytest.raises(ConfigError, match="not a date"):
        project.as_of("last tuesday")


def test_members_export_and_listing(shop: segmint.Project, tmp_path: Path) -> None:
    """Members export as Parquet or CSV (by suffix), and the listing says where each segment
    is defined and what it is (an RFM tier's definition included)."""
    out = tmp_path / "browsers.parquet"
    assert shop.segments.export("browsers", out) == shop.segments.members("browsers").num_rows
    csv_out = tmp_path / "browsers.csv"
    shop.segments.export("browsers", csv_out)
    assert pcsv.read_csv(csv_out).column_names == ["customer_id", "entered_at", "score"]
    with pytest.raises(ConfigError, match="csv or parquet"):
        shop.segments.export("browsers", tmp_path / "b.xlsx")
    listed = {s.name: s for s in shop.segments.list()}
    assert listed["browsers"].source == "segmint.yaml" and listed["browsers"].members is not None
    assert listed["rfm_champions"].definition == 'rfm_segment == "Champions"'


def test_opening_a_missing_or_invalid_project_names_the_file_and_key(tmp_path: Path) -> None:
    """Regression (issue 16, bad input): ``segmint.open`` on a missing file raised an
    AttributeError; it now raises ConfigError naming the file, or the key that is wrong."""
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        segmint.open(tmp_path / "nowhere.yaml")
    bad = tmp_path / "segmint.yaml"
    bad.write_text("project: demo\nsourcez: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sourcez"):
        segmint.open(tmp_path)
    with pytest.raises(ConfigError, match="takes a path"):
        segmint.open(42)  # type: ignore[arg-type]


def test_a_method_whose_inputs_are_missing_says_what_computes_them(tmp_path: Path) -> None:
    """Reading members, profiles or recommendations before they exist names the command
    (and the method) that computes them, instead of a bare table error."""
    made = generate_shop(tmp_path, customers=50, days=10, seed=3)
    project = segmint.open(made.config_path)
    with pytest.raises(NotFoundError, match="segmint segment"):
        project.segments.members("browsers")
    with pytest.raises(NotFoundError, match=r"segments\.compute"):
        project.profile("C0000001")
    with pytest.raises(NotFoundError, match="segmint recommend train"):
        project.recommend(["C0000001"])
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        project.models.spec("nope")


def test_recommendations_apply_the_shops_rules(shop: segmint.Project) -> None:
    """Regression (issue 16, item 1): the library's recommendations are the ones ``segmint
    recommend show`` prints: the saved model under the project's business rules (nothing
    already bought), with titles."""
    trained = shop.train_recommender(evaluate=False)
    assert trained.version
    buyers = trained.interactions.frame
    bought = buyers[buyers["event_type"] == "purchase"] if "event_type" in buyers else buyers
    some = sorted(set(bought["customer_id"].astype(str)))[:20]
    recs = shop.recommend(some, k=5)
    assert set(recs["customer_id"]) <= set(some) and len(recs)
    pairs = set(
        zip(bought["customer_id"].astype(str), bought["product_id"].astype(str), strict=True)
    )
    assert not any(
        (c, p) in pairs for c, p in zip(recs["customer_id"], recs["product_id"], strict=True)
    )
    assert "title" in recs.columns and "reason" in recs.columns


def test_the_package_offers_the_front_door_without_loading_it() -> None:
    """``import segmint`` stays light; ``segmint.open`` and ``segmint.Project`` load on use."""
    assert {"open", "Project", "Segments", "Models"} <= set(dir(segmint))
    assert segmint.open.__module__ == "segmint._project"


def test_the_library_walkthrough_runs(
    retail_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/library.md's walkthrough, every code block in order, on the real-data sample: the
    documented tour cannot go stale."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "library.md").read_text(), re.S)
    assert len(blocks) >= 6
    monkeypatch.setenv("SEGMINT_DATA", str(retail_sample))
    example = copy_example("online_retail", tmp_path / "examples" / "online_retail")
    # the documented calls, with a smaller search and a fixed k: the test is of the calls
    config = example / "segmint.yaml"
    text = config.read_text(encoding="utf-8").replace("search: 8", "search: 2")
    config.write_text(text.replace("k: auto\n    k_range: [3, 8]", "k: 4"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/library.md block {i + 1}", "exec"), scope)
    assert (tmp_path / "lapsing_vip.csv").exists()
    assert scope["info"].customers > 0  # type: ignore[attr-defined]
