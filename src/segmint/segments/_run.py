"""``segmint segment``: every segment of a project computed as of one time, in order.

Features first (with the project's own), then RFM tiers, then each clustering, then the rule
segments in the order their ``in_segment`` references need; each segment's membership is
brought up to date with only its changes written (:func:`record_membership`). Everything is
computed inside the warehouse; only clustering fits read a sample out of it.

The rule segments are segmint.yaml's and those defined over the API (kept in the online store,
read here without creating one): one set of definitions for the batch and the live path,
compiled by the same function (:func:`add_defined`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa

from segmint.config import ProjectConfig
from segmint.errors import ConfigError, RuleError
from segmint.features import FeatureRun, compute_features
from segmint.schema import EVENT_TYPES
from segmint.segments.membership import (
    MembershipChange,
    members_at,
    record_membership,
    segment_names,
)
from segmint.segments.rfm import SEGMENTS as RFM_SEGMENTS
from segmint.segments.rfm import RFMRun, compute_rfm, segment_slug
from segmint.segments.rules import Catalog, Rule, compile_rule, default_catalog
from segmint.segments.rules._warehouse import INPUTS, catalog_for, rule_inputs, rule_members
from segmint.warehouse import IbisWarehouse, Warehouse

DEFINITIONS = "segment_definitions"
DEFINITIONS_SCHEMA = {
    "segment": "VARCHAR",
    "kind": "VARCHAR",
    "definition": "VARCHAR",
    "description": "VARCHAR",
    "updated_at": "TIMESTAMP",
}
Progress = Callable[[str, int, int], None]
#: ``segment_definitions.kind`` of a rule segment defined over the API (its members are
#: recorded with kind ``rule``, as segmint.yaml's are)
API_KIND = "api"


@dataclass
class SegmentRun:
    """What one ``segmint segment`` computed."""

    as_of: datetime
    features: FeatureRun
    rfm: RFMRun | None = None
    clusters: list[Any] = field(default_factory=list)  # ClusterRun
    scores: list[Any] = field(default_factory=list)  # ScoreRun
    changes: list[MembershipChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cluster_models_dir(cfg: ProjectConfig) -> Path:
    """Where a project's clustering models are kept: ``<home>/models/clusters/<name>/``."""
    return cfg.home_dir / "models" / "clusters"


def rfm_segment_names(cfg: ProjectConfig) -> list[str]:
    if not (cfg.rfm.enabled and cfg.rfm.segments):
        return []
    return [segment_slug(n) for n in RFM_SEGMENTS]


def project_catalog(cfg: ProjectConfig, base: Catalog | None = None) -> Catalog:
    """What the project's rules may name: ``base`` (default: the built-in features), the
    project's own features, and every segment the project defines."""
    from dataclasses import replace

    base = base or default_catalog()
    extra = {f.name: "number" for f in cfg.features}
    segs = {s.name for s in cfg.segments} | set(rfm_segment_names(cfg))
    segs |= {seg.name for m in cfg.models for seg in m.segments}
    patterns = tuple(rf"{c.name}_\d+" for c in cfg.clusters)
    # a multi-class model's classes are segments <model>_<class>, known once it is trained
    patterns += tuple(rf"{m.name}_[a-z0-9_]+" for m in cfg.models if m.entity == "customer")
    models = frozenset(m.name for m in cfg.models if m.entity == "customer")
    return replace(
        base.with_values({k: v for k, v in extra.items() if k not in base.values}),
        segments=frozenset(segs),
        segment_patterns=patterns,
        clusters=frozenset(c.name for c in cfg.clusters),
        models=models | (base.models or frozenset()),
    )


