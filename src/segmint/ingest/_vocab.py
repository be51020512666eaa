"""Vocabularies that standardize free-text values: countries, gender, device, channel, etc.

Every lookup compares a *folded* key: accents stripped, lower case, letters and digits only
(``"U.S.A."`` → ``"usa"``, ``"Côte d'Ivoire"`` → ``"cotedivoire"``). The same folding runs in
SQL (:data:`FOLD_SQL`) and in Python (:func:`fold`), so the engine and the real-time path agree.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import pycountry

from segmint.schema import EVENT_TYPES

#: SQL that folds the text expression ``{x}`` the same way :func:`fold` does
FOLD_SQL = (
    "regexp_replace(lower(strip_accents(regexp_replace({x}, '[\\x00-\\x1f]', '', 'g'))), "
    "'[^a-z0-9]', '', 'g')"
)

#: values that mean "no value" in any text column
NULL_MARKERS = ("null", "none", "n/a", "na", "nan", "nil", "-", "--", "?", "#n/a")
#: text values a boolean column reads as true and as false (lower-cased, trimmed)
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "x")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")
#: further values that mean "unknown" for a country
COUNTRY_NULLS = ("unspecified", "unknown", "notspecified", "other", "xx", "zz")


def fold(text: str) -> str:
    """Fold a value for lookup.

    >>> fold("  U.S.A. "), fold("Côte d'Ivoire")
    ('usa', 'cotedivoire')
    """
    # as DuckDB: control characters dropped first (strip_accents stops at a NUL), then
    # canonical decomposition (NFD, not NFKD: '¹' is not '1' there)
    visible = "".join(ch for ch in text if ch >= " ")
    decomposed = unicodedata.normalize("NFD", visible)
    return "".join(ch for ch in decomposed.lower() if ch.isascii() and ch.isalnum())


# Names real exports use that ISO 3166 does not list, or lists differently.
_COUNTRY_ALIASES = {
    "GB": [
        "UK",
        "U.K.",
        "Great Britain",
        "Britain",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
        "United Kingdom of Great Britain",
    ],
    "IE": ["EIRE", "Éire", "Republic of Ireland"],
    "ZA": ["RSA", "Republic of South Africa"],
    "US": ["USA", "U.S.", "America", "United States of America", "United States"],
    "NL": ["Holland", "The Netherlands"],
    "CZ": ["Czech Republic"],
    "KR": ["South Korea", "Korea", "Republic of Korea"],
    "KP": ["North Korea"],
    "RU": ["Russia"],
    "IR": ["Iran"],
    "SY": ["Syria"],
    "VN": ["Vietnam"],
    "LA": ["Laos"],
    "BO": ["Bolivia"],
    "VE": ["Venezuela"],
    "TZ": ["Tanzania"],
    "MD": ["Moldova"],
    "TW": ["Taiwan"],
    "TR": ["Turkey", "Türkiye"],
    "AE": ["UAE", "U.A.E.", "Emirates"],
    "DE": ["Deutschland", "Germany (West)"],
    "AT": ["Österreich"],
    "CH": ["Schweiz", "Suisse", "Svizzera"],
    "ES": ["España", "Espana"],
    "FR": ["La France"],
    "IT": ["Italia"],
    "BR": ["Brasil"],
    "MX": ["México"],
    "PL": ["Polska"],
    "SE": ["Sverige"],
    "NO": ["Norge"],
    "DK": ["Danmark"],
    "FI": ["Suomi"],
    "GR": ["Hellas"],
    "CI": ["Ivory Coast"],
    "CV": ["Cape Verde"],
    "MK": ["Macedonia"],
    "SZ": ["Swaziland"],
    "VA": ["Vatican", "Holy See"],
    "PS": ["Palestine"],
    "HK": ["Hong Kong SAR"],
    "MO": ["Macau", "Macao SAR"],
    "BN": ["Brunei"],
    "CD": ["DR Congo", "Congo-Kinshasa", "Democratic Republic of Congo"],
    "CG": ["Congo-Brazzaville", "Republic of the Congo"],
}

_GENDER = {
    "female": [
        "f",
        "female",
        "w",
        "woman",
        "women",
        "frau",
        "femme",
        "mujer",
        "weiblich",
        "girl",
        "mrs",
        "ms",
        "miss",
    ],
    "male": ["m", "male", "man", "men", "herr", "homme", "hombre", "mannlich", "boy", "mr"],
    "other": ["other", "diverse", "divers", "d", "x", "nonbinary", "nb", "genderqueer"],
}
_GENDER_NULLS = ["u", "unknown", "prefernottosay", "notspecified", "unspecified", "na"]

_DEVICE = {
    "mobile": [
        "mobile",
        "phone",
        "smartphone",
        "iphone",
        "android",
        "ios",
        "mobileweb",
        "mobileapp",
        "app",
        "cell",
        "handheld",
        "mob",
    ],
    "tablet": ["tablet", "ipad", "androidtablet", "tab"],
    "desktop": [
        "desktop",
        "pc",
        "computer",
        "laptop",
        "mac",
        "macos",
        "windows",
        "linux",
        "notebook",
        "desktopweb",
    ],
    "other": ["other", "tv", "smarttv", "console", "bot", "wearable"],
}

_CHANNEL = {
    "organic": ["organic", "seo", "organicsearch", "search", "natural"],
    "paid_search": ["paidsearch", "cpc", "ppc", "sem", "adwords", "googleads", "paid"],
    "email": ["email", "e-mail", "newsletter", "mail", "crm"],
    "social": ["social", "socialmedia", "facebook", "instagram", "twitter", "tiktok", "paidsocial"],
    "direct": ["direct", "none", "typein", "(direct)"],
    "referral": ["referral", "ref", "partner", "affiliate", "affiliates"],
    "display": ["display", "banner", "programmatic", "retargeting"],
    "app": ["app", "push", "inapp"],
}

_EVENT_TYPE_ALIASES = {
    "page_view": ["pageview", "page", "view", "pv", "screenview", "screen"],
    "product_view": [
        "productview",
        "viewitem",
        "viewproduct",
        "detail",
        "productdetail",
        "itemview",
        "pdp",
        "product",
    ],
    "search": ["search", "searchquery", "query"],
    "add_to_cart": ["addtocart", "cart", "addtobasket", "add", "atc", "basketadd", "cartadd"],
    "remove_from_cart": ["removefromcart", "removefrombasket", "cartremove", "remove"],
    "wishlist_add": ["wishlistadd", "addtowishlist", "wishlist", "favorite", "favourite", "like"],
    "checkout_start": ["checkoutstart", "begincheckout", "checkout", "initiatecheckout"],
    "purchase": ["purchase", "transaction", "order", "buy", "checkoutcomplete", "ordercompleted"],
    "email_open": ["emailopen", "open", "opened"],
    "email_click": ["emailclick", "click", "clicked"],
    "login": ["login", "signin", "logon", "identify"],
    "signup": ["signup", "register", "registration", "accountcreated"],
    "session_start": ["sessionstart", "visit", "sessionbegin"],
}

_ORDER_STATUS = {
    "placed": ["placed", "created", "new", "pending", "open", "submitted", "onhold"],
    "paid": ["paid", "approved", "invoiced", "authorized", "authorised", "confirmed"],
    "processing": ["processing", "inprogress", "packing", "picked", "fulfilling"],
    "shipped": ["shipped", "dispatched", "intransit", "sent"],
    "delivered": ["delivered", "received"],
    "completed": ["completed", "complete", "closed", "fulfilled", "done"],
    "cancelled": [
        "cancelled",
        "canceled",
        "cancel",
        "void",
        "voided",
        "unavailable",
        "failed",
        "rejected",
        "declined",
    ],
    "returned": ["returned", "refunded", "return", "refund", "chargeback"],
}


@cache
def vocabulary_rows() -> tuple[tuple[str, str, str | None], ...]:
    """All ``(kind, folded key, value)`` rows; a ``None`` value means "known to be missing"."""
    rows: dict[tuple[str, str], str | None] = {}
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if name:
                rows.setdefault(("country", fold(name)), c.alpha_2)
    for code, names in _COUNTRY_ALIASES.items():
        for name in names:
            rows[("country", fold(name))] = code
    for name in COUNTRY_NULLS:
        rows[("country", fold(name))] = None
    for kind, table in (
        ("gender", _GENDER),
        ("device", _DEVICE),
        ("channel", _CHANNEL),
        ("event_type", _EVENT_TYPE_ALIASES),
        ("order_status", _ORDER_STATUS),
    ):
        for value, names in table.items():
            for name in [value, *names]:
                rows[(kind, fold(name))] = value
    for name in _GENDER_NULLS:
        rows[("gender", fold(name))] = None
    for et in EVENT_TYPES:
        rows[("event_type", fold(et))] = et
    return tuple((k, key, v) for (k, key), v in sorted(rows.items()))


def lookup(kind: str, value: str) -> tuple[bool, str | None]:
    """Python form of the SQL lookup: ``(found, standard value)``.

    >>> lookup("country", "EIRE"), lookup("gender", "Frau"), lookup("country", "Atlantis")
    ((True, 'IE'), (True, 'female'), (False, None))
    """
    table = _index()
    key = (kind, fold(value))
    return (key in table, table.get(key))


@cache
def _index() -> dict[tuple[str, str], str | None]:
    return {(k, key): v for k, key, v in vocabulary_rows()}


def load_vocabulary(con: object) -> None:
    """Create the temp table ``segmint_vocab(kind, key, value)`` in a DuckDB connection."""
    import pyarrow as pa

    rows = vocabulary_rows()
    table = pa.table(
        {
            "kind": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        }
    )
    con.register("_segmint_vocab_arrow", table)  # type: ignore[attr-defined]
    con.execute(  # type: ignore[attr-defined]
        "CREATE OR REPLACE TEMP TABLE segmint_vocab AS SELECT * FROM _segmint_vocab_arrow"
    )
    con.unregister("_segmint_vocab_arrow")  # type: ignore[attr-defined]
