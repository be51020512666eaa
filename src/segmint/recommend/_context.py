"""Context: boost what sells in the customer's situation, then apply the shop's rules.

:class:`ContextAware` wraps a model and multiplies its scores by how much more often each
product is chosen in the given context (hour of day, weekday, season, device, country) than
overall, learnt from the interactions with smoothing so rare contexts change little.
:func:`apply_rules` then enforces business rules on a candidate list: no re-offering what was
bought, nothing out of stock, at most N per category, prices near what the customer pays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import RANK, Recommender, empty_recommendations
from segmint.recommend._hybrid import normalise
from segmint.recommend._interactions import ITEM, TS, USER, Interactions

#: context keys a request may give, besides ``ts`` (from which hour/weekday/season derive)
CONTEXT_KEYS = ("hour", "weekday", "season", "device", "country")
_SEASONS = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}


DAYPARTS = ("night", "morning", "afternoon", "evening")


def daypart(hour: int) -> str:
    """Hours grouped into parts of the day, so each has enough interactions to learn from."""
    return DAYPARTS[0 if hour < 6 else 1 if hour < 12 else 2 if hour < 18 else 3]


def context_values(context: Mapping[str, Any] | None) -> dict[str, str]:
    """Normalise a request's context: ``ts`` gives hour (as a day part), weekday and season."""
    if not context:
        return {}
    out: dict[str, str] = {}
    ts = context.get("ts")
    if ts is not None:
        when = pd.Timestamp(ts)
        out.update(
            hour=daypart(when.hour), weekday=str(when.dayofweek), season=_SEASONS[when.month]
        )
    hour = context.get("hour")
    if hour is not None:
        out["hour"] = hour if hour in DAYPARTS else daypart(int(hour))
    if context.get("weekday") is not None:
        out["weekday"] = str(int(context["weekday"]))
    if context.get("season") is not None:
        out["season"] = str(context["season"]).lower()
    for key in ("device", "country"):
        if context.get(key) is not None:
            out[key] = (
                str(context[key]).strip().lower()
                if key == "device"
                else str(context[key]).strip().upper()
            )
    return out


