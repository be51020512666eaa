"""``segmint recommend evaluate|train|show`` as a user drives them: on a RecBole-style file,
and on a generated shop ingested into its project."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from segmint.generate import generate_shop
from segmint.privacy import generate_key
from segmint.warehouse import connect
from tests.test_cli import flat, rows, says, segmint

EVERY_MODEL = ("popularity", "item_knn", "als", "bpr", "ease", "hybrid")


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RecBole atomic file of two communities: 60 customers rate 6 of 12 ``a`` items, 30
    rate 6 of 12 ``b`` items, at random times."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for comm, users in (("a", 60), ("b", 30)):
        for u in range(users):
            for it in rng.choice(12, size=6, replace=False):
                when = 1_700_000_000 + int(rng.integers(0, 10**6))
                lines.append(f"{comm}{u}\t{comm}-{it}\t{rng.integers(1, 6)}.0\t{when}.0")
    path = tmp_path_factory.mktemp("ratings") / "shop.inter"
    path.write_text("\n".join(lines) + "\n")
    return path


def evaluate_args(ratings: Path, *extra: object) -> list[object]:
    return [
        "recommend",
        "evaluate",
        "--interactions",
        ratings,
        "--split",
        "stratified",
        "--test-size",
        "0.25",
        "--k",
        "10",
        "--search",
        "0",
        *extra,
    ]


def test_evaluate_a_file_prints_every_model_and_writes_chart_and_table(
    ratings: Path, tmp_path: Path
) -> None:
    chart, table = tmp_path / "out.svg", tmp_path / "table.csv"
    out = segmint(*evaluate_args(ratings, "--chart", chart, "--out", table)).output
    # 540 ratings, a quarter of each customer's 6 items (round(1.5) = 2) held out
    says(out, "Offline evaluation: stratified split, 360 train / 180 test interactions, k=10")
    # too wide for 120 columns with whole headers: printed in two parts, each led by the model
    first, rest = rows(out)[: len(EVERY_MODEL)], rows(out)[len(EVERY_MODEL) :]
    assert [r[0] for r in first] == [r[0] for r in rest] == list(EVERY_MODEL)
    says(out, "precision@10", "hit_rate@10", "ndcg vs pop")
    says(out, "blend weights:", f"chart: {chart}", f"table: {table}")
    assert chart.read_text().lstrip().startswith("<svg")
    with table.open() as f:
        written = list(csv.DictReader(f))
    assert [r["model"] for r in written] == list(EVERY_MODEL)
    assert {"precision@10", "ndcg@10", "ndcg_vs_popularity"} <= set(written[0])
    by_model = {r["model"]: r for r in written}
    assert float(by_model["popularity"]["ndcg_vs_popularity"]) == pytest.approx(1.0)
    assert float(by_model["ease"]["ndcg@10"]) > float(by_model["popularity"]["ndcg@10"])
    # the printed table says what the CSV says
    printed = {r[0]: r for r in first}
    assert printed["ease"][3] == f"{float(by_model['ease']['ndcg@10']):.4f}"


def test_evaluate_a_headerless_file_with_columns(ratings: Path, tmp_path: Path) -> None:
    """Regression (issue 22, defect 1): a headerless user-item file was refused and there was
    no option to name its columns; --columns names them in file order, --min-rating keeps
    the ratings that count as implicit feedback."""
    bare = tmp_path / "bare.tsv"
    lines = ratings.read_text().splitlines()[1:]  # the same ratings without a header
    bare.write_text(
        "\n".join(
            "\t".join(reversed(line.split("\t")[:2])) + "\t" + "\t".join(line.split("\t")[2:])
            for line in lines
        )
        + "\n"
    )
    args = evaluate_args(bare, "--columns", "item,user,rating,timestamp", "--models", "ease")
    out = segmint(*args).output
    says(out, "360 train / 180 test interactions")
    liked = segmint(*args, "--min-rating", "4").output
    kept = sum(float(line.split("\t")[2]) >= 4 for line in lines)
    assert kept < len(lines)
    says(liked, "interactions, k=10")
    total = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) (?:train|test)", flat(liked))][
        :2
    ]
    assert sum(total) == kept


def test_evaluate_a_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.inter"
    out = segmint("recommend", "evaluate", "--interactions", missing, code=2).output
    says(out, f"error: interactions file '{missing}' does not exist")


def test_evaluate_a_bogus_split_names_the_valid_ones(ratings: Path) -> None:
    args = evaluate_args(ratings)
    args[args.index("stratified")] = "bogus"
    out = segmint(*args, code=2).output
    says(out, "split method='bogus' should be one of", "'stratified'", "'temporal'")
    says(out, "'leave_last_out'")


def test_evaluate_a_zero_k_or_test_size_is_refused(ratings: Path) -> None:
    """Regression: ``--k 0`` and ``--test-size 0`` were read as "not given" (``k or rc.k``)
    and silently replaced by the defaults instead of being refused."""
    args = evaluate_args(ratings)
    args[args.index("--k") + 1] = "0"
    says(segmint(*args, code=2).output, "k=0 should be")
    args = evaluate_args(ratings)
    args[args.index("--test-size") + 1] = "0"
    says(segmint(*args, code=2).output, "test_size=0.0 should be a number in (0, 1)")


def test_evaluate_a_bad_chart_suffix_is_refused(ratings: Path, tmp_path: Path) -> None:
    """Regression: ``save_chart`` ran outside the command's error handling, so ``--chart
    c.txt`` ended in a ConfigError traceback instead of a message."""
    out = segmint(*evaluate_args(ratings, "--chart", tmp_path / "c.txt"), code=2).output
    says(out, "'c.txt': use a .svg, .png or .html file")


# --- a project ------------------------------------------------------------------------------

RECOMMEND = """
recommend:
  search: 0
  models: [popularity, ease, item_knn, content]
