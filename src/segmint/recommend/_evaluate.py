"""Offline evaluation: every model against popularity on one held-out split, in one run.

Hyperparameters and blend weights are chosen on a validation split carved from the training
part only, so the test interactions reach neither a model nor a choice about one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender, top_k
from segmint.recommend._context import ContextAware, context_values
from segmint.recommend._hybrid import Hybrid
from segmint.recommend._interactions import ITEM, TS, USER, Interactions
from segmint.recommend._metrics import ranking_metrics
from segmint.recommend._registry import SEARCH_SPACES, build
from segmint.recommend._split import split, validation_split

Progress = Callable[[str], None]
#: metric columns of the comparison table, in order
METRIC_NAMES = (
    "precision",
    "recall",
    "ndcg",
    "map",
    "map_capped",
    "hit_rate",
    "coverage",
    "novelty",
)
_MAX_VALID_USERS = 5_000


@dataclass
class Evaluation:
    """The comparison table and what produced it."""

    table: pd.DataFrame
    k: int
    split: str
    train_rows: int
    test_rows: int
    cold_users: int
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    models: dict[str, Recommender] = field(default_factory=dict)

    @property
    def best(self) -> str:
        """The model with the highest nDCG@k."""
        return str(self.table.sort_values(f"ndcg@{self.k}", ascending=False).index[0])

    def chart(self) -> Any:
        """Altair chart: each metric per model, popularity drawn as the baseline."""
        import altair as alt

        metrics = [f"{m}@{self.k}" for m in ("precision", "recall", "ndcg", "map", "hit_rate")]
        rows = [
            {"model": name, "metric": m, "value": float(self.table.loc[name, m])}
            for name in self.table.index
            for m in metrics
        ]
        return (
            alt.Chart(alt.Data(values=rows), title=f"Offline evaluation ({self.split} split)")
            .mark_bar()
            .encode(
                x=alt.X("model:N", title=None, sort=list(self.table.index)),
                y=alt.Y("value:Q", title=None),
                color=alt.Color("model:N", legend=None),
                column=alt.Column("metric:N", title=None, sort=metrics),
                tooltip=["model:N", "metric:N", alt.Tooltip("value:Q", format=".4f")],
            )
            .properties(width=110, height=220)
        )

    def save_chart(self, path: str | Path) -> Path:
        """Write the chart as .svg, .png or .html (offline, through vl-convert)."""
        from segmint.report._charts import chart_png, chart_svg

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        chart = self.chart()
        if path.suffix == ".png":
            path.write_bytes(chart_png(chart))
        elif path.suffix == ".svg":
            path.write_text(chart_svg(chart))
        elif path.suffix == ".html":
            chart.save(str(path), inline=True)
        else:
            raise ConfigError(f"chart {path.name!r}: use a .svg, .png or .html file")
        return path


def evaluate(
    interactions: Interactions,
    models: Sequence[str | Recommender] = ("popularity", "item_knn", "als", "bpr", "ease"),
    *,
    split_method: str = "temporal",
    test_size: float = 0.2,
    k: int = 10,
    seed: int = 0,
    search: int = 0,
    catalogue: pd.DataFrame | None = None,
    segments: pd.Series | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Split, (optionally) tune on validation, fit every model on train, score on test.

    Parameters
    ----------
    models : names or unfitted recommenders
        ``"hybrid"`` blends the other collaborative models named here (and ``content`` when a
        catalogue is given), with weights chosen on validation. ``"context"`` beside
        ``"hybrid"`` is that hybrid re-weighted by each test customer's visit context (time,
        device, country of their first held-out interaction). Popularity is always added.
    split_method : {"temporal", "stratified", "leave_last_out"}
    search : int
        Hyperparameter candidates tried per tunable model on validation (0: defaults).

    Returns
    -------
    Evaluation
        ``table`` has one row per model: precision/recall/nDCG/MAP/hit rate at k, catalogue
        coverage, novelty, fit seconds and nDCG relative to popularity.
    """
    say = progress or (lambda _msg: None)
    entries: list[tuple[str, str | Recommender]] = [
        (m if isinstance(m, str) else m.name, m) for m in models
    ]
    if "popularity" not in [n for n, _ in entries]:
        entries.insert(0, ("popularity", "popularity"))
    for _, spec in entries:
        if isinstance(spec, str):
            build(spec)  # fails early, naming the unknown model
    say(f"splitting ({split_method}, test {test_size:g})")
    train, test = split(interactions, split_method, test_size=test_size, seed=seed)
    params: dict[str, dict[str, Any]] = {}
    weights: dict[str, float] = {}
    needs_valid = search > 0 or any(n == "hybrid" for n, _ in entries)
    if needs_valid:
        vtrain, vtest = validation_split(train, split_method, test_size=test_size, seed=seed + 1)
        for name, spec in entries:
            if isinstance(spec, str) and name not in ("hybrid", "popularity") and search > 0:
                say(f"tuning {name} on validation ({search} candidates)")
                params[name] = tune(
                    name, vtrain, vtest, k=k, n=search, seed=seed, catalogue=catalogue
                )
        if any(n == "hybrid" for n, _ in entries):
            say("choosing blend weights on validation")
            members = _hybrid_members(entries, catalogue)
            weights = tune_blend(
                members,
                params,
                vtrain,
                vtest,
                k=k,
                seed=seed,
                catalogue=catalogue,
                segments=segments,
            )
    rows, fitted = {}, {}
    for name, spec in entries:
        say(f"fitting {name}")
        model = _make(name, spec, params, entries, weights, catalogue)
        started = time.perf_counter()
        _fit(model, train, catalogue, segments)
        fit_s = time.perf_counter() - started
        recs = recommend_for_test(model, _test_users(train, test), test, k=k)
        metrics = ranking_metrics(recs, train, test, k=k)
        rows[name] = {**metrics, "fit_seconds": round(fit_s, 3)}
        fitted[name] = model
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    base = table.loc["popularity", f"ndcg@{k}"]
    table["ndcg_vs_popularity"] = table[f"ndcg@{k}"] / base if base > 0 else np.nan
    base_recall = table.loc["popularity", f"recall@{k}"]
    table["recall_vs_popularity"] = (
        table[f"recall@{k}"] / base_recall if base_recall > 0 else np.nan
    )
    cold = int(table["cold_users"].iloc[0]) if "cold_users" in table.columns else 0
    return Evaluation(
        table=table,
        k=k,
        split=split_method,
        train_rows=len(train),
        test_rows=len(test),
        cold_users=cold,
        params=params,
        weights=weights,
        models=fitted,
    )


