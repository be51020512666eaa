"""The product catalogue: a category tree, lognormal prices and popularity-weighted sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from segmint.generate._arrays import dec_ids, draw_in_ranges, strings
from segmint.generate._vocab import ADJECTIVES, BRANDS, COLOURS, QUERY_TEMPLATES, TAXONOMY

PRODUCT_COLUMNS = ("product_id", "title", "description", "category", "brand", "price", "in_stock")
# price profiles: how strongly a shopper leans towards cheap or expensive items in a category
CHEAP, NEUTRAL, PREMIUM = 0, 1, 2
_PROFILE_EXPONENT = (-1.5, 0.0, 1.2)
_APPAREL = frozenset({"Women", "Men", "Kids", "Sports"})
_KEEP_PLURAL = frozenset(
    {"Sneakers", "Boots", "Sandals", "Heels", "Loafers", "Jeans", "Running Shoes", "Gloves"}
    | {"Earbuds", "Pruners", "Dumbbells", "Headphones", "Resistance Bands", "Seeds"}
)
_NOUNS = {"Baby": "Baby Bodysuit", "Girls": "Girls' Dress", "Boys": "Boys' Shirt"}


@dataclass(frozen=True)
class Catalogue:
    """The catalogue plus the lookup tables that events use to pick products."""

    table: pa.Table
    top_names: tuple[str, ...]
    product_id: pa.Array  # per product; products are ordered by leaf category
    price: np.ndarray
    leaf: np.ndarray
    product_cum: np.ndarray  # (3, products + 1) running weight per price profile
    leaf_path: pa.Array  # per leaf: "Top > Sub > Leaf"
    sub_path: pa.Array  # per leaf: "Top > Sub"
    leaf_lo: np.ndarray  # products of leaf i are [leaf_lo[i], leaf_hi[i])
    leaf_hi: np.ndarray
    leaf_cum: np.ndarray  # running leaf popularity, leading 0
    top_lo: np.ndarray  # leaves of top j are [top_lo[j], top_hi[j])
    top_hi: np.ndarray
    top_weight: np.ndarray  # popularity of each top-level category
    queries: pa.Array
    query_lo: np.ndarray  # search phrases of leaf i start here, QUERIES_PER_LEAF of them

    @property
    def n_top(self) -> int:
        """How many top-level categories the catalogue has."""
        return len(self.top_names)

    def leaves(self, rng: np.random.Generator, top: np.ndarray) -> np.ndarray:
        """A popularity-weighted leaf category within each given top-level category."""
        return draw_in_ranges(rng, self.leaf_cum, self.top_lo[top], self.top_hi[top])

    def products(
        self, rng: np.random.Generator, leaf: np.ndarray, profile: np.ndarray
    ) -> np.ndarray:
        """A product in each given leaf, weighted by popularity and the shopper's price profile."""
        out = np.empty(len(leaf), dtype=np.int64)
        for p in (CHEAP, NEUTRAL, PREMIUM):
            sel = np.flatnonzero(profile == p)
            if sel.size:
                lo, hi = self.leaf_lo[leaf[sel]], self.leaf_hi[leaf[sel]]
                out[sel] = draw_in_ranges(rng, self.product_cum[p], lo, hi)
        return out


def catalogue_size(customers: int) -> tuple[int, int]:
    """How many products and top-level categories a shop of this size carries."""
    n_products = int(np.clip(round(40 * np.sqrt(customers)), 200, 5000))
    n_top = 4 + int(np.searchsorted([500, 1000, 2000, 3500], n_products, side="right"))
    return n_products, n_top


def _noun(leaf: str) -> str:
    if leaf in _NOUNS:
        return _NOUNS[leaf]
    if leaf in _KEEP_PLURAL or not leaf.endswith("s"):
        return leaf
    if leaf.endswith("ives"):
        return leaf[:-4] + "ife"
    if leaf.endswith(("ches", "shes", "sses")):
        return leaf[:-2]
    return leaf[:-1]


def _tree(rng: np.random.Generator, n_top: int) -> tuple[list[str], list[tuple[int, str, str]]]:
    names = list(TAXONOMY)
    tops = [names[i] for i in sorted(rng.choice(len(names), n_top, replace=False))]
    leaves = [
        (t, sub, leaf)
        for t, top in enumerate(tops)
        for sub, ls in TAXONOMY[top][1].items()
        for leaf in ls
    ]
    return tops, [(t, f"{tops[t]} > {sub}", leaf) for t, sub, leaf in leaves]


def _prices(rng: np.random.Generator, median: np.ndarray) -> np.ndarray:
    raw = median * rng.lognormal(0.0, 0.45, len(median))
    cheap = np.maximum(0.99, np.round(raw * 2) / 2 - 0.01)
    return np.round(np.where(raw < 10, cheap, np.round(raw) - 0.01), 2)


