"""The CRM export: one record per account, with the spelling variety real exports have."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.generate import _model as m
from segmint.generate._arrays import categorical, cumulative, dec_ids, strings, take, timestamps
from segmint.generate._people import Visitors, spell
from segmint.generate._vocab import (
    CONSENT_FALSE,
    CONSENT_TRUE,
    COUNTRIES,
    EMAIL_DOMAINS,
    GENDER_WRITTEN,
    LOYALTY_WRITTEN,
    NAMES,
)

CUSTOMER_COLUMNS = (
    "customer_id",
    "crm_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "signup_at",
    "birth_year",
    "age",
    "gender",
    "country",
    "city",
    "loyalty_tier",
    "consent_email",
    "updated_at",
)
TRUTH_COLUMNS = ("customer_id", "person_id", "persona", "buyer_stage")
_LOCALES = tuple(NAMES)


@dataclass(frozen=True)
class Records:
    """A chunk's CRM records (``customer_id`` is indexed by record, tables by file row)."""

    customer_id: pa.Array  # per record
    table: pa.Table  # customers.csv rows, in file order
    truth: pa.Table  # truth/customers.csv rows, in file order
    single: np.ndarray  # per file row: the person has only this record
    person_id: pa.Array  # per known person


def _ascii(name: str) -> str:
    text = name.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ø", "o")
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")


@cache
def _name_table() -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """All names, their e-mail spelling, and ``[lo, hi)`` per (locale, female/male/last)."""
    names: list[str] = []
    lo = np.zeros((len(_LOCALES), 3), dtype=np.int64)
    hi = np.zeros_like(lo)
    for i, loc in enumerate(_LOCALES):
        for k, group in enumerate(NAMES[loc]):
            lo[i, k] = len(names)
            names.extend(group)
            hi[i, k] = len(names)
    return strings(names), strings([_ascii(x) for x in names]), lo, hi


def _names(rng: np.random.Generator, vis: Visitors) -> tuple[np.ndarray, np.ndarray]:
    _, _, lo, hi = _name_table()
    loc = np.array([_LOCALES.index(c.locale) for c in COUNTRIES])[vis.country[: vis.n_known]]
    kind = np.where(
        vis.gender[: vis.n_known] == 2, rng.integers(0, 2, vis.n_known), vis.gender[: vis.n_known]
    )
    first = lo[loc, kind] + (rng.random(vis.n_known) * (hi[loc, kind] - lo[loc, kind])).astype(
        np.int64
    )
    last = lo[loc, 2] + (rng.random(vis.n_known) * (hi[loc, 2] - lo[loc, 2])).astype(np.int64)
    return first, last


def _emails(
    rng: np.random.Generator,
    first: np.ndarray,
    last: np.ndarray,
    person_no: np.ndarray,
    persons: int,
) -> pa.Array:
    """Lower-case addresses, unique per person: the digits before '@' encode the person.

    ``(p * 7919 + 101) mod 10**k`` is one-to-one on ``0 <= p < 10**k`` and names hold no
    digits, so two persons never share an address.
    """
    _, spelt, _, _ = _name_table()
    f, last_name = take(spelt, first), take(spelt, last)
    modulus = 10 ** max(4, len(str(persons)))
    num = pa.array((person_no * 7919 + 101) % modulus).cast(pa.string())
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    join = pc.binary_join_element_wise
    local = pc.choose(
        pa.array(rng.integers(0, 5, len(first)), pa.int8()),
        join(f, ".", last_name, num, ""),
        join(f, last_name, num, ""),
        join(initial, ".", last_name, num, ""),
        join(f, "_", last_name, num, ""),
        join(last_name, ".", f, num, ""),
    )
    domain = take(strings(EMAIL_DOMAINS), rng.integers(0, len(EMAIL_DOMAINS), len(first)))
    return join(local, "@", domain, "")


def _email_spelling(rng: np.random.Generator, email: pa.Array, vis: Visitors) -> pa.Array:
    """Records' addresses as typed: mostly as is, some capitalized, some with stray spaces.

    A second account always differs in case from the person's first one.
    """
    n, d = vis.n_known, len(vis.dup_of)
    style = categorical(rng, cumulative([82, 8, 2, 5, 3]), np.zeros(n))
    dup_style = np.where(np.isin(style[vis.dup_of], (1, 4)), 2, 1 + 3 * rng.integers(0, 2, d))
    per_record = email.take(pa.array(np.concatenate([np.arange(n), vis.dup_of])))
    title, upper = pc.utf8_title(per_record), pc.utf8_upper(per_record)
    spaced = pc.binary_join_element_wise("  ", title, " ", "")
    return pc.choose(
        pa.array(np.concatenate([style, dup_style]), pa.int8()),
        per_record,
        title,
        upper,
        pc.binary_join_element_wise("  ", per_record, " ", ""),
        spaced,
    )


