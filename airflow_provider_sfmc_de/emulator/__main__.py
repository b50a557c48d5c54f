"""``python -m airflow_provider_sfmc_de.emulator --config FILE --port N``."""

from __future__ import annotations

import argparse

from airflow_provider_sfmc_de.emulator.server import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_sfmc_de.emulator")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
