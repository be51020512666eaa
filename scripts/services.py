"""Make sure the servers the test suite talks to are up; print `export` lines for the shell.

Used by `make test`: ``eval "$(python scripts/services.py)"``. A server already answering on
its usual port (PostgreSQL 127.0.0.1:5432 with database ``test``, Redis 127.0.0.1:6379) is used
as it is; otherwise this installs it with apt-get when missing and starts a private one on
another port. Debian's Chromium is installed for the browser tests when missing. Diagnostics
go to stderr so stdout stays shell code.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_PORT, PG_OWN_PORT = 5432, 55432
REDIS_PORT, REDIS_OWN_PORT = 6379, 56379


def log(msg: str) -> None:
    print(f"[services] {msg}", file=sys.stderr)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pg_usable(url: str) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except Exception:
        return False


def apt_install(*packages: str) -> None:
    log(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=sys.stderr)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, stdout=sys.stderr
    )


def pg_bindir() -> Path:
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not roots:
        apt_install("postgresql")
        roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return roots[-1]


def start_own_postgres() -> str:
    url = f"postgresql://postgres@127.0.0.1:{PG_OWN_PORT}/test"
    if answers(PG_OWN_PORT) and pg_usable(url):
        return url
    bindir = pg_bindir()
    data = Path(tempfile.gettempdir()) / "segmint-pg"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    # initdb refuses to run as root: run the server as the postgres user.
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        [*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        stdout=sys.stderr,
    )
    subprocess.run(
        [
            *as_pg,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-o",
            f"-p {PG_OWN_PORT} -k {data} -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        ],
        check=True,
        stdout=sys.stderr,
    )
    subprocess.run(
        [*as_pg, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(PG_OWN_PORT), "test"],
        check=True,
        stdout=sys.stderr,
    )
    log(f"started a private PostgreSQL on port {PG_OWN_PORT} ({data})")
    return url


def ensure_postgres() -> str:
    url = os.environ.get("SEGMINT_TEST_PG_URL") or f"postgresql://postgres@127.0.0.1:{PG_PORT}/test"
    if pg_usable(url):
        log(f"using PostgreSQL at {url}")
        return url
    log(f"no PostgreSQL answers at {url}; starting one")
    return start_own_postgres()


def ensure_redis() -> str:
    url = os.environ.get("SEGMINT_TEST_REDIS_URL") or f"redis://127.0.0.1:{REDIS_PORT}/0"
    if answers(REDIS_PORT):
        log(f"using Redis at {url}")
        return url
    if not shutil.which("redis-server"):
        apt_install("redis-server")
    if not answers(REDIS_OWN_PORT):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(REDIS_OWN_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            stdout=sys.stderr,
        )
        for _ in range(50):
            if answers(REDIS_OWN_PORT):
                break
            time.sleep(0.1)
        log(f"started a private Redis on port {REDIS_OWN_PORT}")
    return f"redis://127.0.0.1:{REDIS_OWN_PORT}/0"


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> str:
    """Debian's Chromium for the browser tests (Playwright cannot download its own here)."""
    if not CHROMIUM.exists():
        try:
            apt_install("chromium")
        except (OSError, subprocess.CalledProcessError) as exc:
            log(f"could not install chromium ({exc}); browser tests will skip")
            return ""
    return str(CHROMIUM)


def main() -> None:
    print(f"export SEGMINT_TEST_PG_URL={ensure_postgres()}")
    print(f"export SEGMINT_TEST_REDIS_URL={ensure_redis()}")
    print(f"export SEGMINT_TEST_CHROMIUM={ensure_chromium()}")


if __name__ == "__main__":
    main()
