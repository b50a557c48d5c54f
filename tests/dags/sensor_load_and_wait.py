"""Load the rows given in the run's conf, then wait for SFMC in the triggerer and report failures.

Used by the sensor's end-to-end test: ``dag.test(run_conf={"rows": [...], "reports_dir": ...})``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor


@dag(
    dag_id="sensor_load_and_wait",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    params={"rows": [], "reports_dir": "/tmp/sfmc-de-reports"},
)
def sensor_load_and_wait():
    insert = DataExtensionInsertOperator(
        task_id="insert_rows",
        data_extension_key="Demo_Customers",
        rows="{{ params.rows }}",
        on_invalid_rows="skip",
        rejected_rows_path="{{ params.reports_dir }}/rejected_rows.jsonl",
    )
    DataExtensionAsyncRequestSensor(
        task_id="wait_for_sfmc",
        request_ids=insert.output,
        deferrable=True,
        poke_interval=0.2,
        timeout=120,
        error_grace_period=5,
        failed_rows_path="{{ params.reports_dir }}/failed_rows.jsonl",
    )


sensor_load_and_wait()
