"""`generate_shop`: write a complete synthetic shop, chunk by chunk of customers."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from segmint.generate import _model as m
from segmint.generate._arrays import hex_ids, scramble
from segmint.generate._catalogue import PRODUCT_COLUMNS, Catalogue, build_catalogue
from segmint.generate._crm import CUSTOMER_COLUMNS, TRUTH_COLUMNS, build_records
from segmint.generate._dirty import Tally, dirty_customers, dirty_events, dirty_lines
from segmint.generate._events import COOKIE_SALT, EVENT_COLUMNS, Ids, build_events
from segmint.generate._orders import LINE_COLUMNS, ORDER_COLUMNS, build_orders
from segmint.generate._people import Visitors, draw_visitors
from segmint.generate._sessions import Plan, plan_sessions
from segmint.generate._writer import CsvFile, RollingCsv
from segmint.generate._yaml import command_line, project_yaml

FORMATS = ("csv", "csv.gz")
DEFAULTS: dict[str, object] = {
    "events": None,
    "end": "2026-10-31",
    "dirty-rate": 0.01,
    "events-per-file": 1_000_000,
    "format": "csv",
}
CHUNK_EVENTS = 400_000  # events generated (and held in memory) at a time
EVENTS_PER_PERSON_DAY = 0.9  # rough events per person and day at activity scale 1
_STALE_EVENTS = re.compile(r"events-\d{4,}\.csv(\.gz)?")


@dataclass(frozen=True)
class GeneratedShop:
    """What :func:`generate_shop` wrote.

    ``files`` maps a file kind (``customers``, ``products``, ``events``, ``orders``,
    ``order_lines``, ``truth``) to its paths; ``counts`` holds the rows written per data
    kind (dirty rows included); ``injected`` the dirty rows per kind, as in
    ``truth/injected.json``.
    """

    out_dir: Path
    config_path: Path
    files: dict[str, list[Path]]
    counts: dict[str, int]
    injected: dict[str, int]


@dataclass
class _Counters:
    event: int = 0
    session: int = 0
    cookie: int = 0
    order: int = 0
    tally: Tally = field(default_factory=lambda: Tally(0.0))


class _Sinks:
    def __init__(self, out: Path, fmt: str, events_per_file: int) -> None:
        (out / "truth").mkdir(parents=True, exist_ok=True)
        self.customers = CsvFile(out / "customers.csv", CUSTOMER_COLUMNS)
        self.products = CsvFile(out / "products.csv", PRODUCT_COLUMNS, quote=True)
        self.events = RollingCsv(out, "events", f".{fmt}", EVENT_COLUMNS, events_per_file)
        self.orders = CsvFile(out / "orders.csv", ORDER_COLUMNS)
        self.lines = CsvFile(out / "order_lines.csv", LINE_COLUMNS)
        self.truth = CsvFile(out / "truth" / "customers.csv", TRUTH_COLUMNS)
        self.anonymous = CsvFile(out / "truth" / "anonymous.csv", ("anonymous_id", "person_id"))
        self.singles = (
            self.customers,
            self.products,
            self.orders,
            self.lines,
            self.truth,
            self.anonymous,
        )

    def close(self) -> None:
        for sink in (*self.singles, self.events):
            sink.close()


@contextmanager
def _open_sinks(out: Path, fmt: str, events_per_file: int) -> Iterator[_Sinks]:
    sinks = _Sinks(out, fmt, events_per_file)
    try:
        yield sinks
    finally:
        sinks.close()


def _check(
    customers: int,
    days: int,
    events: int | None,
    end: str,
    dirty_rate: float,
    events_per_file: int,
    fmt: str,
) -> None:
    problems = []
    if customers < 1:
        problems.append(f"customers must be at least 1 (got {customers})")
    if days < 1:
        problems.append(f"days must be at least 1 (got {days})")
    if events is not None and events < 1:
        problems.append(f"events must be at least 1 when given (got {events})")
    if not 0.0 <= dirty_rate <= 0.2:
        problems.append(f"dirty_rate must be between 0 and 0.2 (got {dirty_rate})")
    if events_per_file < 1:
        problems.append(f"events_per_file must be at least 1 (got {events_per_file})")
    if fmt not in FORMATS:
        problems.append(f"fmt must be one of {', '.join(FORMATS)} (got {fmt!r})")
    try:
        dt.date.fromisoformat(end)
    except ValueError:
        problems.append(f"end must be a date like 2026-10-31 (got {end!r})")
    if problems:
        raise ValueError("; ".join(problems))


def _chunk_plan(
    seed: np.random.SeedSequence, chunk: m.Chunk, cat: Catalogue, w: m.Window, scale: float
) -> tuple[np.random.Generator, Visitors, Plan]:
    """The chunk's random stream, visitors and sessions; the same every time it is called."""
    rng = np.random.default_rng(seed)
    vis = draw_visitors(rng, chunk.persons, chunk.dups, chunk.anon, w, cat)
    return rng, vis, plan_sessions(rng, vis, scale, w)


