"""The named RFM segments: an R x FM grid on the 1..5 scale, kept as data.

Code, docs and tests read the same :data:`GRID`, so the table in docs/rfm.md and the segment a
customer gets cannot disagree (a test regenerates the doc's table from it).
"""

from __future__ import annotations

import re

#: the named segments, best first; the public order of every summary
SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)

#: grid rows: R score -> the segment of FM = 1, 2, 3, 4, 5
_ROWS: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Champions"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Lost", "At Risk", "At Risk", "Can't Lose Them"),
}

#: (r, fm) on the 1..5 scale -> segment name; all 25 cells, each one of :data:`SEGMENTS`
GRID: dict[tuple[int, int], str] = {
    (r, fm): name for r, row in _ROWS.items() for fm, name in enumerate(row, start=1)
}

#: segment -> (what its customers are, a suggested action)
MEANINGS: dict[str, tuple[str, str]] = {
    "Champions": (
        "bought recently, often and for the most",
        "reward them; early access, ask for reviews and referrals",
    ),
    "Loyal": (
        "buy often and spend well, fairly recently",
        "upsell higher-value products; loyalty programme",
    ),
    "Potential Loyalist": (
        "recent customers with average frequency and spend",
        "membership or loyalty offer; recommend related products",
    ),
    "New": (
        "bought very recently, once or for little",
        "onboarding; a good first experience and a reason to return",
    ),
    "Promising": (
        "recent buyers who have not spent much yet",
        "build the relationship: brand awareness, free trials",
    ),
    "Need Attention": (
        "average on all three; neither recent nor lapsed",
        "limited-time offers based on what they bought",
    ),
    "About to Sleep": (
        "below average recency, frequency and spend",
        "reconnect with popular products and discounts before they lapse",
    ),
    "At Risk": (
        "bought often or for a lot, but long ago",
        "personal win-back emails; remind them what they liked",
    ),
    "Can't Lose Them": (
        "used to be among the best customers, not seen for a long time",
        "win them back: new products, a call, a strong offer",
    ),
    "Hibernating": (
        "last bought long ago, rarely and for little",
        "offer relevant products and special discounts; do not over-spend",
    ),
    "Lost": (
        "lowest recency, frequency and spend",
        "a last reactivation campaign, otherwise leave them out",
    ),
}


def segment_slug(name: str) -> str:
    """The segment (membership) name of a named RFM segment: ``rfm_`` and a snake-case slug.

    Apostrophes are dropped rather than turned into a separator, so "Can't" stays one word.

    Parameters
    ----------
    name : str
        A segment name, e.g. one of :data:`SEGMENTS`.

    Returns
    -------
    str
        ``rfm_`` followed by lower-case letters, digits and single underscores.

    Examples
    --------
    >>> segment_slug("Can't Lose Them")
    'rfm_cant_lose_them'
    >>> segment_slug("Champions")
    'rfm_champions'
    >>> [segment_slug(s) for s in SEGMENTS][:3]
    ['rfm_champions', 'rfm_loyal', 'rfm_potential_loyalist']
    """
    words = re.sub(r"['\u2019]", "", name.lower())
    return "rfm_" + re.sub(r"[^a-z0-9]+", "_", words).strip("_")
