"""The rule language: segment rules and feature expressions, for the warehouse and one profile.

A rule such as ``count(purchase, 30d) > 5 and country == "DE"`` is parsed and checked once
(:func:`compile_rule`) and then computed two ways that give the same answer: as an Ibis
expression over every customer in the warehouse (batch), and as a compiled Python function
over one :class:`Profile` (the real-time path). docs/rules.md is the language reference.

>>> from segmint.segments.rules import Profile, compile_rule
>>> rule = compile_rule('rfm_segment in ("Champions", "Loyal") and recency_days > 60')
>>> rule.matches(Profile(values={"rfm_segment": "Loyal", "recency_days": 75.0}))
True
>>> rule.evaluate(Profile(values={"rfm_segment": "Loyal"}))  # recency unknown
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.segments.rules._bind import EVENT_FIELDS, FUNCTIONS, Catalog
    from segmint.segments.rules._ibis import Columns, aggregates, to_ibis
    from segmint.segments.rules._ir import AGGREGATES, AggSpec, show
    from segmint.segments.rules._python import Profile, aggregate_events, event_function
    from segmint.segments.rules._rule import (
        RFM_VALUES,
        Rule,
        compile_rule,
        default_catalog,
        profile_from_events,
    )
    from segmint.segments.rules._syntax import parse

__all__ = [
    "AGGREGATES",
    "EVENT_FIELDS",
    "FUNCTIONS",
    "RFM_VALUES",
    "AggSpec",
    "Catalog",
    "Columns",
    "Profile",
    "Rule",
    "aggregate_events",
    "aggregates",
    "compile_rule",
    "default_catalog",
    "event_function",
    "parse",
    "profile_from_events",
    "show",
    "to_ibis",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
