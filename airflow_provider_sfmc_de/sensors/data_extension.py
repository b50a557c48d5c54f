"""Sensor that waits for SFMC to process Data Extension async requests and reports failed rows."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_sfmc_de.exceptions import SfmcError
from airflow_provider_sfmc_de.failed_rows import (
    FailedRowsReport,
    LoadManifest,
    check_report_path,
    record_request_results,
)
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook
from airflow_provider_sfmc_de.outcome import (
    OUTCOME_ERROR,
    OUTCOME_TIMEOUT,
    RequestWatch,
    WaitOutcome,
    count_of,
)
from airflow_provider_sfmc_de.triggers.data_extension import DataExtensionAsyncRequestTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


# The trigger reports a timeout itself, with the requests still unfinished; the deferral timeout
# is only a backstop for a trigger that stopped answering.
_DEFERRAL_TIMEOUT_MARGIN = timedelta(minutes=5)


class DataExtensionAsyncRequestSensor(BaseSensorOperator):
    """Wait until SFMC has processed Data Extension async requests; report the rows that failed.

    ``Pending``, ``Executing`` and a status answer without a ``status`` object keep waiting;
    ``Complete`` ends a request; ``Error`` is re-checked for ``error_grace_period`` seconds before
    it counts as final, since SFMC has been seen to turn it into ``Complete``; a request id SFMC
    does not know fails the task. For each request with errors, every result page is read once,
    each result is matched to its row by position, and each failed row is named by its primary key
    (when ``request_ids`` is the insert operator's return value) with SFMC's message. Rows that
    lost a SQL deadlock ("Rerun the transaction.") are counted apart as transient: they are safe
    to send again as an upsert.

    Returns a JSON-safe summary: ``requests``, ``rows_ok`` (None when row counts are unknown),
    ``rows_failed`` (transient ones included), ``transient_failures``, ``failed_rows_path``.

    :param request_ids: the async request ids to wait for: a list, or the insert operator's
        return value (its XCom), which also names failed rows by primary key. Templated.
    :param sfmc_conn_id: the Airflow connection to SFMC.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param max_failed_rows: rows that may fail before the task fails.
    :param failed_rows_path: file for the full report of failed rows, CSV (``.csv``) or JSON lines
        (``.jsonl``, ``.ndjson``, ``.json``); overwritten on each run. When not given, a
        temporary JSON lines file is made if a row fails. Templated.
    :param error_grace_period: seconds an ``Error`` status must last before it counts as final.
    """

    template_fields = ("request_ids", "failed_rows_path")
    ui_color = "#d7ecfa"
    # A reschedule would forget how long each request has been in Error; defer instead.
    valid_modes = ("poke",)

    def __init__(
        self,
        *,
        request_ids: list[str] | dict[str, Any] | str,
        sfmc_conn_id: str = SfmcHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_failed_rows: int = 0,
        failed_rows_path: str | None = None,
        error_grace_period: float = 60.0,
        poke_interval: timedelta | float = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        if max_failed_rows < 0:
            raise ValueError("max_failed_rows must not be negative.")
        if error_grace_period < 0:
            raise ValueError("error_grace_period must not be negative.")
        self.request_ids = request_ids
        self.sfmc_conn_id = sfmc_conn_id
        self.deferrable = deferrable
        self.max_failed_rows = max_failed_rows
        self.failed_rows_path = failed_rows_path
        self.error_grace_period = error_grace_period
        self._watch: RequestWatch | None = None

    @cached_property
    def hook(self) -> SfmcHook:
        return SfmcHook(sfmc_conn_id=self.sfmc_conn_id)

    @cached_property
    def manifest(self) -> LoadManifest:
        return LoadManifest.from_argument(self.request_ids)

    def execute(self, context: Context) -> Any:
        check_report_path(self.failed_rows_path)
        if not self.manifest.requests:
            self.log.info("There are no SFMC async requests to wait for.")
            return self._finish(WaitOutcome(status="done"))
        self.log.info(
            "Waiting for %s%s %s, checking every %g s for up to %g s; an Error status is "
            "re-checked for %g s.",
            count_of(len(self.manifest.requests), "SFMC async request"),
            f" into Data Extension {self.manifest.data_extension_key}"
            if self.manifest.data_extension_key
            else "",
            "in the triggerer" if self.deferrable else "in this worker",
            self.poke_interval,
            self.timeout,
            self.error_grace_period,
        )
        if self.deferrable:
            self.defer(
                trigger=DataExtensionAsyncRequestTrigger(
                    request_ids=self.manifest.request_ids,
                    sfmc_conn_id=self.sfmc_conn_id,
                    poll_interval=self.poke_interval,
                    error_grace_period=self.error_grace_period,
                    end_time=time.time() + self.timeout,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout) + _DEFERRAL_TIMEOUT_MARGIN,
            )
        self._watch = RequestWatch(
            self.manifest.request_ids, error_grace_period=self.error_grace_period
        )
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            raise AirflowSensorTimeout(f"{timeout} {self._watch.outcome().message}") from timeout

    def poke(self, context: Context) -> bool | PokeReturnValue:
        watch = self._watch
        if watch is None:
            raise RuntimeError("poke() runs only from execute(), which sets up the watch.")
        changed = False
        for request_id in watch.pending:
            status = self.hook.get_async_status(request_id)
            changed |= watch.record(request_id, status.state.name, has_errors=status.has_errors)
            if watch.finished:
                break
        if changed:
            self.log.info("%s", watch.progress())
        if not watch.finished:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(watch.outcome()))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: turn its outcome into the task's result."""
        return self._finish(WaitOutcome.from_event(event))

    def _finish(self, outcome: WaitOutcome) -> dict[str, Any]:
        """Read the results of the requests with errors, write the report, succeed or fail."""
        if outcome.status == OUTCOME_TIMEOUT:
            raise AirflowSensorTimeout(outcome.message)
        if outcome.status == OUTCOME_ERROR:
            raise SfmcError(
                f"Could not read the status of the SFMC async requests: {outcome.message}"
            )
        if outcome.not_found:
            raise AirflowFailException(
                f"SFMC does not know async request {', '.join(outcome.not_found)}: the request id "
                "is unknown, belongs to another business unit, or has expired."
            )
        self.log.info(
            "All %s finished after %.0f s: %d complete, %d with row errors, %d ended in Error.",
            count_of(len(self.manifest.requests), "SFMC async request"),
            outcome.elapsed_seconds,
            len(outcome.complete),
            len(outcome.with_errors),
            len(outcome.failed),
        )
        with FailedRowsReport(
            self.failed_rows_path, primary_key=self.manifest.primary_key
        ) as report:
            rows_ok, unaccounted = self._read_failed_rows(outcome, report)
        self.log.info(
            "SFMC stored %s; %s failed, %d of them lost a transient deadlock.%s",
            "an unknown number of rows" if rows_ok is None else count_of(rows_ok, "row"),
            count_of(report.rows_failed, "row"),
            report.transient_failures,
            f" Failed rows are listed in {report.path}." if report.path else "",
        )
        if unaccounted:
            raise AirflowFailException(
                f"SFMC ended async request {', '.join(unaccounted)} with status Error and gave no "
                "row results, so which of its rows landed is unknown."
            )
        if report.rows_failed > self.max_failed_rows:
            rows_total = None if rows_ok is None else rows_ok + report.rows_failed
            raise AirflowFailException(
                report.failure_message(rows_total=rows_total, max_failed_rows=self.max_failed_rows)
            )
        if report.rows_failed:
            self.log.warning(
                "%s failed, which max_failed_rows=%d allows.",
                count_of(report.rows_failed, "row"),
                self.max_failed_rows,
            )
        return {
            "data_extension_key": self.manifest.data_extension_key,
            "requests": len(self.manifest.requests),
            "rows_ok": rows_ok,
            "rows_failed": report.rows_failed,
            "transient_failures": report.transient_failures,
            "failed_rows_path": report.path,
        }

    def _read_failed_rows(
        self, outcome: WaitOutcome, report: FailedRowsReport
    ) -> tuple[int | None, list[str]]:
        """Read all result pages of each request with errors once; add failed rows to the report.

        Return the rows known to be stored (None when a clean request's row count is unknown)
        and the requests that ended in Error without any row result to account for their rows.
        """
        manifest = self.manifest
        clean_request_rows = [manifest.request(rid).rows for rid in outcome.complete]
        rows_ok = None if None in clean_request_rows else sum(clean_request_rows)
        unaccounted: list[str] = []
        if not outcome.needs_results:
            return rows_ok, unaccounted
        self.log.info(
            "Reading the row results of %s with errors.",
            count_of(len(outcome.needs_results), "request"),
        )
        keys = manifest.keys_for(outcome.needs_results)
        for request_id in outcome.needs_results:
            request = manifest.request(request_id)
            ended_in_error = request_id in outcome.failed
            tally = record_request_results(
                report,
                request,
                self.hook.iter_async_results(request_id),
                keys=keys.get(request_id),
                ended_in_error=ended_in_error,
            )
            if rows_ok is not None:
                rows_ok += tally.rows_ok
            if ended_in_error and request.rows is None and tally.results_read == 0:
                unaccounted.append(request_id)
        return rows_ok, unaccounted
