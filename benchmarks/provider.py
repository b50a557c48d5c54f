"""
The provider's load path exactly as a task runs it: the operator's own ``execute()``.

The staging table and the emulator are Airflow connections from ``AIRFLOW_CONN_...`` variables,
as a deployment would declare them. Only the scheduler is missing: the operator reads, validates,
packs and sends through its hook as it does in a task.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from airflow.models import Connection

from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook
from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from benchmarks.job import BATCH_MAX_BYTES, BATCH_MAX_ROWS, LoadCounts

if TYPE_CHECKING:
    from benchmarks.job import LoadJob

STAGING_CONN_ID = "benchmark_staging"
SFMC_CONN_ID = "benchmark_sfmc"

# Body size per request id, seen on the way into the hook; the operator's result names the rows.
_body_bytes: dict[str, int] = {}
_body_bytes_lock = threading.Lock()


def prepare(job: LoadJob) -> None:
    """Declare both connections and start counting request bodies; none of this is timed."""
    os.environ[f"AIRFLOW_CONN_{STAGING_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "sqlite", "host": job.staging_path}
    )
    os.environ[f"AIRFLOW_CONN_{SFMC_CONN_ID.upper()}"] = job.emulator["connection"]
    # Outside a task the hook looks connections up through Airflow's models, whose first use sets
    # up Airflow's database layer (a second or more, once per process); inside a task it asks the
    # Task SDK instead, in milliseconds. So that one-off setup is done before the clock starts.
    Connection.get_connection_from_secrets(SFMC_CONN_ID)
    _count_request_bodies()


def _count_request_bodies() -> None:
    # Pass each call straight through and note only the body's size: the hook's work is unchanged.
    submit = SfmcHook.submit_async_rows

    def submit_and_count(self, key, body, **kwargs):
        request_id = submit(self, key, body, **kwargs)
        with _body_bytes_lock:
            _body_bytes[request_id] = len(body)
        return request_id

    SfmcHook.submit_async_rows = submit_and_count


def load(job: LoadJob) -> LoadCounts:
    """Run the operator on the whole staging table with its default settings."""
    operator = DataExtensionInsertOperator(
        task_id="benchmark_load",
        data_extension_key=job.data_extension_key,
        sql=job.table,
        sql_conn_id=STAGING_CONN_ID,
        sfmc_conn_id=SFMC_CONN_ID,
        batch_max_rows=BATCH_MAX_ROWS,
        batch_max_bytes=BATCH_MAX_BYTES,
        rejected_rows_path=str(Path(job.work_dir) / "rejected_rows.jsonl"),
    )
    result = operator.execute(context={})
    counts = LoadCounts(rows_read=result["rows_read"])
    for request in result["requests"]:
        counts.add_request(rows=request["rows"], body_bytes=_body_bytes[request["request_id"]])
    if result["rows_rejected"]:
        raise RuntimeError(
            f"The operator rejected {result['rows_rejected']} rows of a valid staging table."
        )
    return counts
