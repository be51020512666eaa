"""CSV files written chunk by chunk with pyarrow, optionally gzip-compressed.

The header is plain (``a,b,c``); missing values are empty fields. Values are never quoted
except in files opened with ``quote=True`` (pyarrow then quotes every text value), which the
catalogue uses because descriptions contain commas. Gzip output has no timestamp or file
name in its header, so equal input gives equal bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pcsv

_GZIP_LEVEL = 1  # fast; the clickstream is large and compresses well anyway


class CsvFile:
    """One CSV file: a header, then the rows of every table passed to :meth:`write`."""

    def __init__(self, path: Path, columns: Sequence[str], *, quote: bool = False) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self._options = pcsv.WriteOptions(
            include_header=False, quoting_style="needed" if quote else "none"
        )
        self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._out: Any = self._raw
        if path.name.endswith(".gz"):
            self._out = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, compresslevel=_GZIP_LEVEL, mtime=0
            )
        self._out.write((",".join(self.columns) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        """Append the rows of ``table``, whose columns must be the file's in order (ValueError
        otherwise)."""
        if tuple(table.column_names) != self.columns:
            raise ValueError(f"{self.path.name}: columns {table.column_names} != {self.columns}")
        if len(table):
            pcsv.write_csv(table, self._out, self._options)
            self.rows += len(table)

    def close(self) -> None:
        """Finish the gzip stream, if any, and close the file."""
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


class RollingCsv:
    """Numbered files ``{stem}-0000{suffix}``, ``-0001``, ... of at most ``max_rows`` rows."""

    def __init__(
        self, folder: Path, stem: str, suffix: str, columns: Sequence[str], max_rows: int
    ) -> None:
        self.folder, self.stem, self.suffix = folder, stem, suffix
        self.columns = tuple(columns)
        self.max_rows = max_rows
        self.files: list[Path] = []
        self.rows = 0
        self._current: CsvFile | None = None

    def _next(self) -> CsvFile:
        if self._current is not None:
            self._current.close()
        path = self.folder / f"{self.stem}-{len(self.files):04d}{self.suffix}"
        self.files.append(path)
        self._current = CsvFile(path, self.columns)
        return self._current

    def write(self, table: pa.Table) -> None:
        """Append the rows of ``table``, starting a new file whenever the current one holds
        ``max_rows``."""
        done = 0
        while done < len(table):
            current = self._current
            if current is None or current.rows >= self.max_rows:
                current = self._next()
            take = min(len(table) - done, self.max_rows - current.rows)
            current.write(table.slice(done, take))
            done += take
        self.rows += len(table)

    def close(self) -> None:
        """Close the current file; with nothing written, write one header-only file first."""
        if self._current is None:
            self._next()  # an empty shop still gets one (header-only) events file
        assert self._current is not None
        self._current.close()
