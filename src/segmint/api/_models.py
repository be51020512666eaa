"""The API's request and response bodies (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: the OpenAPI ``format`` of a rule: JSON Schema cannot spell the grammar, so the document
#: names it (and the fuzz test generates rules of the grammar for it)
RULE_FORMAT = "segment-rule"


class Problem(BaseModel):
    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a machine-readable code, a message, and where it applies."""

    error: str = Field(description="A stable code, e.g. not_found, invalid_rule, unauthorized.")
    message: str
    problems: list[Problem] = Field(default_factory=list)
    column: int | None = Field(None, description="For a rule: the 1-based column at fault.")
    request_id: str | None = Field(
        None, description="For a store outage: the id its detail is logged under."
    )


class EventResult(BaseModel):
    index: int
    event_id: str | None
    status: str = Field(description="accepted, duplicate (a retry, not counted) or rejected")
    errors: list[Problem]


class EventsOut(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    queued: bool = Field(description="True when events go to the stream for `segmint worker`.")
    changes: int = Field(description="Segment enters/exits the batch caused (inline only).")
    results: list[EventResult]
    lag_seconds: float | None


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)
    rule: str = Field(
        min_length=1,
        max_length=4_000,
        description="A rule in segmint's rule language (docs/rules.md), e.g. "
        "`count(purchase, 30d) > 5`; one the parser refuses is a 422 naming the column.",
        json_schema_extra={"format": RULE_FORMAT},
    )
    description: str | None = Field(None, max_length=1_000)


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(
        min_length=1,
        max_length=4_000,
        description="A rule in segmint's rule language (docs/rules.md), e.g. "
        "`count(purchase, 30d) > 5`; one the parser refuses is a 422 naming the column.",
        json_schema_extra={"format": RULE_FORMAT},
    )
    description: str | None = Field(None, max_length=1_000)


class Segment(BaseModel):
    name: str
    kind: str = Field(description="rule, rfm or batch (clusters, predictive)")
    source: str = Field(description="config (segmint.yaml), api, or batch")
    rule: str | None
    description: str | None
    size: int


class SegmentChanged(Segment):
    entered: int
    exited: int


class SegmentList(BaseModel):
    segments: list[Segment]


class Members(BaseModel):
    segment: str
    members: list[str]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class ChangeRow(BaseModel):
    seq: int
    customer_id: str
    change: str
    at: str
    event_id: str | None


class History(BaseModel):
    segment: str
    runs: list[dict[str, Any]] = Field(description="Batch computations: as_of, members, ...")
    changes: list[ChangeRow] = Field(description="Live enters and exits, newest first.")


class Membership(BaseModel):
    segment: str
    kind: str
    entered_at: str | None
    live: bool = Field(description="Kept by the real-time path (else as last published).")


class CustomerSegments(BaseModel):
    customer_id: str
    segments: list[Membership]


class Customer(BaseModel):
    customer_id: str
    features: dict[str, Any]
    segments: list[Membership]
    scores: dict[str, float | None]
    clusters: dict[str, str]
    published_as_of: str | None


class Recommendation(BaseModel):
    product_id: str
    rank: int
    score: float | None
    reason: str | None = None
    strategy: str | None = None
    model: str | None = None


class Recommendations(BaseModel):
    customer_id: str
    known: bool
    items: list[Recommendation]
    fallback: str | None = Field(description="Set when the answer is not the customer's own list.")
    reason: str | None = Field(description="Why the fallback was taken.")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str = Field(description="ready, or degraded (serving the last state it read)")
    checks: dict[str, str]
    published: dict[str, Any]


class DeadLetters(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Newest first: each rejected item as sent, its errors and when. An item "
        "whose JSON is over 4,096 bytes is shown cut: `event` is then the start of its JSON "
        "text, with `truncated: true` and `size` (its bytes as JSON)."
    )
    dropped: int = Field(
        0,
        description="Dead letters dropped, oldest first, to keep the store's cap (100,000); "
        "the store keeps at most 16 KB of each, cut the same way.",
    )


class Deliveries(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Newest first: webhook, payload, status (pending, delivered, dead), "
        "attempts and the log of each."
    )
