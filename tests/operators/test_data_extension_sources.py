"""Staging tables read through Airflow SQL connections: real SQLite and real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from decimal import Decimal

import pytest

from airflow_provider_sfmc_de import sources
from airflow_provider_sfmc_de.operators import data_extension
from tests.operators.conftest import wait_for_results

COLUMNS = '"SubscriberKey", "EmailAddress", "FirstName", "SignupDate", "IsSubscribed"'
ROWS = 2_500
FETCH_SIZE = 400


def staging_rows(count):
    for number in range(1, count + 1):
        email = f"c{number}@example.com" if number != 7 else "broken-address"
        yield (f"S{number:06d}", email, "Zoë", dt.date(2024, 1, 1) + dt.timedelta(number), 1)


def sqlite_staging_table(path, rows, monkeypatch):
    """Write ``rows`` to a ``staging`` table in a SQLite file named by connection staging_sqlite."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            'CREATE TABLE staging ("SubscriberKey" TEXT, "EmailAddress" TEXT, '
            '"FirstName" TEXT, "SignupDate" TEXT, "IsSubscribed" INTEGER)'
        )
        connection.executemany("INSERT INTO staging VALUES (?, ?, ?, ?, ?)", rows)
    monkeypatch.setenv(
        "AIRFLOW_CONN_STAGING_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )


@pytest.fixture
def cursor_spy(monkeypatch):
    """Record the cursors the operator opens and the size of every batch it reads."""
    seen = {"server_side": [], "cursor_types": [], "batch_sizes": []}

    original_open, original_batches = sources.open_cursor, sources.cursor_batches

    def open_cursor(connection, *, server_side):
        seen["server_side"].append(server_side)
        context = original_open(connection, server_side=server_side)
        cursor = context.__enter__()
        seen["cursor_types"].append(type(cursor).__name__)

        class Wrapped:
            def __enter__(self):
                return cursor

            def __exit__(self, *exc_info):
                return context.__exit__(*exc_info)

        return Wrapped()

    def cursor_batches(cursor, sql, *, chunk_size):
        for batch in original_batches(cursor, sql, chunk_size=chunk_size):
            seen["batch_sizes"].append(len(batch.rows))
            yield batch

    monkeypatch.setattr(data_extension, "open_cursor", open_cursor)
    monkeypatch.setattr(data_extension, "cursor_batches", cursor_batches)
    return seen


def check_load(result, sfmc_default, seen):
    assert result["rows_read"] == ROWS
    assert result["rows_submitted"] == ROWS - 1
    assert result["rows_rejected"] == 1
    with open(result["rejected_rows_path"]) as report:
        [rejection] = [json.loads(line) for line in report]
    assert (rejection["row_number"], rejection["primary_key"], rejection["rule"]) == (
        7,
        "S000007",
        "email",
    )
    assert max(seen["batch_sizes"]) == FETCH_SIZE
    assert sum(seen["batch_sizes"]) == ROWS
    # Large enough for a manifest rather than inline keys.
    assert result["row_keys"] is None
    with open(result["row_keys_path"]) as manifest:
        lines = [json.loads(line) for line in manifest]
    assert [line["request_id"] for line in lines] == result["request_ids"]
    assert lines[0]["keys"][:7] == [f"S{n:06d}" for n in (1, 2, 3, 4, 5, 6, 8)]
    assert sum(len(line["keys"]) for line in lines) == ROWS - 1
    wait_for_results(result["request_ids"])
    stored = sfmc_default.rows("Demo_Customers")
    assert len(stored) == ROWS - 1
    assert stored[0]["SignupDate"] == "2024-01-02T00:00:00"
    assert stored[0]["FirstName"] == "Zoë"


def test_sqlite_staging_table(run_operator, sfmc_default, cursor_spy, tmp_path, monkeypatch):
    sqlite_staging_table(
        tmp_path / "staging.sqlite3",
        (
            (key, email, name, day.isoformat(), flag)
            for key, email, name, day, flag in staging_rows(ROWS)
        ),
        monkeypatch,
    )

    result = run_operator(
        sql="staging",
        sql_conn_id="staging_sqlite",
        on_invalid_rows="skip",
        fetch_size=FETCH_SIZE,
        batch_max_rows=1_000,
    )

    assert cursor_spy["server_side"] == [False]
    check_load(result, sfmc_default, cursor_spy)


@pytest.fixture
def postgres_table(postgres_dsn):
    import psycopg2

    table = f"staging_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(postgres_dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE {table} ("SubscriberKey" varchar(50) PRIMARY KEY, '
            '"EmailAddress" varchar(254), "FirstName" varchar(50), "SignupDate" date, '
            '"IsSubscribed" integer, "Score" numeric(6, 2))'
        )
        cursor.executemany(
            f"INSERT INTO {table} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
            list(staging_rows(ROWS)),
        )
    yield table
    with connection, connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    connection.close()


