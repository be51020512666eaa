"""The real-time path of one project: its rule segments, store, bus and processor together.

Rule segments come from two places: ``segments:`` in segmint.yaml, and segments defined over
the API (``POST /v1/segments``), which are kept in the online store so that every replica and
worker sees them. Both are compiled by the same parser against the same catalogue as
``segmint segment``, so a rule means the same on both paths.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from segmint.config import ProjectConfig
from segmint.errors import ConfigError, NotFoundError, SegmintError
from segmint.realtime._bus import StreamBus
from segmint.realtime._factory import open_bus, open_existing_store, open_store
from segmint.realtime._processor import Change, Processor, RuleSet
from segmint.realtime._store import OnlineStore
from segmint.segments.rules import Rule, compile_rule

_log = logging.getLogger(__name__)
SEGMENTS = "segments"
#: meta kind of API-defined segments deleted since the last publish
DELETED = "deleted_segments"
_STATE = "state"


class SegmentExists(ConfigError):
    """A segment of that name is already defined (in segmint.yaml or over the API)."""


def _catalog(cfg: ProjectConfig, extra: set[str]) -> Any:
    from dataclasses import replace

    from segmint.segments._run import project_catalog

    cat = project_catalog(cfg)
    return replace(cat, segments=(cat.segments or frozenset()) | frozenset(extra))


def api_definitions(cfg: ProjectConfig) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The segments defined over the API, as the project's online store keeps them, and a
    note when they could not be read. For the batch path (``segmint segment``): a project
    with no online store yet has none (and none is created); a store that is down or
    unreadable is a note, never a failed run."""
    try:
        store = open_existing_store(cfg.serve.online_store, cfg.base_dir)
        if store is None:
            return {}, None
        try:
            return store.get_meta(SEGMENTS), None
        finally:
            store.close()
    except (SegmintError, ImportError, OSError) as exc:
        return {}, (
            f"segments defined over the API were not read from the online store "
            f"({type(exc).__name__}: {exc}): only segmint.yaml's rule segments were computed"
        )


def live_rules(
    cfg: ProjectConfig,
    store: OnlineStore | None = None,
    disabled: dict[str, str] | None = None,
) -> RuleSet:
    """The project's rule segments and those defined over the API, compiled and ordered.

    A stored definition can never stop event intake: one that no longer compiles (a feature
    was removed), takes a name segmint.yaml or the batch path gives, or closes a cycle of
    ``in_segment`` references is left out, and named with the reason in ``disabled`` (when
    given), while every other segment keeps working. The batch path adds the same
    definitions the same way (:func:`segmint.segments._run.add_defined`).
    """
    from segmint.segments._run import _ordered, add_defined

    defined = store.get_meta(SEGMENTS) if store is not None else {}
    off = disabled if disabled is not None else {}
    names = {s.name for s in cfg.segments} | set(defined)
    catalog = _catalog(cfg, names)
    rules: dict[str, Rule] = {}
    for seg in cfg.segments:
        rules[seg.name] = compile_rule(seg.rule, catalog, name=seg.name)
    before = dict(off)
    out = add_defined(cfg, _ordered(rules), defined, catalog, off)
    for name, why in off.items():
        if before.get(name) != why:
            _log.warning("segment %r disabled: %s", name, why)
    return RuleSet(out)


def check_definitions(cfg: ProjectConfig, defined: dict[str, dict[str, Any]]) -> None:
    """Raise RuleError or ConfigError unless every rule of segmint.yaml and ``defined`` (the
    API's definitions as a change would leave them) compiles and the whole graph of
    ``in_segment`` references has no cycle: checked before a change is stored."""
    from segmint.segments._run import _ordered

    names = {s.name for s in cfg.segments} | set(defined)
    catalog = _catalog(cfg, names)
    rules = {s.name: compile_rule(s.rule, catalog, name=s.name) for s in cfg.segments}
    for name, rec in sorted(defined.items()):
        rules[name] = compile_rule(rec["rule"], catalog, name=name)
    _ordered(rules)


def reserved_names(cfg: ProjectConfig, store: OnlineStore) -> set[str]:
    """Names the batch path gives its segments (RFM tiers, clusters, predictive segments,
    segmint.yaml's rules) and every segment it has published: not for the API to take."""
    from segmint.segments._run import rfm_segment_names

    defined = store.get_meta(SEGMENTS)
    published = set(store.get_meta("sizes")) - set(defined)
    return published | {s.name for s in cfg.segments} | set(rfm_segment_names(cfg))


def _batch_owner(cfg: ProjectConfig, store: OnlineStore, name: str) -> str | None:
    """Why ``name`` belongs to the batch path, or None."""
    if name in {s.name for s in cfg.segments}:
        return f"segment '{name}' is defined in segmint.yaml; edit it there"
    for c in cfg.clusters:
        if name.startswith(f"{c.name}_") and name[len(c.name) + 1 :].isdigit():
            return f"'{name}' is the name of a segment of clustering '{c.name}'"
    if name in {m.name for m in cfg.models}:
        return f"'{name}' is the name of predictive model '{name}'s segment"
    if name in reserved_names(cfg, store):
        return f"'{name}' is the name of a segment the batch path publishes"
    return None