def compile_segments(
    cfg: ProjectConfig,
    catalog: Catalog | None = None,
    defined: Mapping[str, Mapping[str, Any]] | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, Rule]:
    """Every rule segment of the project, compiled, in an order that computes each
    ``in_segment`` reference before the rule that reads it.

    ``defined`` are the segments defined over the API (``{name: {"rule": ...}}``, as
    ``segmint.realtime._project.api_definitions`` reads them): added as :func:`add_defined`
    does, each one that cannot be used named in ``skipped`` with the reason, never failing.

    Raises
    ------
    ConfigError
        Listing every rule of segmint.yaml that does not compile (``file:line:
        segments[i].rule: ...``), a name two kinds of segment share, or a cycle of
        ``in_segment`` references among them.
    """
    from dataclasses import replace

    catalog = project_catalog(cfg, catalog)
    if defined:
        catalog = replace(catalog, segments=(catalog.segments or frozenset()) | set(defined))
    problems: list[str] = []
    rules: dict[str, Rule] = {}
    taken = set(rfm_segment_names(cfg))
    for i, seg in enumerate(cfg.segments):
        where = f"{cfg.where(('segments', i, 'rule'))}: segments[{i}].rule"
        if seg.name in taken:
            problems.append(f"{where}: '{seg.name}' is the name of an RFM tier segment")
            continue
        if any(
            seg.name.startswith(f"{c.name}_") and seg.name[len(c.name) + 1 :].isdigit()
            for c in cfg.clusters
        ):
            problems.append(f"{where}: '{seg.name}' is the name of a cluster segment")
            continue
        try:
            rules[seg.name] = compile_rule(seg.rule, catalog, name=seg.name)
        except RuleError as exc:
            problems.append(f"{where}: {exc}")
    for i, f in enumerate(cfg.features):
        try:
            compile_rule(f.expr, catalog, name=f.name, condition=False)
        except RuleError as exc:
            problems.append(f"{cfg.where(('features', i, 'expr'))}: features[{i}].expr: {exc}")
    if problems:
        raise ConfigError(
            f"{len(problems)} segment problem(s):\n  " + "\n  ".join(problems), problems
        )
    if defined:
        return add_defined(cfg, _ordered(rules), defined, catalog, skipped)
    return _ordered(rules)


def batch_owner(cfg: ProjectConfig, name: str) -> str | None:
    """Why ``name`` is a segment segmint.yaml or the batch path defines, or None."""
    if name in {s.name for s in cfg.segments}:
        return f"segment '{name}' is defined in segmint.yaml, which takes precedence"
    if name in rfm_segment_names(cfg):
        return f"'{name}' is the name of an RFM tier segment"
    for c in cfg.clusters:
        if name.startswith(f"{c.name}_") and name[len(c.name) + 1 :].isdigit():
            return f"'{name}' is the name of a segment of clustering '{c.name}'"
    if name in {m.name for m in cfg.models} | {g.name for m in cfg.models for g in m.segments}:
        return f"'{name}' is the name of a predictive model's segment"
    return None


def add_defined(
    cfg: ProjectConfig,
    rules: dict[str, Rule],
    defined: Mapping[str, Mapping[str, Any]],
    catalog: Catalog,
    skipped: dict[str, str] | None = None,
) -> dict[str, Rule]:
    """``rules`` (segmint.yaml's, compiled) and the segments defined over the API, compiled
    against ``catalog``, in an order that computes each ``in_segment`` reference first.

    Both paths use this, so an API-defined segment means the same in ``segmint segment``,
    ``segmint publish`` and the live path. segmint.yaml wins a name both define; a stored
    definition that does not compile, takes a name the batch path gives, or closes a cycle of
    ``in_segment`` references is left out and named in ``skipped`` with the reason: a
    broken stored definition never stops a batch run or event intake.
    """
    off = skipped if skipped is not None else {}
    out = dict(rules)
    api: set[str] = set()
    for name, rec in sorted(defined.items()):
        if (reason := batch_owner(cfg, name)) or name in rules:
            off[name] = reason or f"segment '{name}' is defined twice"
            continue
        try:
            out[name] = compile_rule(str(rec["rule"]), catalog, name=name)
        except RuleError as exc:
            off[name] = str(exc)
            continue
        except (KeyError, TypeError) as exc:  # a damaged record
            off[name] = f"the stored definition has no rule ({type(exc).__name__}: {exc})"
            continue
        api.add(name)
    while True:
        try:
            return _ordered(out)
        except SegmentCycle as exc:
            ring = [n for n in exc.names if n in api]
            if not ring:  # a cycle within segmint.yaml is the project file's error
                raise
            for name in ring:
                off[name] = str(exc)
                out.pop(name, None)
                api.discard(name)


