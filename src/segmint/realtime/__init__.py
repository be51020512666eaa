"""The real-time path: live events, the online store, live segment membership, webhooks.

Events are validated one by one (:func:`validate_event`), applied by the :class:`Processor`
(hourly windowed counters, re-evaluation of the rule segments they move, enter/exit changes),
either inline in the API request or through a Redis Stream by ``segmint worker``
(:class:`Worker`). Batch results reach the :class:`OnlineStore` through ``segmint publish``
(:func:`publish_project`). docs/serve.md is the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.realtime._bus import Entry, StreamBus
    from segmint.realtime._events import EVENT_SCHEMA, MAX_BATCH, from_wire, to_wire, validate_event
    from segmint.realtime._factory import open_bus, open_store
    from segmint.realtime._processor import (
        Outcome,
        Processor,
        RuleSet,
        identity_key,
    )
    from segmint.realtime._project import Runtime, SegmentExists, live_rules
    from segmint.realtime._publish import publish_project, seed_counters
    from segmint.realtime._store import (
        Change,
        Commit,
        Conflict,
        LiveDoc,
        OnlineStore,
        Published,
        PublishInfo,
    )
    from segmint.realtime._webhooks import Dispatcher, sign, verify
    from segmint.realtime._worker import Worker

__all__ = [
    "EVENT_SCHEMA",
    "MAX_BATCH",
    "Change",
    "Commit",
    "Conflict",
    "Dispatcher",
    "Entry",
    "LiveDoc",
    "OnlineStore",
    "Outcome",
    "Processor",
    "PublishInfo",
    "Published",
    "RuleSet",
    "Runtime",
    "SegmentExists",
    "StreamBus",
    "Worker",
    "from_wire",
    "identity_key",
    "live_rules",
    "open_bus",
    "open_store",
    "publish_project",
    "seed_counters",
    "sign",
    "to_wire",
    "validate_event",
    "verify",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
