"""Cluster profiles: size, means, how each cluster differs from everyone, and its name.

A cluster's difference on a feature is the standardized mean difference (effect size)
``(mean in cluster - mean overall) / standard deviation overall``, computed after the log the
model applies to skewed columns, so one customer with 400 orders does not make a cluster
"frequent". Names come from the two or three features that differ most, through a vocabulary
of words (``frequency`` high: "frequent", low: "infrequent"); features without words read
"with high <feature>".
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from segmint.segments.clusters._data import as_frame, check_features
from segmint.segments.clusters._preprocess import signed_log

#: words for a high and a low value of common features (segmint's feature catalogue);
#: ``None`` falls back to "with high/low <feature>"
WORDS: dict[str, tuple[str | None, str | None]] = {
    "frequency": ("frequent", "infrequent"),
    "monetary": ("high-spend", "low-spend"),
    "avg_order_value": ("high-basket", "low-basket"),
    "recency_days": ("lapsing", "recent"),
    "tenure_days": ("long-standing", "new"),
    "days_between_orders": ("occasional", "regular"),
    "return_rate": ("high-return", "low-return"),
    "discount_share": ("discount-driven", "full-price"),
    "browse_to_buy": ("decisive", "browsing"),
    "cart_abandonment": ("cart-abandoning", "checkout-completing"),
    "avg_session_minutes": ("long-session", "short-session"),
    "share_mobile": ("mobile", "desktop"),
    "share_desktop": ("desktop", "mobile"),
    "share_tablet": ("tablet", None),
    "share_weekend": ("weekend", "weekday"),
    "share_night": ("night-owl", None),
    "share_morning": ("morning", None),
    "share_evening": ("evening", None),
    "share_email": ("email-driven", None),
    "share_social": ("social", None),
    "share_paid_search": ("ad-driven", None),
    "share_direct": ("direct", None),
    "avg_item_price": ("premium", "budget"),
    "days_since_last_visit": ("dormant", "active"),
    "days_since_last_activity": ("dormant", "active"),
    "days_since_first_seen": ("veteran", "newly seen"),
    "is_active": ("active", "inactive"),
    "is_lapsed": ("lapsed", None),
    "is_new": ("new", None),
    "age": ("older", "younger"),
}
#: the same words for windowed features, by stem (``orders_30d`` uses ``orders``)
STEM_WORDS: dict[str, tuple[str | None, str | None]] = {
    "orders": ("frequent", "infrequent"),
    "revenue": ("high-spend", "low-spend"),
    "sessions": ("engaged", "disengaged"),
    "views": ("heavy-browsing", "light-browsing"),
    "searches": ("search-heavy", None),
    "carts": ("cart-filling", None),
}
#: a feature must differ by at least this effect size to enter a name
MIN_EFFECT = 0.3
#: at most this many features make a name
NAME_TERMS = 3
NOISE_NAME = "unclustered"
NOUN = "customers"


@dataclass
class ClusterProfile:
    """One cluster described: its id, name, size, means and effect sizes per feature.

    ``means`` and ``overall`` are raw means (missing values left out; None when a column has
    no value at all, such as the basket of a cluster of customers who never ordered);
    ``effects`` the standardized mean differences; ``top`` the features sorted by how much
    they differ.
    """

    id: int
    name: str
    size: int
    share: float
    means: dict[str, float | None]
    overall: dict[str, float | None]
    effects: dict[str, float]
    top: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))


def profile(
    X: Any,
    labels: Sequence[int] | np.ndarray,
    *,
    features: list[str] | None = None,
    log: Sequence[str] | None = None,
    words: Mapping[str, Sequence[str | None]] | None = None,
    top: int = 5,
) -> list[ClusterProfile]:
    """Describe each cluster of a labelling and give it a plain-language name.

    Parameters
    ----------
    X : DataFrame, Arrow table or 2-D array
        The customers' feature values, one row per label.
    labels : sequence of int of length n_samples
        Cluster ids; ``-1`` is noise and is named "unclustered".
    features : list of str, optional
        Columns to describe (default: every numeric column).
    log : list of str, optional
        Columns whose effect size is measured after ``sign(x) * log(1 + |x|)`` (skewed counts
        and sums; a fitted :class:`SegmentClusterer` passes the columns it logs).
    words : mapping, optional
        ``{feature: (word when high, word when low)}``, merged over :data:`WORDS`.
    top : int, default 5
        How many distinguishing features to list per cluster.

    Returns
    -------
    list of ClusterProfile
        One per cluster, largest first, with names unique within the list.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"frequency": [9, 8, 9, 1, 1, 2],
    ...                   "avg_order_value": [20, 25, 22, 90, 80, 85]})
    >>> [p.name for p in profile(X, [0, 0, 0, 1, 1, 1])]
    ['frequent low-basket customers', 'infrequent high-basket customers']
    """
    frame, _ = as_frame(X, check_features(features))
    lab = np.asarray(labels, dtype=np.int64)
    if lab.shape != (len(frame),):
        raise ValueError(f"labels has shape {lab.shape}, expected ({len(frame)},)")
    raw = frame.to_numpy(dtype=np.float64)
    logged = set(log or [])
    unknown = logged - set(frame.columns)
    if unknown:
        raise ValueError(f"log names columns that are not features: {sorted(unknown)}")
    t = raw.copy()
    for i, f in enumerate(frame.columns):
        if f in logged:
            t[:, i] = signed_log(raw[:, i])
    with _quiet():
        mu, sd = np.nanmean(t, axis=0), np.nanstd(t, axis=0)
        overall = np.nanmean(raw, axis=0)
    cols = list(frame.columns)
    ids, counts = np.unique(lab, return_counts=True)
    order = sorted(zip(ids.tolist(), counts.tolist(), strict=True), key=lambda p: (p[0] < 0, -p[1]))
    out = []
    for cid, size in order:
        rows = lab == cid
        with _quiet():
            means = np.nanmean(raw[rows], axis=0)
            eff = np.where(sd > 1e-12, (np.nanmean(t[rows], axis=0) - mu) / sd, 0.0)
        eff = np.nan_to_num(eff)
        ranked = sorted(range(len(cols)), key=lambda i: -abs(eff[i]))
        out.append(
            ClusterProfile(
                id=int(cid),
                name="",
                size=int(size),
                share=float(size / len(lab)),
                means={c: _num(means[i]) for i, c in enumerate(cols)},
                overall={c: _num(overall[i]) for i, c in enumerate(cols)},
                effects={c: round(float(eff[i]), 4) for i, c in enumerate(cols)},
                top=[cols[i] for i in ranked[:top] if abs(eff[i]) > 0],
            )
        )
    names = name_clusters(out, words)
    for p in out:
        p.name = names[p.id]
    return out


@contextmanager
def _quiet() -> Iterator[None]:
    """Means of columns without a value are NaN, on purpose: no "Mean of empty slice"."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _num(v: float) -> float | None:
    return round(float(v), 6) if np.isfinite(v) else None


