"""Use every hook call once, with the authorization-code grant, and log what a user might log.

Used by the hook's ``dag.test()`` test, which checks that no client secret, access token or
refresh token appears in the captured output, the task logs or XCom. Connection:
``sfmc_hook_secrets`` (an authorization-code connection to the emulator).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from airflow.sdk import dag, task
from airflow.sdk.log import redact

from airflow_provider_sfmc_de.exceptions import SfmcError
from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState, SfmcHook

log = logging.getLogger(__name__)


@dag(dag_id="hook_secrets", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def hook_secrets():
    @task
    def use_the_hook() -> dict:
        hook = SfmcHook("sfmc_hook_secrets", max_retry_wait=0.05, retry_base_wait=0.01)
        schema = hook.get_data_extension_schema("Demo_Customers")
        items = [{"SubscriberKey": "secret-test-1", "EmailAddress": "s1@example.com"}]
        request_id = hook.submit_async_rows("Demo_Customers", json.dumps({"items": items}).encode())
        status = hook.get_async_status(request_id)
        while status.state is not AsyncRequestState.COMPLETE:
            time.sleep(0.1)
            status = hook.get_async_status(request_id)
        results = list(hook.iter_async_results(request_id))
        ok, message = hook.test_connection()
        token = hook.get_access_token()
        # What a user debugging a DAG might print: none of it may show a secret.
        log.info("Hook %r, settings %r, token %r", hook, hook.settings, token)
        log.info("Connection test: %s %s", ok, message)
        # A real worker's log processor redacts every value the hook registered with mask_secret.
        masked = redact(f"token {token.value} secret {hook.settings.client_secret}")
        try:
            hook.get_data_extension_schema("No_Such_Data_Extension")
        except SfmcError as error:
            log.warning("Expected failure: %s", error)
        return {
            "fields": list(schema.field_names),
            "request_id": request_id,
            "rows_ok": sum(result.ok for result in results),
            "connection_test": message,
            "masked": masked,
        }

    use_the_hook()


hook_secrets()
