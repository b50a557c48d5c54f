"""A real ``dag.test()`` run through the emulator shows no secret in output, logs or XCom.

The run happens in a process of its own, so that everything it prints is captured, as a user
running ``dag.test()`` would see it; the process then reports the secrets it held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_sfmc_de.hooks._tokens import refresh_token_variable

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "hook_secrets.py"
CONN_ID = "sfmc_hook_secrets"
REPORT_MARKER = "=== secrets held by the run ==="

RUN_AND_REPORT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models import Variable
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS

bag = DagBag(dag_folder=sys.argv[1])
assert bag.import_errors == {}, bag.import_errors
dag_run = bag.get_dag("hook_secrets").test()
with create_session() as session:
    xcoms = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id))
    xcom_values = [XComModel.deserialize_value(row) for row in xcoms]
report = {
    "state": str(dag_run.state),
    "xcoms": xcom_values,
    "access_tokens": [token.value for token in ACCESS_TOKENS._tokens.values()],
    "stored_refresh_token": Variable.get(sys.argv[2], default_var=None),
}
sys.stdout.flush()
print(sys.argv[3])
print(json.dumps(report))
"""


def test_no_secret_appears_in_a_dag_run(sfmc_emulator, monkeypatch, airflow_db):
    first_refresh_token = sfmc_emulator.issue_refresh_token()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        sfmc_emulator.connection_json("authorization_code", refresh_token=first_refresh_token),
    )
    # One retried call, so that the retry log line is part of what is checked.
    sfmc_emulator.set_faults(rate_limit={"next": 1, "path": "/status"})
    variable = refresh_token_variable(CONN_ID)

    run = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, str(DAG_FILE), variable, REPORT_MARKER],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=240,
        check=False,
    )
    output, _, report_text = run.stdout.partition(REPORT_MARKER)
    output += run.stderr
    assert run.returncode == 0, output[-3000:]
    report = json.loads(report_text)
    log_files = [path for path in (airflow_db / "logs").rglob("*") if path.is_file()]
    task_logs = "".join(path.read_text(errors="replace") for path in log_files)
    xcoms = json.dumps(report["xcoms"])
    secrets = {
        "client secret": sfmc_emulator.client_secret,
        "first refresh token": first_refresh_token,
        "rotated refresh token": report["stored_refresh_token"],
        **{f"access token {n}": token for n, token in enumerate(report["access_tokens"])},
    }

    # The run used every secret, and logged and returned what the DAG file says.
    assert report["state"] == "success"
    assert report["access_tokens"]
    assert report["stored_refresh_token"] not in (None, first_refresh_token)
    assert "Requesting an SFMC access token for connection sfmc_hook_secrets" in output
    assert "Stored the rotated refresh token" in output
    assert "retrying in" in output
    assert "Expected failure: No Data Extension" in output
    assert "SfmcHook(sfmc_conn_id='sfmc_hook_secrets'), settings SfmcConnectionSettings(" in output
    assert '"rows_ok": 1' in xcoms
    # What a real worker's log processor would print for the secrets the hook registered.
    assert '"masked": "token *** secret ***"' in xcoms
    for name, secret in secrets.items():
        assert secret not in output, f"the {name} appears in the run's output"
        assert secret not in task_logs, f"the {name} appears in a task log file"
        assert secret not in xcoms, f"the {name} appears in XCom"
