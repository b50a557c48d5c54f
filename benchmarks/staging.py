"""Build a SQLite staging table of demo customers, the input every loader reads."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

TABLE = "Demo_Customers"
COLUMNS = ("SubscriberKey", "EmailAddress", "FirstName", "LastName", "SignupDate", "IsSubscribed")

# Mixed-origin names so the JSON carries non-ASCII text, apostrophes and hyphens as real lists do.
# fmt: off
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Mia", "Lucas",
    "Chloé", "José", "Zoë", "Björn", "Ana-Lucía", "Mateo", "Aisha", "Hiroshi", "Priya", "Wei",
    "Fatima", "Ólafur", "Siobhán", "Dmitri", "Nadia", "Kwame", "Ingrid", "Rafael", "Léa", "Omar",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Martínez",
    "O'Brien", "Müller", "Nguyen", "Kowalski", "Rossi", "Dubois", "Tanaka", "Patel", "Okafor",
    "Andersson", "van der Berg", "Smith-Jones", "Hernández", "Novak", "Kim", "Schmidt", "Silva",
)
DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "example.co.uk",
    "mail.example.org", "company.example.com",
)
# fmt: on
ASCII_FOLD = str.maketrans("éóíúáöüëñç'", "eoiuaouenc-")
FIRST_SIGNUP = date(2012, 1, 1)
SIGNUP_SPAN_DAYS = (date(2026, 11, 30) - FIRST_SIGNUP).days
MISSING_NAME_SHARE = 0.03
SUBSCRIBED_SHARE = 0.8
CHUNK_ROWS = 100_000


def create_staging_table(path: Path, rows: int, *, seed: int = 20261203) -> Path:
    """
    Write ``rows`` demo customers to a fresh SQLite file and return its path.

    Every value is valid for the ``Demo_Customers`` Data Extension, so every loader sends all
    rows; a few optional names are null, as in real exports. The same seed gives the same table.
    The table has no primary key index: staging tables are plain dumps, and the index would
    double the time to build it.
    """
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute(
            f"CREATE TABLE {TABLE} (SubscriberKey TEXT NOT NULL, EmailAddress TEXT NOT NULL, "
            "FirstName TEXT, LastName TEXT, SignupDate TEXT, IsSubscribed INTEGER)"
        )
        insert = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 6)})"
        rng = np.random.default_rng(seed)
        for first_number in range(1, rows + 1, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows + 1 - first_number)
            connection.executemany(insert, _customers(first_number, count, rng))
        connection.commit()
    finally:
        connection.close()
    return path


def _customers(first_number: int, count: int, rng: np.random.Generator) -> list[tuple]:
    # Draw every random choice for the chunk at once: per-row random calls would dominate.
    firsts = rng.integers(len(FIRST_NAMES), size=count).tolist()
    lasts = rng.integers(len(LAST_NAMES), size=count).tolist()
    domains = rng.integers(len(DOMAINS), size=count).tolist()
    no_first = (rng.random(count) < MISSING_NAME_SHARE).tolist()
    no_last = (rng.random(count) < MISSING_NAME_SHARE).tolist()
    signups = rng.integers(SIGNUP_SPAN_DAYS, size=count).tolist()
    subscribed = (rng.random(count) < SUBSCRIBED_SHARE).astype(int).tolist()
    return [
        (
            f"SUB-{number:08d}",
            f"{_EMAIL_FIRST[first]}.{_EMAIL_LAST[last]}{number}@{DOMAINS[domain]}",
            None if missing_first else FIRST_NAMES[first],
            None if missing_last else LAST_NAMES[last],
            _SIGNUP_DATES[signup],
            is_subscribed,
        )
        for number, first, last, domain, missing_first, missing_last, signup, is_subscribed in zip(
            range(first_number, first_number + count),
            firsts,
            lasts,
            domains,
            no_first,
            no_last,
            signups,
            subscribed,
            strict=True,
        )
    ]


_EMAIL_FIRST = [name.lower().translate(ASCII_FOLD) for name in FIRST_NAMES]
_EMAIL_LAST = [name.lower().translate(ASCII_FOLD).replace(" ", "") for name in LAST_NAMES]
_SIGNUP_DATES = [
    (FIRST_SIGNUP + timedelta(days=offset)).isoformat() for offset in range(SIGNUP_SPAN_DAYS)
]