def test_postgres_staging_table_streams_through_a_server_side_cursor(
    run_operator, sfmc_default, cursor_spy, postgres_dsn, postgres_table, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_STAGING_PG", postgres_dsn)

    result = run_operator(
        sql=f'SELECT {COLUMNS} FROM {postgres_table} ORDER BY "SubscriberKey"',
        sql_conn_id="staging_pg",
        on_invalid_rows="skip",
        fetch_size=FETCH_SIZE,
        batch_max_rows=1_000,
    )

    assert cursor_spy["server_side"] == [True]
    assert cursor_spy["cursor_types"] == ["ServerCursor"]
    check_load(result, sfmc_default, cursor_spy)


def test_postgres_numeric_and_date_columns_are_converted(
    run_operator, sfmc_default, postgres_dsn, postgres_table, monkeypatch
):
    import psycopg2

    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f'UPDATE {postgres_table} SET "Score" = 12.5')
    monkeypatch.setenv("AIRFLOW_CONN_STAGING_PG", postgres_dsn)

    result = run_operator(
        data_extension_key="Demo_AllTypes",
        sql=(
            f'SELECT "SubscriberKey" AS "Id", "Score" AS "DecimalValue", '
            f'"SignupDate" AS "DateValue", "IsSubscribed" AS "BooleanValue" '
            f"FROM {postgres_table} WHERE \"SubscriberKey\" = 'S000001'"
        ),
        sql_conn_id="staging_pg",
    )

    wait_for_results(result["request_ids"])
    [stored] = sfmc_default.rows("Demo_AllTypes")
    assert stored["DecimalValue"] == str(Decimal("12.50"))
    assert stored["DateValue"] == "2024-01-02T00:00:00"
    assert stored["BooleanValue"] is True


def test_memory_grows_only_by_the_key_index_as_a_table_grows(
    run_operator, sfmc_default, tmp_path, monkeypatch
):
    """Peak Python memory for a table 4x larger grows by far less than the rows would take."""
    import tracemalloc

    from airflow_provider_sfmc_de import batching

    # Spill request bodies to disk at once, so only what the operator keeps per row remains.
    monkeypatch.setattr(batching, "SPOOL_MEMORY_BYTES", 1)
    peaks = {}
    # The first run pays for one-time imports and caches; it is not measured.
    for rows in (1_000, 5_000, 20_000):
        sqlite_staging_table(
            tmp_path / f"staging-{rows}.sqlite3",
            (
                # Sign-up dates repeat within a year, as real ones do: the date check's
                # bounded cache of distinct values then stays the same size at every row count.
                (key, f"{key}@example.com", name, day.replace(year=2024).isoformat(), flag)
                for key, _, name, day, flag in staging_rows(rows)
            ),
            monkeypatch,
        )
        tracemalloc.start()
        result = run_operator(
            sql="staging", sql_conn_id="staging_sqlite", dry_run=True, fetch_size=500
        )
        peaks[rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tracemalloc.clear_traces()
        assert result["rows_valid"] == rows

    growth_per_row = (peaks[20_000] - peaks[5_000]) / 15_000
    print(f"peak traced memory {peaks}; {growth_per_row:.0f} bytes per extra row")
    # Holding the rows would cost over 500 bytes each (a tuple and five objects); the duplicate
    # key index keeps 24 bytes a key (two hashes and a row number), briefly twice as much while
    # merging its runs. A dict of key strings would cost 130 to 190.
    assert growth_per_row < 60
