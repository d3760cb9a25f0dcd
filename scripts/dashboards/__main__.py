"""`python -m scripts.dashboards generate|check`, from the repository's root."""

# argparse, not typer: two subcommands of a dev script need nothing more.
from __future__ import annotations

import argparse
import sys

import scripts.dashboards
from scripts.dashboards.output import check, generate


def main() -> int:
    parser = argparse.ArgumentParser(
        description=scripts.dashboards.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write deploy/grafana/dashboards/<name>.json")
    commands.add_parser("check", help="fail if a dashboard is stale, missing or not generated")
    options = parser.parse_args()
    return generate() if options.command == "generate" else check()


if __name__ == "__main__":
    sys.exit(main())
