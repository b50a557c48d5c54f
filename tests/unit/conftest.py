"""A schema with one field of every type, shared by the unit tests of the pure modules."""

from __future__ import annotations

import pytest

from airflow_provider_sfmc_de.schema import DataExtensionSchema

ALL_TYPES_FIELDS = [
    {"name": "Id", "type": "Text", "length": 20, "isPrimaryKey": True, "isNullable": False},
    {"name": "Name", "type": "Text", "length": 10},
    {"name": "Count", "type": "Number"},
    {"name": "Price", "type": "Decimal", "length": 6, "scale": 2},
    {"name": "Born", "type": "Date"},
    {"name": "Active", "type": "Boolean"},
    {"name": "Email", "type": "EmailAddress", "length": 254, "isNullable": False},
    {"name": "Mobile", "type": "Phone"},
    {"name": "Language", "type": "Locale"},
    {"name": "Tier", "type": "Text", "length": 10, "isNullable": False, "defaultValue": "basic"},
]


@pytest.fixture
def all_types_schema() -> DataExtensionSchema:
    fields = [dict(field, ordinal=position) for position, field in enumerate(ALL_TYPES_FIELDS)]
    return DataExtensionSchema.from_api(key="All_Types", id="de-1", name="All Types", fields=fields)
