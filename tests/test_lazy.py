"""A light core: importing a part of segmint loads only what that part needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segmint._lazy import exports

#: what no light import may pull in: charts, the API server, the warehouse engines
HEAVY = ("altair", "vl_convert", "fastapi", "uvicorn", "ibis", "duckdb", "sklearn", "pandas")


def _loaded(code: str) -> list[str]:
    """The heavy packages a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(out.splitlines()[-1]))
    return [m for m in HEAVY if m in modules]


def test_the_rule_language_loads_no_chart_server_or_warehouse() -> None:
    """Regression (issue 16, item 3): ``import segmint.segments.rules`` took 2 s and loaded
    altair, vl-convert, Ibis and DuckDB, because the package ``__init__`` above it imported
    the report; a rule checked on one profile needs none of them."""
    code = (
        "from segmint.segments.rules import Profile, compile_rule\n"
        'rule = compile_rule(\'rfm_segment in ("Champions", "Loyal") and recency_days > 60\')\n'
        "assert rule.matches(Profile(values={'rfm_segment': 'Loyal', 'recency_days': 75.0}))"
    )
    assert _loaded(code) == []


@pytest.mark.parametrize(
    "package",
    [
        "segmint.segments",
        "segmint.features",
        "segmint.realtime",
        "segmint.report",
        "segmint.privacy",
        "segmint.api",
    ],
)
def test_importing_a_package_defers_its_modules(package: str) -> None:
    """Regression (issue 16, item 3): a package ``__init__`` imported every module it
    re-exports, so naming the package loaded all of segmint's dependencies."""
    assert _loaded(f"import {package}") == []


def test_every_lazy_name_resolves() -> None:
    """Each name a lazy package lists in ``__all__`` imports (a typo would otherwise show
    only when a user first reads it)."""
    import importlib

    for package in (
        "segmint.segments",
        "segmint.segments.rules",
        "segmint.features",
        "segmint.realtime",
        "segmint.report",
        "segmint.privacy",
        "segmint.api",
    ):
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name) is not None, (package, name)
        assert set(module.__all__) <= set(dir(module))


def test_a_name_missing_from_the_imports_fails_on_import(tmp_path: Path) -> None:
    """A package whose ``__all__`` names what its TYPE_CHECKING block does not import is
    refused when it is imported, not when the name is first read."""
    init = tmp_path / "__init__.py"
    init.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from json import dumps\n"
        "__all__ = ['dumps', 'loads']\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportError, match="loads"):
        exports("pkg", str(init), ["dumps", "loads"])
    getattr_, dir_ = exports("json", str(init), ["dumps"])
    assert dir_() == ["dumps"]
    assert getattr_("dumps") is json.dumps
    with pytest.raises(AttributeError, match="nothing"):
        getattr_("nothing")


def test_serve_without_the_serve_extra_says_what_to_install(tmp_path: Path) -> None:
    """Regression (issue 16, item 3): the API server moved to the ``serve`` extra; without
    it, ``segmint serve`` must say which extra to install, not fail with a traceback."""
    config = tmp_path / "segmint.yaml"
    config.write_text("project: bare\n", encoding="utf-8")
    code = (
        "import sys\n"
        "sys.modules['fastapi'] = None  # as if the extra were not installed\n"
        "from typer.testing import CliRunner\n"
        "from segmint.cli import app\n"
        f"r = CliRunner().invoke(app, ['serve', '-c', {str(config)!r}])\n"
        "print(r.exit_code); print(r.output)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0] != "0"
    said = " ".join(out.split())  # the console wraps long lines
    assert "pip install 'segmint[serve]'" in said and "needs fastapi" in said
    assert "Traceback" not in out