def tune(
    name: str,
    train: Interactions,
    valid: Interactions,
    *,
    k: int = 10,
    n: int = 8,
    seed: int = 0,
    catalogue: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The best of ``n`` sampled hyperparameter sets for ``name`` by nDCG@k on ``valid``."""
    space = SEARCH_SPACES.get(name, {})
    candidates = sample_space(space, n, seed)
    if not candidates:
        return {}
    users = _test_users(train, valid, limit=_MAX_VALID_USERS, seed=seed)
    best, best_score = candidates[0], -1.0
    for cand in candidates:
        model = build(name, cand)
        _fit(model, train, catalogue, None)
        score = ranking_metrics(recommend_for_test(model, users, valid, k=k), train, valid, k=k)[
            f"ndcg@{k}"
        ]
        if score > best_score:
            best, best_score = cand, score
    return best


def recommend_for_test(
    model: Recommender, users: list[str], test: Interactions, *, k: int
) -> pd.DataFrame:
    """Top ``k`` for held-out customers; a context model gets each one's visit context.

    The context is what a shop knows when the page is requested: the time, device and
    country of the customer's first held-out interaction (never its product).
    """
    if not isinstance(model, ContextAware):
        return model.recommend(users, k=k, explain=False)
    f = test.frame
    cols = [c for c in (TS, "device", "country") if c in f.columns]
    first = f[f[USER].isin(users)].sort_values([USER, TS] if TS in cols else [USER])
    first = first.drop_duplicates(USER).set_index(USER)[cols]
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for cid in users:
        raw = first.loc[cid].to_dict() if cid in first.index else {}
        ctx = context_values({key: v for key, v in raw.items() if pd.notna(v)})
        groups.setdefault(tuple(sorted(ctx.items())), []).append(cid)
    parts = [
        model.recommend(ids, k=k, explain=False, context=dict(key) or None)
        for key, ids in groups.items()
    ]
    return pd.concat(parts, ignore_index=True) if parts else model.recommend([], k=k)


def sample_space(space: Mapping[str, Sequence[Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct combinations drawn from ``space`` (the first is each list's middle)."""
    if not space or n <= 0:
        return []
    keys = sorted(space)
    total = int(np.prod([len(space[k_]) for k_ in keys]))
    rng = np.random.default_rng(seed)
    first = {k_: space[k_][len(space[k_]) // 2] for k_ in keys}
    out, seen = [first], {tuple(first.items())}
    while len(out) < min(n, total):
        cand = {k_: space[k_][int(rng.integers(len(space[k_])))] for k_ in keys}
        key = tuple(cand.items())
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out


def tune_blend(
    members: Sequence[str],
    params: Mapping[str, Mapping[str, Any]],
    train: Interactions,
    valid: Interactions,
    *,
    k: int = 10,
    seed: int = 0,
    catalogue: pd.DataFrame | None = None,
    segments: pd.Series | None = None,
    candidates: int = 60,
) -> dict[str, float]:
    """Blend weights for ``members`` maximising nDCG@k on ``valid`` (random simplex search)."""
    if not members:
        return {}
    hybrid = Hybrid(models=tuple(members), params={m: dict(params.get(m, {})) for m in members})
    hybrid.fit(train, catalogue=catalogue, segments=segments)
    names = list(hybrid.members_)
    if len(names) == 1:
        return {names[0]: 1.0}
    users = _test_users(train, valid, limit=_MAX_VALID_USERS, seed=seed)
    rows = hybrid.users_.get_indexer(pd.Index(users))
    parts = hybrid.member_scores(rows)
    seen = hybrid.seen_[rows]
    rng = np.random.default_rng(seed)
    grid = [np.eye(len(names))[i] for i in range(len(names))]
    grid.append(np.full(len(names), 1.0 / len(names)))
    grid += list(rng.dirichlet(np.ones(len(names)) * 0.7, size=candidates))
    best, best_score = grid[0], -1.0
    for w in grid:
        total = sum(w[j] * parts[n] for j, n in enumerate(names))
        score = _ndcg_of(np.asarray(total), seen, hybrid, users, train, valid, k)
        if score > best_score:
            best, best_score = w, score
    return {n: round(float(best[j]), 4) for j, n in enumerate(names)}


def _ndcg_of(
    scores: np.ndarray,
    seen: Any,
    model: Recommender,
    users: list[str],
    train: Interactions,
    valid: Interactions,
    k: int,
) -> float:
    coo = seen.tocoo()
    scores = scores.copy()
    scores[coo.row, coo.col] = -np.inf
    top = top_k(scores, k)
    recs = pd.DataFrame(
        {
            USER: np.repeat(np.asarray(users, dtype=object), top.shape[1]),
            ITEM: model.items_.to_numpy()[top.ravel()],
            "rank": np.tile(np.arange(1, top.shape[1] + 1), len(users)),
        }
    )
    return float(ranking_metrics(recs, train, valid, k=k)[f"ndcg@{k}"])


def _hybrid_members(
    entries: Sequence[tuple[str, str | Recommender]], catalogue: pd.DataFrame | None
) -> list[str]:
    named = [
        n for n, s in entries if isinstance(s, str) and n not in ("hybrid", "popularity", "context")
    ]
    if catalogue is None:
        named = [n for n in named if n != "content"]
    return named or ["ease"]


def _make(
    name: str,
    spec: str | Recommender,
    params: Mapping[str, Mapping[str, Any]],
    entries: Sequence[tuple[str, str | Recommender]],
    weights: Mapping[str, float],
    catalogue: pd.DataFrame | None,
) -> Recommender:
    if not isinstance(spec, str):
        return spec
    if name == "hybrid":
        return Hybrid(**hybrid_params(_hybrid_members(entries, catalogue), params, weights))
    if name == "context" and any(n == "hybrid" for n, _ in entries):
        # the served model: the hybrid, re-weighted by the request's context
        base = hybrid_params(_hybrid_members(entries, catalogue), params, weights)
        return ContextAware(base="hybrid", params=base, **dict(params.get("context", {})))
    return build(name, params.get(name))


def hybrid_params(
    members: Sequence[str],
    params: Mapping[str, Mapping[str, Any]],
    weights: Mapping[str, float] | None,
    thin_history: int = 3,
) -> dict[str, Any]:
    """Constructor arguments of a hybrid over ``members`` with tuned params and weights."""
    return {
        "models": list(members),
        "weights": dict(weights) if weights else None,
        "params": {m: dict(params.get(m, {})) for m in members},
        "thin_history": thin_history,
    }


def _fit(
    model: Recommender,
    train: Interactions,
    catalogue: pd.DataFrame | None,
    segments: pd.Series | None,
) -> None:
    from segmint.recommend._hybrid import _fit_member

    if isinstance(model, Hybrid):
        model.fit(train, catalogue=catalogue, segments=segments)
    else:
        _fit_member(model, train, catalogue, segments)


def _test_users(
    train: Interactions, test: Interactions, *, limit: int | None = None, seed: int = 0
) -> list[str]:
    users = np.intersect1d(test.frame[USER].unique(), train.frame[USER].unique())
    if limit is not None and len(users) > limit:
        users = np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))
    return [str(u) for u in users]