class SegmentCycle(ConfigError):
    """Segments refer to each other (``in_segment``) in a cycle; ``names`` are its members."""

    def __init__(self, ring: list[str]) -> None:
        super().__init__(f"segments refer to each other in a cycle: {' -> '.join(ring)}")
        self.names = ring[:-1]


def _ordered(rules: dict[str, Rule]) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "busy":
            ring = [*path[path.index(name) :], name]
            raise SegmentCycle(ring)
        state[name] = "busy"
        for dep in sorted(rules[name].segments):
            if dep in rules:
                visit(dep, [*path, name])
        state[name] = "done"
        out[name] = rules[name]

    for name in rules:
        visit(name, [])
    return out


def project_rules(
    cfg: ProjectConfig,
    wh: Warehouse,
    defined: Mapping[str, Mapping[str, Any]] | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, Rule]:
    """The rule segments as :func:`run_segments` computes them: compiled against what this
    warehouse holds (its features, RFM columns and scored models), in dependency order, with
    the API's definitions ``defined`` (see :func:`compile_segments`)."""
    catalog = catalog_for(wh)
    base = Catalog(catalog.values, {}, EVENT_TYPES, models=catalog.models)
    return compile_segments(cfg, base, defined, skipped)


def run_segments(
    cfg: ProjectConfig,
    wh: IbisWarehouse,  # the class, not the protocol, while score_model takes the class
    as_of: datetime,
    *,
    progress: Progress | None = None,
) -> SegmentRun:
    """Compute features, RFM, clusters and rule segments as of ``as_of``; record membership.

    Raises
    ------
    ConfigError
        A rule does not compile against this warehouse's features (see
        :func:`compile_segments`), or ``as_of`` is older than a segment's last computation.
    """
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    defined, unread = _api_definitions(cfg)
    compile_segments(cfg, defined=defined, skipped={})  # fail on a bad rule before any work
    steps = 2 + (1 if cfg.rfm.enabled else 0) + len(cfg.clusters) + len(cfg.segments)
    steps += sum(1 for m in cfg.models if m.entity == "customer") + len(defined)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        if progress is not None:
            progress(label, done, steps)
        done += 1

    step("features")
    run = SegmentRun(as_of, compute_features(wh, as_of, cfg.features))
    if unread:
        run.notes.append(unread)
    definitions: list[tuple[str, str, str, str | None]] = []
    if cfg.rfm.enabled:
        step("RFM tiers")
        run.rfm = compute_rfm(wh, as_of, cfg.rfm)
        if cfg.rfm.segments:
            run.changes += _rfm_membership(wh, as_of, definitions)
    for spec in cfg.clusters:
        step(f"clustering {spec.name}")
        run.clusters.append(_clustering(cfg, wh, spec, as_of, run, definitions))
    for model in cfg.models:
        if model.entity == "customer":
            step(f"scoring {model.name}")
            _predictive(cfg, wh, model, as_of, run, definitions)
    step("rule inputs")
    skipped: dict[str, str] = {}
    rules = project_rules(cfg, wh, defined, skipped)
    run.notes += [
        f"segment '{name}' (defined over the API) is skipped: {why}"
        for name, why in sorted(skipped.items())
    ]
    api = {name: defined[name] for name in rules if name in defined}
    if any(r.models for r in rules.values()):
        from segmint.segments.predictive._score import SCORES, SCORES_SCHEMA

        # a model not trained yet has no scores: score("m") is null, not an error
        wh.ensure_table(SCORES, SCORES_SCHEMA)
    if rules:
        rules, api = _rule_memberships(wh, rules, api, as_of, run, step)
        definitions += [(seg.name, "rule", seg.rule, seg.description) for seg in cfg.segments]
        definitions += [
            (name, API_KIND, str(rec["rule"]), rec.get("description")) for name, rec in api.items()
        ]
    if unread is None:
        run.changes += _close_undefined(wh, cfg, defined, as_of)
    save_definitions(wh, definitions)
    if progress is not None:
        progress("done", steps, steps)
    return run