def _calibrate(
    seeds: list[np.random.SeedSequence],
    layout: m.Layout,
    cat: Catalogue,
    w: m.Window,
    target: float,
) -> float:
    """The activity scale whose plans add up to ``target`` events (within 2% when possible)."""
    scale, best = 1.0, (np.inf, 1.0)
    for _ in range(10):
        total = sum(
            _chunk_plan(s, c, cat, w, scale)[2].events
            for s, c in zip(seeds, layout.chunks, strict=True)
        )
        error = abs(total / target - 1)
        if error < best[0]:
            best = (error, scale)
        if error <= 0.02:
            break
        scale = scale * target / total if total else scale * 10
    return best[1]


def _write_chunk(
    sinks: _Sinks,
    seed: np.random.SeedSequence,
    chunk: m.Chunk,
    layout: m.Layout,
    cat: Catalogue,
    w: m.Window,
    scale: float,
    at: _Counters,
) -> None:
    rng, vis, plan = _chunk_plan(seed, chunk, cat, w, scale)
    records = build_records(rng, vis, w, chunk, layout)
    sinks.customers.write(dirty_customers(rng, records.table, records.single, at.tally))
    sinks.truth.write(records.truth)
    ids = Ids(event=at.event, session=at.session, cookie=at.cookie)
    events, ts, bought = build_events(rng, plan, vis, cat, w, records.customer_id, ids)
    events, at.event = dirty_events(rng, events, ts, at.tally, at.event + len(events))
    sinks.events.write(events)
    orders = build_orders(rng, bought, plan, vis, cat, w, records.customer_id, at.order)
    sinks.orders.write(orders.orders)
    sinks.lines.write(dirty_lines(rng, orders, at.tally))
    sinks.anonymous.write(_anonymous_truth(vis, plan, records.person_id, at.cookie))
    at.session += plan.sessions
    at.cookie += len(vis.cookie_device)
    at.order += len(orders.orders)


def _anonymous_truth(
    vis: Visitors, plan: Plan, person_id: pa.Array, cookie_offset: int
) -> pa.Table:
    """Cookies of known persons that appear in the events, with the person they belong to."""
    seen = np.unique(plan.cookie[(plan.visitor < vis.n_known) & (plan.mode != m.LOGGED)])
    owner = np.repeat(np.arange(vis.n), vis.n_cookies)[seen]
    return pa.table(
        {
            "anonymous_id": hex_ids("anon-", scramble(cookie_offset + seen, COOKIE_SALT)),
            "person_id": person_id.take(pa.array(owner)),
        }
    )


def _remove_stale_events(out: Path) -> None:
    """Events files of an earlier run would be read with this one's (``events-*.csv``)."""
    for path in out.iterdir():
        if path.is_file() and _STALE_EVENTS.fullmatch(path.name):
            path.unlink()


