"""A local Salesforce Marketing Cloud that speaks the same REST API, for demos and tests.

Start it from Python with :func:`run_emulator`, from a shell with ``sfmc-de emulator``, or in
pytest with the ``sfmc_emulator`` fixture.
"""

from __future__ import annotations

from airflow_provider_sfmc_de.emulator.config import default_config
from airflow_provider_sfmc_de.emulator.process import Emulator, run_emulator

__all__ = ["Emulator", "default_config", "run_emulator"]
