"""The artifact store contract, run on every implementation (the local folder for now)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from segmint.models import (
    ArtifactExistsError,
    ArtifactKeyError,
    ArtifactNotFoundError,
    ArtifactStore,
    LocalArtifacts,
    check_key,
)
from tests.models._workers import write_exclusive

STORES: dict[str, Callable[[Path], ArtifactStore]] = {"local": LocalArtifacts}


@pytest.fixture(params=sorted(STORES))
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    return STORES[request.param](tmp_path / "artifacts")


def test_implementations_satisfy_the_protocol(any_store: ArtifactStore) -> None:
    assert isinstance(any_store, ArtifactStore)


def test_write_read_list_delete(any_store: ArtifactStore) -> None:
    any_store.write_bytes("models/churn/v0001/model.skops", b"\x00model")
    any_store.write_bytes("models/churn/v0001/metadata.json", b"{}")
    any_store.write_bytes("models/churnish/v0001/metadata.json", b"{}")
    any_store.write_bytes("reports/ingest.json", b"[]")
    assert any_store.read_bytes("models/churn/v0001/model.skops") == b"\x00model"
    assert any_store.exists("reports/ingest.json")
    assert not any_store.exists("reports/other.json")
    # a prefix is a folder: 'models/churn' does not take in 'models/churnish'
    assert any_store.list_keys("models/churn") == [
        "models/churn/v0001/metadata.json",
        "models/churn/v0001/model.skops",
    ]
    assert any_store.list_keys("models/churn/") == any_store.list_keys("models/churn")
    assert len(any_store.list_keys()) == 4
    assert any_store.list_keys("nothing/here") == []
    any_store.delete("reports/ingest.json")
    any_store.delete("reports/ingest.json")  # deleting twice is fine
    assert not any_store.exists("reports/ingest.json")
    with pytest.raises(ArtifactNotFoundError, match=r"reports/ingest\.json"):
        any_store.read_bytes("reports/ingest.json")


def test_overwrite_replaces_and_exclusive_refuses(any_store: ArtifactStore) -> None:
    any_store.write_bytes("a/pointer.json", b"1")
    any_store.write_bytes("a/pointer.json", b"2")
    assert any_store.read_bytes("a/pointer.json") == b"2"
    any_store.write_bytes("a/model.skops", b"first", overwrite=False)
    with pytest.raises(ArtifactExistsError, match=r"a/model\.skops"):
        any_store.write_bytes("a/model.skops", b"second", overwrite=False)
    assert any_store.read_bytes("a/model.skops") == b"first"
    assert any_store.list_keys("a") == ["a/model.skops", "a/pointer.json"]  # no temp files


def test_racing_exclusive_writers_one_wins(any_store: ArtifactStore) -> None:
    """Twelve threads write one key exclusively at the same moment: exactly one succeeds
    and the stored bytes are the winner's, whole."""
    start = threading.Barrier(12)
    won: list[int] = []
    lost: list[int] = []

    def write(i: int) -> None:
        start.wait()
        try:
            any_store.write_bytes("race/model.skops", bytes([i]) * 100_000, overwrite=False)
            won.append(i)
        except ArtifactExistsError:
            lost.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 11
    assert any_store.read_bytes("race/model.skops") == bytes(won) * 100_000


def test_racing_processes_one_wins(tmp_path: Path) -> None:
    """The same race between processes, which share no lock: the exclusive create in the
    file system is what keeps two trainers from taking one version number."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=write_exclusive, args=(str(tmp_path), i, start, results))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    winners = [i for i, won in outcome.items() if won]
    assert len(outcome) == 4 and len(winners) == 1
    stored = LocalArtifacts(tmp_path).read_bytes("models/predictive/churn/v0001/model.skops")
    assert stored == bytes(winners) * 200_000


@pytest.mark.parametrize(
    "key",
    [
        "../outside.txt",
        "models/../../outside.txt",
        "/etc/passwd",
        "models/./x",
        "models//x",
        "models\\..\\x",
        "C:/x",
        "",
        ".hidden/x",
        "models/x\x00.txt",
    ],
)
def test_keys_that_escape_or_are_malformed_are_refused(any_store: ArtifactStore, key: str) -> None:
    with pytest.raises(ArtifactKeyError, match="artifact key"):
        any_store.write_bytes(key, b"x")
    with pytest.raises(ArtifactKeyError):
        any_store.read_bytes(key)
    with pytest.raises(ArtifactKeyError):
        any_store.exists(key)
    with pytest.raises(ArtifactKeyError):
        any_store.delete(key)


def test_keys_of_the_registry_are_accepted() -> None:
    for key in (
        "models/predictive/purchase_intent/v0003/model.skops",
        "reports/as_of=2026-12-01/a+b.json",
    ):
        assert check_key(key) == key


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    """A link planted inside the root must not let a key read or write outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "models")
    store = LocalArtifacts(root)
    with pytest.raises(ArtifactKeyError, match="outside the store root"):
        store.read_bytes("models/secret.txt")
    with pytest.raises(ArtifactKeyError, match="outside the store root"):
        store.write_bytes("models/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_local_files_are_where_the_key_says_and_readable_by_the_group(tmp_path: Path) -> None:
    """Regression guard: temporary files made by mkstemp are 0600, so a model renamed from
    one could not be read by the service account scoring it; the umask decides instead."""
    store = LocalArtifacts(tmp_path / ".segmint")
    old = os.umask(0o022)
    try:
        store.write_bytes("models/predictive/churn/v0001/model.skops", b"m", overwrite=False)
        store.write_bytes("models/predictive/churn/production.json", b"{}")
    finally:
        os.umask(old)
    for key in (
        "models/predictive/churn/v0001/model.skops",
        "models/predictive/churn/production.json",
    ):
        path = tmp_path / ".segmint" / key
        assert path.read_bytes() in (b"m", b"{}")
        assert path.stat().st_mode & 0o777 == 0o644


def test_leftover_temporary_files_are_not_listed(tmp_path: Path) -> None:
    """A crash between writing a temporary file and renaming it leaves ``.name.xxx.tmp``
    beside the target; it is no artifact."""
    store = LocalArtifacts(tmp_path)
    store.write_bytes("m/metadata.json", b"{}")
    (tmp_path / "m" / ".model.skops.abc123.tmp").write_bytes(b"half")
    assert store.list_keys("m") == ["m/metadata.json"]
    assert not store.exists("m/model.skops")
