"""The artifact store boundary: bytes under relative keys, written atomically.

A key is a relative, ``/``-separated path such as ``models/predictive/churn/v0003/model.skops``.
:class:`LocalArtifacts` keeps each key as a file under a root folder (the embedded default);
an object store implements the same :class:`ArtifactStore` protocol later, with a conditional
put (``If-None-Match: *``) for exclusive writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Protocol, runtime_checkable

from segmint.models._errors import ArtifactExistsError, ArtifactKeyError, ArtifactNotFoundError

#: one path segment: no leading dot (so no ``.``/``..`` and no temporary files), no separators
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")


@runtime_checkable
class ArtifactStore(Protocol):
    """Where models and reports are kept: bytes under relative keys.

    Implementations must make :meth:`write_bytes` atomic (a reader sees the old bytes or the
    new ones, never a part) and, with ``overwrite=False``, exclusive (of two writers racing
    for one key exactly one succeeds; the other gets :class:`ArtifactExistsError`).
    """

    def read_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; :class:`ArtifactNotFoundError` when there are none."""
        ...

    def write_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> None:
        """Store ``data`` under ``key`` atomically; ``overwrite=False`` refuses a taken key."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key inside the folder ``prefix`` (recursively), sorted; ``""`` lists all."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a key that does not exist is not an error."""
        ...


def check_key(key: str, *, allow_empty: bool = False) -> str:
    """Return ``key`` if it is a safe relative key, else raise :class:`ArtifactKeyError`.

    Examples
    --------
    >>> check_key("models/predictive/churn/v0001/model.skops")
    'models/predictive/churn/v0001/model.skops'
    >>> check_key("../etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.models._errors.ArtifactKeyError: artifact key '../etc/passwd': segment '..' ...
    """
    if not isinstance(key, str):
        raise TypeError(f"artifact key must be a str, got {type(key).__name__}")
    if key == "" and allow_empty:
        return key
    if key == "" or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ArtifactKeyError(
            f"artifact key {key!r}: expected a relative path like 'models/name/file' "
            "(not empty, no leading '/', no backslashes)"
        )
    for segment in key.split("/"):
        if not _SEGMENT.match(segment):
            raise ArtifactKeyError(
                f"artifact key {key!r}: segment {segment!r} is not allowed; segments use "
                "letters, digits and _ . = + - and do not start with '.'"
            )
    return key


class LocalArtifacts:
    """An :class:`ArtifactStore` in a local folder: key ``a/b.json`` is ``root/a/b.json``.

    Writes go to a temporary file beside the target, are flushed to disk and then renamed
    over it (``os.replace``) or, for exclusive writes, hard-linked to it (``os.link`` fails
    when the target exists, which is what makes two racing writers safe). The root is
    created on the first write.

    Parameters
    ----------
    root : Path
        The folder holding the artifacts, e.g. ``Path(".segmint")``.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = LocalArtifacts(Path(tmp.name))
    >>> store.write_bytes("reports/2026-12-01.json", b"{}")
    >>> store.read_bytes("reports/2026-12-01.json")
    b'{}'
    >>> store.list_keys("reports")
    ['reports/2026-12-01.json']
    >>> store.write_bytes("reports/2026-12-01.json", b"[]", overwrite=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.models._errors.ArtifactExistsError: artifact 'reports/2026-12-01.json' already ...
    >>> tmp.cleanup()
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalArtifacts({str(self.root)!r})"

    def _path(self, key: str, *, allow_empty: bool = False) -> Path:
        check_key(key, allow_empty=allow_empty)
        path = self.root / key
        # a symlink inside the root must not lead outside it either
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise ArtifactKeyError(
                f"artifact key {key!r} resolves outside the store root {str(root)!r}"
            )
        return path

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFoundError(f"no artifact {key!r} in {str(self.root)!r}") from None

    def write_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        # os.open honours the umask (mkstemp would leave the artifact readable by us alone)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ArtifactExistsError(
                        f"artifact {key!r} already exists in {str(self.root)!r} and is not "
                        "replaced (exclusive write)"
                    ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/"), allow_empty=True)
        if not base.is_dir():
            return []
        keys: list[str] = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = Path(folder).relative_to(self.root)
            keys.extend((rel / f).as_posix() for f in files if not f.startswith("."))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; not every platform can open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
