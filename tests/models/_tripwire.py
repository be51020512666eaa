"""A class that does something when it is rebuilt from a file: the stand-in for a payload.

skops rebuilds an object with ``cls.__new__`` and ``__setstate__``; a loader that let this
type through would write the marker file named in the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Tripwire:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __getstate__(self) -> dict[str, Any]:
        return {"marker": self.marker}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).write_text("executed while loading")
        self.marker = state["marker"]