def _api_definitions(cfg: ProjectConfig) -> tuple[dict[str, dict[str, Any]], str | None]:
    from segmint.realtime._project import api_definitions

    return api_definitions(cfg)


def _rule_memberships(
    wh: Warehouse,
    rules: dict[str, Rule],
    api: dict[str, Any],
    as_of: datetime,
    run: SegmentRun,
    step: Callable[[str], None],
) -> tuple[dict[str, Rule], dict[str, Any]]:
    """Record each rule segment's members; the rules and API definitions recorded. An
    API-defined rule the warehouse cannot evaluate is noted and left out, never a failed run
    (segmint.yaml's rules fail the run as they always did)."""
    try:
        inputs = rule_inputs(
            wh, list(rules.values()), as_of, members=lambda name: members_at(wh, name, as_of)
        )
    except Exception as exc:
        if not api:
            raise
        wh.drop(INPUTS)
        run.notes.append(
            f"segments defined over the API ({', '.join(sorted(api))}) are skipped: their "
            f"inputs could not be computed ({type(exc).__name__}: {exc})"
        )
        rules = {n: r for n, r in rules.items() if n not in api}
        api = {}
        if not rules:
            return rules, api
        inputs = rule_inputs(
            wh, list(rules.values()), as_of, members=lambda name: members_at(wh, name, as_of)
        )
    kept = dict(api)
    try:
        for name, rule in rules.items():
            step(f"segment {name}")
            try:
                run.changes.append(
                    record_membership(wh, name, "rule", rule_members(rule, inputs), as_of)
                )
            except Exception as exc:
                if name not in api:
                    raise
                kept.pop(name)
                run.notes.append(
                    f"segment '{name}' (defined over the API) is skipped: "
                    f"{type(exc).__name__}: {exc}"
                )
    finally:
        wh.drop(INPUTS)
    return rules, kept


def _close_undefined(
    wh: Warehouse, cfg: ProjectConfig, defined: Mapping[str, Any], as_of: datetime
) -> list[MembershipChange]:
    """Segments an earlier run computed from an API definition that is gone (deleted over
    the API, and not in segmint.yaml): their members leave, as they did on the live path."""
    if not wh.has_table(DEFINITIONS):
        return []
    yaml = {s.name for s in cfg.segments}
    gone = {
        name
        for name, row in definitions(wh).items()
        if row["kind"] == API_KIND and name not in defined and name not in yaml
    }
    out = []
    for r in segment_names(wh):
        if r["segment"] in gone and r["members"] > 0 and r["as_of"] <= as_of:
            empty = members_at(wh, r["segment"]).filter(ibis.literal(False))
            out.append(record_membership(wh, r["segment"], "rule", empty, as_of))
    return out


def _rfm_membership(
    wh: Warehouse, as_of: datetime, definitions: list[tuple[str, str, str, str | None]]
) -> list[MembershipChange]:
    from segmint.segments.rfm import MEANINGS

    r = wh.table("rfm")
    r = r.filter(r.as_of == ibis.timestamp(as_of))
    out = []
    for name in RFM_SEGMENTS:
        members = r.filter(r.rfm_segment == name).select("customer_id")
        out.append(record_membership(wh, segment_slug(name), "rfm", members, as_of))
        meaning = MEANINGS.get(name)
        text = meaning[0] if isinstance(meaning, tuple) else meaning
        definitions.append((segment_slug(name), "rfm", f'rfm_segment == "{name}"', text))
    return out


def _clustering(
    cfg: ProjectConfig,
    wh: Warehouse,
    spec: Any,
    as_of: datetime,
    run: SegmentRun,
    definitions: list[tuple[str, str, str, str | None]],
) -> Any:
    from segmint.features import latest_features
    from segmint.segments.clusters import CLUSTERS, run_clustering

    models = cluster_models_dir(cfg)
    result = run_clustering(wh, spec, latest_features(wh, as_of), as_of, models)
    a = wh.table(CLUSTERS)
    a = a.filter((a.clustering == spec.name) & (a.as_of == ibis.timestamp(as_of)))
    current = {f"{spec.name}_{i}" for i in result.sizes if i >= 0}
    for cid, name in sorted(result.model.names_.items()):
        if cid < 0:
            continue
        seg = f"{spec.name}_{cid}"
        members = a.filter(a.cluster == cid).select("customer_id")
        run.changes.append(record_membership(wh, seg, "cluster", members, as_of))
        definitions.append((seg, "cluster", f'cluster("{spec.name}") == {cid}', name))
    # clusters an earlier model had and this one does not: their members leave
    prefix = f"{spec.name}_"
    for old in _cluster_segments(wh, prefix) - current:
        empty = a.filter(ibis.literal(False)).select("customer_id")
        run.changes.append(record_membership(wh, old, "cluster", empty, as_of))
    return result


