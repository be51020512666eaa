"""The rule language's parser and checker: what parses, what it means, and the errors users see."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segmint.errors import RuleError, RuleSyntaxError
from segmint.segments.rules import Catalog, Profile, compile_rule, default_catalog, parse
from segmint.segments.rules._ir import window_text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("count(purchase, 30d) > 5", 'count(event_type == "purchase", 30d) > 5'),
        ("COUNT(purchase,30d)>5 AND Country = 'DE'", None),
        (
            "count(product_view, 14d) >= 3 and count(purchase, 14d) == 0",
            'count(event_type == "product_view", 14d) >= 3 and '
            'count(event_type == "purchase", 14d) == 0',
        ),
        (
            'rfm_segment in ("Champions", "Loyal") and recency_days > 60',
            'rfm_segment in ("Champions", "Loyal") and recency_days > 60',
        ),
        (
            'country == "DE" and share(device == "mobile", 30d) > 0.5',
            'country == "DE" and share(device == "mobile", 30d) > 0.5',
        ),
        ("sum(purchase.price, 2w) > 100", 'sum(price where event_type == "purchase", 14d) > 100'),
        ("age between 18 and 25", "age between 18 and 25"),
        ("age not between 18 and 25", "age not between 18 and 25"),
        ("gender is not null", "gender is not null"),
        ("not (is_active or is_new)", "not (is_active or is_new)"),
        ("(a_b)", None),
        ("frequency - 1 - 1 > 0", "frequency - 1 - 1 > 0"),
        ("frequency - (1 - 1) > 0", "frequency - (1 - 1) > 0"),
        ("-monetary < 0", "-monetary < 0"),
        ("count(*, 12h) > 0", "count(*, 12h) > 0"),
        ('count(purchase where device == "mobile", 7d) > 0', None),
        ("days_since(purchase) < 30", 'days_since(event_type == "purchase") < 30'),
        ('last(category where purchase, 90d) == "Dresses"', None),
        ('in_segment("vip") or score(intent) > 0.7', 'in_segment("vip") or score("intent") > 0.7'),
    ],
)
def test_rules_parse_to_their_canonical_form(text: str, canonical: str | None) -> None:
    catalog = default_catalog({"a_b": "bool"})
    rule = compile_rule(text, catalog)
    if canonical is not None:
        assert rule.canonical == canonical
    # the canonical text is itself a rule with the same meaning
    assert compile_rule(rule.canonical, catalog).expr == rule.expr


def test_and_binds_tighter_than_or() -> None:
    rule = compile_rule("is_new or is_active and is_lapsed")
    assert rule.matches(Profile(values={"is_new": True, "is_active": False, "is_lapsed": False}))
    assert rule.canonical == "is_new or is_active and is_lapsed"


def test_reads_what_it_uses() -> None:
    rule = compile_rule(
        'count(purchase, 30d) > 5 and country == "DE" and count(purchase, 30d) < 50 '
        'and in_segment("vip") and score("churn") < 0.2'
    )
    assert [s.key for s in rule.aggregates] == ['count(event_type == "purchase", 30d)']
    assert rule.values == {"country"}
    assert rule.segments == {"vip"}
    assert rule.models == {"churn"}


def error(text: str, catalog: Catalog | None = None) -> RuleError:
    with pytest.raises(RuleError) as info:
        compile_rule(text, catalog)
    return info.value


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("count(purchase 30d) > 5", 16, ["expected ',' or ')'", "count()"]),
        ("recency_days > 60 and", 22, ["expected a number, a string", "end of the rule"]),
        ("(frequency > 1", 15, ["expected ')' to close the '(' at column 1"]),
        ("frequency > 2 frequency", 15, ["unexpected 'frequency'", "missing 'and' or 'or'"]),
        ("count(purchase, 30x) > 1", 17, ["'30x' is neither a number nor a window"]),
        ('country == "DE', 12, ["unterminated string"]),
        ("frequency > 1 )", 15, ["without its '('"]),
        ("age between 1 or 5", 15, ["'and' between the bounds"]),
        ("gender is empty", 11, ["'null' after 'is'"]),
        ("country in 'DE'", 12, ["'(' opening the list"]),
        ("country in (frequency)", 13, ["numbers, strings or true/false only"]),
        ("", 1, ["empty"]),
        ("monetary > 1 # note", 14, ["unexpected character '#'"]),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, words: list[str]) -> None:
    exc = error(text)
    assert isinstance(exc, RuleSyntaxError)
    assert exc.column == column, str(exc)
    for w in words:
        assert w in str(exc)
    # the message shows the rule with a caret under the column
    lines = str(exc).splitlines()
    if text:
        assert lines[1] == "  " + text
        assert lines[2].index("^") - 2 == column - 1


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("recency > 60", 1, ["unknown feature or attribute 'recency'", "'recency_days'"]),
        ("count(purchse, 30d) > 1", 7, ["unknown event field or event type", "'purchase'"]),
        ("countt(purchase, 30d) > 1", 1, ["unknown function 'countt'", "'count'"]),
        ("country == 5", 9, ["compares a string with a number"]),
        ("monetary > 'a'", 12, ["compares numbers", "this is a string"]),
        ("country > 'DE'", 1, ["compare strings with ==, != or in"]),
        ("country = null", 11, ["is null"]),
        ("views_30d", 1, ["must be true or false", "views_30d > 0"]),
        ("sum(purchase, 30d) > 1", 5, ["needs a number", "sum(purchase.price, 30d)"]),
        ("count(purchase) > 1", 1, ["takes an event expression and a window"]),
        ("count(purchase, 30) > 1", 17, ["is a window such as 30d"]),
        ("purchase > 1", 1, ["is an event type", "count(purchase, 30d)"]),
        ("price > 1", 1, ["is an event field", "inside an aggregate"]),
        ("count(monetary > 1, 7d) > 0", 7, ["is a customer feature", "only event fields"]),
        ("sum(purchase.price * product_view.price, 7d) > 0", 22, ["one event type"]),
        ("count(purchse.price > 1, 7d) > 0", 7, ["'purchse' is not an event type", "'purchase'"]),
        ("frequency > 30d", 13, ["goes inside an aggregate"]),
        ("count(count(purchase, 1d) > 1, 7d) > 0", 7, ["cannot be nested"]),
        ("country in ('DE', 1)", 13, ["mixes types"]),
        ("frequency in ('1')", 1, ["cannot be in a list of strings"]),
        ("not frequency", 5, ["'not' needs a condition"]),
        ("is_new and frequency", 12, ["'and' joins conditions"]),
        ("lower(frequency) == 'a'", 7, ["lower() needs a string"]),
        ("startswith(country, country)", 21, ["a quoted string"]),
        ("in_segment(1)", 12, ['in_segment("vip")']),
        ("total.price > 1", 1, ["is an event field: aggregate it"]),
    ],
)
def test_name_and_type_errors_say_what_is_wrong(text: str, column: int, words: list[str]) -> None:
    exc = error(text)
    assert exc.column == column, str(exc)
    for w in words:
        assert w in str(exc), str(exc)


def test_unknown_segment_lists_the_known_ones() -> None:
    cat = default_catalog()
    from dataclasses import replace

    cat = replace(cat, segments=frozenset({"vip", "browsers"}), segment_patterns=(r"beh_\d+",))
    assert "did you mean 'browsers'" in str(error('in_segment("browser")', cat))
    assert "known: browsers, vip" in str(error('in_segment("x")', cat))
    assert compile_rule('in_segment("beh_3")', cat).segments == {"beh_3"}


def test_category_shares_are_known_by_pattern() -> None:
    assert compile_rule("cat_women_share > 0.5").values == {"cat_women_share"}


def test_windows_have_one_canonical_spelling() -> None:
    assert window_text(14 * 86_400) == "14d"
    assert window_text(36 * 3_600) == "36h"
    a = compile_rule("count(purchase, 2w) > 0").aggregates[0].key
    b = compile_rule("count(purchase, 336h) > 0").aggregates[0].key
    assert a == b == 'count(event_type == "purchase", 14d)'


def test_a_rule_is_a_string() -> None:
    with pytest.raises(TypeError, match="a rule is a string"):
        parse(5)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_a_rule_error(text: str) -> None:
    """Whatever a user types, the answer is a rule or a RuleError, never a crash."""
    try:
        compile_rule(text)
    except RuleError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)


@pytest.mark.parametrize("window", ["99999999999999d", "36501d", "5300w", "876001h"])
def test_a_window_longer_than_100_years_is_a_syntax_error_naming_the_bound(window: str) -> None:
    """Regression (issue 15, defect 8): ``count(purchase, 99999999999999d) > 0`` was stored,
    then every ``segmint publish`` failed with OverflowError until it was deleted."""
    with pytest.raises(RuleSyntaxError, match="at most 36,500d"):
        parse(f"count(purchase, {window}) > 0")
    parse("count(purchase, 36500d) > 0")


def test_an_integer_beyond_64_bits_is_compared_as_a_number() -> None:
    """A literal no 64-bit column holds is kept as a double, not an integer SQL refuses."""
    rule = compile_rule(f"monetary > {2**70}", default_catalog())
    assert rule.evaluate(Profile({"monetary": 1e30}))
    assert not rule.evaluate(Profile({"monetary": 1e20}))


@pytest.mark.parametrize(
    "rule",
    [
        "(" * 150 + "monetary > 1" + ")" * 150,
        "not " * 900 + "monetary > 1",
        "monetary > " + "-" * 1900 + "1",
        "monetary > " + "- " * 1900 + "1",
        "monetary > 1 and " * 2000 + "monetary > 1",
    ],
    ids=["parens", "nots", "minus", "spaced-minus", "too-long"],
)
def test_deep_or_huge_rules_are_syntax_errors_not_recursion(rule: str) -> None:
    """Regression (issue 15, defect 9): 150 parentheses, 900 ``not``s or 1,900 unary minus
    signs exhausted the recursion (a 500 over the API); now a syntax error with the bound."""
    with pytest.raises(RuleSyntaxError, match=r"nest more than 40 deep|at most 10,000"):
        parse(rule)


def test_nesting_within_the_bound_still_parses() -> None:
    parse("(" * 40 + "monetary > 1" + ")" * 40)
    parse("not " * 40 + "monetary > 1")
    parse("monetary - -1 > 0 and (a - b) - (c - d) > 0")
