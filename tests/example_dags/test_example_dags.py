"""The example DAGs parse cleanly and run end to end against the emulator with ``dag.test()``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from sample_data import (
    DATA_EXTENSION_KEY,
    INVALID_ROWS,
    sample_customers,
    valid_subscriber_keys,
    write_table,
    wrong_case_customers,
)

from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook

EXAMPLE_DAGS_DIR = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_DAG_IDS = {
    "example_sfmc_de_xcom_rows",
    "example_sfmc_de_staging_table",
    "example_sfmc_de_upsert_changed_rows",
}
# Enough rows that every deliberately invalid row of the sample data is in the load.
STAGING_ROWS = max(invalid.row_number for invalid in INVALID_ROWS)

# Parsed in a fresh interpreter, so that warnings raised when the provider's modules are first
# imported are seen too. Airflow's own import comes first: its warnings are not the examples'.
PARSE_SCRIPT = """
import json, sys, warnings
from airflow.dag_processing.dagbag import DagBag
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": bag.import_errors,
    "warnings": [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught],
}))
"""


def test_every_example_dag_parses_without_errors_or_warnings():
    result = subprocess.run(
        [sys.executable, "-c", PARSE_SCRIPT, str(EXAMPLE_DAGS_DIR)],
        capture_output=True,
        text=True,
        check=True,
    )
    parsed = json.loads(result.stdout.strip().splitlines()[-1])

    assert parsed["import_errors"] == {}
    assert parsed["warnings"] == []
    assert set(parsed["dag_ids"]) == EXAMPLE_DAG_IDS


@pytest.fixture
def example_dags(airflow_db, monkeypatch, tmp_path):
    """Make ``example_dags/`` a DAG bundle, so ``dag.test()`` can serialize its DAGs."""
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "sfmc-de-example-dags",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(EXAMPLE_DAGS_DIR)},
        },
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    monkeypatch.setenv("AIRFLOW_VAR_SFMC_DE_REPORTS_DIR", str(tmp_path / "reports"))
    bag = DagBag(dag_folder=EXAMPLE_DAGS_DIR)
    assert bag.import_errors == {}
    # The examples poll SFMC every 15 s; the emulator answers in well under a second.
    for dag in bag.dags.values():
        dag.get_task("wait_for_sfmc").poke_interval = 0.5
    return bag


@pytest.fixture
def sfmc_connection(sfmc_emulator, monkeypatch):
    """Point the examples' ``sfmc_default`` connection at the emulator."""
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_DEFAULT", sfmc_emulator.connection_json())
    return sfmc_emulator


@pytest.fixture
def sqlite_staging(monkeypatch, tmp_path):
    """An SQLite staging database behind the examples' ``staging_db`` connection."""
    path = tmp_path / "staging.sqlite3"
    monkeypatch.setenv(
        "AIRFLOW_CONN_STAGING_DB", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    connection = sqlite3.connect(path)
    yield connection
    connection.close()


@pytest.fixture
def postgres_staging(postgres_dsn, monkeypatch):
    """A PostgreSQL staging database behind the examples' ``staging_db`` connection."""
    import psycopg2

    monkeypatch.setenv("AIRFLOW_CONN_STAGING_DB", postgres_dsn)
    connection = psycopg2.connect(postgres_dsn)
    yield connection
    connection.close()


def return_value(dag_run, task_id):
    with create_session() as session:
        xcom = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
            )
        ).first()
    assert xcom is not None, f"task {task_id} returned nothing"
    return XComModel.deserialize_value(xcom)


def stored_rows(emulator):
    return {row["SubscriberKey"]: row for row in emulator.rows(DATA_EXTENSION_KEY)}


def test_xcom_rows_example_lands_every_row(example_dags, sfmc_connection):
    dag = example_dags.get_dag("example_sfmc_de_xcom_rows")

    dag_run = dag.test()

    assert dag_run.state == DagRunState.SUCCESS
    load = return_value(dag_run, "insert_new_signups")
    assert (load["rows_read"], load["rows_submitted"], load["rows_rejected"]) == (3, 3, 0)
    stored = stored_rows(sfmc_connection)
    assert sorted(stored) == ["W000001", "W000002", "W000003"]
    assert stored["W000002"]["EmailAddress"] == "bob.stone@example.com"
    assert return_value(dag_run, "wait_for_sfmc")["rows_failed"] == 0


def run_staging_example(example_dags, table):
    dag = example_dags.get_dag("example_sfmc_de_staging_table")
    return dag.test(run_conf={"staging_table": table})


