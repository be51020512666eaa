"""Interactions: who touched which product, how strongly and when.

An :class:`Interactions` holds one row per interaction (a view, a purchase, a rating) with
its weight, optional time and optional context columns (device, country, ...). Models see it
as a sparse customer x product matrix of summed weights; evaluation splits it row-wise. The
rows come from the warehouse (:func:`segmint.recommend.interactions_from_warehouse`) or from
any user-item file (:meth:`Interactions.from_file`), so public benchmarks run through the same
models and metrics.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmint.errors import ConfigError, SchemaError, SourceError

USER = "customer_id"
ITEM = "product_id"
WEIGHT = "weight"
TS = "ts"
#: context columns an interaction may carry; the context re-ranker learns from them
CONTEXT_COLUMNS = ("device", "country", "event_type", "category")

Repeat = Literal["sum", "max", "log"]
REPEATS: tuple[str, ...] = ("sum", "max", "log")

# names a user-item file may give its columns, in order of preference
_FILE_NAMES = {
    USER: ("customer_id", "user_id", "userid", "user", "uid", "visitor_id", "session_id"),
    ITEM: ("product_id", "item_id", "itemid", "movie_id", "movieid", "item", "iid", "product"),
    WEIGHT: ("weight", "rating", "score", "value", "count", "quantity"),
    TS: ("ts", "timestamp", "time", "datetime", "date", "event_time"),
}


class Interactions:
    """Weighted customer-product interactions.

    Parameters
    ----------
    frame : DataFrame
        Columns ``customer_id``, ``product_id``, ``weight`` (float; negative takes credit
        away, as a return does), optionally ``ts`` (UTC) and context columns.
    repeat : {"sum", "max", "log"}
        How repeated interactions of a customer with one product combine in :meth:`matrix`:
        summed, the strongest one, or ``1 + log(sum)`` so a hundred views do not drown one
        purchase.

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": ["a", "a", "b"], "product_id": ["x", "y", "x"]})
    >>> inter = Interactions.from_frame(df)
    >>> inter.n_users, inter.n_items, len(inter)
    (2, 2, 3)
    >>> inter.matrix().toarray().tolist()
    [[1.0, 1.0], [1.0, 0.0]]
    """

    def __init__(self, frame: pd.DataFrame, *, repeat: Repeat = "sum") -> None:
        missing = [c for c in (USER, ITEM, WEIGHT) if c not in frame.columns]
        if missing:
            raise SchemaError(f"interactions: missing column(s) {missing}; got {list(frame)}")
        if repeat not in REPEATS:
            raise SchemaError(f"interactions: repeat={repeat!r} should be one of {REPEATS}")
        frame = frame.reset_index(drop=True)
        frame[USER] = frame[USER].astype(str)
        frame[ITEM] = frame[ITEM].astype(str)
        frame[WEIGHT] = pd.to_numeric(frame[WEIGHT], errors="raise").astype("float64")
        if TS in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[TS]):
            frame[TS] = pd.to_datetime(frame[TS], utc=True)
        self.frame = frame
        self.repeat: Repeat = repeat

    # construction -------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        user: str = USER,
        item: str = ITEM,
        weight: str | None = None,
        ts: str | None = None,
        context: Sequence[str] = (),
        repeat: Repeat = "sum",
    ) -> Interactions:
        """Interactions from any frame, naming its columns; weight 1 when there is none."""
        for role, col in (("user", user), ("item", item), ("weight", weight), ("ts", ts)):
            if col is not None and col not in df.columns:
                raise SchemaError(f"interactions: {role} column {col!r} not in {list(df)}")
        out = pd.DataFrame({USER: df[user].to_numpy(), ITEM: df[item].to_numpy()})
        if out[USER].isna().any() or out[ITEM].isna().any():
            bad = int((out[USER].isna() | out[ITEM].isna()).sum())
            raise SchemaError(f"interactions: {bad} row(s) have an empty {user!r} or {item!r}")
        # positional: ``df`` may carry any index (a filtered frame), ``out`` has 0..n-1
        out[WEIGHT] = (
            1.0 if weight is None else pd.to_numeric(df[weight], errors="coerce").to_numpy()
        )
        if out[WEIGHT].isna().any():
            n = int(out[WEIGHT].isna().sum())
            raise SchemaError(f"interactions: {n} row(s) have a non-numeric {weight!r}")
        if ts is not None:
            out[TS] = _parse_times(df[ts], ts).array
        for c in context:
            out[c] = df[c].to_numpy()
        return cls(out, repeat=repeat)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        user: str | None = None,
        item: str | None = None,
        weight: str | None = None,
        ts: str | None = None,
        sep: str | None = None,
        min_weight: float | None = None,
        binary: bool = False,
        repeat: Repeat = "sum",
        columns: Sequence[str] | None = None,
    ) -> Interactions:
        """Read a user-item file: csv/tsv (any separator, optionally gzipped), or parquet.

        Columns are found by common names (``user_id``/``userId``/``customer_id``,
        ``item_id``/``movieId``/``product_id``, ``rating``/``weight``, ``timestamp``/``ts``)
        unless named; a ``name:type`` header (RecBole's atomic files) is read as ``name``.
        A file without a header takes ``columns``, its columns in file order among ``user``,
        ``item``, ``rating`` (or ``weight``), ``timestamp`` (or ``ts``) and ``_`` (ignored);
        without them, a headerless file of 2, 3 or 4 columns whose first line is all numbers
        is read as user, item[, rating[, timestamp]] (MovieLens' ``u.data``, ``ratings.dat``).
        ``min_weight`` keeps rows weighing at least that much (e.g. ratings >= 4, the usual
        threshold that turns explicit ratings into implicit feedback); ``binary`` sets every
        kept weight to 1.
        """
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"interactions file {str(path)!r} does not exist")
        parquet = path.suffix == ".parquet"
        df = pd.read_parquet(path) if parquet else _read_text(path, sep, columns)
        df.columns = [str(c).split(":")[0].strip() for c in df.columns]
        user_col = user or _find(df.columns, USER, path)
        item_col = item or _find(df.columns, ITEM, path)
        assert user_col is not None and item_col is not None  # _find raises when required
        cols = {
            USER: user_col,
            ITEM: item_col,
            WEIGHT: weight or _find(df.columns, WEIGHT, path, required=False),
            TS: ts or _find(df.columns, TS, path, required=False),
        }
        inter = cls.from_frame(
            df, user=user_col, item=item_col, weight=cols[WEIGHT], ts=cols[TS], repeat=repeat
        )
        frame = inter.frame
        if min_weight is not None:
            frame = frame[frame[WEIGHT] >= min_weight]
        if binary:
            frame = frame.assign(**{WEIGHT: 1.0})
        return cls(frame, repeat=repeat)

    # views --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"Interactions({len(self):,} rows, {self.n_users:,} customers, "
            f"{self.n_items:,} products, repeat={self.repeat!r})"
        )

    @property
    def has_time(self) -> bool:
        return TS in self.frame.columns and bool(self.frame[TS].notna().all())

    @property
    def verb(self) -> str:
        """How reasons describe a customer's history: "bought", "viewed" or "chose"."""
        if "event_type" not in self.frame.columns:
            return "chose"
        types = set(self.frame["event_type"].dropna().unique())
        if types <= {"purchase"}:
            return "bought"
        if types <= {"product_view", "page_view"}:
            return "viewed"
        return "chose"

    @property
    def users(self) -> pd.Index:
        """Distinct customer ids, sorted."""
        return pd.Index(np.sort(self.frame[USER].unique()), name=USER)

    @property
    def items(self) -> pd.Index:
        """Distinct product ids, sorted."""
        return pd.Index(np.sort(self.frame[ITEM].unique()), name=ITEM)

    @property
    def n_users(self) -> int:
        return int(self.frame[USER].nunique())

    @property
    def n_items(self) -> int:
        return int(self.frame[ITEM].nunique())

    def subset(self, mask: np.ndarray | pd.Series) -> Interactions:
        """The rows where ``mask`` is true, as new interactions (the frame is copied)."""
        return Interactions(self.frame[np.asarray(mask, dtype=bool)].copy(), repeat=self.repeat)

    def matrix(self, users: pd.Index | None = None, items: pd.Index | None = None) -> sp.csr_matrix:
        """The customer x product matrix (float32 CSR) of combined, non-negative weights.

        Rows follow ``users`` and columns ``items`` (default: :attr:`users`, :attr:`items`);
        interactions of customers or products outside them are left out. Pairs whose
        weights net to zero or less (every purchase returned) are not stored.
        """
        users = self.users if users is None else users
        items = self.items if items is None else items
        f = self.frame
        rows = users.get_indexer(f[USER])
        cols = items.get_indexer(f[ITEM])
        keep = (rows >= 0) & (cols >= 0)
        rows, cols, w = rows[keep], cols[keep], f[WEIGHT].to_numpy()[keep]
        shape = (len(users), len(items))
        if self.repeat == "max":
            # the strongest interaction counts, but returns still net against purchases
            m = _max_duplicates(rows, cols, w, shape)
        else:
            m = sp.csr_matrix((w, (rows, cols)), shape=shape)
            m.sum_duplicates()
            if self.repeat == "log":
                positive = m.data > 0
                m.data[positive] = 1.0 + np.log(np.maximum(m.data[positive], 1.0))
        m.data = np.where(m.data > 0, m.data, 0).astype(np.float32)
        m.eliminate_zeros()
        return m.astype(np.float32)


def _max_duplicates(
    rows: np.ndarray, cols: np.ndarray, w: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    key = pd.DataFrame({"r": rows, "c": cols, "w": w})
    g = key.groupby(["r", "c"], sort=False)["w"]
    total, best = g.sum(), g.max()
    value = np.where(total.to_numpy() > 0, best.to_numpy(), 0.0)
    r = total.index.get_level_values(0).to_numpy()
    c = total.index.get_level_values(1).to_numpy()
    return sp.csr_matrix((value, (r, c)), shape=shape)


_ROLES = {
    "user": USER,
    "item": ITEM,
    "rating": WEIGHT,
    "weight": WEIGHT,
    "timestamp": TS,
    "ts": TS,
}
#: headerless layouts by column count, as the common benchmark files are written
_LAYOUTS = {2: (USER, ITEM), 3: (USER, ITEM, WEIGHT), 4: (USER, ITEM, WEIGHT, TS)}


def _read_text(path: Path, sep: str | None, columns: Sequence[str] | None) -> pd.DataFrame:
    """A csv/tsv/``::`` file as text columns named by role when it has no header."""
    with path.open("rb") as raw:
        packed = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if packed else open)(path, "rt", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n")
    if sep is None and "::" in first:
        sep = "::"  # MovieLens 1M/10M .dat files
    engine = "python" if sep is None or len(sep) > 1 else "c"
    if columns is not None:
        names = []
        for i, c in enumerate(columns):
            role = _ROLES.get(c.strip().lower())
            if role is None and c.strip() not in ("_", "-", ""):
                raise ConfigError(
                    f"columns: {c!r} is not one of user, item, rating, timestamp or _ (ignored)"
                )
            names.append(role or f"_skip{i}")
        df = pd.read_csv(path, sep=sep, engine=engine, dtype=str, header=None, names=names)
        header = {v.lower() for n in (USER, ITEM) for v in _FILE_NAMES[n]} | set(_ROLES)
        if len(df) and str(df.iloc[0][USER]).strip().lower() in header:
            df = df.iloc[1:]  # the file had a header after all
        return df.drop(columns=[n for n in names if n.startswith("_skip")])
    df = pd.read_csv(path, sep=sep, engine=engine, dtype=str)
    cells = [str(c).strip() for c in df.columns]
    numeric = all(re.fullmatch(r"[+-]?\d+(\.\d+)?", c) for c in cells)
    if numeric and len(cells) in _LAYOUTS and _find(df.columns, USER, path, required=False) is None:
        return pd.read_csv(
            path, sep=sep, engine=engine, dtype=str, header=None, names=list(_LAYOUTS[len(cells)])
        )
    return df


def _find(columns: Iterable[str], role: str, path: Path, *, required: bool = True) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in _FILE_NAMES[role]:
        if name in lower:
            return lower[name]
    if required:
        raise SourceError(
            f"interactions file {path.name!r}: no {role} column; expected one of "
            f"{list(_FILE_NAMES[role])} (or name it), found {list(columns)}; a file without "
            "a header takes its columns in order, e.g. --columns user,item,rating,timestamp"
        )
    return None


def _parse_times(values: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all():
        # epoch seconds (MovieLens) or milliseconds
        unit = "ms" if float(num.abs().max()) > 1e11 else "s"
        return pd.to_datetime(num, unit=unit, utc=True)
    out = pd.to_datetime(values, utc=True, errors="coerce")
    if out.isna().any():
        bad = values[out.isna()].iloc[0]
        raise SchemaError(f"interactions: {name!r} value {bad!r} is not a time")
    return out
