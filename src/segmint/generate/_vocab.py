"""Vocabularies of the synthetic shop: countries, names, catalogue words, dirty values.

Everything here is static data. Weights need not sum to one; users normalize them.
All e-mail domains are reserved for documentation (RFC 2606/6761), so no generated
address can belong to a real mailbox.
"""

from __future__ import annotations

from typing import NamedTuple


class Country(NamedTuple):
    code: str
    weight: float
    written: tuple[tuple[str, float], ...]  # how the CRM writes it, with weights
    calling: str  # international calling code, no '+'
    mobile: str  # a national mobile prefix, without the trunk '0'
    locale: str  # which name list its people draw from
    cities: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "DE",
        30,
        (("DE", 5), ("Germany", 3), ("de", 1), ("Deutschland", 1)),
        "49",
        "151",
        "de",
        ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig", "Dresden"),
    ),
    Country(
        "GB",
        18,
        (("GB", 3), ("UK", 3), ("United Kingdom", 3), ("Great Britain", 1)),
        "44",
        "7700",
        "en",
        ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Edinburgh"),
    ),
    Country(
        "FR",
        12,
        (("FR", 5), ("France", 5)),
        "33",
        "6",
        "fr",
        ("Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Bordeaux", "Nantes"),
    ),
    Country(
        "NL",
        8,
        (("NL", 5), ("Netherlands", 4), ("Holland", 1)),
        "31",
        "6",
        "nl",
        ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen"),
    ),
    Country(
        "ES",
        7,
        (("ES", 5), ("Spain", 5)),
        "34",
        "6",
        "es",
        ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga"),
    ),
    Country(
        "IT",
        7,
        (("IT", 5), ("Italy", 5)),
        "39",
        "3",
        "it",
        ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze"),
    ),
    Country(
        "PL",
        5,
        (("PL", 5), ("Poland", 5)),
        "48",
        "5",
        "pl",
        ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań", "Łódź"),
    ),
    Country(
        "US",
        5,
        (("US", 3), ("USA", 4), ("United States", 3)),
        "1",
        "2",
        "en",
        ("New York", "Chicago", "Boston", "Seattle", "Austin", "San Francisco"),
    ),
    Country(
        "IE",
        2,
        (("IE", 4), ("Ireland", 4), ("EIRE", 2)),
        "353",
        "8",
        "en",
        ("Dublin", "Cork", "Galway", "Limerick"),
    ),
    Country(
        "AT",
        2,
        (("AT", 5), ("Austria", 5)),
        "43",
        "664",
        "de",
        ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck"),
    ),
    Country(
        "BE",
        1.5,
        (("BE", 5), ("Belgium", 5)),
        "32",
        "4",
        "fr",
        ("Bruxelles", "Antwerpen", "Gent", "Liège"),
    ),
    Country(
        "CH",
        1.5,
        (("CH", 5), ("Switzerland", 5)),
        "41",
        "79",
        "de",
        ("Zürich", "Genève", "Basel", "Bern", "Lausanne"),
    ),
    Country(
        "SE",
        0.5,
        (("SE", 5), ("Sweden", 5)),
        "46",
        "70",
        "nordic",
        ("Stockholm", "Göteborg", "Malmö", "Uppsala"),
    ),
    Country(
        "DK",
        0.5,
        (("DK", 5), ("Denmark", 5)),
        "45",
        "2",
        "nordic",
        ("København", "Aarhus", "Odense", "Aalborg"),
    ),
)

