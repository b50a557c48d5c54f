"""Everything one running emulator holds, built from its config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_sfmc_de.emulator.auth import Grant, TokenAuthority
from airflow_provider_sfmc_de.emulator.faults import FaultSwitches
from airflow_provider_sfmc_de.emulator.jobs import AsyncProcessor
from airflow_provider_sfmc_de.emulator.processing import RowWriter
from airflow_provider_sfmc_de.emulator.responses import insufficient_privileges, not_authorized
from airflow_provider_sfmc_de.emulator.rowcheck import RowChecker
from airflow_provider_sfmc_de.emulator.stats import CallStats
from airflow_provider_sfmc_de.emulator.storage import RowStore

if TYPE_CHECKING:
    from fastapi import Request

    from airflow_provider_sfmc_de.emulator.config import (
        DataExtensionDefinition,
        EmulatorConfig,
        InstalledPackage,
    )

BEARER_PREFIX = "bearer "


class EmulatorState:
    """The installed packages, Data Extensions, rows, tokens, jobs, faults and counters.

    :param config: the checked configuration.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.packages: dict[str, InstalledPackage] = {
            package.client_id: package for package in config.installed_packages
        }
        # Customer keys are case-insensitive in SFMC, as ids are.
        self._by_key = {extension.key.lower(): extension for extension in config.data_extensions}
        self._by_id = {str(extension.id).lower(): extension for extension in config.data_extensions}
        self.store = RowStore(config.data_extensions, config.storage.path)
        account_id = config.installed_packages[0].account_id
        self.writers = {
            extension.key: RowWriter(
                checker=RowChecker(extension), store=self.store, account_id=account_id
            )
            for extension in config.data_extensions
        }
        self.auth = TokenAuthority(
            token_lifetime_seconds=config.token_lifetime_seconds,
            code_lifetime_seconds=config.authorization_code_lifetime_seconds,
        )
        self.faults = FaultSwitches(config.faults)
        self.processor = AsyncProcessor(faults=self.faults)
        self.stats = CallStats()

    def extension_by_key(self, key: str) -> DataExtensionDefinition | None:
        return self._by_key.get(key.lower())

    def extension_by_id(self, extension_id: str) -> DataExtensionDefinition | None:
        if extension_id.lower().startswith("key:"):
            return self.extension_by_key(extension_id[4:])
        return self._by_id.get(extension_id.lower())

    def authenticate(self, request: Request, *scopes: str) -> Grant:
        """Check the bearer token; it must carry at least one of ``scopes``.

        Raises the 401 (missing, unknown, expired or revoked token) or 403 (missing scope)
        answer.
        """
        header = request.headers.get("authorization", "")
        if not header.lower().startswith(BEARER_PREFIX):
            raise not_authorized()
        grant = self.auth.check_access_token(header[len(BEARER_PREFIX) :].strip())
        if grant is None:
            raise not_authorized()
        if scopes and not set(scopes) & set(grant.scopes):
            raise insufficient_privileges()
        return grant

    def start(self) -> None:
        self.processor.start()

    def stop(self) -> None:
        self.processor.stop()
        self.store.close()