def _phones(
    rng: np.random.Generator, vis: Visitors, person_no: np.ndarray, rec: np.ndarray
) -> pa.Array:
    country = vis.country[rec]
    cc = take(strings([c.calling for c in COUNTRIES]), country)
    mob = take(strings([c.mobile for c in COUNTRIES]), country)
    sub = dec_ids("", (person_no[rec] * 104_729 + 5_550_123) % 10**8, 8)
    a, b = pc.utf8_slice_codeunits(sub, 0, 4), pc.utf8_slice_codeunits(sub, 4, 8)
    join = pc.binary_join_element_wise
    phone = pc.choose(
        pa.array(rng.integers(0, 5, len(rec)), pa.int8()),
        join("+", cc, " ", mob, " ", sub, ""),
        join("0", mob, " ", sub, ""),
        join("+", cc, mob, sub, ""),
        join("00", cc, " ", mob, " ", a, " ", b, ""),
        join("(0", mob, ") ", a, "-", b, ""),
    )
    return take(phone, np.arange(len(rec)), rng.random(len(rec)) < 0.2)


def _cities(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    flat = [city for c in COUNTRIES for city in c.cities]
    sizes = np.array([len(c.cities) for c in COUNTRIES])
    lo = np.cumsum(sizes) - sizes
    pick = lo[country] + (rng.random(len(country)) * sizes[country]).astype(np.int64)
    return take(strings(flat), pick, rng.random(len(country)) < 0.04)


def _ages(
    rng: np.random.Generator, vis: Visitors, rec: np.ndarray, end_year: int
) -> tuple[pa.Array, pa.Array]:
    n = vis.n_known
    missing = (rng.random(n) < 0.12)[rec]
    born = end_year - vis.age - (rng.random(n) < 0.5)
    return (
        pa.array(born[rec], mask=missing, type=pa.int64()),
        pa.array(vis.age[rec], mask=missing, type=pa.int64()),
    )


def _loyalty(rng: np.random.Generator, persona: np.ndarray) -> pa.Array:
    tier = categorical(rng, cumulative(m.LOYALTY_BY_PERSONA), persona)
    groups = tuple(tuple((s, 1.0) for s in spellings) for spellings in LOYALTY_WRITTEN[1:])
    written = spell(rng, groups, np.maximum(tier - 1, 0))
    return take(written, np.arange(len(tier)), tier == 0)


def _consent(rng: np.random.Generator, n: int) -> pa.Array:
    groups = tuple(
        tuple((s, 1.0) for s in spellings) for spellings in (CONSENT_FALSE, CONSENT_TRUE)
    )
    return spell(rng, groups, (rng.random(n) < 0.6).astype(np.int64))


def build_records(
    rng: np.random.Generator, vis: Visitors, w: m.Window, chunk: m.Chunk, layout: m.Layout
) -> Records:
    """The CRM records of a chunk's known persons; ids continue from the chunk's offsets."""
    rec_offset, width = chunk.record_offset, layout.id_width
    n, d = vis.n_known, len(vis.dup_of)
    rec = np.concatenate([np.arange(n), vis.dup_of]).astype(np.int64)
    slot = rng.permutation(n + d)
    customer_id = dec_ids("C", rec_offset + slot + 1, width)
    crm = dec_ids("CRM", ((rec_offset + np.arange(n + d)) * 387_420_489 + 123_456_789) % 10**9, 9)
    person_no = chunk.person_offset + np.arange(n, dtype=np.int64)
    names, _, _, _ = _name_table()
    first, last = _names(rng, vis)
    email = _email_spelling(rng, _emails(rng, first, last, person_no, layout.persons), vis)
    signup = vis.signup[rec].copy()
    signup[n:] += (rng.random(d) * 0.5 * (w.end - signup[n:])).astype(np.int64)
    updated = signup + (rng.random(n + d) * (w.end - 1 - signup)).astype(np.int64)
    birth_year, age = _ages(rng, vis, rec, w.end_year)
    gender = spell(rng, tuple(GENDER_WRITTEN.values()), vis.gender[rec])
    columns = {
        "customer_id": customer_id,
        "crm_id": crm,
        "email": email,
        "phone": _phones(rng, vis, person_no, rec),
        "first_name": take(names, first[rec]),
        "last_name": take(names, last[rec]),
        "signup_at": timestamps(signup),
        "birth_year": birth_year,
        "age": age,
        "gender": take(gender, np.arange(n + d), rng.random(n + d) < 0.07),
        "country": spell(rng, tuple(c.written for c in COUNTRIES), vis.country[rec]),
        "city": _cities(rng, vis.country[rec]),
        "loyalty_tier": _loyalty(rng, vis.persona[rec]),
        "consent_email": _consent(rng, n + d),
        "updated_at": timestamps(updated),
    }
    order = pa.array(np.argsort(slot))
    person_id = dec_ids("person-", person_no, max(7, width - 1))
    truth = {
        "customer_id": customer_id,
        "person_id": person_id.take(pa.array(rec)),
        "persona": take(strings(m.PERSONAS), vis.persona[rec]),
        "buyer_stage": take(strings(m.STAGES), vis.stage[rec]),
    }
    single = np.concatenate([vis.second[:n] < 0, np.zeros(d, dtype=bool)])
    return Records(
        customer_id=customer_id,
        table=pa.table(columns).take(order),
        truth=pa.table(truth).take(order),
        single=single[np.argsort(slot)],
        person_id=person_id,
    )