@dataclass
class Runtime:
    """What ``segmint serve`` and ``segmint worker`` share: built once per process."""

    cfg: ProjectConfig
    store: OnlineStore
    bus: StreamBus | None
    processor: Processor
    _info: Any = None
    _info_at: float = -1e9
    _model: Any = None
    _rule_data: Any = None
    _model_tried: float = -1e9
    _rules_seen: float = 0.0
    _rules_version: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: API-defined segments left out of the live rules, with the reason (see live_rules)
    disabled: dict[str, str] = field(default_factory=dict)
    #: API-defined segments deleted since the last publish (reads leave them out)
    gone: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, cfg: ProjectConfig) -> Runtime:
        """The store and bus ``cfg.serve`` names, with the live rules compiled; ConfigError for a
        URL of neither kind, StoreUnavailable when the store does not answer."""
        store = open_store(cfg.serve.online_store, cfg.base_dir)
        if hasattr(store, "event_ttl_s"):  # the stream path's arrival markers: the window
            store.event_ttl_s = cfg.serve.dedup_days * 86_400.0
        bus = open_bus(cfg.serve.bus)
        rt = cls(cfg, store, bus, Processor(store, RuleSet({}), dedup_days=cfg.serve.dedup_days))
        rt.processor.webhooks = list(cfg.serve.webhooks)
        rt.refresh(force=True)
        return rt

    def refresh(self, force: bool = False, every: float = 1.0) -> RuleSet:
        """Re-read the API-defined segments when another replica changed them."""
        now = time.monotonic()
        if not force and now - self._rules_seen < every:
            return self.processor.rules
        with self._lock:
            self._rules_seen = now
            version = int(self.store.get_meta(_STATE).get(SEGMENTS, {}).get("version", 0))
            if force or version != self._rules_version:
                disabled: dict[str, str] = {}
                self.processor.rules = live_rules(self.cfg, self.store, disabled)
                self.disabled = disabled
                self.gone = set(self.store.get_meta(DELETED))
                self._rules_version = version
        return self.processor.rules

    def info(self, ttl: float = 0.5) -> Any:
        """The published snapshot's info, re-read at most every ``ttl`` seconds (reads
        need its version; asking the store on every read cost a round trip)."""
        now = time.monotonic()
        if self._info is None or now - self._info_at > ttl:
            self._info, self._info_at = self.store.info(), now
        return self._info

    def model(self, retry_after: float = 60.0) -> Any:
        """The project's saved recommender, loaded once (None when there is none yet; looked
        for again after ``retry_after`` seconds), with the data its business rules read
        (:meth:`rule_data`)."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None and time.monotonic() - self._model_tried > retry_after:
                self._model_tried = time.monotonic()
                from segmint.recommend._batch import load_project_model, recommender_dir
                from segmint.recommend._serving import load_rule_data

                try:
                    model, meta = load_project_model(self.cfg)
                except NotFoundError:
                    return None
                path = recommender_dir(self.cfg) / f"{meta.get('version')}.npz"
                self._rule_data = load_rule_data(path)
                self._model = model
        return self._model

    def rule_data(self) -> Any:
        """What the shop's business rules read on the context path (purchases, stock,
        categories, price levels), saved beside the model version :meth:`model` loaded;
        None before a model is loaded."""
        return self._rule_data if self.model() is not None else None

    def close(self) -> None:
        """Close the store and the bus."""
        self.store.close()
        if self.bus is not None:
            self.bus.close()

    # --- segments defined over the API ---------------------------------------------------
    def defined(self) -> dict[str, dict[str, Any]]:
        """The segments defined over the API, by name (rule, description, created and updated
        times), read from the store."""
        return self.store.get_meta(SEGMENTS)

    def define(
        self, name: str, rule: str, description: str | None = None, *, replace: bool = False
    ) -> list[Change]:
        """Define (or with ``replace`` redefine) a rule segment and compute it for everyone.

        Raises RuleError naming the column when the rule does not compile, SegmentExists
        when the name is taken, NotFoundError when replacing a segment that does not exist.
        """
        defined = self.defined()
        if name not in defined and (owner := _batch_owner(self.cfg, self.store, name)):
            raise SegmentExists(owner)
        if replace and name not in defined:
            raise NotFoundError(f"no segment named '{name}' was defined over the API")
        if not replace and name in defined:
            raise SegmentExists(f"segment '{name}' exists; PUT /v1/segments/{name} replaces it")
        now = datetime.now(UTC).isoformat()
        created = defined.get(name, {}).get("created_at", now)
        record = {"rule": rule, "description": description, "created_at": created}
        # the whole graph this change would leave, checked before anything is stored
        check_definitions(self.cfg, {**defined, name: record})
        previous = defined.get(name)
        self.store.put_meta(SEGMENTS, name, {**record, "updated_at": now})
        if name in self.gone:
            self.store.put_meta(DELETED, name, None)
        try:
            self._bump()
            return self.processor.recompute([name], self._everyone())
        except BaseException:
            self.store.put_meta(SEGMENTS, name, previous)  # never leave it half defined
            self._bump()
            raise

    def undefine(self, name: str) -> list[Change]:
        """Delete an API-defined segment; its members leave it."""
        if name not in self.defined():
            if name in {s.name for s in self.cfg.segments}:
                raise SegmentExists(f"segment '{name}' is defined in segmint.yaml; edit it there")
            raise NotFoundError(f"no segment named '{name}' was defined over the API")
        changes = self.processor.drop_segment(name, self._everyone())
        self.store.put_meta(SEGMENTS, name, None)
        # sizes a publish recorded for it would reserve the name for the batch path
        self.store.put_meta("sizes", name, None)
        # the published snapshot still lists its batch members until the next publish:
        # reads leave it out meanwhile (the next publish forgets this)
        self.store.put_meta(DELETED, name, {"at": datetime.now(UTC).isoformat()})
        self._bump()
        return changes

    def _everyone(self) -> list[str]:
        return sorted(set(self.store.customer_ids()))

    def _bump(self) -> None:
        state = self.store.get_meta(_STATE).get(SEGMENTS, {})
        self.store.put_meta(_STATE, SEGMENTS, {"version": int(state.get("version", 0)) + 1})
        self.refresh(force=True)
