"""segmint: customer segmentation and personalization, from raw files to unified profiles.

``segmint.open(path)`` gives a :class:`Project`, the front door to everything segmint does
(docs/library.md). Importing segmint needs no server and no key, and loads nothing heavy:
each part is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports
from segmint.errors import ConfigError, SegmintError

if TYPE_CHECKING:
    from segmint._project import Models, Project, SegmentInfo, Segments
    from segmint._project import open as open
    from segmint.config import ProjectConfig, load_config

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "Models",
    "Project",
    "ProjectConfig",
    "SegmentInfo",
    "Segments",
    "SegmintError",
    "__version__",
    "load_config",
    "open",
]
__getattr__, __dir__ = exports(__name__, __file__, [n for n in __all__ if n not in globals()])