class ContextAware(Recommender):
    """A model whose scores are re-weighted by what sells in the request's context.

    Parameters
    ----------
    base : str
        The model whose scores are re-ranked (a name from :data:`MODELS`).
    params : mapping, optional
        The base model's parameters.
    strength : float
        Exponent on each context lift; 0 turns context off.
    smoothing : float
        Pseudo-count pulling a context's product shares toward the overall ones.
    """

    name = "context"
    explains_by_item = True

    def __init__(
        self,
        base: str = "ease",
        params: Mapping[str, Any] | None = None,
        strength: float = 0.5,
        smoothing: float = 50.0,
    ) -> None:
        self.base = base
        self.params = params
        self.strength = strength
        self.smoothing = smoothing

    def fit(
        self,
        interactions: Interactions,
        *,
        catalogue: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> ContextAware:
        from segmint.recommend._hybrid import _fit_member
        from segmint.recommend._registry import build

        if self.base == "context":
            raise ConfigError("context: base cannot be another context model")
        if self.strength < 0 or self.smoothing <= 0:
            raise ConfigError(
                f"strength={self.strength} should be >= 0 and smoothing={self.smoothing} > 0"
            )
        self.base_ = build(self.base, self.params)
        _fit_member(self.base_, interactions, catalogue, segments)
        self._universe = self.base_.items_
        super().fit(interactions)
        return self

    def _item_universe(self, interactions: Interactions) -> pd.Index:
        return self._universe

    def _recommend_unknown(
        self,
        customer_ids: list[str],
        *,
        k: int,
        context: Mapping[str, Any] | None,
        exclude: list[str],
        explain: bool,
    ) -> pd.DataFrame:
        # the base model's fallback (a hybrid's cold start, popularity) answers, unboosted
        return self.base_.recommend(
            customer_ids, k=k, context=context, exclude=exclude, explain=explain
        )

    def _explain_unknown(
        self, recs: pd.DataFrame, context: Mapping[str, Any] | None
    ) -> pd.DataFrame:
        return self.base_.explain(recs, context=context)

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        f = interactions.frame
        values = _row_context(f)
        items = self.items_.get_indexer(f[ITEM])
        keep = items >= 0
        overall = np.bincount(items[keep], minlength=len(self.items_)).astype(np.float64)
        share = (overall + 1.0) / (overall.sum() + len(self.items_))
        self.lifts_: dict[str, np.ndarray] = {}
        for key, col in values.items():
            col = col[keep]
            for value in pd.unique(col.dropna()):
                mask = (col == value).fillna(False).to_numpy(dtype=bool)
                counts = np.bincount(items[keep][mask], minlength=len(self.items_))
                local = (counts + self.smoothing * share) / (mask.sum() + self.smoothing)
                self.lifts_[f"{key}={value}"] = (local / share).astype(np.float32)
        self.item_labels_ = self.base_.item_labels_

    def boost(self, context: Mapping[str, Any] | None) -> np.ndarray:
        """The multiplier per product for ``context`` (1 everywhere without one)."""
        self._check_fitted()
        out = np.ones(len(self.items_), dtype=np.float32)
        for key, value in context_values(context).items():
            lift = self.lifts_.get(f"{key}={value}")
            if lift is not None:
                out *= lift ** np.float32(self.strength)
        return out

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        base = normalise(self.base_.score(rows, context=context))
        self._context = context
        # a floor so a boost can lift products the base model scored lowest, too
        return (base + np.float32(0.01)) * self.boost(context)[None, :]

    def _strategies(self, rows: np.ndarray) -> np.ndarray:
        return self.base_._strategies(rows)

    def _prepare_explain(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> None:
        self._context = context
        self.base_._prepare_explain(rows, context)

    def _explain(
        self, i: int, customer_id: str, row: int, items: np.ndarray
    ) -> list[tuple[str, int, str]]:
        inner = self.base_._explain(i, customer_id, row, items)
        ctx = context_values(getattr(self, "_context", None))
        out = []
        for item, (reason, anchor, strategy) in zip(items, inner, strict=True):
            best, lift = None, 1.5
            for key, value in ctx.items():
                x = self.lifts_.get(f"{key}={value}")
                if x is not None and x[item] > lift:
                    best, lift = _phrase(key, value), float(x[item])
            if best is not None:
                reason = f"{reason}; popular {best}"
            out.append((reason, anchor, strategy))
        return out

    def _state(self) -> dict[str, Any]:
        from segmint.recommend._base import member_state

        state: dict[str, Any] = {f"lift/{k}": v for k, v in self.lifts_.items()}
        state.update(member_state(self.base_, "base/"))
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        from segmint.recommend._base import restore_member
        from segmint.recommend._registry import build

        self.lifts_ = {k[5:]: v for k, v in state.items() if k.startswith("lift/")}
        self.base_ = restore_member(build(self.base, self.params), state, "base/")


_WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def _phrase(key: str, value: str) -> str:
    """How a reason names a context: "in the evening", "on Mondays", "on mobile", "in GB"."""
    if key == "hour":
        return "at night" if value == "night" else f"in the {value}"
    if key == "weekday" and value.isdigit() and int(value) < 7:
        return f"on {_WEEKDAYS[int(value)]}"
    if key == "device":
        return f"on {value}"
    return f"in {value}"


def _row_context(frame: pd.DataFrame) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    if TS in frame.columns and frame[TS].notna().any():
        ts = frame[TS]
        hours = ts.dt.hour
        # a file with dates only has every time at midnight: no day part to learn
        if hours.nunique() > 1:
            out["hour"] = hours.map(daypart)
        out["weekday"] = ts.dt.dayofweek.astype("Int64").astype(str)
        out["season"] = ts.dt.month.map(_SEASONS)
    if "device" in frame.columns:
        out["device"] = frame["device"].astype("string").str.strip().str.lower()
    if "country" in frame.columns:
        out["country"] = frame["country"].astype("string").str.strip().str.upper()
    return out


@dataclass(frozen=True)
class BusinessRules:
    """The shop's rules, applied after scoring (see :func:`apply_rules`)."""

    exclude_purchased: bool = True
    exclude_out_of_stock: bool = True
    max_per_category: int | None = None
    price_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max_per_category={self.max_per_category} should be >= 1")
        if self.price_band is not None:
            lo, hi = self.price_band
            if not 0 <= lo < hi:
                raise ConfigError(
                    f"price_band={self.price_band} should be (low, high), 0 <= low < high"
                )


def out_of_stock(catalogue: pd.DataFrame | None) -> list[str]:
    """Products the catalogue marks as not in stock."""
    if catalogue is None or "in_stock" not in catalogue.columns:
        return []
    flag = catalogue["in_stock"]
    gone = flag.map(lambda v: v is not None and v == v and not bool(v)).astype(bool)
    return catalogue.loc[gone, ITEM].astype(str).tolist()


def recommend_with_rules(
    model: Recommender,
    customer_ids: list[str],
    *,
    k: int,
    rules: BusinessRules,
    history: Interactions | None = None,
    catalogue: pd.DataFrame | None = None,
    price_levels: pd.Series | None = None,
    context: Mapping[str, Any] | None = None,
    pool: int = 4,
) -> pd.DataFrame:
    """``model.recommend`` on a wider pool, then :func:`apply_rules`, cut to ``k``.

    Customers left with fewer than ``k`` after the rules (a wholesaler who has bought most of
    what the model likes) are asked again with a pool four times wider, twice, so the rules
    leave a customer short only when the catalogue itself runs out.
    """
    exclude = out_of_stock(catalogue) if rules.exclude_out_of_stock else []
    need, kept_parts = [str(c) for c in customer_ids], []
    n_items = len(getattr(model, "items_", ()))
    for attempt in range(3):
        width = k * pool * 4**attempt
        final = attempt == 2 or width >= n_items
        wide = model.recommend(
            need,
            k=width,
            exclude_seen=False,
            context=context,
            exclude=exclude,
            explain=False,
        )
        kept = apply_rules(
            wide, k=k, rules=rules, history=history, catalogue=catalogue, price_levels=price_levels
        )
        counts = kept.groupby(USER).size()
        short = set() if final else {c for c in need if counts.get(c, 0) < k}
        kept_parts.append(kept[~kept[USER].isin(short)])
        need = [c for c in need if c in short]
        if not need:
            break
    out = pd.concat(kept_parts, ignore_index=True) if kept_parts else empty_recommendations()
    order = {c: i for i, c in enumerate(str(c) for c in customer_ids)}
    out = out.iloc[np.lexsort((out[RANK].to_numpy(), out[USER].map(order).to_numpy()))]
    return model.explain(out.reset_index(drop=True), context=context)


def apply_rules(
    candidates: pd.DataFrame,
    *,
    k: int,
    rules: BusinessRules,
    history: Interactions | None = None,
    catalogue: pd.DataFrame | None = None,
    price_levels: pd.Series | None = None,
) -> pd.DataFrame:
    """Filter ranked candidates by ``rules`` and renumber ranks, keeping at most ``k`` each."""
    out = candidates.sort_values([USER, RANK], kind="stable")
    if rules.exclude_purchased and history is not None and len(history):
        h = history.frame
        bought = h[h["event_type"] == "purchase"] if "event_type" in h.columns else h
        pairs = bought.groupby([USER, ITEM])["weight"].sum()
        pairs = pairs[pairs > 0].index
        key = pd.MultiIndex.from_frame(out[[USER, ITEM]])
        out = out[~key.isin(pairs)]
    if catalogue is not None and len(catalogue) and (rules.max_per_category or rules.price_band):
        cat = catalogue.drop_duplicates(ITEM).set_index(ITEM)
        if rules.price_band and price_levels is not None and "price" in cat.columns:
            price = out[ITEM].map(cat["price"]).astype(float)
            level = out[USER].map(price_levels).astype(float)
            lo, hi = rules.price_band
            ok = price.isna() | level.isna() | ((price >= lo * level) & (price <= hi * level))
            out = out[ok.to_numpy()]
        if rules.max_per_category and "category" in cat.columns:
            top = out[ITEM].map(cat["category"]).fillna("").astype(str).str.split(">").str[0]
            nth = out.assign(_c=top.str.strip().to_numpy()).groupby([USER, "_c"]).cumcount()
            out = out[(nth < rules.max_per_category).to_numpy()]
    out = out.copy()
    out[RANK] = out.groupby(USER).cumcount() + 1
    return out[out[RANK] <= k].reset_index(drop=True)
