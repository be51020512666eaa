"""Fixtures of the API tests: one real project per xdist worker, served by ``uvicorn``.

The project is the synthetic shop a user starts from (``segmint generate``, ``ingest``,
``segment``, ``publish``), built once per worker in its temporary folder. Each server runs in
a subprocess over a *copy* of it, so what one server's tests write (events, segments) never
reaches another's, and tests talk to it over real HTTP with ``httpx``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from segmint.api import create_key
from segmint.cli import app
from segmint.config import load_config
from segmint.realtime import OnlineStore, open_store

RUNNER = CliRunner()
#: the keys every server knows, by role: the scopes each holds
ROLES: dict[str, list[str]] = {
    "admin": ["admin"],
    "writer": ["events:write"],
    "reader": ["profiles:read", "segments:read"],
    "segments_admin": ["segments:admin", "segments:read"],
}
#: settings of the developer's shell that must not reach a command or a server
_STRAY = ("SEGMINT_WAREHOUSE", "SEGMINT_KEY", "SEGMINT_KEY_FILE", "SEGMINT_PROJECT")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def uid(prefix: str) -> str:
    """An identifier no other test uses (ids in the shop look like C0000123)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ago(minutes: float) -> str:
    """An ISO 8601 time ``minutes`` before now."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def purchase(cid: str, ts: str, event_id: str | None = None) -> dict[str, Any]:
    """A purchase event of ``cid`` at ``ts`` (ISO 8601), 12.50 of SKU-1."""
    return {
        "event_id": event_id or uid("buy"),
        "event_type": "purchase",
        "customer_id": cid,
        "product_id": "SKU-1",
        "price": 12.5,
        "quantity": 1,
        "ts": ts,
    }


@dataclass(frozen=True)
class Project:
    """A project folder (``segmint.yaml`` and its ``.segmint``) and its PII key file."""

    config: Path
    key_file: Path

    def segmint(self, *args: object, code: int = 0) -> Result:
        """Run ``segmint ARGS`` in-process with this project's key; check the exit code."""
        argv = [str(a) for a in args]
        env: dict[str, str | None] = {v: None for v in _STRAY}
        env["SEGMINT_KEY_FILE"] = str(self.key_file)
        result = RUNNER.invoke(app, argv, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            tb = "".join(traceback.format_exception(*result.exc_info))
            pytest.fail(f"`segmint {' '.join(argv)}` crashed:\n{tb}")
        cmd = " ".join(argv)
        why = f"`segmint {cmd}` exit {result.exit_code}:\n{result.output}"
        assert result.exit_code == code, why
        return result

    def store(self) -> OnlineStore:
        """The project's online store, as the server opens it."""
        cfg = load_config(self.config)
        return open_store(cfg.serve.online_store, cfg.base_dir)

    def copy(self, dest: Path, serve_yaml: str = "") -> Project:
        """A copy of the project at ``dest``, with ``serve_yaml`` (a ``serve:`` section)
        appended to its project file. Copy only a project no server has open."""
        folder = dest / "shop"
        shutil.copytree(self.config.parent, folder)
        config = folder / self.config.name
        if serve_yaml:
            config.write_text(config.read_text() + "\n" + serve_yaml, encoding="utf-8")
        return Project(config, self.key_file)


@dataclass(frozen=True)
class Shop:
    """The built project of this worker and the token of each role's key."""

    project: Project
    tokens: dict[str, str]


def _build(root: Path) -> Shop:
    key = root / "k.key"
    shop = root / "shop"
    bare = Project(shop / "segmint.yaml", key)
    bare.segmint("keys", "generate", "--out", key)
    bare.segmint("generate", "--out", shop, "--customers", 300, "--days", 30)
    for step in ("ingest", "segment", "publish"):
        bare.segmint(step, "-c", bare.config)
    store = bare.store()
    try:
        tokens = {role: create_key(store, role, scopes)[1] for role, scopes in ROLES.items()}
    finally:
        store.close()
    return Shop(bare, tokens)


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The synthetic shop (300 customers, 30 days) ingested, segmented and published; built
    once per xdist worker. Servers run over copies, never over this folder."""
    return _build(tmp_path_factory.mktemp("built"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """``uvicorn`` serving one project in a subprocess on 127.0.0.1."""

    project: Project
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        for _ in range(3):  # another process may take the free port before uvicorn binds it
            if self._try_start(timeout):
                return
        raise RuntimeError(f"uvicorn did not start:\n{self.log.read_text()[-3000:]}")

    def _try_start(self, timeout: float) -> bool:
        env = {k: v for k, v in os.environ.items() if k not in _STRAY + _PROXIES}
        env.update(
            SEGMINT_PROJECT=str(self.project.config),
            SEGMINT_KEY_FILE=str(self.project.key_file),
            OPENBLAS_NUM_THREADS="1",
            **self.env,
        )
        self.port = _free_port()
        cmd = [sys.executable, "-m", "uvicorn", "segmint.api._server:app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"uvicorn did not answer in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@dataclass
class Api:
    """A running server, its project and the tokens of the roles."""

    server: Server
    project: Project
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str | None = "admin", **headers: str) -> httpx.Client:
        """A client sending ``role``'s key as a Bearer token (None: no key)."""
        if role is not None:
            headers.setdefault("Authorization", f"Bearer {self.tokens[role]}")
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False)


@contextmanager
def served(
    shop: Shop, folder: Path, serve_yaml: str = "", env: dict[str, str] | None = None
) -> Iterator[Api]:
    """A server over a fresh copy of ``shop`` in ``folder``; stopped on exit."""
    project = shop.project.copy(folder, serve_yaml)
    server = Server(project, folder / "uvicorn.log", dict(env or {}))
    server.start()
    try:
        yield Api(server, project, shop.tokens)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The server most tests share (default ``serve:`` settings)."""
    with served(shop, tmp_path_factory.mktemp("main")) as running:
        yield running


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    """A client of :func:`api` with the admin key."""
    with api.client("admin") as client:
        yield client


@pytest.fixture
def store(api: Api) -> Iterator[OnlineStore]:
    """The online store of :func:`api`, opened by the test (as a second process would)."""
    s = api.project.store()
    try:
        yield s
    finally:
        s.close()


def post_events(client: httpx.Client, *events: Any) -> dict[str, Any]:
    """POST ``events`` as one batch; the answer's body (checked to be a 200)."""
    r = client.post("/v1/events", json={"events": list(events)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
