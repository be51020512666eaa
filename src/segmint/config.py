"""The project file (``segmint.yaml``) and environment settings, validated.

:func:`load_config` reads the YAML, checks it with pydantic and turns every problem into one
line that names the file, the line and the key, e.g.::

    segmint.yaml:7: sources[0].colums: unknown key (did you mean 'columns'?)

Paths in the file resolve against the file's folder and may use ``${VAR}`` or
``${VAR:-default}``; examples use ``${SEGMINT_DATA:-...}`` to find the public datasets.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmint.errors import ConfigError
from segmint.schema import EVENT_TYPES, IDENTIFIER_TYPES, INPUT_TABLES, REJECT_ONLY, RULES

DEFAULT_FILE = "segmint.yaml"
_NAME = r"^[a-z_][a-z0-9_]*$"
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Settings(BaseSettings):
    """Settings read from the environment (``SEGMINT_*``), never from the project file.

    Secrets live here so that a project file can be committed.
    """

    model_config = SettingsConfigDict(env_prefix="SEGMINT_", extra="ignore")

    key: str | None = Field(None, description="Base64 master key for PII (32 bytes).")
    key_file: Path | None = Field(None, description="File holding the master key.")
    warehouse: str | None = Field(None, description="Overrides the project's warehouse URL.")
    data: Path | None = Field(None, description="Folder holding the public datasets.")
    online_store: str | None = Field(None, description="Overrides serve.online_store.")
    bus: str | None = Field(None, description="Overrides serve.bus.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnExpr(_Strict):
    """A derived source column: a SQL expression over the file's columns, or a constant."""

    expr: str | None = None
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _one(self) -> ColumnExpr:
        if (self.expr is None) == (self.value is None):
            raise ValueError("give exactly one of 'expr' (a SQL expression) or 'value'")
        return self


class CsvOptions(_Strict):
    delimiter: str | None = Field(None, description="Field separator; sniffed when absent.")
    header: bool = True
    quote: str | None = None
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"
    skip: int = Field(0, ge=0, description="Lines to skip before the header.")


class ReturnsConfig(_Strict):
    order_id_prefix: str | None = Field(
        None, description="Order ids starting with this mark cancellations (Online Retail: C)."
    )


