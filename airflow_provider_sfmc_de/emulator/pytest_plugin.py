"""pytest fixtures that run the SFMC emulator as a real server on 127.0.0.1.

Active in every test session of an environment where this provider is installed. Override
``sfmc_emulator_config`` in a ``conftest.py`` to change the config the ``sfmc_emulator``
fixture starts with.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sfmc_de.emulator.config import default_config
from airflow_provider_sfmc_de.emulator.process import Emulator, run_emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture
def sfmc_emulator_config() -> dict[str, Any]:
    """The config ``sfmc_emulator`` runs with: the default (demo) config unless overridden."""
    return default_config()


@pytest.fixture
def sfmc_emulator(sfmc_emulator_config: dict[str, Any]) -> Iterator[Emulator]:
    """A fresh emulator process for one test, stopped after it."""
    with run_emulator(sfmc_emulator_config) as emulator:
        yield emulator


@pytest.fixture
def sfmc_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with configs of your own: ``sfmc_emulator_factory(config)``.

    Each call starts a new process; all are stopped after the test.
    """
    with contextlib.ExitStack() as stack:

        def start(config: dict[str, Any] | None = None, **kwargs: Any) -> Emulator:
            return stack.enter_context(run_emulator(config, **kwargs))

        yield start
