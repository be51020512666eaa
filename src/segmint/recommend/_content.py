"""Content-based: products whose words, category and brand resemble what a customer touched.

Each product becomes a TF-IDF vector over its title and description, plus its category
levels and brand; a customer's taste is the weighted sum of the vectors of their history.
It can recommend products nobody has bought yet, and needs only one interaction to start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender, history_anchor
from segmint.recommend._interactions import ITEM, Interactions

TEXT_FIELDS = ("title", "description")
TAG_FIELDS = ("category", "brand")


class ContentBased(Recommender):
    """TF-IDF content model over the catalogue.

    Parameters
    ----------
    tag_weight : float
        Weight of category and brand tags beside the words of title and description.
    ngram_max : int
        Longest word n-gram.
    min_df : int
        Words in fewer products are ignored.

    ``fit(interactions, catalogue=frame)`` takes the catalogue (``product_id`` and any of
    ``title``, ``description``, ``category``, ``brand``); products only in the catalogue can
    be recommended too.
    """

    name = "content"
    explains_by_item = True

    def __init__(self, tag_weight: float = 0.5, ngram_max: int = 2, min_df: int = 1) -> None:
        self.tag_weight = tag_weight
        self.ngram_max = ngram_max
        self.min_df = min_df

    def fit(
        self, interactions: Interactions, *, catalogue: pd.DataFrame | None = None
    ) -> ContentBased:
        """Learn product vectors from ``catalogue``, and tastes from ``interactions``."""
        if catalogue is None or ITEM not in catalogue.columns:
            raise ConfigError(
                "the content model needs a catalogue with product_id and title, description, "
                "category or brand; none was given"
            )
        if not any(c in catalogue.columns for c in TEXT_FIELDS + TAG_FIELDS):
            raise ConfigError(
                f"catalogue has none of {TEXT_FIELDS + TAG_FIELDS}; got {list(catalogue.columns)}"
            )
        cat = catalogue.assign(**{ITEM: catalogue[ITEM].astype(str)}).drop_duplicates(ITEM)
        self._catalogue = cat.set_index(ITEM)
        super().fit(interactions)
        return self

    def _item_universe(self, interactions: Interactions) -> pd.Index:
        ids = np.union1d(interactions.items.to_numpy(), self._catalogue.index.to_numpy())
        return pd.Index(ids.astype(object), name=ITEM)

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        cat = self._catalogue.reindex(self.items_)
        self._catalogue = None
        text = _joined(cat, TEXT_FIELDS)
        parts = []
        if text.str.strip().str.len().gt(0).any():
            words = TfidfVectorizer(
                ngram_range=(1, self.ngram_max),
                min_df=self.min_df,
                sublinear_tf=True,
                stop_words="english",
                max_features=100_000,
                dtype=np.float32,
            )
            with contextlib.suppress(ValueError):  # every document empty after stop words
                parts.append(words.fit_transform(text))
        tags = _tags(cat)
        if tags.str.len().gt(0).any():
            vec = TfidfVectorizer(
                tokenizer=str.split, token_pattern=None, lowercase=False, dtype=np.float32
            )
            parts.append(self.tag_weight * vec.fit_transform(tags))
        if not parts:
            raise ConfigError("the catalogue's title, description, category and brand are empty")
        self.vectors_ = normalize(sp.hstack(parts).tocsr()).astype(np.float32)
        self._by_term = None
        labels = cat["title"] if "title" in cat.columns else None
        if labels is not None:
            self.set_labels(labels.dropna().astype(str).to_dict())

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        taste = normalize(self.seen_[rows] @ self.vectors_)
        # terms x products, kept in CSR: transposing per call cost more than the product
        by_term = self.__dict__.get("_by_term")
        if by_term is None or by_term.shape[1] != self.vectors_.shape[0]:
            by_term = self._by_term = sp.csr_matrix(self.vectors_.T)
        return (taste @ by_term).toarray()

    def _state(self) -> dict[str, Any]:
        return {"vectors_": self.vectors_}

    def _anchor(self, row: int, items: np.ndarray) -> np.ndarray:
        hist = self.seen_[row]
        sims = np.zeros((len(self.items_), len(items)), dtype=np.float32)
        if hist.nnz:
            sims[hist.indices] = (self.vectors_[hist.indices] @ self.vectors_[items].T).toarray()
        return history_anchor(hist, sims, items)

    def _reason(self, item: int, anchor: int) -> str:
        if anchor >= 0:
            return f"similar to {self._label(anchor)}, which you {self.verb_}"
        return "matches your taste"

    def similar(self, product_id: str, k: int = 10) -> pd.Series:
        """The ``k`` products most similar to ``product_id`` (cosine of their vectors)."""
        self._check_fitted()
        i = self.items_.get_loc(str(product_id))
        sims = np.asarray((self.vectors_ @ self.vectors_[i].T).todense()).ravel()
        sims[i] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        return pd.Series(sims[top], index=self.items_[top], name="similarity")


def _joined(cat: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series:
    cols = [cat[f].fillna("").astype(str) for f in fields if f in cat.columns]
    if not cols:
        return pd.Series([""] * len(cat), index=cat.index)
    out = cols[0]
    for c in cols[1:]:
        out = out + " " + c
    return out


def _tags(cat: pd.DataFrame) -> pd.Series:
    """Category levels (``cat:women``, ``cat:women>shoes``) and the brand as tokens."""

    def one(category: object, brand: object) -> str:
        tokens = []
        if isinstance(category, str) and category.strip():
            levels = [p.strip().lower().replace(" ", "_") for p in category.split(">")]
            tokens += ["cat:" + ">".join(levels[: i + 1]) for i in range(len(levels))]
        if isinstance(brand, str) and brand.strip():
            tokens.append("brand:" + brand.strip().lower().replace(" ", "_"))
        return " ".join(tokens)

    category = cat["category"] if "category" in cat.columns else pd.Series(None, index=cat.index)
    brand = cat["brand"] if "brand" in cat.columns else pd.Series(None, index=cat.index)
    return pd.Series([one(c, b) for c, b in zip(category, brand, strict=True)], index=cat.index)
