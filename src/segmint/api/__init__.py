"""The REST API (``segmint serve``): FastAPI under uvicorn, versioned under ``/v1``.

>>> from segmint.api import SCOPES
>>> sorted(SCOPES)[:2]
['admin', 'events:write']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.api._app import create_app
    from segmint.api._keys import SCOPES, ApiKey, create_key, list_keys, revoke_key

__all__ = ["SCOPES", "ApiKey", "create_app", "create_key", "list_keys", "revoke_key"]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