class FeesConfig(_Strict):
    """Order lines that are not products: postage, bank charges, manual adjustments, fees.

    A line is a fee line when its ``product_id`` is one of ``product_ids``, or matches
    ``product_id_pattern``, or its ``title`` matches ``title_pattern``. Ingest stores the
    answer in ``order_lines.is_fee``; fee lines are never products (nor in ``products``),
    never ``purchase`` events of the rule language, and never recommended nor the reason for
    a recommendation. Whether their value counts as revenue is ``revenue``.
    """

    product_ids: list[str] = Field(
        default_factory=list,
        description="Product ids of fee lines, exactly as stored (case-sensitive), "
        "e.g. [POST, DOT, M, BANK CHARGES].",
    )
    product_id_pattern: str | None = Field(
        None,
        description="A regular expression searched for in the product id (anchor it with ^ and "
        "$ to match the whole id), e.g. '^gift_'. Case-sensitive; start it with (?i) to "
        "ignore case. Use the syntax DuckDB and PostgreSQL share: no look-arounds or "
        "back-references.",
    )
    title_pattern: str | None = Field(
        None,
        description="A regular expression searched for in the line's title, same syntax as "
        "product_id_pattern, e.g. '(?i)^(postage|shipping)$'.",
    )
    revenue: Literal["include", "exclude"] = Field(
        "include",
        description="include: fee lines count in orders' revenue, so net revenue, monetary "
        "and revenue_<n>d features are the invoice total the shop charged; exclude: they "
        "count for nothing (revenue is what the products earned).",
    )

    @property
    def active(self) -> bool:
        """Whether any rule is given (no rule: no line is a fee line)."""
        return bool(self.product_ids or self.product_id_pattern or self.title_pattern)

    @field_validator("product_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for pid in v:
            if not pid.strip():
                raise ValueError("product_ids holds an empty id; list the ids of fee lines")
        return v

    @field_validator("product_id_pattern", "title_pattern")
    @classmethod
    def _pattern(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if not v:
            raise ValueError(f"{info.field_name} is empty; remove it or give a pattern")
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(
                f"{info.field_name}={v!r} is not a regular expression: {exc}"
            ) from None
        # both engines evaluate the pattern: refuse what one of them reads differently
        if re.search(r"\(\?[=!<]|\\[1-9]", v):
            raise ValueError(
                f"{info.field_name}={v!r} uses a look-around or back-reference, which DuckDB "
                "(RE2) does not support"
            )
        if re.search(r"\(\?[a-zA-Z]+[:)]", v[1:]):
            raise ValueError(
                f"{info.field_name}={v!r}: an inline flag such as (?i) must open the pattern, "
                "for the whole of it (PostgreSQL reads no flag on a group)"
            )
        return v


class SourceConfig(_Strict):
    name: str = Field(pattern=_NAME)
    path: str
    table: str = Field(pattern=_NAME)
    description: str | None = None
    format: Literal["csv", "parquet", "ndjson"] | None = None
    columns: dict[str, str | ColumnExpr] | None = None
    csv: CsvOptions = CsvOptions()
    timestamp_format: str | list[str] | None = None
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    returns: ReturnsConfig = ReturnsConfig()
    fees: FeesConfig = Field(
        default_factory=lambda: FeesConfig(),
        description="Which order lines are not products (postage, fees, adjustments) and "
        "whether they count as revenue; order_lines sources only.",
    )
    key: list[str] | None = None
    required: list[str] = Field(default_factory=list)
    max_quarantined_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A file with a larger share of its rows quarantined fails: nothing of it "
        "is loaded (a wrong delimiter or mapping is never a successful run).",
    )

    @property
    def canonical(self) -> bool:
        return self.table in INPUT_TABLES

    @model_validator(mode="after")
    def _fees_on_lines(self) -> SourceConfig:
        if self.fees.active and self.table != "order_lines":
            raise ValueError(
                f"fees: marks order lines, but source '{self.name}' feeds table "
                f"'{self.table}'; move it to the order_lines source"
            )
        return self

    @field_validator("columns", "values")
    @classmethod
    def _columns_known(cls, v: dict[str, Any] | None, info: ValidationInfo) -> Any:
        table = INPUT_TABLES.get(info.data.get("table", ""))
        if table is None or not v:
            return v
        for target in v:
            if target not in table.names:
                hint = _did_you_mean(target, table.names)
                raise ValueError(
                    f"'{target}' is not a column of canonical table '{table.name}'{hint}; "
                    f"its columns are: {', '.join(table.names)}"
                )
        return v


class IdentityConfig(_Strict):
    priority: list[str] = Field(default_factory=lambda: list(IDENTIFIER_TYPES))
    max_accounts_per_identifier: int = Field(
        25,
        ge=2,
        description="An identifier shared by more accounts than this (a shop's test address, "
        "a shared device) is not used to merge them.",
    )

    @field_validator("priority")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in IDENTIFIER_TYPES:
                raise ValueError(
                    f"'{name}' is not an identifier type{_did_you_mean(name, IDENTIFIER_TYPES)}"
                )
        return v


class SegmentConfig(_Strict):
    """A rule segment: ``rule`` is written in the rule language (docs/rules.md)."""

    name: str = Field(pattern=_NAME)
    description: str | None = None
    rule: str


class FeatureConfig(_Strict):
    """A feature of the project's own: an expression of the rule language (docs/rules.md)
    over the built-in features, windowed event aggregates and earlier custom features."""

    name: str = Field(pattern=_NAME)
    expr: str
    description: str | None = None


RFMDimension = Literal["recency", "frequency", "monetary"]


class RFMConfig(_Strict):
    """RFM tiers (docs/rfm.md): 1..``bins`` scores by quantile, or by fixed ``edges``."""

    enabled: bool = True
    bins: int = Field(5, ge=2, le=10, description="Scores run from 1 to bins.")
    edges: dict[RFMDimension, list[float]] = Field(
        default_factory=dict,
        description="Fixed, increasing thresholds (bins - 1 of them) instead of quantiles.",
    )
    segments: bool = Field(True, description="Record each named tier as a segment rfm_<tier>.")

    @model_validator(mode="after")
    def _edges(self) -> RFMConfig:
        for dim, edges in self.edges.items():
            if len(edges) != self.bins - 1:
                raise ValueError(
                    f"edges.{dim} has {len(edges)} thresholds; bins={self.bins} needs "
                    f"{self.bins - 1}"
                )
            if not all(math.isfinite(e) for e in edges) or any(
                b <= a for a, b in itertools.pairwise(edges)
            ):
                raise ValueError(f"edges.{dim} must be strictly increasing (got {edges})")
        return self


ClusterMethod = Literal["kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan"]


class ClusterConfig(_Strict):
    """A clustering segmentation (docs/clustering.md); each cluster becomes a segment
    ``<name>_<id>``, and its id is kept across refits."""

    name: str = Field(pattern=_NAME)
    description: str | None = None
    method: ClusterMethod = "kmeans"
    k: int | Literal["auto"] = "auto"
    k_range: tuple[int, int] = (2, 8)
    features: list[str] | None = Field(
        None, description="Feature columns; default: the RFM and behaviour features present."
    )
    log: Literal["auto"] | bool | list[str] = "auto"
    pca: int | float | None = None
    sample_size: int = Field(200_000, ge=100)
    stability: int = Field(5, ge=0, description="Bootstrap refits to measure stability (0: off).")
    random_state: int = 0

    @field_validator("k")
    @classmethod
    def _k(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"k={v} should be at least 1, or 'auto'")
        return v

    @field_validator("k_range")
    @classmethod
    def _k_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 2 <= v[0] <= v[1]:
            raise ValueError(f"k_range={list(v)} should be [smallest, largest] with 2 <= smallest")
        return v


LabelKind = Literal["purchase_within", "churn", "column", "table"]


class LabelConfig(_Strict):
    """What a predictive model learns (docs/predictive.md).

    ``purchase_within``: a purchase in the ``days`` after T. ``churn``: a customer who had
    bought before T buys nothing in the ``days`` after T. ``column``: a column of the model's
    ``table`` (a session's outcome, a CRM churn flag). ``table``: a labels table of your own
    (``key``, ``column``, optional ``time`` when each label was given).
    """

    kind: LabelKind
    days: int | None = Field(None, ge=1, description="Horizon after T, in days.")
    column: str | None = None
    table: str | None = None
    key: str = "customer_id"
    time: str | None = Field(None, description="Column of the labels table: when labelled.")
    positive: list[str | int | bool] | None = Field(
        None, description="Label values that count as the positive class (binary models)."
    )

    @model_validator(mode="after")
    def _complete(self) -> LabelConfig:
        if self.kind in ("purchase_within", "churn") and self.days is None:
            raise ValueError(f"label kind '{self.kind}' needs days: (the horizon after T)")
        if self.kind == "column" and self.column is None:
            raise ValueError("label kind 'column' needs column: (a column of the model's table)")
        if self.kind == "table" and (self.table is None or self.column is None):
            raise ValueError("label kind 'table' needs table: and column: (the label column)")
        return self


class PredictiveSegmentConfig(_Strict):
    """A segment of the customers a model scores at least ``min_score`` (and below
    ``max_score``)."""

    name: str = Field(pattern=_NAME)
    description: str | None = None
    min_score: float = Field(ge=0, le=1)
    max_score: float = Field(1.0, ge=0, le=1)


Algorithm = Literal["xgboost", "random_forest", "logistic", "lightgbm"]


class SearchConfig(_Strict):
    """How long a predictive model's hyperparameter search may run (docs/predictive.md)."""

    candidates: int = Field(12, ge=0, description="Candidates tried (0: the defaults only).")
    budget_s: float | None = Field(
        None,
        gt=0,
        description="Seconds the search may take; it stops after the candidate that passes "
        "it. Default: 60 s under 10,000 rows, 300 s above.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        # `search: 12` is `search: {candidates: 12}`
        if isinstance(value, int) and not isinstance(value, bool):
            return {"candidates": value}
        return value

    def budget(self, rows: int) -> float:
        """The time budget for a search over ``rows`` rows."""
        if self.budget_s is not None:
            return self.budget_s
        return 60.0 if rows < 10_000 else 300.0


class ModelConfig(_Strict):
    """A predictive model (docs/predictive.md): trained by ``segmint train NAME``."""

    name: str = Field(pattern=_NAME)
    description: str | None = None
    entity: Literal["customer", "session"] = "customer"
    table: str | None = Field(None, description="A table of your own with the entity's columns.")
    key: str | None = Field(None, description="The id column of table (default customer_id).")
    label: LabelConfig
    features: list[str] | Literal["auto", "none"] = "auto"
    columns: list[str] | None = Field(None, description="Columns of table to use (default all).")
    exclude: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(
        default_factory=list, description="Number columns that are codes (region, browser)."
    )
    algorithm: Algorithm = "xgboost"
    imbalance: Literal["none", "class_weight", "smote"] = Field(
        "none",
        description="class_weight or smote reweigh or oversample the rare class inside each "
        "fold; scores then overstate probabilities (the threshold accounts for it).",
    )
    split: Literal["auto", "stratified", "temporal"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=0.5)
    folds: int = Field(5, ge=2, le=10)
    search: SearchConfig = Field(
        default_factory=lambda: SearchConfig(),
        description="The hyperparameter search: a number of candidates (0: the defaults), or "
        "{candidates: n, budget_s: s}.",
    )
    snapshots: int = Field(4, ge=1, le=24, description="Training as-of times, monthly.")
    every_days: int = Field(30, ge=1, description="Days between training snapshots.")
    as_of: str | None = Field(None, description="Latest training as-of (default: data end - days).")
    target_precision: float | None = Field(None, gt=0, lt=1)
    target_recall: float | None = Field(None, gt=0, lt=1)
    min_history: int = Field(
        1,
        ge=0,
        description="Orders plus sessions in the 90 days before T below which a customer is "
        "scored by the cold-start model (0: never).",
    )
    sample_size: int = Field(300_000, ge=1_000, description="Most rows the search is run on.")
    refit: bool | Literal["auto"] = Field(
        "auto",
        description="Refit on every row (training and test) once judged; auto: below 500,000 "
        "rows (larger sets keep the model the held-out figures belong to).",
    )
    random_state: int = 0
    segments: list[PredictiveSegmentConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.entity == "session" and self.table is None:
            raise ValueError("a session model needs table: (the sessions table of your own)")
        if self.label.kind in ("purchase_within", "churn") and self.entity != "customer":
            raise ValueError(f"label kind '{self.label.kind}' is about customers: entity customer")
        if self.label.kind == "column" and self.table is None:
            raise ValueError("label kind 'column' reads the model's table: give table:")
        if self.target_precision is not None and self.target_recall is not None:
            raise ValueError("give target_precision or target_recall, not both")
        return self


def _default_weights() -> dict[str, float]:
    return {
        "product_view": 1.0,
        "add_to_cart": 3.0,
        "wishlist_add": 2.0,
        "checkout_start": 3.0,
        "purchase": 4.0,
    }


class InteractionsConfig(_Strict):
    """How the warehouse's events and order lines become weighted interactions
    (docs/configuration.md#recommend)."""

    weights: dict[str, float] = Field(
        default_factory=_default_weights,
        description="Weight of one event per event type; events of other types are left out.",
    )
    order_weight: float = Field(5.0, description="Weight of one order line bought (per line).")
    half_life_days: float | None = Field(
        90.0,
        gt=0,
        description="Time decay: a weight halves every half_life_days before as-of (None: no "
        "decay).",
    )
    returns: Literal["subtract", "ignore"] = Field(
        "subtract",
        description="subtract: a returned or cancelled line takes its purchase's credit away; "
        "ignore: returns are left out and the purchase keeps its credit.",
    )
    repeat: Literal["sum", "max", "log"] = Field(
        "log", description="How repeated interactions with one product combine."
    )
    window_days: int | None = Field(
        None, ge=1, description="Only interactions in this many days before as-of (None: all)."
    )

    @field_validator("weights")
    @classmethod
    def _event_types(cls, v: dict[str, float]) -> dict[str, float]:
        for name, weight in v.items():
            if name not in EVENT_TYPES:
                raise ValueError(
                    f"'{name}' is not an event type{_did_you_mean(name, EVENT_TYPES)}; "
                    f"event types are: {', '.join(EVENT_TYPES)}"
                )
            if not math.isfinite(weight):
                raise ValueError(f"the weight of '{name}' should be a finite number (got {weight})")
        return v

    @field_validator("order_weight")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"order_weight should be a finite number (got {v})")
        return v


#: the recommenders a project may name (segmint.recommend.MODELS; a test keeps them equal)
RECOMMENDERS = (
    "popularity",
    "item_knn",
    "als",
    "bpr",
    "ease",
    "edlae",
    "rp3beta",
    "content",
    "hybrid",
    "context",
)


def _default_recommenders() -> list[str]:
    return ["popularity", "item_knn", "als", "bpr", "ease", "content"]


class RecommendConfig(_Strict):
    """Recommendations (docs/configuration.md#recommend): the interactions, the models compared
    offline and the business rules applied to what they recommend."""

    interactions: InteractionsConfig = InteractionsConfig()
    models: list[str] = Field(
        default_factory=_default_recommenders,
        description="Recommenders fitted and compared offline.",
    )
    k: int = Field(10, ge=1, le=200, description="Recommendations per customer.")
    split: Literal["temporal", "stratified", "leave_last_out"] = Field(
        "temporal", description="How interactions are split for offline evaluation."
    )
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of interactions held out.")
    search: int = Field(
        6, ge=0, description="Hyperparameter candidates per tunable model (0: defaults)."
    )
    thin_history: int = Field(
        3,
        ge=0,
        description="Customers with fewer distinct products get content-based and segment "
        "popularity recommendations.",
    )
    exclude_purchased: bool = Field(True, description="Never recommend what was bought.")
    exclude_out_of_stock: bool = Field(True, description="Never recommend what is out of stock.")
    max_per_category: int | None = Field(
        None, ge=1, description="Most recommendations from one category per customer."
    )
    price_band: tuple[float, float] | None = Field(
        None,
        description="Only products priced within these multiples of the customer's median "
        "paid unit price, e.g. [0.5, 2.0].",
    )
    segment_kind: str = Field(
        "rfm", description="Kind of segment (rfm, cluster, rule, predictive) for popularity."
    )
    random_state: int = 0

    @field_validator("models")
    @classmethod
    def _known_models(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in RECOMMENDERS:
                raise ValueError(
                    f"{name!r} is not a recommender{_did_you_mean(name, RECOMMENDERS)}; "
                    f"recommenders are: {', '.join(RECOMMENDERS)}"
                )
        if not v:
            raise ValueError("name at least one recommender")
        return v

    @field_validator("price_band")
    @classmethod
    def _band(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 < v[0] < v[1] and math.isfinite(v[1])):
            raise ValueError(
                f"price_band={list(v)} should be [low, high] multiples with 0 < low < high"
            )
        return v


ChangeType = Literal["segment.entered", "segment.exited"]
CHANGE_TYPES: tuple[ChangeType, ...] = ("segment.entered", "segment.exited")


class WebhookConfig(_Strict):
    """A receiver of segment.entered / segment.exited notifications (HMAC-signed POSTs)."""

    name: str = Field(pattern=_NAME)
    url: str = Field(pattern=r"^https?://", description="Where notifications are POSTed.")
    secret_env: str | None = Field(
        None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Environment variable holding the signing secret (never in the file).",
    )
    events: list[ChangeType] = Field(default_factory=lambda: list(CHANGE_TYPES))
    segments: list[str] | None = Field(None, description="Only these segments (default: all).")
    max_attempts: int = Field(6, ge=1, le=50, description="Attempts before the dead letter.")
    backoff_seconds: float = Field(
        2.0, gt=0, le=3_600, description="Wait before the 2nd attempt; doubles after each."
    )
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class ServeConfig(_Strict):
    """``serve:``: the API, the online store, the event bus and webhooks (docs/serve.md)."""

    online_store: str = Field(
        "sqlite:///.segmint/online.sqlite",
        description="sqlite:///file (embedded) or redis://host:port/db?prefix=name.",
    )
    bus: str = Field(
        "inline",
        description="inline (events applied in the request) or redis://host:port/db?prefix=name "
        "(a Redis Stream that `segmint worker` processes).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins browsers may call the API from ('*': any)."
    )
    cache_ttl_seconds: float = Field(
        2.0, ge=0, le=3_600, description="How long a read is served from the replica's cache."
    )
    dedup_days: float = Field(
        7.0, gt=0, le=365, description="How long an event_id is remembered against retries."
    )
    auth: bool = Field(True, description="Require API keys (turn off only on a laptop).")
    max_body_bytes: int = Field(
        4_000_000,
        ge=1_000,
        le=1_000_000_000,
        description="The largest request body taken; a larger one is answered 413.",
    )
    mask_free_text: Literal["emails_and_phones", "emails", "off"] = Field(
        "emails_and_phones",
        description="What is masked in an event's free text (query, page_url, string "
        "properties) before it is stored or forwarded: e-mail addresses and phone numbers, "
        "e-mail addresses only, or nothing.",
    )
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @field_validator("online_store")
    @classmethod
    def _store(cls, v: str) -> str:
        if not re.match(r"^(sqlite:///|redis://|rediss://|unix://)", v):
            raise ValueError(f"'{v}' should start with sqlite:/// or redis://")
        return v

    @field_validator("bus")
    @classmethod
    def _bus(cls, v: str) -> str:
        if v != "inline" and not re.match(r"^(redis://|rediss://|unix://)", v):
            raise ValueError(f"'{v}' should be 'inline' or start with redis://")
        return v


class ProjectConfig(_Strict):
    """A validated ``segmint.yaml``. ``base_dir`` is the folder relative paths resolve in."""

    project: str
    warehouse: str = "duckdb:///.segmint/warehouse.duckdb"
    timezone: str = "UTC"
    home: str = ".segmint"
    pii: list[str] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    identity: IdentityConfig = IdentityConfig()
    rules: dict[str, Literal["reject", "nullify"]] = Field(default_factory=dict)
    features: list[FeatureConfig] = Field(default_factory=list)
    rfm: RFMConfig = RFMConfig()
    clusters: list[ClusterConfig] = Field(default_factory=list)
    segments: list[SegmentConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    recommend: RecommendConfig = RecommendConfig()
    serve: ServeConfig = ServeConfig()
    base_dir: Path = Field(default=Path("."), exclude=True)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _file: str = PrivateAttr(default=DEFAULT_FILE)

    def where(self, loc: tuple[Any, ...]) -> str:
        """``file:line`` of a key in the project file, for error messages."""
        line = _locate(loc, self._lines)
        return f"{self._file}:{line}" if line else self._file

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{v}' is not an IANA time zone such as 'Europe/London'") from None
        return v

    @field_validator("warehouse")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not re.match(r"^(duckdb|postgres|postgresql)://", v):
            raise ValueError(f"'{v}' should start with duckdb:// or postgresql://")
        return v

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: dict[str, str]) -> dict[str, str]:
        kinds = list(RULES)
        for name, action in v.items():
            kind = next((k for k in kinds if name == k or name.endswith("_" + k)), None)
            if kind is None:
                raise ValueError(
                    f"'{name}' does not name a rule; rule names end in one of: {', '.join(kinds)}"
                )
            if action == "nullify" and kind in REJECT_ONLY:
                raise ValueError(
                    f"'{name}' can only reject: a {kind.replace('_', ' ')} finding leaves no "
                    "value to remove"
                )
        return v

    @model_validator(mode="after")
    def _unique_sources(self) -> ProjectConfig:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"two sources are named '{s.name}'; names must be unique")
            seen.add(s.name)
        for what, names in (
            ("segments", [seg.name for seg in self.segments]),
            ("features", [f.name for f in self.features]),
            ("clusters", [c.name for c in self.clusters]),
            ("models", [m.name for m in self.models]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what} named twice: {', '.join(twice)}; names must be unique")
        return self

    def resolve(self, path: str | Path) -> Path:
        """Expand ``${VAR}`` and resolve ``path`` against the project file's folder."""
        p = Path(os.path.expanduser(expand_env(str(path))))
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def home_dir(self) -> Path:
        return self.resolve(self.home)

    def action_for(self, rule: str, kind: str) -> str:
        """The action for a concrete rule (e.g. ``age_range`` of kind ``range``)."""
        return self.rules.get(rule) or self.rules.get(kind) or RULES[kind][0]


def expand_env(text: str) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset variable without default stays."""

    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value:
            return value
        return m.group(2) if m.group(2) is not None else m.group(0)

    return _ENV_VAR.sub(sub, text)


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- YAML with line numbers -------------------------------------------------------------


def _build(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _scalar(k) if isinstance(k, yaml.ScalarNode) else str(k.start_mark)
            lines[(*path, key)] = k.start_mark.line + 1
            out[key] = _build(v, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        # a scalar the safe loader has no type for, e.g. a bare `=` (YAML's "value" tag)
        raise ConfigError(
            f"{DEFAULT_FILE}:{node.start_mark.line + 1}: not valid YAML: "
            f"{getattr(exc, 'problem', exc)}"
        ) from None
    except (ValueError, OverflowError) as exc:
        # a scalar of a type whose value is impossible, e.g. the date 0000-0-0 0:00:00
        raise ConfigError(
            f"{DEFAULT_FILE}:{node.start_mark.line + 1}: {node.value!r:.60} cannot be read: "
            f"{exc}; quote it to keep it as text"
        ) from None
    finally:
        loader.dispose()


def _locate(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problems(err: ValidationError, name: str, lines: dict[tuple[Any, ...], int]) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic reports union branches ('str', 'ColumnExpr'); keep the user's path only
        loc = tuple(p for p in loc if p not in ("str", "ColumnExpr", "constrained-str"))
        line = _locate(loc, lines)
        where = f"{name}:{line}" if line else name
        if e["type"] == "extra_forbidden":
            parent = _allowed_keys(loc[:-1])
            msg = f"unknown key{_did_you_mean(str(loc[-1]), parent)}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            if "input" in e and e["type"] not in ("model_type",):
                msg += f" (got {e['input']!r})" if not isinstance(e["input"], dict | list) else ""
        problems.append(f"{where}: {_dotted(loc)}: {msg}")
    unique = list(dict.fromkeys(problems))
    return sorted(
        unique, key=lambda p: int(m.group(1)) if (m := re.match(r"[^:]+:(\d+):", p)) else 0
    )


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = ProjectConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))
        nxt = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            nxt = next(
                (
                    a2
                    for a in inner
                    for a2 in getattr(a, "__args__", ())
                    if isinstance(a2, type) and issubclass(a2, BaseModel)
                ),
                None,
            )
        if nxt is None:
            return []
        model = nxt
    return [k for k in model.model_fields if k != "base_dir"]


def parse_config(text: str, *, base_dir: Path, name: str = DEFAULT_FILE) -> ProjectConfig:
    """Validate project-file text; raise :class:`ConfigError` listing every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: dict[tuple[Any, ...], int] = {}
    data = _build(node, (), lines) if node is not None else None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the project file must be a mapping with at least 'project:'")
    try:
        cfg = ProjectConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        problems = _problems(err, name, lines)
        raise ConfigError(
            f"{name} has {len(problems)} problem(s):\n  " + "\n  ".join(problems), problems
        ) from None
    cfg._lines, cfg._file = lines, name
    return cfg


def find_config(path: str | Path | None = None) -> Path:
    """The project file: ``path``, else ``segmint.yaml`` here or in a parent folder."""
    if path is not None:
        p = Path(path)
        if p.is_dir():
            p = p / DEFAULT_FILE
        if not p.is_file():
            raise ConfigError(f"{p}: no such project file (create one with `segmint init`)")
        return p
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_FILE).is_file():
            return folder / DEFAULT_FILE
    raise ConfigError(
        f"no {DEFAULT_FILE} in {here} or its parents: pass --config or run `segmint init`"
    )


def load_config(path: str | Path | None = None) -> ProjectConfig:
    """Read and validate a project file (see :func:`find_config` for where it is looked for).

    ``SEGMINT_WAREHOUSE`` in the environment overrides the file's ``warehouse``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "segmint.yaml").write_text("project: demo\\nsourcez: []\\n")
    >>> try:
    ...     load_config(d)
    ... except ConfigError as e:
    ...     print(e.problems[0])
    segmint.yaml:2: sourcez: unknown key (did you mean 'sources'?)
    """
    file = find_config(path)
    cfg = parse_config(
        file.read_text(encoding="utf-8"), base_dir=file.parent.resolve(), name=file.name
    )
    env = Settings()
    if env.warehouse:
        cfg = cfg.model_copy(update={"warehouse": env.warehouse})
    serve = {k: v for k, v in (("online_store", env.online_store), ("bus", env.bus)) if v}
    if serve:
        cfg = cfg.model_copy(update={"serve": cfg.serve.model_copy(update=serve)})
    return cfg