def assert_valid_rows_landed(dag_run, emulator, customers):
    assert dag_run.state == DagRunState.SUCCESS
    load = return_value(dag_run, "insert_staging_rows")
    assert load["rows_read"] == len(customers)
    assert load["rows_rejected"] == len(INVALID_ROWS)
    assert load["rows_submitted"] == len(customers) - len(INVALID_ROWS)
    with open(load["rejected_rows_path"], encoding="utf-8") as report:
        rejected = sorted((row["row_number"], row["field"]) for row in map(json.loads, report))
    assert rejected == [(invalid.row_number, invalid.field) for invalid in INVALID_ROWS]

    stored = stored_rows(emulator)
    assert set(stored) == valid_subscriber_keys(customers)
    first = customers[0]
    assert stored[first["SubscriberKey"]]["EmailAddress"] == first["EmailAddress"]
    assert return_value(dag_run, "wait_for_sfmc")["rows_failed"] == 0


def test_staging_table_example_on_sqlite_skips_invalid_rows(
    example_dags, sfmc_connection, sqlite_staging
):
    customers = sample_customers(STAGING_ROWS)
    write_table(sqlite_staging, "customers_sqlite", customers)

    dag_run = run_staging_example(example_dags, "customers_sqlite")

    assert_valid_rows_landed(dag_run, sfmc_connection, customers)


def test_staging_table_example_on_postgres_skips_invalid_rows(
    example_dags, sfmc_connection, postgres_staging
):
    customers = sample_customers(STAGING_ROWS)
    write_table(postgres_staging, "sfmc_de_example_customers", customers)

    dag_run = run_staging_example(example_dags, "sfmc_de_example_customers")

    assert_valid_rows_landed(dag_run, sfmc_connection, customers)


def test_staging_table_example_refuses_a_wrong_case_column_before_sending(
    example_dags, sfmc_connection, sqlite_staging
):
    write_table(sqlite_staging, "customers_wrong_case", wrong_case_customers())

    dag_run = run_staging_example(example_dags, "customers_wrong_case")

    assert dag_run.state == DagRunState.FAILED
    assert sfmc_connection.stats()["async_requests"] == 0
    assert stored_rows(sfmc_connection) == {}


def test_upsert_example_sends_only_the_rows_changed_in_the_data_interval(
    example_dags, sfmc_connection, sqlite_staging
):
    existing = [
        {"SubscriberKey": "C000001", "EmailAddress": "old.one@example.com", "IsSubscribed": True},
        {"SubscriberKey": "C000002", "EmailAddress": "old.two@example.com", "IsSubscribed": True},
    ]
    insert_and_wait(existing)
    changes = [
        # Changed during the run's data interval, 2025-06-01 to 2025-06-02 (UTC).
        change("C000001", "new.one@example.com", "2025-06-01T09:30:00+00:00"),
        change("C000003", "new.three@example.com", "2025-06-01T23:59:59+00:00"),
        # Outside it: the day before, and the next interval's first second.
        change("C000002", "stale.two@example.com", "2025-05-31T12:00:00+00:00"),
        change("C000004", "next.four@example.com", "2025-06-02T00:00:00+00:00"),
    ]
    write_table(sqlite_staging, "customer_changes", changes)
    dag = example_dags.get_dag("example_sfmc_de_upsert_changed_rows")

    dag_run = dag.test(logical_date=datetime_utc("2025-06-02T00:00:00"))

    assert dag_run.state == DagRunState.SUCCESS
    load = return_value(dag_run, "upsert_changed_customers")
    assert (load["mode"], load["rows_submitted"]) == ("upsert", 2)
    stored = stored_rows(sfmc_connection)
    assert sorted(stored) == ["C000001", "C000002", "C000003"]
    assert stored["C000001"]["EmailAddress"] == "new.one@example.com"
    assert stored["C000002"]["EmailAddress"] == "old.two@example.com"
    assert stored["C000003"]["EmailAddress"] == "new.three@example.com"


def change(subscriber_key, email, changed_at):
    return {
        "SubscriberKey": subscriber_key,
        "EmailAddress": email,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "IsSubscribed": False,
        "changed_at": changed_at,
    }


def datetime_utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def insert_and_wait(rows):
    """Put rows in the Data Extension before a test, through the hook as a load would."""
    hook = SfmcHook(sfmc_conn_id="sfmc_default")
    request_id = hook.submit_async_rows(
        DATA_EXTENSION_KEY, json.dumps({"items": rows}).encode(), mode="insert"
    )
    deadline = time.monotonic() + 30
    while not hook.get_async_status(request_id).is_done:
        assert time.monotonic() < deadline, "the emulator did not process the rows in 30 s"
        time.sleep(0.2)
    assert all(result.ok for result in hook.iter_async_results(request_id))


def test_staging_table_example_refuses_a_table_name_that_is_sql(example_dags, sfmc_connection):
    with pytest.raises(ValueError, match="staging_table"):
        run_staging_example(example_dags, "demo_customers; DROP TABLE demo_customers")

    assert sfmc_connection.stats()["async_requests"] == 0
