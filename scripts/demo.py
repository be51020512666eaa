"""`make demo`: the main job on embedded defaults, no server needed.

Ingests the UCI Online Retail example (541,909 real invoice lines) into an embedded DuckDB
warehouse, prints the data-quality report and a summary of the unified customers, then
trains a predictive model (who orders again within 30 days), computes the segments (RFM
tiers, a clustering, the model's scores, rule segments), writes the segments report, then
compares the recommenders offline, writes each customer's top 10 and shows a few with reasons,
and finally publishes it all to the online store, starts the API and calls it with curl.
Without the datasets (SEGMINT_DATA or ../shared/data) it generates a synthetic shop instead,
which also exercises PII encryption, CRM duplicates and anonymous visitors who log in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
console = Console()


def segmint(*args: str) -> None:
    cmd = [str(BIN / "segmint"), *args]
    console.print(f"[dim]$ segmint {' '.join(args)}[/]")
    subprocess.run(cmd, check=True, cwd=REPO)


def data_dir() -> Path | None:
    for cand in (os.environ.get("SEGMINT_DATA"), str(REPO.parent / "shared" / "data")):
        if cand and (Path(cand) / "online_retail" / "online_retail.csv.gz").is_file():
            return Path(cand)
    return None


def main() -> None:
    home = REPO / ".segmint"
    home.mkdir(exist_ok=True)
    key = home / "demo.key"
    if not os.environ.get("SEGMINT_KEY") and not os.environ.get("SEGMINT_KEY_FILE"):
        from segmint.privacy import write_key_file

        write_key_file(key)
        os.environ["SEGMINT_KEY_FILE"] = str(key)
        console.print(
            f"[yellow]demo:[/] PII is encrypted with a local key created at {key} "
            "(for real data, make your own: `segmint keys generate`)."
        )
    data = data_dir()
    if data is not None:
        os.environ["SEGMINT_DATA"] = str(data)
        config = REPO / "examples" / "online_retail" / "segmint.yaml"
        console.print(Rule(f"Online Retail (UCI, real data from {data})"))
    else:
        console.print(
            "[yellow]demo:[/] the public datasets were not found (set SEGMINT_DATA); "
            "using a synthetic shop instead."
        )
        shop = home / "demo-shop"
        shutil.rmtree(shop, ignore_errors=True)
        segmint("generate", "--out", str(shop), "--customers", "2000", "--days", "60")
        config = shop / "segmint.yaml"
    # a fresh warehouse each time, so the demo always shows a first full load
    shutil.rmtree(config.parent / ".segmint", ignore_errors=True)
    segmint("validate", "-c", str(config))
    segmint("ingest", "-c", str(config))
    console.print(Rule("Unified customers"))
    segmint("customers", "-c", str(config))
    console.print(Rule("Run it again: nothing is loaded twice"))
    segmint("ingest", "-c", str(config))
    model = _first_model(config)
    if model:
        console.print(Rule(f"A predictive model: {model}"))
        segmint("train", model, "-c", str(config))
    console.print(Rule("Segments: features, RFM tiers, a clustering, scores and rule segments"))
    month_before = _month_before_end(config)
    if month_before:
        segmint("segment", "-c", str(config), "--as-of", month_before)
        console.print(Rule("A month later: who entered and who left each segment"))
    segmint("segment", "-c", str(config))
    first_rule = _first_rule(config)
    if first_rule:
        segmint("segments", "show", first_rule, "-c", str(config), "--limit", "5")
    segmint("report", "-c", str(config))
    console.print(Rule("Recommendations: every model against popularity, then top 10 each"))
    segmint("recommend", "train", "-c", str(config))
    picks = _customers_to_show(config)
    if picks:
        console.print(Rule("What a few real customers are shown, and why"))
        segmint("recommend", "show", *picks, "-c", str(config), "--k", "5")
    console.print(Rule("Live: publish to the online store, serve the API, talk to it"))
    segmint("publish", "-c", str(config))
    serve_and_show(config, picks[0] if picks else None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_show(config: Path, customer: str | None) -> None:
    """Start `segmint serve`, run a few curl calls against it (they are printed to copy),
    then stop (or keep serving with SEGMINT_DEMO_SERVE=1)."""
    import time
    import urllib.request

    key = subprocess.run(
        [str(BIN / "segmint"), "keys", "create", "demo", "-c", str(config), "-s", "admin"],
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "segmint"), "serve", "-c", str(config), "--port", str(port)], cwd=REPO
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        who = customer or "someone-new"
        auth = f"Authorization: Bearer {key}"
        event = (
            '{"events": [{"event_id": "demo-1", "event_type": "product_view", '
            '"anonymous_id": "visitor-42", "product_id": "85123A"}]}'
        )
        calls = [
            ["curl", "-s", f"{base}/readyz"],
            ["curl", "-s", "-H", auth, f"{base}/v1/customers/{who}/segments"],
            ["curl", "-s", "-H", auth, f"{base}/v1/recommendations/{who}?k=3"],
            ["curl", "-s", "-H", auth, f"{base}/v1/recommendations/someone-new?k=3"],
            [
                "curl",
                "-s",
                "-H",
                auth,
                "-H",
                "Content-Type: application/json",
                "-d",
                event,
                f"{base}/v1/events",
            ],
            ["curl", "-s", "-H", auth, f"{base}/v1/segments/frequent_buyers/members?limit=5"],
        ]
        for cmd in calls:
            shown = " ".join(f"'{c}'" if " " in c or "{" in c else c for c in cmd)
            console.print(f"[dim]$ {shown}[/]")
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            console.print_json(out) if out.startswith("{") else console.print(out)
        console.print(f"API docs: {base}/docs · the key above has every scope (admin)")
        if os.environ.get("SEGMINT_DEMO_SERVE") == "1":
            console.print("[green]serving; Ctrl-C stops it[/]")
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=10)
    console.print(f"start it again with: segmint serve -c {config.relative_to(REPO)}")


def _customers_to_show(config: Path) -> list[str]:
    """Two customers with a long history, one with a thin one and one nobody knows."""
    from segmint.config import load_config
    from segmint.warehouse import connect

    cfg = load_config(config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table("recommendations"):
            return []
        t = wh.table("recommendations")
        picks: list[str] = []
        for strategy, n in (("blend", 2), ("thin_history", 1)):
            some = t.filter(t.strategy == strategy).select("customer_id").distinct()
            rows = wh.to_arrow(some.order_by("customer_id").limit(n)).column(0).to_pylist()
            picks += [str(r) for r in rows]
    return [*picks, "someone-new"]


def _month_before_end(config: Path) -> str | None:
    """The date 30 days before the day after the data ends, so history has two points."""
    from datetime import timedelta

    from segmint.config import load_config
    from segmint.features import data_end
    from segmint.warehouse import connect

    cfg = load_config(config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        end = data_end(wh)
    return None if end is None else (end - timedelta(days=30)).strftime("%Y-%m-%d")


def _first_model(config: Path) -> str | None:
    from segmint.config import load_config

    models = [m for m in load_config(config).models if m.entity == "customer"]
    return models[0].name if models else None


def _first_rule(config: Path) -> str | None:
    from segmint.config import load_config

    segments = load_config(config).segments
    return segments[0].name if segments else None


if __name__ == "__main__":
    main()