def _texts(
    rng: np.random.Generator, tops: list[str], leaves: list[tuple[int, str, str]], leaf: np.ndarray
) -> tuple[list[str], list[str], list[str], list[list[str]]]:
    """Titles, descriptions and brands per product, and each top's brands."""
    top_brands = [list(rng.choice(BRANDS, 5, replace=False)) for _ in tops]
    brand_pick = rng.integers(0, 5, len(leaf))
    adjective = rng.integers(0, len(ADJECTIVES), len(leaf))
    colour = rng.integers(0, len(COLOURS), len(leaf))
    titles, descriptions, brands = [], [], []
    for i, lf in enumerate(leaf.tolist()):
        t, sub, name = leaves[lf]
        brand, adj, col = top_brands[t][brand_pick[i]], ADJECTIVES[adjective[i]], COLOURS[colour[i]]
        noun = _noun(name)
        suffix = f" - {col}" if tops[t] in _APPAREL else ""
        titles.append(f"{brand} {adj} {noun}{suffix}")
        descriptions.append(
            f"{adj} {noun.lower()} by {brand}, in {col.lower()}. Part of our {sub} range."
        )
        brands.append(brand)
    return titles, descriptions, brands, top_brands


def _queries(
    rng: np.random.Generator, leaves: list[tuple[int, str, str]], top_brands: list[list[str]]
) -> list[str]:
    out: list[str] = []
    for t, _sub, name in leaves:
        colours = rng.integers(0, len(COLOURS), len(QUERY_TEMPLATES))
        brands = rng.integers(0, 5, len(QUERY_TEMPLATES))
        out.extend(
            template.format(
                leaf=name.lower(),
                Leaf=name,
                colour=COLOURS[c].lower(),
                brand=top_brands[t][br].lower(),
            )
            for template, c, br in zip(QUERY_TEMPLATES, colours, brands, strict=True)
        )
    return out


def build_catalogue(rng: np.random.Generator, customers: int) -> Catalogue:
    """Draw the catalogue of a shop with ``customers`` CRM records."""
    n_wanted, n_top = catalogue_size(customers)
    tops, leaves = _tree(rng, n_top)
    n_leaves = len(leaves)
    per_leaf = 3 + rng.multinomial(max(0, n_wanted - 3 * n_leaves), rng.dirichlet([2.0] * n_leaves))
    leaf = np.repeat(np.arange(n_leaves), per_leaf)
    leaf_top = np.array([t for t, _, _ in leaves])
    top_median = np.array([TAXONOMY[t][0] for t in tops])
    leaf_median = top_median[leaf_top] * rng.lognormal(0.0, 0.35, n_leaves)
    price = _prices(rng, leaf_median[leaf])
    popularity = rng.lognormal(0.0, 1.0, len(leaf))
    relative = price / leaf_median[leaf]
    product_cum = np.stack(
        [np.concatenate([[0.0], np.cumsum(popularity * relative**e)]) for e in _PROFILE_EXPONENT]
    )
    leaf_pop = rng.lognormal(0.0, 0.5, n_leaves)
    titles, descriptions, brands, top_brands = _texts(rng, tops, leaves, leaf)
    queries = _queries(rng, leaves, top_brands)
    product_id = dec_ids("SKU-", rng.choice(90_000, len(leaf), replace=False) + 10_000, 5)
    leaf_path = strings([f"{sub} > {name}" for _, sub, name in leaves])
    in_stock = rng.random(len(leaf)) < 0.92
    table = pa.table(
        {
            "product_id": product_id,
            "title": strings(titles),
            "description": strings(descriptions),
            "category": leaf_path.take(pa.array(leaf)),
            "brand": strings(brands),
            "price": pa.array(price),
            "in_stock": pa.array(in_stock),
        }
    )
    table = table.take(pa.array(np.argsort(product_id.to_numpy(zero_copy_only=False))))
    leaf_bounds = np.concatenate([[0], np.cumsum(per_leaf)])
    top_bounds = np.searchsorted(leaf_top, np.arange(n_top + 1))
    return Catalogue(
        table=table,
        top_names=tuple(tops),
        product_id=product_id,
        price=price,
        leaf=leaf,
        product_cum=product_cum,
        leaf_path=leaf_path,
        sub_path=strings([sub for _, sub, _ in leaves]),
        leaf_lo=leaf_bounds[:-1],
        leaf_hi=leaf_bounds[1:],
        leaf_cum=np.concatenate([[0.0], np.cumsum(leaf_pop)]),
        top_lo=top_bounds[:-1],
        top_hi=top_bounds[1:],
        top_weight=np.bincount(leaf_top, weights=leaf_pop, minlength=n_top),
        queries=strings(queries),
        query_lo=np.arange(n_leaves) * len(QUERY_TEMPLATES),
    )