def name_clusters(
    profiles: Sequence[ClusterProfile], words: Mapping[str, Sequence[str | None]] | None = None
) -> dict[int, str]:
    """A plain-language name per cluster id, unique among ``profiles``.

    Each name uses the up to :data:`NAME_TERMS` features that differ most (effect size at
    least :data:`MIN_EFFECT`); clusters that would share a name take further features until
    they differ, and a number as a last resort.
    """
    vocab = _vocabulary(words)
    ranked = {p.id: _ranked(p) for p in profiles if p.id >= 0}
    terms = dict.fromkeys(ranked, NAME_TERMS)
    names = {i: _compose(ranked[i][: terms[i]], vocab) for i in ranked}
    for _ in range(max((len(r) for r in ranked.values()), default=0)):
        dup = {n for n, c in Counter(names.values()).items() if c > 1}
        grow = [i for i in ranked if names[i] in dup and terms[i] < len(ranked[i])]
        if not grow:
            break
        for i in grow:
            terms[i] += 1
            names[i] = _compose(ranked[i][: terms[i]], vocab)
    seen: Counter[str] = Counter()
    for i in sorted(ranked, key=lambda i: -next(p.size for p in profiles if p.id == i)):
        seen[names[i]] += 1
        if seen[names[i]] > 1:
            names[i] = f"{names[i]} ({seen[names[i]]})"
    names.update({p.id: NOISE_NAME for p in profiles if p.id < 0})
    return names


def _ranked(p: ClusterProfile) -> list[tuple[str, bool]]:
    """(feature, is high) of the features that differ enough, most different first."""
    items = sorted(p.effects.items(), key=lambda kv: -abs(kv[1]))
    return [(f, e > 0) for f, e in items if abs(e) >= MIN_EFFECT]


def _vocabulary(
    words: Mapping[str, Sequence[str | None]] | None,
) -> dict[str, tuple[str | None, str | None]]:
    vocab = dict(WORDS)
    for f, pair in (words or {}).items():
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"words['{f}'] must be (word when high, word when low), got {pair!r}")
        vocab[f] = (pair[0], pair[1])
    return vocab


def _word(feature: str, high: bool, vocab: dict[str, tuple[str | None, str | None]]) -> str | None:
    pair = vocab.get(feature)
    if pair is None:
        stem, _, rest = feature.rpartition("_")
        if stem and rest.endswith("d") and rest[:-1].isdigit():
            pair = STEM_WORDS.get(stem)
    if pair is None:
        return None
    return pair[0] if high else pair[1]


def _compose(
    terms: Sequence[tuple[str, bool]], vocab: dict[str, tuple[str | None, str | None]]
) -> str:
    """'frequent low-basket customers with high page views 30d'."""
    if not terms:
        return f"typical {NOUN}"
    adjectives: list[tuple[int, str]] = []
    phrases: list[str] = []
    order = {f: i for i, f in enumerate(vocab)}
    for feature, high in terms:
        w = _word(feature, high, vocab)
        if w is None:
            phrase = f"{'high' if high else 'low'} {feature.replace('_', ' ')}"
            if phrase not in phrases:
                phrases.append(phrase)
        elif w not in (a for _, a in adjectives):
            # words read in the vocabulary's order: how often, how much, then how and where
            adjectives.append((order.get(feature, len(order)), w))
    name = " ".join([*(a for _, a in sorted(adjectives, key=lambda p: p[0])), NOUN])
    if phrases:
        name += " with " + " and ".join(phrases)
    return name
