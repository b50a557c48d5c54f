"""How stored values are shown: as SFMC's rowset API prints them, and as plain Python values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_sfmc_de.schema import FieldType


def display_value(field_type: FieldType, value: Any) -> str:
    """SFMC's rowset answers give every value as text, dates US-style, null as ``""``."""
    if value is None:
        return ""
    if field_type is FieldType.BOOLEAN:
        return "True" if value else "False"
    if field_type is FieldType.DATE:
        moment = datetime.fromisoformat(value)
        hour = moment.hour % 12 or 12
        half = "AM" if moment.hour < 12 else "PM"
        return (
            f"{moment.month}/{moment.day}/{moment.year} "
            f"{hour}:{moment.minute:02d}:{moment.second:02d} {half}"
        )
    return str(value)


def plain_value(field_type: FieldType, value: Any) -> Any:
    """The stored value for tests: bool for Boolean, ISO text for Date, int for Number."""
    if value is not None and field_type is FieldType.BOOLEAN:
        return bool(value)
    return value
