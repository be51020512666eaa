"""Source readers: files (csv, csv.gz, parquet, ndjson, zip) exposed to the staging engine."""

from __future__ import annotations

from segmint.sources._files import (
    OpenedFile,
    detect_format,
    error_reason,
    expand,
    open_file,
    sha256,
)

__all__ = ["OpenedFile", "detect_format", "error_reason", "expand", "open_file", "sha256"]
