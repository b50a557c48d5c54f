"""The emulator's configuration: what it declares, its defaults, and how a file is read."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_sfmc_de.emulator.faults import FaultSpecError, check_fault_spec
from airflow_provider_sfmc_de.schema import FieldType

DEFAULT_CONFIG_FILE = Path(__file__).with_name("default_config.json")

# Lengths SFMC gives a field when the definition leaves them out.
DEFAULT_LENGTHS = {
    FieldType.TEXT: 50,
    FieldType.EMAIL_ADDRESS: 254,
    FieldType.PHONE: 50,
    FieldType.LOCALE: 5,
    FieldType.DECIMAL: 18,
}
# Settings that are dictionaries of their own: a config file may give only some of their keys.
_NESTED_SETTINGS = ("processing", "limits", "storage")


class EmulatorConfigError(ValueError):
    """The emulator's configuration is not usable; the message names the setting."""


class InstalledPackage(msgspec.Struct, forbid_unknown_fields=True):
    """An SFMC installed package: one API client and what it may do."""

    client_id: str
    client_secret: str
    account_id: str
    scopes: list[str] = msgspec.field(default_factory=list)
    grant_types: list[str] = msgspec.field(default_factory=lambda: ["client_credentials"])
    redirect_uris: list[str] = msgspec.field(default_factory=list)


class FieldDefinition(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A Data Extension column, in the spelling of SFMC's ``/fields`` answer."""

    name: str
    type: FieldType
    length: int | None = None
    scale: int | None = None
    is_primary_key: bool = False
    is_nullable: bool = True
    default_value: str | None = None

    @property
    def is_required(self) -> bool:
        return self.is_primary_key or not self.is_nullable


class DataExtensionDefinition(msgspec.Struct, forbid_unknown_fields=True):
    """A Data Extension: its customer key, name, id and fields."""

    key: str
    name: str
    fields: list[FieldDefinition]
    id: str | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            # A stable id, so that a file-backed emulator keeps the same ids across restarts.
            self.id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sfmc-de-emulator:{self.key}"))
        for field in self.fields:
            if field.length is None and field.type in DEFAULT_LENGTHS:
                field.length = DEFAULT_LENGTHS[field.type]
            if field.type is FieldType.DECIMAL and field.scale is None:
                field.scale = 0
            if field.is_primary_key:
                field.is_nullable = False

    @property
    def primary_key(self) -> list[str]:
        return [field.name for field in self.fields if field.is_primary_key]


class ProcessingSettings(msgspec.Struct, forbid_unknown_fields=True):
    pickup_delay_seconds: float = 0.2
    executing_seconds: float = 0.2


class LimitSettings(msgspec.Struct, forbid_unknown_fields=True):
    max_rows_per_request: int = 32000
    max_body_bytes: int = 6_000_000


class StorageSettings(msgspec.Struct, forbid_unknown_fields=True):
    path: str | None = None


class EmulatorConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The whole configuration, checked."""

    installed_packages: list[InstalledPackage]
    data_extensions: list[DataExtensionDefinition]
    token_lifetime_seconds: float = 1079
    authorization_code_lifetime_seconds: float = 60
    processing: ProcessingSettings = msgspec.field(default_factory=ProcessingSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    results_page_size: int = 50
    faults: dict[str, Any] = msgspec.field(default_factory=dict)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)


def default_config() -> dict[str, Any]:
    """Return a fresh copy of the default configuration, to use as is or to modify."""
    return json.loads(DEFAULT_CONFIG_FILE.read_text())


def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the settings a config leaves out with their default values."""
    completed = default_config()
    for name, value in config.items():
        if name in _NESTED_SETTINGS and isinstance(value, dict):
            completed[name].update(value)
        else:
            completed[name] = copy.deepcopy(value)
    return completed


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file; settings it leaves out take their default values."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise EmulatorConfigError(f"Cannot read the emulator config {path}: {error}") from error
    if not isinstance(raw, dict):
        raise EmulatorConfigError(f"The emulator config {path} must hold a JSON object.")
    return complete_config(raw)


def parse_config(config: dict[str, Any]) -> EmulatorConfig:
    """Check a config dictionary and turn it into typed settings."""
    try:
        parsed = msgspec.convert(complete_config(config), EmulatorConfig)
    except msgspec.ValidationError as error:
        raise EmulatorConfigError(f"Invalid emulator config: {error}") from error
    try:
        check_fault_spec(parsed.faults)
    except FaultSpecError as error:
        raise EmulatorConfigError(f"Invalid emulator config: faults: {error}") from error
    if not parsed.installed_packages:
        raise EmulatorConfigError("The emulator config declares no installed package.")
    keys = [extension.key.lower() for extension in parsed.data_extensions]
    if len(keys) != len(set(keys)):
        raise EmulatorConfigError("Two Data Extensions in the emulator config share a key.")
    return parsed