def generate_shop(
    out_dir: str | Path,
    *,
    customers: int = 1000,
    days: int = 90,
    seed: int = 0,
    events: int | None = None,
    end: str = "2026-10-31",
    dirty_rate: float = 0.01,
    events_per_file: int = 1_000_000,
    fmt: str = "csv",
    progress: Callable[[int, int], None] | None = None,
) -> GeneratedShop:
    """Write a synthetic online shop: CRM, catalogue, clickstream, orders and ground truth.

    Parameters
    ----------
    out_dir
        Folder to write into; created if missing. Files of the same names are replaced
        and events files of an earlier run (``events-NNNN.csv[.gz]``) are removed.
    customers
        Rows of ``customers.csv``. About 3% of them are a second record of a person who
        already has one (same e-mail, differently cased).
    days
        Days of activity, ending with the day ``end``.
    seed
        Seed of :func:`numpy.random.default_rng`; the same arguments give identical bytes.
    events
        Target number of event rows (dirty rows included). Activity per customer is
        scaled to land within 10% of it (usually within 2%). By default each person keeps
        the activity of their persona, about 0.9 events a day.
    end
        Last day of the clickstream, ``YYYY-MM-DD`` (UTC).
    dirty_rate
        Share of deliberately dirty rows per file, from 0 (a clean shop) to 0.2. When above
        zero, every kind of dirty row appears at least once; ``truth/injected.json`` and
        :attr:`GeneratedShop.injected` count them exactly.
    events_per_file
        Most rows per events file; further rows roll over to the next file.
    fmt
        ``"csv"`` or ``"csv.gz"`` for the events files; the other files are plain CSV.
    progress
        Called as ``progress(done, total)`` after each chunk, counting CRM records.

    Returns
    -------
    GeneratedShop
        Paths of everything written, rows per file kind and injected dirty rows per kind.

    Raises
    ------
    ValueError
        If an argument is out of range; nothing is written then.

    Examples
    --------
    >>> import tempfile
    >>> shop = generate_shop(tempfile.mkdtemp(), customers=200, days=30, seed=1)
    >>> shop.counts["customers"]
    200
    >>> sorted(shop.files)
    ['customers', 'events', 'order_lines', 'orders', 'products', 'survey', 'truth']
    """
    _check(customers, days, events, end, dirty_rate, events_per_file, fmt)
    w = m.Window.ending(end, days)
    per_person = events / customers if events else EVENTS_PER_PERSON_DAY * days
    layout = m.Layout.plan(customers, days, per_person, CHUNK_EVENTS)
    seeds = np.random.SeedSequence(seed).spawn(1 + len(layout.chunks))
    cat = build_catalogue(np.random.default_rng(seeds[0]), customers)
    scale = (
        1.0 if events is None else _calibrate(seeds[1:], layout, cat, w, events / (1 + dirty_rate))
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_events(out)
    at = _Counters(tally=Tally(dirty_rate))
    with _open_sinks(out, fmt, events_per_file) as sinks:
        sinks.products.write(cat.table)
        for seq, chunk in zip(seeds[1:], layout.chunks, strict=True):
            _write_chunk(sinks, seq, chunk, layout, cat, w, scale, at)
            if progress is not None:
                progress(chunk.record_offset + chunk.persons + chunk.dups, customers)
    return _finish(
        out,
        sinks,
        at.tally,
        customers=customers,
        days=days,
        seed=seed,
        events=events,
        end=end,
        dirty_rate=dirty_rate,
        events_per_file=events_per_file,
        fmt=fmt,
    )


#: share of persons who answered the buyer-stage survey
SURVEY_SHARE = 0.3


def _survey(out: Path, truth_csv: Path, seed: object, days: int, end: str) -> tuple[Path, int]:
    """``survey.csv``: the buyer stage some customers stated, and when (labels to learn from).

    A separate random stream of the seed draws it after everything else, so adding the
    survey changed no other file.
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    truth = pcsv.read_csv(truth_csv)
    rng = np.random.default_rng([int(seed), 2718])  # type: ignore[call-overload]
    persons = truth.column("person_id").to_numpy(zero_copy_only=False)
    _, first = np.unique(persons, return_index=True)
    first = np.sort(first)
    chosen = first[rng.random(len(first)) < SURVEY_SHARE]
    w = m.Window.ending(end, days)
    lo = w.start + days * 86_400 // 3
    hi = w.end
    when = rng.integers(lo, hi, size=len(chosen))
    table = pa.table(
        {
            "customer_id": truth.column("customer_id").take(pa.array(chosen)),
            "buyer_stage": truth.column("buyer_stage").take(pa.array(chosen)),
            "answered_at": pc.cast(pa.array(when * 1_000_000, pa.int64()), pa.timestamp("us")),
        }
    )
    path = out / "survey.csv"
    pcsv.write_csv(table, path)
    return path, len(chosen)


def _finish(out: Path, sinks: _Sinks, tally: Tally, **args: object) -> GeneratedShop:
    injected = dict(tally.counts)
    truth = out / "truth" / "injected.json"
    truth.write_text(json.dumps(injected, indent=2) + "\n", encoding="utf-8")
    survey, n_survey = _survey(
        out,
        sinks.truth.path,
        args["seed"],
        int(str(args["days"])),
        str(args["end"]),
    )
    config = out / "segmint.yaml"
    command = command_line(defaults=DEFAULTS, **args)  # type: ignore[arg-type]
    config.write_text(project_yaml(command, str(args["fmt"])), encoding="utf-8")
    files = {
        "customers": [sinks.customers.path],
        "products": [sinks.products.path],
        "events": list(sinks.events.files),
        "orders": [sinks.orders.path],
        "order_lines": [sinks.lines.path],
        "truth": [sinks.truth.path, sinks.anonymous.path, truth],
        "survey": [survey],
    }
    counts = {
        "customers": sinks.customers.rows,
        "products": sinks.products.rows,
        "events": sinks.events.rows,
        "orders": sinks.orders.rows,
        "order_lines": sinks.lines.rows,
        "survey": n_survey,
    }
    return GeneratedShop(out, config, files, counts, injected)
