"""The canonical tables and their columns, in one place.

Every other module names columns through :class:`Col` and tables through :class:`T`, never
with scattered string literals. A source in ``segmint.yaml`` feeds one of the *input* tables
(:data:`INPUT_TABLES`). Rows of ``customers``, ``orders`` and ``products`` sources are kept as
given in ``customer_records``, ``order_records`` and ``product_records``; segmint rebuilds the
unified ``customers`` (one profile per person), ``orders`` and ``products`` tables from them
and from the order lines, and ``identities`` from every identifier it has seen. ``events`` and
``order_lines`` are stored as they arrive (append-only).

All timestamps are stored as UTC wall-clock ``TIMESTAMP`` values; ids are strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["string", "int", "float", "bool", "timestamp", "json"]
Kind = Literal[
    "plain",
    "identifier",
    "country",
    "email",
    "phone",
    "gender",
    "device",
    "channel",
    "event_type",
    "order_status",
    "lower",
]


class Col:
    """Canonical column names."""

    CUSTOMER_ID = "customer_id"
    CRM_ID = "crm_id"
    PERSON_ID = "person_id"
    ANONYMOUS_ID = "anonymous_id"
    DEVICE_ID = "device_id"
    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    SIGNUP_AT = "signup_at"
    BIRTH_YEAR = "birth_year"
    AGE = "age"
    GENDER = "gender"
    COUNTRY = "country"
    CITY = "city"
    LOYALTY_TIER = "loyalty_tier"
    CONSENT_EMAIL = "consent_email"
    CONSENT_SMS = "consent_sms"
    CONSENT_PERSONALIZATION = "consent_personalization"
    UPDATED_AT = "updated_at"
    EVENT_ID = "event_id"
    EVENT_TYPE = "event_type"
    TS = "ts"
    SESSION_ID = "session_id"
    PRODUCT_ID = "product_id"
    CATEGORY = "category"
    PRICE = "price"
    QUANTITY = "quantity"
    QUERY = "query"
    DEVICE = "device"
    CHANNEL = "channel"
    PAGE_URL = "page_url"
    PROPERTIES = "properties"
    ORDER_ID = "order_id"
    LINE_NO = "line_no"
    STATUS = "status"
    TOTAL = "total"
    CURRENCY = "currency"
    UNIT_PRICE = "unit_price"
    DISCOUNT = "discount"
    IS_RETURN = "is_return"
    IS_FEE = "is_fee"
    TITLE = "title"
    DESCRIPTION = "description"
    BRAND = "brand"
    IN_STOCK = "in_stock"
    # columns segmint adds
    SOURCE = "_source"
    FILE = "_file"
    LINE = "_line"
    ROW_KEY = "_row_key"
    RUN_ID = "_run_id"
    INGESTED_AT = "_ingested_at"
    ORIGIN = "origin"
    IDENTIFIER_TYPE = "identifier_type"
    IDENTIFIER = "identifier"
    FIRST_SEEN = "first_seen"
    LAST_SEEN = "last_seen"


class T:
    """Table names in the warehouse."""

    CUSTOMER_RECORDS = "customer_records"
    CUSTOMERS = "customers"
    IDENTITIES = "identities"
    SHARED_IDENTIFIERS = "shared_identifiers"  # not linked: more accounts than the limit
    EVENTS = "events"
    ORDERS = "orders"
    ORDER_RECORDS = "order_records"
    PRODUCT_RECORDS = "product_records"
    ORDER_LINES = "order_lines"
    PRODUCTS = "products"
    QUARANTINE = "quarantine"
    INGEST_RUNS = "ingest_runs"
    INGESTED_FILES = "ingested_files"


@dataclass(frozen=True)
class Column:
    """One canonical column: its type, the rules its values must meet, and what it means."""

    name: str
    dtype: DType
    description: str
    required: bool = False
    kind: Kind = "plain"
    min: float | None = None
    max: float | None = None
    range_rule: str | None = None  # rule name for min/max, e.g. "age_range"

    @property
    def rule_range(self) -> str:
        """The name of the rule its min/max check reports under: ``range_rule``, else
        ``<name>_range``."""
        return self.range_rule or f"{self.name}_range"


@dataclass(frozen=True)
class Table:
    """An input table a source can feed.

    ``key`` identifies a row for de-duplication; an empty key means "the whole row" (a row
    hash). ``mode`` says how re-delivered rows behave: ``append`` keeps the first copy,
    ``upsert`` keeps the newest by ``order_by``.
    """

    name: str
    stored_as: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    mode: Literal["append", "upsert"]
    description: str
    order_by: str | None = None
    one_of: tuple[str, ...] = field(default=())  # at least one of these must be present

    def column(self, name: str) -> Column:
        """The column called ``name``; KeyError when the table has none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in self.columns]


