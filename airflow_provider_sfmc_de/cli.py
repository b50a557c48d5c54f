"""The ``sfmc-de`` command: run the local emulator, or sign in to SFMC."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sfmc-de", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    # Both modules import their heavy dependencies only when their command runs.
    from airflow_provider_sfmc_de.emulator.cli import add_emulator_command
    from airflow_provider_sfmc_de.sign_in import add_authorize_command

    add_emulator_command(commands)
    add_authorize_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
