"""``ctxi sla``: service-level policies (how fast each queue's tasks are claimed and resolved)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ctxi.cli.errors import err
from ctxi.settings import get_settings

app = typer.Typer(help="Service-level policies: time to claim and to resolve per queue and band.", no_args_is_help=True)


@app.command("check")
def check(path: Annotated[Path, typer.Argument(dir_okay=False, help="A service-level policy (YAML).")]) -> None:
    """Validate a policy: every error as `file:line: what is wrong`; exit 1 if any. Shows the targets."""
    from ctxi.service_levels.policy import PolicyError, load_policy, short_duration

    queues = frozenset(get_settings().queues)
    try:
        loaded = load_policy(path, queues)
    except PolicyError as exc:
        for error in exc.errors:
            err(error)
        raise typer.Exit(1) from None
    for level in loaded.policy.levels:
        stages = ", ".join(
            f"+{stage.raise_priority_by} at claim_by" + (f"+{short_duration(stage.after)}" if stage.after else "")
            for stage in level.escalate
        )
        bands = loaded.bands_of(level)
        covers = f" ({', '.join(bands)})" if bands else " (no band: every band has a level of its own)"
        typer.echo(
            f"{level.queue:<8} {level.priority:<8} claim within {short_duration(level.claim_within):>4}, "
            f"resolve within {short_duration(level.resolve_within):>4}"
            + (f"; if unclaimed: {stages}" if stages else "")
            + covers
        )
    uncovered = sorted(queue for queue in queues if not any(level.queue == queue for level in loaded.policy.levels))
    if uncovered:
        err(f"note: no targets for {', '.join(uncovered)}: their tasks have no deadlines")
    typer.echo(f"{len(loaded.policy.levels)} levels in policy {loaded.policy.policy}: OK")
