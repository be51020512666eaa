"""Preprocessing for skewed behavioural features, in NumPy and as warehouse expressions.

Per feature, in order: missing values take the median; right-skewed columns take the signed
log ``sign(x) * log(1 + |x|)`` (``log(1 + x)`` for the usual non-negative counts and sums; the
sign keeps the few negative values of a net revenue after returns); every column is
centred on its median and divided by its interquartile range; optionally, a PCA projection
follows. Each step is plain arithmetic with constants learned in
``fit``, so :meth:`Preprocessor.expr` writes the same transformation as an Ibis expression and
the warehouse computes the coordinates of every customer itself.

The robust scaling is computed here rather than by ``sklearn.preprocessing.RobustScaler``
because counts of rare behaviour often have an interquartile range of 0 (most customers at 0):
RobustScaler then divides by 1, which leaves such a column on its raw scale; here it falls
back to the standard deviation.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from segmint.errors import InvalidArgument, InvalidParameter
from segmint.segments.clusters._data import as_frame, check_features, check_fitted, literal

#: skewness above which ``log='auto'`` takes the signed log of a column
SKEW_THRESHOLD = 0.5


class Preprocessor(TransformerMixin, BaseEstimator):
    """Median imputation, signed log of skewed columns, robust scaling and optional PCA.

    Parameters
    ----------
    features : list of str, optional
        Columns to use; None takes every numeric or boolean column.
    log : 'auto', bool or list of str, default 'auto'
        Which columns take ``sign(x) * log(1 + |x|)``: 'auto' those whose skewness exceeds
        ``skew_threshold``; True every column; False none; a list those columns.
    skew_threshold : float, default 0.5
        Skewness above which ``log='auto'`` takes the log.
    pca : int, float or None, default None
        PCA after scaling: an int keeps that many components, a float in (0, 1) the fewest
        that explain that share of the variance; None skips PCA.
    random_state : int, RandomState or None
        Seed of the PCA solver.

    Attributes
    ----------
    features_ : list of str
        Input columns, in order.
    medians_ : ndarray of shape (n_features,)
        Raw medians, used for missing values.
    log_ : ndarray of bool, shape (n_features,)
        Whether each column takes the log.
    center_, scale_ : ndarray of shape (n_features,)
        Median and interquartile range (else standard deviation, else 1) after the log.
    components_, pca_mean_ : ndarray or None
        The PCA projection ``(z - pca_mean_) @ components_.T``, when ``pca`` is set.
    n_features_in_ : int
        Number of input columns.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"orders": [0, 1, 1, 2, 3, 40], "share_mobile": [0, .2, .5, .5, .8, 1]})
    >>> pre = Preprocessor().fit(X)
    >>> pre.logged_features
    ['orders']
    >>> pre.transform(X).shape
    (6, 2)
    """

    def __init__(
        self,
        features: list[str] | None = None,
        log: str | bool | list[str] = "auto",
        skew_threshold: float = SKEW_THRESHOLD,
        pca: int | float | None = None,
        random_state: Any = None,
    ) -> None:
        self.features = features
        self.log = log
        self.skew_threshold = skew_threshold
        self.pca = pca
        self.random_state = random_state

    def fit(self, X: Any, y: object = None) -> Preprocessor:
        """Learn the constants from ``X`` (DataFrame, Arrow table or 2-D array)."""
        frame, _named = as_frame(X, check_features(self.features))
        values = frame.to_numpy(dtype=np.float64)
        self.features_ = list(frame.columns)
        self.n_features_in_ = len(self.features_)
        with np.errstate(all="ignore"):
            med = np.nanmedian(values, axis=0) if len(values) else np.zeros(values.shape[1])
        self.medians_ = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(np.isnan(values), self.medians_, values)
        self.log_ = self._choose_log(filled)
        t = self._log(filled)
        q25, self.center_, q75 = np.percentile(t, [25, 50, 75], axis=0)
        scale = q75 - q25
        std = t.std(axis=0)
        scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        self.scale_ = scale
        self.components_: np.ndarray | None = None
        self.pca_mean_: np.ndarray | None = None
        if self.pca is not None:
            self._fit_pca((t - self.center_) / self.scale_)
        return self

    def _choose_log(self, filled: np.ndarray) -> np.ndarray:
        n = len(self.features_)
        if isinstance(self.log, str) and self.log == "auto":
            with np.errstate(all="ignore"):
                sk = np.nan_to_num(skew(filled, axis=0), nan=0.0)
            return np.asarray(sk > float(self.skew_threshold))
        if isinstance(self.log, bool):
            return np.full(n, self.log)
        if isinstance(self.log, list | tuple):
            unknown = [c for c in self.log if c not in self.features_]
            if unknown:
                raise InvalidParameter(f"log names columns that are not features: {unknown}")
            return np.array([f in self.log for f in self.features_], dtype=bool)
        raise InvalidParameter(
            f"log must be 'auto', True, False or a list of columns, got {self.log!r}"
        )

    def _fit_pca(self, z: np.ndarray) -> None:
        p = self.pca
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise InvalidArgument(f"pca must be None, an int or a float in (0, 1), got {p!r}")
        if isinstance(p, float) and not 0 < p < 1:
            raise InvalidParameter(f"pca={p} as a float must be a variance share in (0, 1)")
        if isinstance(p, int) and not 1 <= p <= min(z.shape):
            raise InvalidParameter(
                f"pca={p} components should be between 1 and min(n_samples={z.shape[0]}, "
                f"n_features={z.shape[1]})"
            )
        rs = check_random_state(self.random_state)
        pca = PCA(n_components=p, random_state=rs.randint(2**31 - 1)).fit(z)
        self.components_ = pca.components_.copy()
        self.pca_mean_ = pca.mean_.copy()

    def _log(self, filled: np.ndarray) -> np.ndarray:
        out = filled.copy()
        out[:, self.log_] = signed_log(filled[:, self.log_])
        return out

    @property
    def logged_features(self) -> list[str]:
        """The columns that take the log."""
        check_fitted(self, "log_")
        return [f for f, lg in zip(self.features_, self.log_, strict=True) if lg]

    @property
    def output_names(self) -> list[str]:
        """Names of the output coordinates: the features, or ``pc1, pc2, ...`` after PCA."""
        check_fitted(self, "scale_")
        if self.components_ is None:
            return list(self.features_)
        return [f"pc{i + 1}" for i in range(len(self.components_))]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Output names as an object array (scikit-learn's transformer protocol)."""
        return np.asarray(self.output_names, dtype=object)

    def scaled(self, X: Any) -> np.ndarray:
        """Imputed, logged and scaled values, before PCA: shape (n_samples, n_features)."""
        check_fitted(self, "scale_")
        frame, _ = as_frame(X, self.features_, type(self).__name__)
        values = frame.to_numpy(dtype=np.float64)
        filled = np.where(np.isnan(values), self.medians_, values)
        return (self._log(filled) - self.center_) / self.scale_

    def project(self, z: np.ndarray) -> np.ndarray:
        """Scaled values to output coordinates (the PCA projection, or unchanged).

        Each coordinate is summed term by term from the left, as :meth:`expr` writes it, not
        by a matrix product (whose summation order differs), so that the warehouse computes
        the same bits and labels a customer on a boundary the same way.
        """
        if self.components_ is None or self.pca_mean_ is None:
            return z
        d = z - self.pca_mean_
        out = np.zeros((len(z), len(self.components_)))
        for m, weights in enumerate(self.components_):
            terms = [d[:, i] * w for i, w in enumerate(weights) if w != 0.0]
            if terms:
                total = terms[0]
                for t in terms[1:]:
                    total = total + t
                out[:, m] = total
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Output coordinates of ``X``: shape (n_samples, n_outputs)."""
        return self.project(self.scaled(X))

    def inverse(self, Y: np.ndarray) -> pd.DataFrame:
        """Raw feature values of output coordinates (PCA, scaling and log undone)."""
        check_fitted(self, "scale_")
        z = np.asarray(Y, dtype=np.float64)
        if self.components_ is not None and self.pca_mean_ is not None:
            z = z @ self.components_ + self.pca_mean_
        t = z * self.scale_ + self.center_
        t[:, self.log_] = np.sign(t[:, self.log_]) * (np.exp(np.abs(t[:, self.log_])) - 1.0)
        return pd.DataFrame(t, columns=self.features_)

    def expr(self, table: ir.Table) -> dict[str, ir.FloatingValue]:
        """The output coordinates of every row of ``table``, as Ibis expressions.

        Parameters
        ----------
        table : ibis.Table
            A table with the feature columns (numeric or boolean).

        Returns
        -------
        dict of str to FloatingValue
            One expression per output coordinate, named as :attr:`output_names`.
        """
        check_fitted(self, "scale_")
        missing = [f for f in self.features_ if f not in table.columns]
        if missing:
            raise InvalidParameter(f"table lacks the feature columns {missing}")
        z: list[ir.FloatingValue] = []
        for i, name in enumerate(self.features_):
            col = table[name]
            if col.type().is_boolean():
                # NULL stays NULL (and takes the median below), as NaN does in transform
                x = ibis.cases(
                    (col, literal(1.0)), (~col, literal(0.0)), else_=ibis.null("float64")
                )
            else:
                x = col.cast("float64")
            x = ibis.coalesce(x, literal(self.medians_[i]))
            if self.log_[i]:
                x = x.sign() * (x.abs() + literal(1.0)).ln()
            z.append((x - literal(self.center_[i])) / literal(self.scale_[i]))
        if self.components_ is None or self.pca_mean_ is None:
            return dict(zip(self.features_, z, strict=True))
        out = {}
        for m, name in enumerate(self.output_names):
            terms = [
                (z[i] - literal(self.pca_mean_[i])) * literal(w)
                for i, w in enumerate(self.components_[m])
                if w != 0.0
            ]
            out[name] = _sum(terms)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fitted constants as JSON-able lists (see :meth:`from_dict`)."""
        check_fitted(self, "scale_")
        return {
            "params": {
                "features": self.features,
                "log": self.log,
                "skew_threshold": self.skew_threshold,
                "pca": self.pca,
            },
            "features": list(self.features_),
            "medians": self.medians_.tolist(),
            "log": [bool(v) for v in self.log_],
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
            "components": None if self.components_ is None else self.components_.tolist(),
            "pca_mean": None if self.pca_mean_ is None else self.pca_mean_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        """A fitted :class:`Preprocessor` from :meth:`to_dict`'s output."""
        pre = cls(**data.get("params", {}))
        pre.features_ = list(data["features"])
        pre.n_features_in_ = len(pre.features_)
        pre.medians_ = np.asarray(data["medians"], dtype=np.float64)
        pre.log_ = np.asarray(data["log"], dtype=bool)
        pre.center_ = np.asarray(data["center"], dtype=np.float64)
        pre.scale_ = np.asarray(data["scale"], dtype=np.float64)
        comp, mean = data.get("components"), data.get("pca_mean")
        pre.components_ = None if comp is None else np.asarray(comp, dtype=np.float64)
        pre.pca_mean_ = None if mean is None else np.asarray(mean, dtype=np.float64)
        return pre

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``, written as the warehouse computes it (``LN(|x| + 1)``)."""
    return np.asarray(np.sign(x) * np.log(np.abs(x) + 1.0))


def _sum(terms: list[ir.FloatingValue]) -> ir.FloatingValue:
    if not terms:
        return literal(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
