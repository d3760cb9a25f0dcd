"""`make chaos`: the long schedule (every kind of fault on every target alone, then pairs at once)
under the simulated centre; writes docs/reliability.md when every invariant held."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from devstack.local_stack import REPO_ROOT
from helpline.logging import configure_logging
from tests.chaos.faults import schedule
from tests.chaos.report import durability_section, render
from tests.chaos.run import run_chaos


def main(
    seed: Annotated[int, typer.Option(help="Seed of the schedule's draws.")] = 1,
    mixed: Annotated[int, typer.Option(help="Steps of two faults at once, after every fault alone.")] = 6,
    report: Annotated[
        Path | None, typer.Option(help="Where to write the report (docs/reliability.md); default: print it.")
    ] = None,
) -> None:
    configure_logging("chaos", level="WARNING", fmt="console")
    steps = schedule(seed, every_target=True, mixed=mixed)
    print(f"{len(steps)} steps; the platform's logs are kept in the folder printed at the end")
    folder = Path(tempfile.mkdtemp(prefix="helpline-chaos-"))
    unique = secrets.token_hex(4)
    result = run_chaos(steps, folder, seed=seed, tenant=f"chaos{unique}", pepper=unique)
    text = render(
        result,
        f"make chaos (python -m tests.chaos --seed {seed} --mixed {mixed})",
        durability_section(REPO_ROOT / "docs" / "benchmarks.md"),
    )
    if report is not None:
        report.write_text(text)
        print(f"wrote {report}")
    else:
        print(text)
    print(f"logs: {folder}")


typer.run(main)
