"""The project file: every problem named with its line and key, paths and env resolved."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config import expand_env, load_config, parse_config
from segmint.errors import ConfigError
from tests.conftest import REPO

GOOD = """\
project: shop
timezone: Europe/London
sources:
  - name: tx
    path: data/tx.csv
    table: order_lines
    columns: {order_id: InvoiceNo, product_id: StockCode}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, base_dir=Path("."))
    return exc.value.problems


def test_a_valid_file_loads() -> None:
    cfg = parse_config(GOOD, base_dir=Path("/p"))
    assert cfg.sources[0].table == "order_lines"
    assert cfg.resolve(cfg.sources[0].path) == Path("/p/data/tx.csv")


def test_unknown_keys_name_line_and_suggestion() -> None:
    text = GOOD.replace("timezone", "timezon").replace("    columns", "    colums")
    assert problems(text) == [
        "segmint.yaml:2: timezon: unknown key (did you mean 'timezone'?)",
        "segmint.yaml:7: sources[0].colums: unknown key (did you mean 'columns'?)",
    ]


def test_mapping_to_a_column_the_table_does_not_have() -> None:
    (p,) = problems(GOOD.replace("product_id: StockCode", "prodct_id: StockCode"))
    assert p.startswith("segmint.yaml:7: sources[0].columns: 'prodct_id' is not a column")
    assert "did you mean 'product_id'" in p


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("Europe/London", "Europe/Londn"), "not an IANA time zone"),
        (("project: shop\n", ""), "project: required key is missing"),
        (("name: tx", "name: Tx-1"), "sources[0].name"),
        (("timezone:", "warehouse: mysql://x\ntimezone:"), "should start with duckdb://"),
        (("timezone:", "rules: {country_wrong: reject}\ntimezone:"), "does not name a rule"),
    ],
)
def test_invalid_values(change: tuple[str, str], needle: str) -> None:
    text = GOOD.replace(*change)
    assert any(needle in p for p in problems(text)), problems(text)


def test_invalid_yaml_names_the_line() -> None:
    (p,) = problems("project: x\nsources: [\n  - a: b\n")
    assert p.startswith("segmint.yaml:3: not valid YAML")


def test_two_sources_with_one_name() -> None:
    text = GOOD + "  - {name: tx, path: b.csv, table: events}\n"
    assert any("two sources are named 'tx'" in p for p in problems(text))


def test_environment_variables_in_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMINT_DATA", "/datasets")
    assert expand_env("${SEGMINT_DATA}/x.csv") == "/datasets/x.csv"
    assert expand_env("${SEGMINT_NOPE:-../d}/x.csv") == "../d/x.csv"
    monkeypatch.delenv("SEGMINT_DATA")
    assert expand_env("${SEGMINT_DATA:-../d}/x") == "../d/x"


def test_segmint_warehouse_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "segmint.yaml").write_text(GOOD)
    monkeypatch.setenv("SEGMINT_WAREHOUSE", "duckdb://:memory:")
    assert load_config(tmp_path).warehouse == "duckdb://:memory:"


def test_config_is_found_in_a_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "segmint.yaml").write_text(GOOD)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    assert load_config().base_dir == tmp_path.resolve()


def test_missing_project_file() -> None:
    with pytest.raises(ConfigError, match="segmint init"):
        load_config("/nonexistent/segmint.yaml")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["project", "sources", "pii", "warehouse", "timezone", "identity", "rules", "junk"]
        ),
        yaml_values,
        max_size=5,
    )
)
def test_any_document_gives_a_config_or_a_config_error(doc: dict) -> None:
    """Whatever a user writes, the answer is a config or a ConfigError, never a crash."""
    import yaml

    try:
        parse_config(yaml.safe_dump(doc), base_dir=Path("."))
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("segmint.yaml") for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text, base_dir=Path("."))


@pytest.mark.parametrize("text", ["0000-0-0 0:00:00", "as_of: 2024-13-45", "x: 2024-02-30 1:00:00"])
def test_an_impossible_yaml_date_is_a_config_error(text: str) -> None:
    """Regression: a scalar YAML reads as a date that cannot exist (year 0, month 13) escaped
    as a ValueError from the YAML loader instead of a ConfigError (found by hypothesis)."""
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_config(text, base_dir=Path("."))


def test_a_bare_equals_sign_is_a_config_error() -> None:
    """Regression: ``=`` alone is YAML's "value" tag, which the safe loader cannot build; it
    escaped as yaml's ConstructorError instead of a ConfigError (found by hypothesis)."""
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("=", base_dir=Path("."))


@pytest.mark.parametrize(
    ("fees", "needle"),
    [
        ("{product_id_pattern: '[A-Z'}", "is not a regular expression"),
        ("{title_pattern: '^(?!gift)'}", "look-around or back-reference"),
        ("{title_pattern: '^P(?i:ost)age'}", "must open the pattern"),
        ("{product_ids: ['']}", "empty id"),
        ("{revenue: maybe}", "sources[0].fees.revenue"),
        ("{product_idz: [POST]}", "did you mean 'product_ids'"),
    ],
)
def test_a_bad_fees_rule_is_named(fees: str, needle: str) -> None:
    """Regression (issue 16, item 5): the fees: rule is evaluated by DuckDB at ingest and by
    the warehouse (PostgreSQL) when it changes; a pattern one engine reads differently, or
    not at all, is refused in the project file instead of failing or disagreeing at ingest."""
    text = GOOD + f"    fees: {fees}\n"
    assert any(needle in p for p in problems(text)), problems(text)


def test_fees_belong_to_an_order_lines_source() -> None:
    """Regression (issue 16, item 5): fees: on another source would silently mark nothing."""
    text = GOOD.replace("table: order_lines", "table: events").replace(
        "    columns: {order_id: InvoiceNo, product_id: StockCode}\n", ""
    )
    (p,) = problems(text + "    fees: {product_ids: [POST]}\n")
    assert "move it to the order_lines source" in p


def test_the_online_retail_example_declares_its_fee_codes() -> None:
    """The example marks Online Retail's postage, charges and adjustments as fee lines."""
    cfg = load_config(REPO / "examples" / "online_retail" / "segmint.yaml")
    fees = cfg.sources[0].fees
    assert {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE", "C2", "CRUK"} <= set(fees.product_ids)
    assert fees.revenue == "include"
