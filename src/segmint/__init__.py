"""segmint: customer segmentation and personalization, from raw files to unified profiles.

Importing segmint needs no server and no key: connections are made by the functions that use
them (see :func:`segmint.config.load_config` and :func:`segmint.warehouse.connect`).
"""

from __future__ import annotations

from segmint.errors import ConfigError, SegmintError

__version__ = "0.1.0"
__all__ = ["ConfigError", "SegmintError", "__version__"]
