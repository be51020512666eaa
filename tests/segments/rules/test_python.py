"""The per-profile evaluator's generated code: what it does once, not on every call."""

from __future__ import annotations

import pytest

from segmint.segments.rules import Profile, compile_rule


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ('country in ("DE", "AT", "CH", "DE")', frozenset({"DE", "AT", "CH"})),
        ("age not in (18, 21, 30)", frozenset({18, 21, 30})),
    ],
)
def test_in_lists_are_constants_of_the_compiled_function(text: str, values: frozenset) -> None:
    rule = compile_rule(text)
    fn = rule.function
    assert "frozenset(" not in fn.__doc__  # no global look-up, no set built per call
    assert values in fn.__code__.co_consts  # CPython folded the set display into a constant


@pytest.mark.parametrize(
    ("values", "want"),
    [({"country": "AT"}, True), ({"country": "FR"}, False), ({}, None)],
)
def test_in_list_keeps_sql_nulls(values: dict, want: bool | None) -> None:
    rule = compile_rule('country in ("DE", "AT")')
    assert rule.evaluate(Profile(values=values)) is want
    negated = compile_rule('country not in ("DE", "AT")')
    assert negated.evaluate(Profile(values=values)) is (None if want is None else not want)