"""


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str | None]]]:
    """A small generated shop, ingested, with few models and no search (fast)."""
    shop = generate_shop(tmp_path_factory.mktemp("cli-rec"), customers=120, days=30, seed=4)
    config = shop.config_path
    assert "\nrecommend:" not in config.read_text()
    config.write_text(config.read_text() + RECOMMEND)
    env: dict[str, str | None] = {"SEGMINT_KEY": generate_key()}
    segmint("ingest", "-c", config, env=env)
    yield config, env


def test_show_before_train_says_to_train(project: tuple[Path, dict[str, str | None]]) -> None:
    config, env = project
    # the same project with a home where nothing was ever trained
    untrained = config.parent / "untrained.yaml"
    untrained.write_text(config.read_text() + "home: .untrained\n")
    out = segmint("recommend", "show", "C0000001", "-c", untrained, code=2, env=env).output
    says(out, "no recommender has been trained yet (run `segmint recommend train`)")


def test_train_then_show_with_context(project: tuple[Path, dict[str, str | None]]) -> None:
    config, env = project
    out = segmint("recommend", "train", "-c", config, env=env).output
    says(
        out,
        "Offline evaluation: temporal split",
        "recommender v0001, a hybrid (",
        "recommendations written",
    )
    says(out, "to the recommendations table")
    with connect(f"duckdb:///{config.parent / '.segmint' / 'warehouse.duckdb'}") as wh:
        written = wh.to_arrow(wh.table("recommendations")).to_pandas()
    assert (written.model_version == "v0001").all()
    # a customer with a history: their recommendations say why
    customer = written[written.strategy == "blend"].customer_id.iloc[0]
    shown = segmint(
        "recommend", "show", customer, "-c", config, "--context", "device=mobile", env=env
    ).output
    says(shown, "Recommendations (v0001)")
    body = rows(shown)
    assert len(body) == 5 and {r[0] for r in body} == {customer}
    assert [r[1] for r in body] == ["1", "2", "3", "4", "5"]
    reasons = [r[5] for r in body]
    assert all(reasons) and any(r.startswith(("because you", "similar to")) for r in reasons)
    # a customer nobody has seen gets the popular picks
    cold = segmint("recommend", "show", "nobody-at-all", "-c", config, env=env).output
    says(cold, "popular with all customers", "cold_start")


def test_show_context_without_a_value_is_refused(
    project: tuple[Path, dict[str, str | None]],
) -> None:
    config, env = project
    out = segmint(
        "recommend", "show", "C0000001", "-c", config, "--context", "nokey", code=2, env=env
    ).output
    says(out, "'nokey': expected key=value", "--context")


def test_show_an_unknown_version_lists_the_trained_ones(
    project: tuple[Path, dict[str, str | None]],
) -> None:
    config, env = project
    if not (config.parent / ".segmint" / "recommenders").exists():
        segmint("recommend", "train", "-c", config, "--skip-evaluation", env=env)
    out = segmint(
        "recommend", "show", "C0000001", "-c", config, "--version", "v0042", code=2, env=env
    ).output
    says(out, "recommender version 'v0042' not found; have ['v0001'")


def test_evaluate_prints_no_blas_thread_warning(ratings: Path) -> None:
    """Regression (issue 22, defect 8): every `recommend evaluate` printed implicit's OpenBLAS
    thread-pool warning unless the user set OPENBLAS_NUM_THREADS; segmint limits BLAS itself."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    args = [str(a) for a in evaluate_args(ratings, "--models", "als,bpr")]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("segmint")), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ndcg@10" in done.stdout
    assert "OpenBLAS" not in done.stderr + done.stdout and "threadpool" not in done.stderr
