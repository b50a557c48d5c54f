"""Deterministic sample customers for the demo and the example DAGs' tests.

The rows fit the emulator's ``Demo_Customers`` Data Extension, except for a few that are wrong on
purpose, so that a load shows how the operator reports each kind of bad row. A second, small table
spells one column in the wrong case, to show the schema error that stops a load before it starts.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

DATA_EXTENSION_KEY = "Demo_Customers"
CUSTOMERS_TABLE = "demo_customers"
WRONG_CASE_TABLE = "demo_customers_wrong_case"
SAMPLE_SEED = 20250430

# Column name -> SQL type. Names are quoted in the DDL so that PostgreSQL keeps their case:
# Data Extension field names are case-sensitive.
CUSTOMER_COLUMNS = {
    "SubscriberKey": "TEXT",
    "EmailAddress": "TEXT",
    "FirstName": "TEXT",
    "LastName": "TEXT",
    "SignupDate": "TIMESTAMP",
    "IsSubscribed": "BOOLEAN",
}


@dataclass(frozen=True)
class InvalidRow:
    """A row that is wrong on purpose, by its 1-based position in the load."""

    row_number: int
    field: str
    problem: str


INVALID_ROWS = (
    InvalidRow(row_number=137, field="EmailAddress", problem="not an email address"),
    InvalidRow(row_number=2_481, field="SubscriberKey", problem="the primary key is missing"),
    InvalidRow(row_number=7_702, field="FirstName", problem="longer than 50 characters"),
)

_FIRST_NAMES = (
    "Alice", "Amara", "Ben", "Carlos", "Chen", "Dmitri", "Elena", "Fatima", "Grace", "Hiroshi",
    "Ines", "Jamal", "Kasia", "Liam", "Maria", "Noah", "Olga", "Priya", "Quentin", "Rosa",
    "Sven", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi", "Silva",
    "Tanaka", "Ueda", "Varga", "Wong", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
_FIRST_SIGNUP = datetime(2020, 1, 1, tzinfo=UTC)
_SIGNUP_SPAN_SECONDS = 5 * 365 * 24 * 3600


def subscriber_key(row_number: int) -> str:
    return f"C{row_number:06d}"


def sample_customers(count: int = 10_000, *, seed: int = SAMPLE_SEED) -> list[dict[str, Any]]:
    """Return ``count`` customers, the same ones for the same seed, with ``INVALID_ROWS`` spoilt.

    Rows are in load order: row number ``n`` (1-based) is ``rows[n - 1]``.
    """
    generator = random.Random(seed)
    rows = []
    for row_number in range(1, count + 1):
        first_name = generator.choice(_FIRST_NAMES)
        last_name = generator.choice(_LAST_NAMES)
        local_part = f"{first_name}.{last_name}".lower().replace("'", "").replace("ü", "u")
        signed_up = _FIRST_SIGNUP + timedelta(seconds=generator.randrange(_SIGNUP_SPAN_SECONDS))
        rows.append(
            {
                "SubscriberKey": subscriber_key(row_number),
                "EmailAddress": f"{local_part}.{row_number}@example.com",
                "FirstName": first_name,
                "LastName": last_name,
                "SignupDate": signed_up.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "IsSubscribed": generator.random() < 0.8,
            }
        )
    for invalid in INVALID_ROWS:
        if invalid.row_number <= count:
            _spoil(rows[invalid.row_number - 1], invalid.field)
    return rows


def _spoil(row: dict[str, Any], field: str) -> None:
    if field == "EmailAddress":
        row[field] = row[field].replace("@", ".at.")
    elif field == "SubscriberKey":
        row[field] = None
    elif field == "FirstName":
        row[field] = "Maximiliana-Alexandrina-Konstantina-Wilhelmina-Bartholomea"
    else:
        raise ValueError(f"no way to spoil field {field!r}")


def valid_subscriber_keys(rows: Iterable[dict[str, Any]]) -> set[str]:
    """The keys of the rows a load should deliver: every row not in ``INVALID_ROWS``."""
    invalid_numbers = {invalid.row_number for invalid in INVALID_ROWS}
    return {
        row["SubscriberKey"]
        for row_number, row in enumerate(rows, start=1)
        if row_number not in invalid_numbers
    }


def wrong_case_customers(count: int = 5) -> list[dict[str, Any]]:
    """A few valid customers whose email column is spelled ``emailaddress``."""
    return [
        {("emailaddress" if name == "EmailAddress" else name): value for name, value in row.items()}
        for row in sample_customers(count, seed=SAMPLE_SEED + 1)
    ]


def write_table(connection: Any, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Replace ``table`` with ``rows`` through a DB-API connection (sqlite3 or psycopg2).

    The columns are those of the first row, typed as in ``CUSTOMER_COLUMNS``.
    """
    columns = list(rows[0])
    placeholder = "?" if isinstance(connection, sqlite3.Connection) else "%s"
    definitions = ", ".join(
        f'"{column}" {CUSTOMER_COLUMNS.get(column, CUSTOMER_COLUMNS["EmailAddress"])}'
        for column in columns
    )
    quoted = ", ".join(f'"{column}"' for column in columns)
    cursor = connection.cursor()
    cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
    cursor.execute(f'CREATE TABLE "{table}" ({definitions})')
    cursor.executemany(
        f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join([placeholder] * len(columns))})',
        [tuple(row[column] for column in columns) for row in rows],
    )
    connection.commit()


def write_demo_tables(connection: Any, count: int = 10_000) -> list[dict[str, Any]]:
    """Create both demo tables; return the customers written to ``CUSTOMERS_TABLE``."""
    customers = sample_customers(count)
    write_table(connection, CUSTOMERS_TABLE, customers)
    write_table(connection, WRONG_CASE_TABLE, wrong_case_customers())
    return customers