def _predictive(
    cfg: ProjectConfig,
    wh: IbisWarehouse,  # as score_model (segments.predictive) still asks
    spec: Any,
    as_of: datetime,
    run: SegmentRun,
    definitions: list[tuple[str, str, str, str | None]],
) -> None:
    """Score a trained customer model and record its segments; note an untrained one."""
    from segmint.models import ModelNotFoundError
    from segmint.segments.predictive import SCORES, registry_for, score_model

    registry = registry_for(cfg)
    try:
        version = registry.resolve(spec.name)
    except ModelNotFoundError:
        run.notes.append(
            f"model {spec.name} is not trained yet (segmint train {spec.name}): its scores "
            "and segments are skipped"
        )
        return
    result = score_model(cfg, wh, spec, as_of, version=version.version)
    run.scores.append(result)
    s = wh.table(SCORES)
    s = s.filter((s.model == spec.name) & (s.as_of == ibis.timestamp(as_of)))
    for seg in spec.segments:
        inside = (s.score >= seg.min_score) & (
            (s.score <= seg.max_score) if seg.max_score >= 1 else (s.score < seg.max_score)
        )
        members = s.filter(inside).select("customer_id", "score")
        run.changes.append(record_membership(wh, seg.name, "predictive", members, as_of))
        rule = f'score("{spec.name}") >= {seg.min_score}'
        if seg.max_score < 1:
            rule += f' and score("{spec.name}") < {seg.max_score}'
        definitions.append((seg.name, "predictive", rule, seg.description))
    classes = registry.metadata(spec.name, version.version).get("classes", [])
    if len(classes) > 2:  # a stage model: one segment per predicted class
        for c in classes:
            name = f"{spec.name}_{_slug(str(c))}"
            members = s.filter(s.label == str(c)).select("customer_id", "score")
            run.changes.append(record_membership(wh, name, "predictive", members, as_of))
            definitions.append(
                (name, "predictive", f"predicted class of {spec.name} is {c!r}", spec.description)
            )


def _slug(text: str) -> str:
    """A class label as a segment-name suffix: "ready to buy" -> ready_to_buy."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "class"


def _cluster_segments(wh: Warehouse, prefix: str) -> set[str]:
    return {
        r["segment"]
        for r in segment_names(wh)
        if r["kind"] == "cluster"
        and r["segment"].startswith(prefix)
        and r["segment"][len(prefix) :].isdigit()
        and r["members"] > 0
    }


def save_definitions(wh: Warehouse, rows: Iterable[tuple[str, str, str, str | None]]) -> None:
    """Upsert ``(segment, kind, definition, description)`` rows of ``segment_definitions``."""
    rows = list(rows)
    wh.ensure_table(DEFINITIONS, DEFINITIONS_SCHEMA)
    if not rows:
        return
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    segment, kind, definition, description = (list(c) for c in zip(*rows, strict=True))
    table = pa.table(
        {
            "segment": pa.array(segment, pa.string()),
            "kind": pa.array(kind, pa.string()),
            "definition": pa.array(definition, pa.string()),
            "description": pa.array(description, pa.string()),
            "updated_at": pa.array([now] * len(rows), pa.timestamp("us")),
        }
    )
    wh.upsert(DEFINITIONS, table, ["segment"])


def definitions(wh: Warehouse) -> dict[str, dict[str, Any]]:
    """Every saved segment definition by name."""
    if not wh.has_table(DEFINITIONS):
        return {}
    return {r["segment"]: r for r in wh.to_arrow(DEFINITIONS).to_pylist()}