def _id(name: str, desc: str, required: bool = False) -> Column:
    return Column(name, "string", desc, required=required, kind="identifier")


_CUSTOMERS = Table(
    name="customers",
    stored_as=T.CUSTOMER_RECORDS,
    description="CRM records: one row per account as the source system knows it.",
    key=(Col.CUSTOMER_ID,),
    mode="upsert",
    order_by=Col.UPDATED_AT,
    columns=(
        _id(Col.CUSTOMER_ID, "The shop's customer/account id.", required=True),
        _id(Col.CRM_ID, "Id of the person in a CRM system."),
        _id(Col.PERSON_ID, "An id shared by several accounts of one person."),
        _id(Col.ANONYMOUS_ID, "A cookie/anonymous id known to belong to this account."),
        _id(Col.DEVICE_ID, "A device id known to belong to this account."),
        Column(Col.EMAIL, "string", "E-mail address; normalized before hashing.", kind="email"),
        Column(Col.PHONE, "string", "Phone number; digits and leading + kept.", kind="phone"),
        Column(Col.FIRST_NAME, "string", "Given name."),
        Column(Col.LAST_NAME, "string", "Family name."),
        Column(Col.SIGNUP_AT, "timestamp", "When the account was created."),
        Column(Col.BIRTH_YEAR, "int", "Year of birth.", min=1900, max=2100),
        Column(Col.AGE, "int", "Age in years.", min=0, max=120, range_rule="age_range"),
        Column(Col.GENDER, "string", "female, male or other.", kind="gender"),
        Column(Col.COUNTRY, "string", "ISO 3166-1 alpha-2 code.", kind="country"),
        Column(Col.CITY, "string", "City name, trimmed."),
        Column(Col.LOYALTY_TIER, "string", "Loyalty programme tier, lower case.", kind="lower"),
        Column(Col.CONSENT_EMAIL, "bool", "Consents to marketing e-mail."),
        Column(Col.CONSENT_SMS, "bool", "Consents to marketing SMS."),
        Column(Col.CONSENT_PERSONALIZATION, "bool", "Consents to personalization."),
        Column(Col.UPDATED_AT, "timestamp", "When the record last changed (newest wins)."),
    ),
)

EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "wishlist_add",
    "checkout_start",
    "purchase",
    "email_open",
    "email_click",
    "login",
    "signup",
    "session_start",
)

_EVENTS = Table(
    name="events",
    stored_as=T.EVENTS,
    description="Web/app behaviour: one row per event.",
    key=(Col.EVENT_ID,),
    mode="append",
    one_of=(Col.CUSTOMER_ID, Col.ANONYMOUS_ID, Col.DEVICE_ID),
    columns=(
        Column(Col.EVENT_ID, "string", "Unique event id; a row hash when not mapped."),
        Column(Col.EVENT_TYPE, "string", "One of the event types.", True, "event_type"),
        Column(Col.TS, "timestamp", "When it happened.", required=True),
        _id(Col.CUSTOMER_ID, "Logged-in customer id, if any."),
        _id(Col.ANONYMOUS_ID, "Cookie/anonymous visitor id."),
        _id(Col.DEVICE_ID, "Device id."),
        Column(Col.SESSION_ID, "string", "Session id."),
        Column(Col.PRODUCT_ID, "string", "Product concerned, if any."),
        Column(Col.CATEGORY, "string", "Product category path."),
        Column(Col.PRICE, "float", "Unit price shown or paid.", min=0),
        Column(Col.QUANTITY, "int", "Quantity (carts, purchases)."),
        Column(Col.QUERY, "string", "Search text."),
        Column(Col.DEVICE, "string", "mobile, desktop, tablet or other.", kind="device"),
        Column(Col.CHANNEL, "string", "Acquisition channel, lower snake case.", kind="channel"),
        Column(Col.COUNTRY, "string", "ISO 3166-1 alpha-2 code.", kind="country"),
        Column(Col.PAGE_URL, "string", "Page address."),
        Column(Col.PROPERTIES, "json", "Anything else, as JSON."),
    ),
)

ORDER_STATUSES = (
    "placed",
    "paid",
    "processing",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "returned",
)