# locale -> (female first names, male first names, last names)
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Anna", "Lena", "Julia", "Laura", "Sophie", "Marie", "Lea", "Hannah", "Sarah", "Katrin"),
        ("Lukas", "Jonas", "Leon", "Felix", "Maximilian", "Paul", "Tim", "Jan", "Tobias", "Jörg"),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Koch",
            "Bauer",
            "Richter",
            "Klein",
            "Wolf",
            "Schröder",
        ),
    ),
    "en": (
        ("Emma", "Olivia", "Amelia", "Isla", "Grace", "Chloe", "Emily", "Jessica", "Megan"),
        ("Oliver", "Jack", "Harry", "George", "Noah", "Charlie", "James", "Thomas", "Liam"),
        (
            "Smith",
            "Jones",
            "Taylor",
            "Brown",
            "Williams",
            "Wilson",
            "Johnson",
            "Davies",
            "Evans",
            "Walsh",
            "Murphy",
            "O'Brien",
            "Clarke",
            "Wright",
        ),
    ),
    "fr": (
        ("Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Julie", "Élodie", "Claire"),
        ("Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Thomas", "Nicolas", "Théo", "Julien"),
        (
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Lefèvre",
            "Peeters",
        ),
    ),
    "nl": (
        ("Emma", "Sanne", "Lotte", "Fleur", "Anouk", "Eva", "Femke", "Noor"),
        ("Daan", "Sem", "Lars", "Bram", "Thijs", "Ruben", "Joost", "Milan"),
        (
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "Bakker",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
        ),
    ),
    "es": (
        ("Lucía", "María", "Paula", "Sofía", "Carmen", "Laura", "Marta", "Elena"),
        ("Hugo", "Pablo", "Alejandro", "Daniel", "Javier", "Carlos", "Sergio", "José"),
        (
            "García",
            "Fernández",
            "González",
            "Rodríguez",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Romero",
            "Navarro",
        ),
    ),
    "it": (
        ("Giulia", "Sofia", "Aurora", "Chiara", "Francesca", "Martina", "Sara", "Alessia"),
        ("Leonardo", "Francesco", "Alessandro", "Lorenzo", "Matteo", "Andrea", "Marco", "Luca"),
        (
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
        ),
    ),
    "pl": (
        ("Zofia", "Zuzanna", "Julia", "Maja", "Anna", "Katarzyna", "Agnieszka", "Małgorzata"),
        ("Jakub", "Antoni", "Jan", "Szymon", "Piotr", "Tomasz", "Łukasz", "Paweł"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
            "Szymański",
        ),
    ),
    "nordic": (
        ("Alice", "Maja", "Elsa", "Ida", "Freja", "Astrid", "Ingrid", "Sofie"),
        ("William", "Oskar", "Lucas", "Elias", "Magnus", "Anders", "Søren", "Erik"),
        (
            "Andersson",
            "Johansson",
            "Karlsson",
            "Nilsson",
            "Eriksson",
            "Jensen",
            "Nielsen",
            "Hansen",
            "Pedersen",
            "Sørensen",
        ),
    ),
}

EMAIL_DOMAINS: tuple[str, ...] = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "post.example",
    "inbox.example",
)

# canonical gender -> how the CRM writes it (empty handled separately)
GENDER_WRITTEN: dict[str, tuple[tuple[str, float], ...]] = {
    "female": (("F", 4), ("female", 3), ("Female", 2), ("f", 1)),
    "male": (("M", 4), ("male", 2), ("Male", 2), ("m", 2)),
    "other": (("diverse", 3), ("other", 2), ("non-binary", 1)),
}

LOYALTY_WRITTEN: tuple[tuple[str, ...], ...] = (
    (),  # not a member: empty
    ("bronze", "Bronze"),
    ("silver", "Silver", "SILVER"),
    ("gold", "Gold", "GOLD"),
    ("platinum", "Platinum"),
)

CONSENT_TRUE: tuple[str, ...] = ("true", "yes", "1")
CONSENT_FALSE: tuple[str, ...] = ("false", "no", "0")

# canonical device -> how the tracker writes it
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS: tuple[float, ...] = (0.55, 0.35, 0.10)
DEVICE_WRITTEN: dict[str, tuple[tuple[str, float], ...]] = {
    "mobile": (("mobile", 85), ("Mobile", 7), ("iPhone", 5), ("Android", 3)),
    "desktop": (("desktop", 90), ("PC", 6), ("Desktop", 4)),
    "tablet": (("tablet", 90), ("iPad", 10)),
}

CHANNELS: tuple[str, ...] = ("organic", "paid_search", "email", "social", "direct", "referral")

# share of sessions per hour of day (UTC), evenings busiest
HOUR_WEIGHTS: tuple[float, ...] = (
    1.5, 1.0, 0.6, 0.4, 0.4, 0.6, 1.2, 2.2, 3.2, 3.8, 4.0, 4.2,
    4.6, 4.4, 4.2, 4.2, 4.4, 4.8, 5.6, 6.4, 6.8, 6.2, 4.6, 2.8,
)  # fmt: skip

# --- catalogue ---------------------------------------------------------------------------

