"""The operator in a real ``dag.test()`` run: templated fields, XCom input, the return value."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
DAG_ID = "operator_xcom_and_staging"


@pytest.fixture
def dag(airflow_db):
    bag = DagBag(dag_folder=DAGS_DIR / "operator_xcom_and_staging.py")
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


def return_value(dag_run, task_id):
    with create_session() as session:
        xcom = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
            )
        ).first()
    return None if xcom is None else XComModel.deserialize_value(xcom)


def test_dag_run_loads_xcom_rows_and_a_staging_table(dag, sfmc_default, tmp_path, monkeypatch):
    database = tmp_path / "staging.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute(
            'CREATE TABLE new_customers ("SubscriberKey" TEXT, "EmailAddress" TEXT, '
            '"SignupDate" TEXT)'
        )
        connection.executemany(
            "INSERT INTO new_customers VALUES (?, ?, ?)",
            [
                ("S0001", "s1@example.com", "2025-01-31"),
                ("S0002", "s2@example.com", "31/01/2025"),
                ("S0003", "s3@example.com", None),
            ],
        )
    monkeypatch.setenv(
        "AIRFLOW_CONN_STAGING_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(database)})
    )

    dag_run = dag.test(run_conf={"table": "new_customers", "reports_dir": str(tmp_path)})

    assert dag_run.state == DagRunState.SUCCESS
    from_xcom = return_value(dag_run, "insert_xcom_rows")
    assert (from_xcom["rows_read"], from_xcom["rows_submitted"]) == (2, 2)
    staged = return_value(dag_run, "insert_staging_rows")
    assert (staged["rows_read"], staged["rows_submitted"], staged["rows_rejected"]) == (3, 2, 1)
    assert staged["rejected_rows_path"] == str(tmp_path / "rejected_rows.csv")
    with open(staged["rejected_rows_path"], newline="") as report:
        [rejection] = list(csv.DictReader(report))
    assert rejection == {
        "row_number": "2",
        "primary_key": "S0002",
        "field": "SignupDate",
        "rule": "date",
        "message": "not an ISO 8601 date",
        "value_excerpt": "31/01/2025",
    }
    [keys] = staged["row_keys"].values()
    assert keys == ["S0001", "S0003"]
