"""People: the hidden traits of every visitor of the shop, known or anonymous.

A chunk holds ``n`` known persons (CRM records ``0..n-1``), ``d`` second CRM records of
some of them (records ``n..n+d-1``) and a number of anonymous visitors the CRM never sees.
Written forms (how a source spells a canonical value) are drawn with :func:`spell`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa

from segmint.generate import _model as m
from segmint.generate._arrays import categorical, cumulative, strings, take
from segmint.generate._catalogue import Catalogue
from segmint.generate._vocab import COUNTRIES, DEVICE_WEIGHTS

_EARLIEST_SIGNUP = 1_325_376_000  # 2012-01-01


@dataclass(frozen=True)
class Visitors:
    """Hidden traits of a chunk's visitors: known persons first, then anonymous ones."""

    n_known: int
    persona: np.ndarray
    stage: np.ndarray
    gender: np.ndarray  # 0 female, 1 male, 2 other
    country: np.ndarray  # index into COUNTRIES
    fav: np.ndarray  # (visitors, 2) favourite top-level categories
    expected: np.ndarray  # sessions at activity scale 1
    span_lo: np.ndarray  # active between these epoch seconds
    span_hi: np.ndarray
    signup: np.ndarray  # known persons only
    age: np.ndarray  # known persons only
    cookie_lo: np.ndarray  # cookies of visitor v are [cookie_lo[v], cookie_lo[v] + n_cookies[v])
    n_cookies: np.ndarray
    cookie_device: np.ndarray  # index into DEVICES, per cookie
    dup_of: np.ndarray  # person of each second CRM record
    second: np.ndarray  # record index of a person's second account, or -1

    @property
    def n(self) -> int:
        """How many visitors the chunk has, known and anonymous."""
        return len(self.persona)


def _favourites(rng: np.random.Generator, gender: np.ndarray, cat: Catalogue) -> np.ndarray:
    weights = np.tile(cat.top_weight, (3, 1))
    for name, g in (("Women", 0), ("Men", 1)):
        if name in cat.top_names:
            col = cat.top_names.index(name)
            weights[:, col] *= 0.25
            weights[g, col] *= 12.0
    cum = cumulative(weights)
    return np.stack([categorical(rng, cum, gender), categorical(rng, cum, gender)], axis=1)


def _spans(
    rng: np.random.Generator, persona: np.ndarray, signup: np.ndarray, w: m.Window
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Active span per visitor and expected sessions in it at activity scale 1."""
    v = len(persona)
    lo = np.maximum(signup, w.start)
    hi = np.full(v, w.end, dtype=np.int64)
    lapsed = persona == m.LAPSED
    hi[lapsed] = w.start + (rng.uniform(0.15, 0.45, v)[lapsed] * (w.end - w.start)).astype(np.int64)
    once = persona == m.ONE_TIMER
    burst = min(3 * m.DAY, w.end - w.start)
    shift = (rng.random(v) * np.maximum(0, hi - lo - burst)).astype(np.int64)
    lo = np.where(once, lo + shift, lo)
    hi = np.where(once, np.minimum(hi, lo + burst), hi)
    rate = np.asarray(m.PERSONA_RATE)[persona]
    expected = rate * (hi - lo) / m.DAY
    expected[once] = m.ONE_TIMER_SESSIONS
    expected[persona == m.ANONYMOUS] = m.ANON_SESSIONS
    return lo, hi, expected


def draw_visitors(
    rng: np.random.Generator, n: int, n_dup: int, n_anon: int, w: m.Window, cat: Catalogue
) -> Visitors:
    """The hidden traits of ``n`` persons (``n_dup`` with two accounts) and ``n_anon`` visitors."""
    v = n + n_anon
    persona = np.concatenate(
        [categorical(rng, cumulative(m.PERSONA_SHARE), np.zeros(n)), np.full(n_anon, m.ANONYMOUS)]
    ).astype(np.int64)
    stage = categorical(rng, cumulative(m.STAGE_BY_PERSONA), persona)
    gender = categorical(rng, cumulative(m.GENDER_SHARE), np.zeros(v))
    country = categorical(rng, cumulative([c.weight for c in COUNTRIES]), np.zeros(v))
    joined_now = (rng.random(v) < 0.15) & (persona != m.LAPSED)
    before = w.start - (m.DAY * (1 + rng.exponential(450.0, v))).astype(np.int64)
    during = w.start + (rng.random(v) * 0.9 * (w.end - w.start)).astype(np.int64)
    signup = np.maximum(np.where(joined_now, during, before), _EARLIEST_SIGNUP)
    signup[n:] = w.start
    lo, hi, expected = _spans(rng, persona, signup, w)
    n_cookies = np.where(np.arange(v) < n, 1 + rng.binomial(2, 0.3, v), 1)
    cookie_lo = np.cumsum(n_cookies) - n_cookies
    dup_of = np.sort(rng.choice(n, n_dup, replace=False)) if n_dup else np.zeros(0, np.int64)
    second = np.full(v, -1, dtype=np.int64)
    second[dup_of] = n + np.arange(n_dup)
    return Visitors(
        n_known=n,
        persona=persona,
        stage=stage,
        gender=gender,
        country=country,
        fav=_favourites(rng, gender, cat),
        expected=expected,
        span_lo=lo,
        span_hi=hi,
        signup=signup[:n],
        age=np.clip(np.round(18 + rng.gamma(2.2, 9.0, n)), 18, 90).astype(np.int64),
        cookie_lo=cookie_lo,
        n_cookies=n_cookies,
        cookie_device=categorical(rng, cumulative(DEVICE_WEIGHTS), np.zeros(int(n_cookies.sum()))),
        dup_of=dup_of,
        second=second,
    )


# --- written forms ------------------------------------------------------------------


@cache
def _written(groups: tuple[tuple[tuple[str, float], ...], ...]) -> tuple[pa.Array, np.ndarray]:
    """Spellings of several canonical values: the vocabulary and a (values, max) cum table."""
    width = max(len(g) for g in groups)
    vocab: list[str] = []
    index = np.zeros((len(groups), width), dtype=np.int64)
    weights = np.zeros((len(groups), width))
    for i, g in enumerate(groups):
        for j, (text, weight) in enumerate(g):
            index[i, j], weights[i, j] = len(vocab), weight
            vocab.append(text)
    cum = cumulative(weights)
    for i, g in enumerate(groups):
        cum[i, len(g) - 1 :] = 1.0  # padding is never drawn
    return strings(vocab), np.stack([index, cum])


def spell(rng: np.random.Generator, groups: tuple, value: np.ndarray) -> pa.Array:
    """One written form per row for canonical ``value`` (an index into ``groups``)."""
    vocab, table = _written(groups)
    col = categorical(rng, table[1], value)
    return take(vocab, table[0].astype(np.int64)[value, col])
