"""The real-time path of one project: its rule segments, store, bus and processor together.

Rule segments come from two places: ``segments:`` in segmint.yaml, and segments defined over
the API (``POST /v1/segments``), which are kept in the online store so that every replica and
worker sees them. Both are compiled by the same parser against the same catalogue as
``segmint segment``, so a rule means the same on both paths.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from segmint.config import ProjectConfig
from segmint.errors import ConfigError, NotFoundError, RuleError
from segmint.realtime._bus import StreamBus
from segmint.realtime._factory import open_bus, open_store
from segmint.realtime._processor import Change, Processor, RuleSet
from segmint.realtime._store import OnlineStore
from segmint.segments.rules import Rule, compile_rule

SEGMENTS = "segments"
_STATE = "state"


class SegmentExists(ConfigError):
    """A segment of that name is already defined (in segmint.yaml or over the API)."""


def _catalog(cfg: ProjectConfig, extra: set[str]) -> Any:
    from dataclasses import replace

    from segmint.segments._run import project_catalog

    cat = project_catalog(cfg)
    return replace(cat, segments=(cat.segments or frozenset()) | frozenset(extra))


def live_rules(cfg: ProjectConfig, store: OnlineStore | None = None) -> RuleSet:
    """The project's rule segments and those defined over the API, compiled and ordered."""
    from segmint.segments._run import _ordered

    defined = store.get_meta(SEGMENTS) if store is not None else {}
    names = {s.name for s in cfg.segments} | set(defined)
    catalog = _catalog(cfg, names)
    rules: dict[str, Rule] = {}
    for seg in cfg.segments:
        rules[seg.name] = compile_rule(seg.rule, catalog, name=seg.name)
    for name, rec in sorted(defined.items()):
        try:
            rules[name] = compile_rule(rec["rule"], catalog, name=name)
        except RuleError:  # a rule that no longer compiles (a feature was removed) is skipped
            continue
    return RuleSet(_ordered(rules))


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
    _model_tried: float = -1e9
    _rules_seen: float = 0.0
    _rules_version: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, cfg: ProjectConfig) -> Runtime:
        store = open_store(cfg.serve.online_store, cfg.base_dir)
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
                self.processor.rules = live_rules(self.cfg, self.store)
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
        for again after ``retry_after`` seconds)."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None and time.monotonic() - self._model_tried > retry_after:
                self._model_tried = time.monotonic()
                from segmint.recommend import load_project_model

                try:
                    self._model = load_project_model(self.cfg)[0]
                except NotFoundError:
                    self._model = None
        return self._model

    def close(self) -> None:
        self.store.close()
        if self.bus is not None:
            self.bus.close()

    # --- segments defined over the API ---------------------------------------------------
    def defined(self) -> dict[str, dict[str, Any]]:
        return self.store.get_meta(SEGMENTS)

    def define(
        self, name: str, rule: str, description: str | None = None, *, replace: bool = False
    ) -> list[Change]:
        """Define (or with ``replace`` redefine) a rule segment and compute it for everyone.

        Raises RuleError naming the column when the rule does not compile, SegmentExists
        when the name is taken, NotFoundError when replacing a segment that does not exist.
        """
        defined = self.defined()
        if name in {s.name for s in self.cfg.segments}:
            raise SegmentExists(f"segment '{name}' is defined in segmint.yaml; edit it there")
        if replace and name not in defined:
            raise NotFoundError(f"no segment named '{name}' was defined over the API")
        if not replace and name in defined:
            raise SegmentExists(f"segment '{name}' exists; PUT /v1/segments/{name} replaces it")
        names = {s.name for s in self.cfg.segments} | set(defined) | {name}
        compile_rule(rule, _catalog(self.cfg, names), name=name)
        now = datetime.now(UTC).isoformat()
        created = defined.get(name, {}).get("created_at", now)
        record = {"rule": rule, "description": description, "created_at": created}
        previous = defined.get(name)
        self.store.put_meta(SEGMENTS, name, {**record, "updated_at": now})
        self._bump()
        try:
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
        self._bump()
        return changes

    def _everyone(self) -> list[str]:
        return sorted(set(self.store.customer_ids()))

    def _bump(self) -> None:
        state = self.store.get_meta(_STATE).get(SEGMENTS, {})
        self.store.put_meta(_STATE, SEGMENTS, {"version": int(state.get("version", 0)) + 1})
        self.refresh(force=True)