# top level -> (median price, {sub category -> leaves})
TAXONOMY: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {
    "Women": (
        55.0,
        {
            "Shoes": ("Sneakers", "Boots", "Sandals", "Heels"),
            "Clothing": ("Dresses", "Tops", "Jeans", "Jackets", "Knitwear"),
            "Bags": ("Handbags", "Backpacks", "Clutches"),
        },
    ),
    "Men": (
        50.0,
        {
            "Shoes": ("Sneakers", "Boots", "Loafers"),
            "Clothing": ("Shirts", "T-Shirts", "Jeans", "Jackets", "Hoodies"),
            "Accessories": ("Watches", "Belts", "Wallets"),
        },
    ),
    "Home": (
        35.0,
        {
            "Kitchen": ("Cookware", "Knives", "Coffee Makers", "Tableware"),
            "Living": ("Lamps", "Cushions", "Rugs", "Vases"),
            "Bedroom": ("Bedding", "Towels", "Blankets"),
        },
    ),
    "Beauty": (
        22.0,
        {
            "Skincare": ("Moisturisers", "Serums", "Cleansers"),
            "Makeup": ("Lipsticks", "Mascaras", "Foundations"),
            "Fragrance": ("Perfumes", "Body Mists"),
        },
    ),
    "Kids": (
        25.0,
        {
            "Toys": ("Building Blocks", "Puzzles", "Plush Toys", "Board Games"),
            "Clothing": ("Baby", "Girls", "Boys"),
        },
    ),
    "Sports": (
        45.0,
        {
            "Running": ("Running Shoes", "Running Apparel"),
            "Fitness": ("Yoga Mats", "Dumbbells", "Resistance Bands"),
            "Outdoor": ("Tents", "Hiking Backpacks", "Water Bottles"),
        },
    ),
    "Electronics": (
        90.0,
        {
            "Audio": ("Headphones", "Speakers", "Earbuds"),
            "Phone Accessories": ("Cases", "Chargers", "Power Banks"),
            "Computing": ("Keyboards", "Monitors", "Mice"),
        },
    ),
    "Garden": (
        30.0,
        {
            "Plants": ("Indoor Plants", "Seeds", "Pots"),
            "Tools": ("Pruners", "Watering Cans", "Gloves"),
        },
    ),
}

BRANDS: tuple[str, ...] = (
    "Nordwind",
    "Alba & Co",
    "Kestrel",
    "Linnea",
    "Brightside",
    "Oakhaven",
    "Vela",
    "Mosaik",
    "Fjell",
    "Copperleaf",
    "Lumen",
    "Marlow",
    "Tidewater",
    "Saffron Lane",
    "Halcyon",
    "Pebble",
    "Ardent",
    "Wildmoor",
)

ADJECTIVES: tuple[str, ...] = (
    "Classic",
    "Essential",
    "Everyday",
    "Premium",
    "Urban",
    "Soft",
    "Lightweight",
    "Vintage",
    "Organic",
    "Studio",
    "Heritage",
    "Compact",
    "Deluxe",
    "Eco",
)

COLOURS: tuple[str, ...] = (
    "Black",
    "White",
    "Navy",
    "Grey",
    "Beige",
    "Red",
    "Olive",
    "Sand",
    "Blue",
    "Pink",
)

QUERY_TEMPLATES: tuple[str, ...] = (
    "{leaf}",
    "{leaf}",
    "{colour} {leaf}",
    "{brand} {leaf}",
    "cheap {leaf}",
    "{leaf} sale",
    "best {leaf}",
    "{Leaf}",
)

# --- deliberately dirty values -----------------------------------------------------------

BAD_TIMESTAMPS: tuple[str, ...] = (
    "2026-13-45 10:00:00",
    "2026-02-30 08:15:00",
    "yesterday",
    "25:61:00",
    "##########",
)
TOO_OLD_TIMESTAMPS: tuple[str, ...] = (
    "1970-01-01 00:00:00",
    "1900-01-01 00:00:00",
    "1989-12-31 23:59:59",
)
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("teleport", "time_travel", "levitate")
UNKNOWN_COUNTRIES: tuple[str, ...] = ("Atlantis", "Narnia", "Wakanda", "Westeros", "Mordor")
BAD_QUANTITIES: tuple[str, ...] = ("abc", "two", "x2", "??", "one")
AGES_OVER_120: tuple[int, ...] = (121, 134, 150, 199, 250, 999)
