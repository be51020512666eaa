"""``segmint keys generate | create | list | revoke``: the key that encrypts PII, and API keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.cli._common import ShortConfigOpt, console, err, fail, failures, project_config

keys_app = typer.Typer(
    help="Keys: the one that encrypts PII (generate) and API keys (create, list, revoke).",
    no_args_is_help=True,
)


@keys_app.command("generate")
@failures
def keys_generate(
    out: Annotated[Path | None, typer.Option(help="Write to this file (mode 600).")] = None,
) -> None:
    """Print (or write) a new 256-bit key for PII encryption."""
    from segmint.privacy import generate_key, write_key_file

    if out is None:
        sys.stdout.write(generate_key() + "\n")
        return
    if out.exists():
        raise fail(f"{out} exists; segmint never overwrites a key")
    write_key_file(out)
    console.print(f"wrote {out}; now `export SEGMINT_KEY_FILE={out.resolve()}`")


@keys_app.command("create")
@failures
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="A scope (repeat for several).")
    ],
    config: ShortConfigOpt = None,
) -> None:
    """Make an API key; its token is printed once and stored only as a hash."""
    from segmint.api import create_key
    from segmint.realtime import open_store

    cfg = project_config(config)
    key, token = create_key(open_store(cfg.serve.online_store, cfg.base_dir), name, scope)
    err.print(f"key {key.key_id} ({', '.join(key.scopes)}); the token is shown only now:")
    print(token)


@keys_app.command("list")
@failures
def keys_list(
    config: ShortConfigOpt = None,
) -> None:
    """The API keys: id, name, scopes, created, revoked."""
    from segmint.api import list_keys
    from segmint.realtime import open_store

    cfg = project_config(config)
    table = Table("id", "name", "scopes", "created", "revoked")
    for k in list_keys(open_store(cfg.serve.online_store, cfg.base_dir)):
        table.add_row(
            k.key_id,
            escape(k.name),
            ", ".join(k.scopes),
            k.created_at[:19],
            (k.revoked_at or "")[:19],
        )
    print_table(console, table)


@keys_app.command("revoke")
@failures
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (segmint keys list).")],
    config: ShortConfigOpt = None,
) -> None:
    """Revoke an API key (every replica refuses it within a few seconds)."""
    from segmint.api import revoke_key
    from segmint.realtime import open_store

    cfg = project_config(config)
    key = revoke_key(open_store(cfg.serve.online_store, cfg.base_dir), key_id)
    console.print(f"revoked {key.key_id} ({escape(key.name)})")
