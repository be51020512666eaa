"""The training report of a model version: its figures beside the baselines, and charts
(ROC and precision-recall curves, reliability, cumulative gains, confusion matrix,
permutation importance), as one self-contained HTML page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import altair as alt

from segmint.config import ProjectConfig
from segmint.report import Section, TableData, write_segments_report


def _pct(v: Any) -> Any:
    return None if v is None else round(100 * float(v), 1)


def _num(v: Any) -> Any:
    return None if v is None else round(float(v), 4)


def comparison_rows(meta: dict[str, Any]) -> list[list[Any]]:
    """Model and baselines side by side: ROC-AUC, PR-AUC, F1, precision, recall, Brier."""
    rows = []
    named = [(f"{meta['algorithm']} (this model)", meta["headline"])]
    named += [(f"baseline: {k}", v) for k, v in meta.get("baselines", {}).items()]
    for label, h in named:
        rows.append(
            [
                label,
                _num(h.get("roc_auc")),
                _num(h.get("pr_auc")),
                _num(h.get("f1")),
                _num(h.get("precision")),
                _num(h.get("recall")),
                _num(h.get("brier")),
            ]
        )
    return rows


def baseline_verdict(meta: dict[str, Any]) -> str | None:
    """Whether the model beats its logistic baseline on the held-out rows (ROC-AUC) by more
    than the spread of those figures, as a sentence, with what to do when it does not.

    ``baseline_gap`` holds the gap and, from resampling the held-out rows, the spread of the
    model's ROC-AUC (what another split would move it by) and the paired interval of the
    gap. A win counts only when the gap is larger than that spread and its interval is above
    zero; a smaller lead is reported as within the spread. Metadata without it (multi-class
    models, older versions) is judged by the point figures, and a model ahead by them is not
    commented on (None).
    """
    mine = (meta.get("headline") or {}).get("roc_auc")
    base = (meta.get("baselines", {}).get("logistic") or {}).get("roc_auc")
    if mine is None or base is None:
        return None
    searched = (meta.get("search_info") or {}).get("candidates", len(meta.get("search", [])))
    hint = "set search: 12 or more" if not searched else "use algorithm: logistic"
    algo, figures = meta["algorithm"], f"ROC-AUC {mine:.4f} against {base:.4f}"
    gap = meta.get("baseline_gap")
    if not gap or "spread" not in gap:
        if mine > base:
            return None
        return (
            f"This {algo} model does no better than the logistic baseline on the held-out "
            f"rows ({figures}): {hint}, or keep the baseline's simplicity."
        )
    spread = (
        f"gap {gap['gap']:+.4f}; another draw of {gap['rows']:,} held-out rows moves this "
        f"model's ROC-AUC by ±{gap['spread']:.4f}; {round(100 * gap['level'])}% interval of "
        f"the gap {gap['low']:+.4f} to {gap['high']:+.4f}"
    )
    if gap["gap"] > gap["spread"] and gap["low"] > 0:
        return (
            f"This {algo} model beats the logistic baseline beyond the spread of the "
            f"held-out rows ({figures}; {spread})."
        )
    if gap["gap"] <= 0:
        return (
            f"This {algo} model does no better than the logistic baseline on the held-out "
            f"rows ({figures}; {spread}): {hint}, or keep the baseline's simplicity."
        )
    return (
        f"This {algo} model is ahead of the logistic baseline, but not beyond the spread of "
        f"the held-out rows ({figures}; {spread}): another split could reverse it. "
        f"{hint[0].upper() + hint[1:]}, or keep the baseline's simplicity."
    )


def _diagonal(x: str, y: str) -> alt.Chart:
    values = [{x: 0, y: 0}, {x: 1, y: 1}]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_line(strokeDash=[4, 4], color="#999")
        .encode(x=f"{x}:Q", y=f"{y}:Q")
    )


def _curve_chart(points: list[list[float]], x: str, y: str, title: str) -> alt.Chart:
    data = [{x: a, y: b} for a, b in points]
    line = (
        alt.Chart(alt.Data(values=data), title=title)
        .mark_line()
        .encode(
            x=alt.X(f"{x}:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1])),
        )
    )
    return line.properties(width=260, height=240)


def charts(meta: dict[str, Any]) -> list[Any]:
    """The report's Altair charts for a model's metadata."""
    m = meta["metrics"]
    out: list[Any] = []
    curves = m.get("curves")
    if curves:
        roc = _curve_chart(
            curves["roc"],
            "false positive rate",
            "true positive rate",
            f"ROC (AUC {m.get('roc_auc', 0):.3f})",
        )
        diag = (
            alt.Chart(alt.Data(values=[{"a": 0, "b": 0}, {"a": 1, "b": 1}]))
            .mark_line(strokeDash=[4, 4], color="#999")
            .encode(x="a:Q", y="b:Q")
        )
        pr = _curve_chart(
            curves["pr"], "recall", "precision", f"Precision-recall (AP {m.get('pr_auc', 0):.3f})"
        )
        out.append(alt.hconcat(alt.layer(roc, diag), pr))
    if m.get("reliability"):
        rel = (
            alt.Chart(
                alt.Data(values=m["reliability"]),
                title=f"Reliability (Brier {m.get('brier', 0):.3f})",
            )
            .mark_line(point=True)
            .encode(
                x=alt.X("predicted:Q", scale=alt.Scale(domain=[0, 1]), title="mean predicted"),
                y=alt.Y("observed:Q", scale=alt.Scale(domain=[0, 1]), title="observed share"),
            )
            .properties(width=260, height=240)
        )
        diag = (
            alt.Chart(alt.Data(values=[{"a": 0, "b": 0}, {"a": 1, "b": 1}]))
            .mark_line(strokeDash=[4, 4], color="#999")
            .encode(x="a:Q", y="b:Q")
        )
        gains = (
            alt.Chart(
                alt.Data(values=[{"share": 0, "gain": 0}, *m["gains"]]), title="Cumulative gains"
            )
            .mark_line(point=True)
            .encode(
                x=alt.X("share:Q", title="share of rows, highest scores first"),
                y=alt.Y("gain:Q", title="share of positives found"),
            )
            .properties(width=260, height=240)
        )
        out.append(
            alt.hconcat(
                alt.layer(rel, _diagonal("predicted", "observed")),
                alt.layer(gains, _diagonal("share", "gain")),
            )
        )
    cells = [
        {"actual": a, "predicted": p, "rows": m["confusion"][i][j]}
        for i, a in enumerate(m["classes"])
        for j, p in enumerate(m["classes"])
    ]
    base = alt.Chart(alt.Data(values=cells), title="Confusion matrix (held-out rows)")
    heat = base.mark_rect().encode(
        x=alt.X("predicted:N", sort=m["classes"]),
        y=alt.Y("actual:N", sort=m["classes"]),
        color=alt.Color("rows:Q", scale=alt.Scale(scheme="blues")),
    )
    text = base.mark_text().encode(
        x=alt.X("predicted:N", sort=m["classes"]),
        y=alt.Y("actual:N", sort=m["classes"]),
        text="rows:Q",
    )
    out.append(
        alt.layer(heat, text).properties(
            width=60 * len(m["classes"]) + 80, height=50 * len(m["classes"]) + 40
        )
    )
    imp = meta.get("importance", [])[:15]
    if imp:
        out.append(
            alt.Chart(alt.Data(values=imp), title="Permutation importance (held-out rows)")
            .mark_bar()
            .encode(
                y=alt.Y("feature:N", sort="-x", title=None),
                x=alt.X("importance:Q", title="drop in score when shuffled"),
            )
            .properties(width=420, height=18 * len(imp))
        )
    return out


def sections(meta: dict[str, Any]) -> list[Section]:
    """The report's sections for one registered version's metadata."""
    m = meta["metrics"]
    split = meta["split"]
    text = (
        f"{meta['algorithm']} on {len(meta['features'])} inputs, {meta['rows']:,} labelled rows "
        f"({split['kind']} split: {split['train_rows']:,} to train, {split['test_rows']:,} "
        f"held out; search on {split['search_rows']:,} rows with {split['folds']}-fold "
        "cross-validation). Every figure below is measured on the held-out rows only."
    )
    if meta.get("threshold") is not None:
        t = meta["threshold_choice"]
        goal = (t.get("best") and "best F1") or (
            f"target precision {t['target_precision']}"
            if "target_precision" in t
            else f"target recall {t.get('target_recall')}"
        )
        text += (
            f" Decision threshold {meta['threshold']:.3f} ({goal}), chosen on out-of-fold "
            "predictions of the training rows."
        )
    verdict = baseline_verdict(meta)
    if verdict:
        text += " " + verdict
    cols = ["model", "ROC-AUC", "PR-AUC", "F1", "precision", "recall", "Brier"]
    out = [
        Section(
            "Held-out performance", text, charts(meta)[:2], [TableData(cols, comparison_rows(meta))]
        )
    ]
    per = [
        [
            c,
            _num(v["precision"]),
            _num(v["recall"]),
            _num(v["f1"]),
            v["support"],
            _num(v.get("roc_auc")),
        ]
        for c, v in m["per_class"].items()
    ]
    per += [
        [avg, _num(m[avg]["precision"]), _num(m[avg]["recall"]), _num(m[avg]["f1"]), "", ""]
        for avg in ("macro", "weighted")
    ]
    out.append(
        Section(
            "Per class",
            "",
            charts(meta)[2:3],
            [TableData(["class", "precision", "recall", "F1", "rows", "ROC-AUC"], per)],
        )
    )
    hist = []
    for row in meta.get("by_history", []):
        main, fb = row.get("main") or {}, row.get("fallback") or {}
        hist.append(
            [
                row["history"],
                row["rows"],
                _num(main.get("roc_auc")),
                _num(main.get("f1")),
                _num(fb.get("roc_auc")),
                _num(fb.get("f1")),
            ]
        )
    if hist:
        out.append(
            Section(
                "By history length",
                "Held-out customers by history: orders placed plus sessions in the 90 days "
                "before the as-of time. The fallback model uses attributes and context only "
                "and scores customers whose history is below min_history.",
                [],
                [
                    TableData(
                        [
                            "history",
                            "rows",
                            "main ROC-AUC",
                            "main F1",
                            "fallback ROC-AUC",
                            "fallback F1",
                        ],
                        hist,
                    )
                ],
            )
        )
    out.append(
        Section(
            "What drives the score", "Columns whose shuffling costs the most.", charts(meta)[3:], []
        )
    )
    return out


def write_model_report(cfg: ProjectConfig, meta: dict[str, Any]) -> Path:
    """Write ``model-<name>-vNNNN.html`` under ``<home>/reports/``."""
    version = int(meta.get("version", 0))
    when = (
        datetime.fromisoformat(meta["created_at"]) if meta.get("created_at") else (datetime.now())
    )
    return write_segments_report(
        cfg.project,
        cfg.warehouse,
        when.replace(tzinfo=None),
        sections(meta),
        cfg.home_dir / "reports",
        name=f"model-{meta['model']}",
        heading=f"Model {meta['model']} v{version:04d}",
        stamp=f"v{version:04d}",
    )
