"""Operator then deferrable sensor in one ``dag.test()`` run against the emulator process.

Some rows are invalid (the operator rejects them) and one repeats a primary key SFMC already
holds (SFMC rejects it): reading the Data Extension back must show exactly the valid new rows
added, and the sensor must fail naming the duplicate by its key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_sfmc_de.emulator import default_config
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
DAG_ID = "sensor_load_and_wait"
DE_KEY = "Demo_Customers"


@pytest.fixture
def sfmc_emulator_config():
    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0.2, "executing_seconds": 0.2}
    return config


@pytest.fixture
def sfmc_default(sfmc_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_DEFAULT", sfmc_emulator.connection_json())
    return sfmc_emulator


@pytest.fixture
def dag(airflow_db):
    bag = DagBag(dag_folder=DAGS_DIR)
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


def customer(key: str, email: str | None = None) -> dict:
    return {"SubscriberKey": key, "EmailAddress": email or f"{key.lower()}@example.com"}


def insert_and_wait(rows: list[dict]) -> None:
    hook = SfmcHook()
    request_id = hook.submit_async_rows(DE_KEY, json.dumps({"items": rows}).encode())
    deadline = time.monotonic() + 60
    while not hook.get_async_status(request_id).is_done:
        assert time.monotonic() < deadline, "the emulator did not process the seed rows"
        time.sleep(0.05)


def task_state(dag_run, task_id: str) -> TaskInstanceState:
    with create_session() as session:
        return (
            session.query(TaskInstance.state)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .scalar()
        )


def return_value(dag_run, task_id: str):
    with create_session() as session:
        xcom = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
            )
        ).first()
    return None if xcom is None else XComModel.deserialize_value(xcom)


def stored_rows(emulator) -> dict[str, dict]:
    return {row["SubscriberKey"]: row for row in emulator.rows(DE_KEY)}


def test_exactly_the_valid_rows_land_and_the_duplicate_is_named(dag, sfmc_default, tmp_path):
    insert_and_wait([customer("E000001", "kept@example.com")])
    rows = [
        customer("N000001"),
        customer("X000001", "not-an-email"),
        customer("N000002"),
        customer("E000001", "overwritten@example.com"),
        {"SubscriberKey": "X000002"},
        customer("N000003"),
    ]

    dag_run = dag.test(run_conf={"rows": rows, "reports_dir": str(tmp_path)})

    load = return_value(dag_run, "insert_rows")
    assert (load["rows_read"], load["rows_rejected"], load["rows_submitted"]) == (6, 2, 4)
    stored = stored_rows(sfmc_default)
    assert sorted(stored) == ["E000001", "N000001", "N000002", "N000003"]
    assert stored["E000001"]["EmailAddress"] == "kept@example.com"

    assert dag_run.state == DagRunState.FAILED
    assert task_state(dag_run, "wait_for_sfmc") == TaskInstanceState.FAILED
    failed = [
        json.loads(line) for line in (tmp_path / "failed_rows.jsonl").read_text().splitlines()
    ]
    assert [(row["key"], row["error_code"], row["transient"]) for row in failed] == [
        ("E000001", "UnexpectedError", False)
    ]
    assert "PRIMARY KEY" in failed[0]["message"]
    # Row 4 of the load; no row number, since the rejected row 2 sits in the same request.
    assert (failed[0]["position"], failed[0]["row_number"]) == (3, None)


def test_a_clean_load_succeeds_with_the_sensor_summary(dag, sfmc_default, tmp_path):
    rows = [customer(f"C00000{number}") for number in range(1, 5)]

    dag_run = dag.test(run_conf={"rows": rows, "reports_dir": str(tmp_path)})

    assert dag_run.state == DagRunState.SUCCESS
    summary = return_value(dag_run, "wait_for_sfmc")
    assert summary == {
        "data_extension_key": DE_KEY,
        "requests": 1,
        "rows_ok": 4,
        "rows_failed": 0,
        "transient_failures": 0,
        "failed_rows_path": str(tmp_path / "failed_rows.jsonl"),
    }
    assert sorted(stored_rows(sfmc_default)) == [row["SubscriberKey"] for row in rows]
    assert (tmp_path / "failed_rows.jsonl").read_text() == ""