_ORDERS = Table(
    name="orders",
    stored_as=T.ORDER_RECORDS,
    description="Order headers. Derived from order lines when no orders source exists.",
    key=(Col.ORDER_ID,),
    mode="upsert",
    order_by=Col.TS,
    columns=(
        Column(Col.ORDER_ID, "string", "Order/invoice id.", required=True),
        _id(Col.CUSTOMER_ID, "Customer who placed it; empty for guest orders."),
        Column(Col.TS, "timestamp", "When it was placed.", required=True),
        Column(Col.STATUS, "string", "Order status.", kind="order_status"),
        Column(Col.TOTAL, "float", "Order total as the source states it."),
        Column(Col.CURRENCY, "string", "ISO 4217 code, upper case."),
        Column(Col.DISCOUNT, "float", "Discount on the order.", min=0),
        Column(Col.CHANNEL, "string", "Sales channel.", kind="channel"),
        Column(Col.COUNTRY, "string", "ISO 3166-1 alpha-2 code.", kind="country"),
    ),
)

_ORDER_LINES = Table(
    name="order_lines",
    stored_as=T.ORDER_LINES,
    description="One row per product in an order. Negative quantities are returns.",
    key=(Col.ORDER_ID, Col.LINE_NO),
    mode="append",
    columns=(
        Column(Col.ORDER_ID, "string", "Order/invoice id.", required=True),
        Column(Col.LINE_NO, "int", "Line number within the order; a row hash when absent."),
        Column(Col.PRODUCT_ID, "string", "Product id.", required=True),
        Column(Col.QUANTITY, "int", "Units; negative for returns. 1 when not mapped."),
        Column(Col.UNIT_PRICE, "float", "Price of one unit.", min=0),
        Column(Col.DISCOUNT, "float", "Discount on the line.", min=0),
        _id(Col.CUSTOMER_ID, "Customer; taken from the order when not mapped."),
        Column(Col.TS, "timestamp", "When ordered; taken from the order when not mapped."),
        Column(Col.STATUS, "string", "Line or order status.", kind="order_status"),
        Column(Col.COUNTRY, "string", "ISO 3166-1 alpha-2 code.", kind="country"),
        Column(Col.TITLE, "string", "Product title as printed on the line."),
        Column(Col.CATEGORY, "string", "Product category as printed on the line."),
    ),
)

_PRODUCTS = Table(
    name="products",
    stored_as=T.PRODUCT_RECORDS,
    description="The catalogue. Derived from order lines for products it does not list.",
    key=(Col.PRODUCT_ID,),
    mode="upsert",
    columns=(
        Column(Col.PRODUCT_ID, "string", "Product id.", required=True),
        Column(Col.TITLE, "string", "Title."),
        Column(Col.DESCRIPTION, "string", "Longer description."),
        Column(Col.CATEGORY, "string", "Category path, levels separated by ' > '."),
        Column(Col.BRAND, "string", "Brand."),
        Column(Col.PRICE, "float", "List price.", min=0),
        Column(Col.IN_STOCK, "bool", "Whether it can be bought now."),
    ),
)

INPUT_TABLES: dict[str, Table] = {
    t.name: t for t in (_CUSTOMERS, _EVENTS, _ORDERS, _ORDER_LINES, _PRODUCTS)
}

#: identifier columns, in the default order of preference for a person's canonical id
IDENTIFIER_TYPES: tuple[str, ...] = (
    Col.CUSTOMER_ID,
    Col.CRM_ID,
    Col.PERSON_ID,
    Col.EMAIL,
    Col.PHONE,
    Col.ANONYMOUS_ID,
    Col.DEVICE_ID,
)

#: columns an e-mail or phone may be linked by once hashed
HASHED_IDENTIFIERS = frozenset({Col.EMAIL, Col.PHONE})

RETURN_STATUSES = ("cancelled", "returned")

#: rule kinds ingestion applies, their default action and meaning. A concrete rule is named
#: ``<column>_<kind>`` (``age_range``, ``ts_future``, ``country_unknown``); see
#: docs/data-quality.md.
RULES: dict[str, tuple[str, str]] = {
    "required": ("reject", "a required column is empty"),
    "type": ("reject", "a value cannot be read as the column's type"),
    "range": ("reject", "a number is outside the column's allowed range"),
    "allowed": ("reject", "a value is not in the column's vocabulary (event type, order status)"),
    "future": ("reject", "a timestamp lies more than a day after the run started"),
    "too_old": ("reject", "a timestamp lies before 1990-01-01"),
    "identity_required": ("reject", "an event names no customer, anonymous or device id"),
    "malformed": ("reject", "a line the reader cannot split into the file's columns"),
    "unknown": ("nullify", "a country that is not an ISO 3166 country: the value is removed"),
    "format": ("nullify", "an e-mail or phone that is not well formed: the value is removed"),
    "vocabulary": ("nullify", "a gender or device segmint cannot place: the value is removed"),
}

#: rule kinds whose findings cannot be fixed by removing one value; a ``nullify`` for them
#: is refused, and any finding on a required column rejects the row
REJECT_ONLY = frozenset({"required", "identity_required", "malformed"})
