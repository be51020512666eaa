"""What every command group shares: the consoles, the project file, the shared options, the
progress bars and the one error wrapper.

Kept light on purpose: ``segmint --help`` imports every command module, so nothing here (or at
the top of a command module) may import the warehouse, pandas or the API server.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segmint.config import DEFAULT_FILE, ProjectConfig, load_config
from segmint.errors import SegmintError

if TYPE_CHECKING:
    from segmint._project import Project

# piped output (CI logs, `| less`) gets room for the report tables instead of 80 columns, unless
# COLUMNS says how wide to print; tables too wide even so are printed in parts (segmint._tables)
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help=f"Project file (default: ./{DEFAULT_FILE} or a parent's)."),
]
#: the shorter ``--config`` help of the recommend and serve groups
ShortConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Project file.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Point in time: YYYY-MM-DD[ HH:MM], or now (default: the day after the data ends).",
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` in red on stderr; the exit (code 2) for the caller to raise."""
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(2)


def failures(command: Callable[P, R]) -> Callable[P, R]:
    """The one error wrapper of every command: a :class:`~segmint.errors.SegmintError` from the
    library (bad config, nothing ingested yet, a store that is down) ends the command with a
    red ``error: ...`` line on stderr and exit code 2, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SegmintError as exc:
            raise fail(str(exc)) from None

    return run


def project_config(path: Path | None) -> ProjectConfig:
    """The project file at ``path`` (default: found from the current folder up)."""
    return load_config(path)


def open_project(path: Path | None, as_of: str | None = None) -> Project:
    """The project of ``--config``, seen at ``--as-of`` when given (a date or timestamp, or
    ``now``); a date that does not parse is a usage error of ``--as-of``."""
    import segmint
    from segmint.errors import ConfigError

    project = segmint.open(project_config(path))
    if as_of is None:
        return project
    try:
        return project.as_of(as_of)
    except ConfigError:
        raise typer.BadParameter(
            f"{as_of!r} is not a date: use YYYY-MM-DD, YYYY-MM-DD HH:MM or now",
            param_hint="--as-of",
        ) from None


#: what a progress bar's ``update`` takes: a label, steps done, steps in all (each optional)
Update = Callable[..., None]


@contextmanager
def progress_bar(label: str, *, counts: bool = False) -> Iterator[Update]:
    """A transient bar on stderr: the current step's label, a bar, ``done/total`` (with
    ``counts``) and the time elapsed. Yields ``update(label=None, done=None, total=None)``."""
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    if counts:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(
            label: str | None = None, done: float | None = None, total: float | None = None
        ) -> None:
            bar.update(task, description=label, completed=done, total=total)

        yield update
