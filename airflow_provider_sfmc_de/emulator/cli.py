"""The ``sfmc-de emulator`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def add_emulator_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sfmc-de emulator --config FILE --port N``."""
    from airflow_provider_sfmc_de.emulator.server import add_arguments, run

    parser = subparsers.add_parser(
        "emulator",
        help="run a local SFMC emulator (REST API, OAuth, async rows)",
        description="Run a local Salesforce Marketing Cloud emulator. It prints its base URL "
        "once it accepts connections and runs until Ctrl+C.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)
