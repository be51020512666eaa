"""The library's front door: :func:`open` a project, then work with it through one object.

A notebook user needs one import::

    import segmint

    shop = segmint.open("examples/online_retail")      # a folder or its segmint.yaml
    shop.ingest()                                       # segmint ingest
    run = shop.segments.compute()                       # segmint segment (as of the data's end)
    shop.segments.members("lapsing_vip")                # who is in it (a pyarrow Table)
    shop.check("lapsing_vip", "12347")                  # the same answer as the batch
    shop.recommend(["12347"], k=5)                      # with the shop's business rules

The CLI and the API call the same methods, so what a notebook sees and what ``segmint``
prints cannot drift apart. ``Project.as_of(ts)`` is the same project seen at another time.
``docs/library.md`` walks through it.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.config import ProjectConfig, load_config
from segmint.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from segmint.config import ModelConfig, RecommendConfig
    from segmint.features import FeatureRun
    from segmint.ingest import IngestReport
    from segmint.models import LoadedModel, ModelSummary, ModelVersion
    from segmint.realtime import PublishInfo
    from segmint.recommend import Evaluation, Interactions, Recommender, TrainedRecommender
    from segmint.segments import SegmentRun
    from segmint.segments.predictive._score import ScoreRun
    from segmint.segments.predictive._train import TrainResult
    from segmint.segments.rules import Profile, Rule
    from segmint.warehouse import IbisWarehouse

#: a progress callback: (label, done, total)
Progress = Callable[[str, int, int], None]

_PROFILE_INPUTS = "_profile_inputs"


def open(source: str | Path | ProjectConfig | None = None) -> Project:
    """The project in ``source``: a project file, the folder holding ``segmint.yaml``, an
    already loaded :class:`~segmint.config.ProjectConfig`, or (None) the file found from the
    current folder up.

    Raises
    ------
    ConfigError
        The file is missing, unreadable or invalid; the message names the file and the key.
    """
    if isinstance(source, ProjectConfig):
        return Project(source)
    if source is not None and not isinstance(source, str | Path):
        raise ConfigError(
            f"segmint.open() takes a path to segmint.yaml, its folder or a ProjectConfig; "
            f"got {type(source).__name__}"
        )
    return Project(load_config(source))


def parse_as_of(text: str | datetime) -> datetime:
    """A point in time from a date, a timestamp or ``now`` (naive UTC, whole seconds).

    Raises ConfigError naming the value when it is none of those."""
    if isinstance(text, datetime):
        when = text.astimezone(UTC).replace(tzinfo=None) if text.tzinfo else text
        return when.replace(microsecond=0)
    if text == "now":
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        return parse_as_of(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(
            f"as of {text!r}: not a date; use YYYY-MM-DD, YYYY-MM-DD HH:MM or now"
        ) from None


def default_as_of(wh: IbisWarehouse) -> datetime:
    """The as-of a computation takes when none is given: midnight after the newest event or
    order (the natural "now" of a historical dataset).

    Raises NotFoundError when there is no data yet."""
    from segmint.features import data_end

    end = data_end(wh)
    if end is None:
        raise NotFoundError("no events or orders yet: run `segmint ingest` (Project.ingest) first")
    return end


class Project:
    """One segmint project: its configuration, warehouse, segments, models and recommender.

    Make one with :func:`segmint.open`. Nothing is held open between calls: each method
    connects to the warehouse for its own work, so the CLI can run beside a notebook.
    """

    def __init__(self, config: ProjectConfig, as_of: datetime | None = None) -> None:
        self.config = config
        self._as_of = as_of
        self._recommender: tuple[Recommender, dict[str, Any]] | None = None
        self.segments = Segments(self)
        self.models = Models(self)

    def __repr__(self) -> str:
        when = f", as_of={self._as_of.isoformat()}" if self._as_of else ""
        return f"<segmint.Project {self.config.project!r}{when}>"

    # --- time and the warehouse --------------------------------------------------------
    def as_of(self, when: str | datetime) -> Project:
        """The same project at ``when`` (a datetime, ``YYYY-MM-DD[ HH:MM]`` or ``now``):
        computations run as of it and reads show the state then."""
        return Project(self.config, parse_as_of(when))

    @contextmanager
    def warehouse(self) -> Iterator[IbisWarehouse]:
        """A connection to the project's warehouse, closed on leaving the block."""
        from segmint.warehouse import connect

        with connect(self.config.warehouse, self.config.base_dir) as wh:
            yield wh

    def _compute_time(self, wh: IbisWarehouse) -> datetime:
        return self._as_of or default_as_of(wh)

    def _read_time(self, wh: IbisWarehouse) -> datetime:
        """The as-of reads show: the one given, else the latest feature computation."""
        if self._as_of is not None:
            return self._as_of
        from segmint.features import FEATURES

        if not wh.has_table(FEATURES):
            raise NotFoundError(
                "no features computed yet: run `segmint segment` (Project.segments.compute())"
            )
        latest = wh.table(FEATURES).as_of.max().execute()
        if latest is None or str(latest) == "NaT":
            raise NotFoundError(
                "no features computed yet: run `segmint segment` (Project.segments.compute())"
            )
        return parse_as_of(latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest)

    # --- ingest and features ------------------------------------------------------------
    def ingest(self, *, force: bool = False, progress: Progress | None = None) -> IngestReport:
        """Load every source, quarantine bad rows, rebuild identities and profiles
        (``segmint ingest``). The report's ``failed`` lists the sources that failed."""
        from segmint.ingest import ingest

        return ingest(self.config, force=force, progress=progress)

    def features(self, *, compute: bool = False) -> pa.Table:
        """Every customer's features as of the project's time (one row per customer);
        with ``compute``, computed first (``segmint features``)."""
        from segmint.features import compute_features, latest_features

        with self.warehouse() as wh:
            if compute:
                when = self._compute_time(wh)
                compute_features(wh, when, self.config.features)
            else:
                when = self._read_time(wh)
            return wh.to_arrow(latest_features(wh, when))

    def customer(self, identifier: str, *, reveal: bool = False) -> dict[str, Any]:
        """A person's unified profile by any identifier (customer id, e-mail, phone), PII
        masked unless ``reveal`` (which needs the key)."""
        from segmint.profiles import customer_profile

        return customer_profile(self.config, identifier, reveal=reveal)

    def time(self) -> datetime:
        """The point in time computations run as of: the one given to :meth:`as_of`, else
        the day after the data ends.

        Raises NotFoundError when nothing is ingested yet."""
        if self._as_of is not None:
            return self._as_of
        with self.warehouse() as wh:
            return default_as_of(wh)

    def tables(self) -> dict[str, int]:
        """The warehouse's tables with their row counts, by name (``segmint tables``)."""
        with self.warehouse() as wh:
            return {name: wh.count(name) for name in sorted(wh.list_tables())}

    def compute_features(self) -> FeatureRun:
        """Compute every feature for every customer as of the project's time (default: the
        day after the data ends) into the ``features`` table (``segmint features``); the run
        says which features, for how many customers, as of when."""
        from segmint.features import compute_features

        with self.warehouse() as wh:
            return compute_features(wh, self._compute_time(wh), self.config.features)

    def customers(self, *, top: int = 10) -> dict[str, Any]:
        """A summary of the unified profiles (``segmint customers``): counts of customers,
        known, anonymous and merged, the top countries and the ``top`` customers by net
        revenue."""
        from segmint.profiles import customer_summary

        return customer_summary(self.config, top=top)

    def quarantined(
        self,
        *,
        rule: str | None = None,
        source: str | None = None,
        limit: int = 100,
        decrypt: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        """Quarantined rows, newest run first, optionally of one ``rule`` or ``source``
        (``segmint quarantine``). Encrypted values stay encrypted unless ``decrypt`` (which
        needs the key)."""
        from segmint.ingest import quarantined

        return quarantined(self.config, rule=rule, source=source, limit=limit, decrypt=decrypt)

    # --- rules on one customer ----------------------------------------------------------
    def rule(self, rule_or_segment: str) -> Rule:
        """A rule of the rule language compiled against this project (its features, RFM
        columns, models and segments); the name of a rule segment gives that segment's rule.

        Raises RuleError (a ConfigError) naming the problem when the rule does not compile.
        """
        from segmint.segments._run import project_rules

        with self.warehouse() as wh:
            rules = project_rules(self.config, wh, _api_definitions(self.config))
            if rule_or_segment in rules:
                return rules[rule_or_segment]
            return _compile_one(self.config, wh, rule_or_segment)

    def profiles(
        self, customer_ids: Iterable[str] | None = None, *, rules: Sequence[Rule] = ()
    ) -> dict[str, Profile]:
        """What the rule language reads about each customer as of the project's time, built
        from the same table the batch computes segments on (features, RFM, windowed event
        aggregates, scores, clusters, segment memberships): a rule on these profiles and the
        batch membership agree by construction. ``customer_ids``: all when None. ``rules``:
        aggregates they need beyond those of the project's rule segments."""
        from segmint.features._catalog import CATALOG
        from segmint.segments._run import project_rules
        from segmint.segments.rules._warehouse import rule_inputs

        wanted = None if customer_ids is None else [str(c) for c in customer_ids]
        with self.warehouse() as wh:
            when = self._read_time(wh)
            all_rules = [*project_rules(self.config, wh, _api_definitions(self.config)).values()]
            all_rules += list(rules)
            values = {d.name for d in CATALOG} | {f.name for f in self.config.features}
            from segmint.segments.rules import RFM_VALUES

            values |= set(RFM_VALUES)
            inputs = rule_inputs(
                wh,
                all_rules,
                when,
                members=lambda name: _members_at(wh, name, when),
                name=_PROFILE_INPUTS,
                values=values,
            )
            try:
                t = inputs.table
                if wanted is not None:
                    t = t.filter(t.customer_id.isin(wanted))
                rows = wh.to_arrow(t).to_pylist()
            finally:
                wh.drop(_PROFILE_INPUTS)
            ids = [str(r["customer_id"]) for r in rows]
            member_of = _memberships(wh, when, ids if wanted is not None else None)
        cols = inputs.columns
        special = {*cols.aggregates.values(), *cols.scores.values(), *cols.clusters.values()}
        out: dict[str, Profile] = {}
        from segmint.segments.rules import Profile

        for r in rows:
            cid = str(r["customer_id"])
            out[cid] = Profile(
                values={k: _value(v) for k, v in r.items() if k not in special},
                aggregates={key: _value(r[c]) for key, c in cols.aggregates.items()},
                segments=frozenset(member_of.get(cid, ())),
                scores={m: _value(r[c]) for m, c in cols.scores.items()},
                clusters={c: _value(r[col]) for c, col in cols.clusters.items()},
            )
        return out

    def profile(self, customer_id: str) -> Profile:
        """:meth:`profiles` of one customer.

        Raises NotFoundError when the customer has no features as of the project's time."""
        got = self.profiles([customer_id])
        if str(customer_id) not in got:
            raise NotFoundError(_no_profile(customer_id, self._as_of))
        return got[str(customer_id)]

    def check(self, rule_or_segment: str, customer_id: str) -> bool | None:
        """Whether ``customer_id`` matches a rule (or a rule segment, by name) as of the
        project's time: True, False, or None when a value it needs is unknown."""
        rule = self.rule(rule_or_segment)
        got = self.profiles([customer_id], rules=[rule])
        if str(customer_id) not in got:
            raise NotFoundError(_no_profile(customer_id, self._as_of))
        value = rule.evaluate(got[str(customer_id)])
        return value if value is None else bool(value)

    # --- recommendations, publishing, the report ----------------------------------------
    def recommender(self, version: str | None = None) -> tuple[Recommender, dict[str, Any]]:
        """The saved recommender (latest, or ``version``) and its metadata."""
        from segmint.recommend import load_project_model

        if version is not None:
            return load_project_model(self.config, version)
        if self._recommender is None:
            self._recommender = load_project_model(self.config)
        return self._recommender

    def train_recommender(
        self, *, evaluate: bool = True, progress: Callable[[str], None] | None = None
    ) -> TrainedRecommender:
        """Evaluate the recommenders of ``recommend.models`` (tuned on validation carved from
        training), fit the hybrid on all interactions, save a version and write every
        customer's top N (``segmint recommend train``)."""
        from segmint.recommend import train_project

        with self.warehouse() as wh:
            trained = train_project(wh, self.config, evaluate_first=evaluate, progress=progress)
        self._recommender = None  # the next recommend() loads the new version
        return trained

    def recommend(
        self,
        customer_ids: Sequence[str],
        *,
        k: int = 10,
        context: Mapping[str, Any] | None = None,
        version: str | None = None,
    ) -> pd.DataFrame:
        """Top ``k`` products with their reasons for each customer, from the saved model,
        under the shop's business rules (``recommend:`` in segmint.yaml), as ``segmint
        recommend show`` prints them (``title`` from the catalogue). ``context``: device,
        country, hour, weekday, ts."""
        from segmint.recommend import project_inputs
        from segmint.recommend._serving import recommend_for, rule_data_from_warehouse

        model, _meta = self.recommender(version)
        rc = self.config.recommend
        with self.warehouse() as wh:
            inter, catalogue, _ = project_inputs(wh, self.config)
            data = rule_data_from_warehouse(wh, rc, inter, catalogue)
        recs = recommend_for(model, customer_ids, k=k, cfg=rc, data=data, context=context)
        titles = {}
        if len(catalogue) and "title" in catalogue.columns:
            titles = catalogue.drop_duplicates("product_id").set_index("product_id")["title"]
        recs["title"] = recs["product_id"].map(titles) if len(titles) else None
        return recs

    def evaluate_recommenders(
        self,
        models: Sequence[str] | None = None,
        *,
        split: str | None = None,
        test_size: float | None = None,
        k: int | None = None,
        seed: int | None = None,
        search: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Evaluation:
        """Compare recommenders against popularity on held-out interactions of the project,
        with its catalogue and segments (``segmint recommend evaluate``). ``models``:
        default ``recommend.models``; their hybrid is always compared. The other arguments
        default to ``recommend:`` in segmint.yaml."""
        from segmint.recommend import project_inputs

        with self.warehouse() as wh:
            inter, catalogue, segments = project_inputs(wh, self.config)
        return _evaluate(
            inter,
            _recommender_names(models, self.config.recommend),
            self.config.recommend,
            catalogue=catalogue if len(catalogue) else None,
            segments=segments if len(segments) else None,
            split=split,
            test_size=test_size,
            k=k,
            seed=seed,
            search=search,
            progress=progress,
        )

    def publish(self, progress: Callable[[str], None] | None = None) -> PublishInfo:
        """Load the batch results into the online store in one atomic swap (``segmint
        publish``)."""
        from segmint.realtime import open_store, publish_project

        store = open_store(self.config.serve.online_store, self.config.base_dir)
        try:
            return publish_project(self.config, store, progress)
        finally:
            store.close()

    def report(self) -> Path:
        """Write the segments report (HTML, charts as PNG and SVG) as of the project's time
        (default: the newest computation); its path."""
        from segmint.segments import write_report

        with self.warehouse() as wh:
            return write_report(self.config, wh, self._as_of)


@dataclass
class SegmentInfo:
    """One segment as :meth:`Segments.list` gives it."""

    name: str
    kind: str
    members: int | None
    as_of: datetime | None
    definition: str
    source: str  # "segmint.yaml", "api" or "computed"


class Segments:
    """A project's segments: compute them, list them, read and export their members."""

    def __init__(self, project: Project) -> None:
        self._p = project

    def compute(self, progress: Progress | None = None) -> SegmentRun:
        """Compute features, RFM tiers, clusters, scores and rule segments as of the
        project's time (default: the day after the data ends) and record membership
        (``segmint segment``)."""
        from segmint.segments import compile_segments, run_segments

        compile_segments(self._p.config)  # a mistake in the project file shows before any work
        with self._p.warehouse() as wh:
            return run_segments(self._p.config, wh, self._p._compute_time(wh), progress=progress)

    def list(self) -> builtins.list[SegmentInfo]:
        """Every segment: defined in segmint.yaml, over the API, or computed (RFM tiers,
        clusters, model segments), with its latest size."""
        from segmint.segments import definitions
        from segmint.segments.membership import segment_names

        cfg = self._p.config
        with self._p.warehouse() as wh:
            computed = {r["segment"]: r for r in segment_names(wh)}
            saved = definitions(wh)  # what each computation recorded (RFM tiers, clusters)
        api = _api_definitions(cfg)
        yaml = {s.name: s.rule for s in cfg.segments}
        out = []
        for name in sorted(set(yaml) | set(api) | set(computed)):
            run = computed.get(name)
            source = "segmint.yaml" if name in yaml else "api" if name in api else "computed"
            out.append(
                SegmentInfo(
                    name=name,
                    kind=run["kind"] if run else "rule",
                    members=int(run["members"]) if run else None,
                    as_of=run["as_of"] if run else None,
                    definition=yaml.get(name)
                    or str(api.get(name, {}).get("rule") or "")
                    or str(saved.get(name, {}).get("definition") or ""),
                    source=source,
                )
            )
        return out

    def definitions(self) -> dict[str, dict[str, Any]]:
        """What the computations recorded about each segment, by name: its kind,
        definition and description (RFM tiers and clusters included)."""
        from segmint.segments import definitions

        with self._p.warehouse() as wh:
            return definitions(wh)

    def _known(self, wh: IbisWarehouse, name: str) -> None:
        from segmint.segments.membership import sizes_over_time

        if not sizes_over_time(wh, name):
            known = ", ".join(s.name for s in self._p.config.segments) or "none defined"
            raise NotFoundError(
                f"segment {name!r} has not been computed: run `segmint segment` "
                f"(Project.segments.compute()); segments in the project file: {known}"
            )

    def members(self, name: str, *, limit: int | None = None) -> pa.Table:
        """The members of ``name`` (customer_id, entered_at, score), as of the project's
        time when one was given, else now (everyone in it since its latest computation);
        with ``limit``, only the first ``limit`` by customer_id."""
        with self._p.warehouse() as wh:
            self._known(wh, name)
            t = _members_at(wh, name, self._p._as_of)
            t = t.select("customer_id", "entered_at", "score").order_by("customer_id")
            return wh.to_arrow(t if limit is None else t.limit(limit))

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        """Each computation of ``name``: as_of, members, entered, exited (oldest first)."""
        from segmint.segments.membership import sizes_over_time

        with self._p.warehouse() as wh:
            self._known(wh, name)
            return sizes_over_time(wh, name)

    def export(self, name: str, path: str | Path, *, format: str | None = None) -> int:
        """Write the members of ``name`` to ``path`` as CSV or Parquet (``format``, else
        from the file's suffix); the number of rows written."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        target = Path(path)
        fmt = format or target.suffix.lstrip(".").lower() or "csv"
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"export format {fmt!r}: use csv or parquet")
        data = self.members(name)
        if fmt == "csv":
            pcsv.write_csv(data, target)
        else:
            pq.write_table(data, target)
        return int(data.num_rows)


class Models:
    """A project's predictive models: train, score and load them by name."""

    def __init__(self, project: Project) -> None:
        self._p = project

    def spec(self, name: str) -> ModelConfig:
        """The model ``name`` of segmint.yaml; NotFoundError listing the others if none."""
        from segmint.segments.rules._bind import did_you_mean

        cfg = self._p.config
        spec = next((m for m in cfg.models if m.name == name), None)
        if spec is None:
            names = [m.name for m in cfg.models]
            known = ", ".join(names) or "none (add one under models:)"
            raise NotFoundError(
                f"no model named {name!r} in the project file{did_you_mean(name, names)}; "
                f"models: {known}"
            )
        return spec

    def list(self) -> builtins.list[ModelSummary]:
        """Every registered model with its latest and production versions."""
        from segmint.segments.predictive._registry import registry_for

        return registry_for(self._p.config).models()

    def train(self, name: str, progress: Callable[[str], None] | None = None) -> TrainResult:
        """Train ``name``, evaluate it on held-out rows and register a new version
        (``segmint train``)."""
        from segmint.segments.predictive import train_and_register

        spec = self.spec(name)
        with self._p.warehouse() as wh:
            return train_and_register(self._p.config, wh, spec, progress=progress)

    def score(
        self,
        name: str,
        *,
        version: int | str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ScoreRun:
        """Score every customer (or session) with ``name`` as of the project's time into
        the ``scores`` table (``segmint score``). ``progress`` hears what is being scored
        as of when, before the work starts."""
        from segmint.features import data_end
        from segmint.segments.predictive import score_model

        spec = self.spec(name)
        with self._p.warehouse() as wh:
            # a model of a table alone (sessions) may have no events or orders to date by
            when = self._p._as_of or (default_as_of(wh) if data_end(wh) else parse_as_of("now"))
            if progress is not None:
                progress(f"scoring {name} as of {when}")
            return score_model(self._p.config, wh, spec, when, version=version)

    def get(self, name: str, version: int | str | None = None) -> LoadedModel:
        """The registered model ``name`` (production, else latest; or ``version``), loaded
        and checked against its content hash and allowlist."""
        from segmint.segments.predictive._registry import registry_for

        self.spec(name)
        return registry_for(self._p.config).get(name, version)

    def metadata(self, name: str, version: int | str | None = None) -> dict[str, Any]:
        """What the registry recorded about a version of ``name`` (production, else latest;
        or ``version``): figures, baselines, features, data window, parameters, libraries.
        A model no longer in segmint.yaml can still be read."""
        from segmint.segments.predictive._registry import registry_for

        return registry_for(self._p.config).metadata(name, version)

    def promote(self, name: str, version: int | str) -> ModelVersion:
        """Make ``version`` of ``name`` the production one, the version :meth:`score` and
        :meth:`Segments.compute` use (``segmint models promote``)."""
        from segmint.segments.predictive._registry import registry_for

        return registry_for(self._p.config).promote(name, version)


def evaluate_interactions(
    interactions: Interactions,
    models: Sequence[str] | None = None,
    *,
    config: RecommendConfig | None = None,
    split: str | None = None,
    test_size: float | None = None,
    k: int | None = None,
    seed: int | None = None,
    search: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Compare recommenders against popularity on held-out ``interactions`` that come
    without a catalogue (a user-item file: ``segmint recommend evaluate --interactions``).

    ``models`` default to ``config.models`` (``config``: a project's ``recommend:``, else the
    defaults); their hybrid is always compared and ``content``, which needs a catalogue, is
    left out. The other arguments default to ``config``."""
    from segmint.config import RecommendConfig

    rc = config if config is not None else RecommendConfig()
    names = [n for n in _recommender_names(models, rc) if n != "content"]
    return _evaluate(
        interactions,
        names,
        rc,
        split=split,
        test_size=test_size,
        k=k,
        seed=seed,
        search=search,
        progress=progress,
    )


def _recommender_names(models: Sequence[str] | None, rc: RecommendConfig) -> builtins.list[str]:
    """Which recommenders an evaluation compares: those named, else the project's, and
    always their hybrid (what ``recommend train`` would fit)."""
    names = builtins.list(models) if models else builtins.list(rc.models)
    if "hybrid" not in names:
        names.append("hybrid")
    return names


def _evaluate(
    inter: Interactions,
    names: Sequence[str],
    rc: RecommendConfig,
    *,
    catalogue: pd.DataFrame | None = None,
    segments: pd.Series | None = None,
    split: str | None,
    test_size: float | None,
    k: int | None,
    seed: int | None,
    search: int | None,
    progress: Callable[[str], None] | None,
) -> Evaluation:
    from segmint.recommend import evaluate

    return evaluate(
        inter,
        names,
        split_method=split or rc.split,
        test_size=rc.test_size if test_size is None else test_size,
        k=rc.k if k is None else k,
        seed=rc.random_state if seed is None else seed,
        search=rc.search if search is None else search,
        catalogue=catalogue,
        segments=segments,
        progress=progress,
    )


# --- helpers -------------------------------------------------------------------------------
def _api_definitions(cfg: ProjectConfig) -> dict[str, dict[str, Any]]:
    from segmint.realtime._project import api_definitions

    return api_definitions(cfg)[0]


def _compile_one(cfg: ProjectConfig, wh: IbisWarehouse, text: str) -> Rule:
    from dataclasses import replace

    from segmint.segments._run import project_catalog
    from segmint.segments.rules import compile_rule
    from segmint.segments.rules._warehouse import catalog_for

    catalog = project_catalog(cfg, catalog_for(wh))
    defined = _api_definitions(cfg)
    if defined:
        catalog = replace(catalog, segments=(catalog.segments or frozenset()) | set(defined))
    return compile_rule(text, catalog)


def _members_at(wh: IbisWarehouse, name: str, when: datetime | None) -> Any:
    from segmint.segments.membership import MEMBERSHIP, MEMBERSHIP_SCHEMA, members_at

    wh.ensure_table(MEMBERSHIP, MEMBERSHIP_SCHEMA)
    return members_at(wh, name, when)


def _memberships(
    wh: IbisWarehouse, when: datetime, ids: builtins.list[str] | None
) -> dict[str, set[str]]:
    """The segments each customer is in as of ``when`` (of ``ids``, or everyone)."""
    import ibis

    from segmint.segments.membership import MEMBERSHIP

    if not wh.has_table(MEMBERSHIP):
        return {}
    m = wh.table(MEMBERSHIP)
    t = ibis.timestamp(when)
    m = m.filter(m.entered_at <= t, m.exited_at.isnull() | (m.exited_at > t))
    if ids is not None:
        m = m.filter(m.customer_id.isin(ids))
    out: dict[str, set[str]] = {}
    for r in wh.to_arrow(m.select("customer_id", "segment")).to_pylist():
        out.setdefault(str(r["customer_id"]), set()).add(r["segment"])
    return out


def _no_profile(customer_id: str, as_of: datetime | None) -> str:
    when = as_of.isoformat(sep=" ") if as_of else "the latest computation"
    return (
        f"no customer {customer_id!r} among the features as of {when}: check the id, or "
        "compute segments at that time (Project.as_of(...).segments.compute())"
    )


def _value(v: Any) -> Any:
    """A value as the rule language reads it: NaN is unknown (None)."""
    return None if isinstance(v, float) and math.isnan(v) else v
