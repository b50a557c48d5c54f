"""Load rows into a Data Extension through SFMC's asynchronous bulk API, checked first."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_sfmc_de.batching import (
    MAX_ROWS_PER_REQUEST,
    MIN_BODY_BYTES,
    RequestPacker,
    RequestSpool,
)
from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError, SfmcError
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook
from airflow_provider_sfmc_de.reports import (
    RejectedRowsReport,
    summarize,
    temporary_path,
    write_row_keys_manifest,
)
from airflow_provider_sfmc_de.sources import (
    DEFAULT_CHUNK_SIZE,
    cursor_batches,
    dataframe_batches,
    open_cursor,
    record_batches,
)
from airflow_provider_sfmc_de.validation import RowValidator, SchemaMismatchError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import Context

    from airflow_provider_sfmc_de.batching import SpooledRequest
    from airflow_provider_sfmc_de.schema import DataExtensionSchema
    from airflow_provider_sfmc_de.sources import RowBatch

PROGRESS_LOG_SECONDS = 10.0
DEFAULT_MAX_INLINE_ROW_KEYS = 1_000


class DataExtensionInsertOperator(BaseOperator):
    """Check rows against a Data Extension's schema, then send them as packed async requests.

    Rows come from ``rows`` (a list of dicts or a pandas DataFrame, usually an XCom) or from
    ``sql`` read through any Airflow SQL connection in chunks. Every row is checked against the
    schema SFMC reports for the Data Extension before the first request is sent; every rejected
    row is written to a report naming its row number, primary key, field and rule.

    The return value (XCom) names each request SFMC accepted and the primary keys of its rows
    in order, inline for small loads or in a JSON lines manifest for large ones, so that
    ``DataExtensionAsyncRequestSensor`` can name a row SFMC later fails by its key.

    :param data_extension_key: the Data Extension's customer key (external key).
    :param rows: a list of dicts or a pandas DataFrame whose column names are field names,
        exactly as the Data Extension spells them. Exclusive with ``sql``.
    :param sql: a table name or a SELECT statement whose columns are field names.
        Exclusive with ``rows``; needs ``sql_conn_id``.
    :param sql_conn_id: an Airflow connection of any SQL database common-sql supports.
    :param mode: ``"insert"`` (POST; a row whose primary key exists fails in SFMC) or
        ``"upsert"`` (PUT; such a row is updated).
    :param sfmc_conn_id: the ``sfmc`` connection.
    :param on_invalid_rows: ``"fail"``: if any row is invalid, send nothing and fail;
        ``"skip"``: send the valid rows and report the others.
    :param dry_run: check and report every row, send nothing.
    :param batch_max_rows: most rows in one request (at most 32,000).
    :param batch_max_bytes: most bytes in one request body.
    :param max_parallel_requests: requests in flight at once. Salesforce advises loading one
        Data Extension one request at a time.
    :param rejected_rows_path: file for the report of rejected rows, CSV if it ends in ``.csv``,
        JSON lines otherwise; a temporary file when not given.
    :param row_keys_path: file for the JSON lines manifest of each request's primary keys; a
        temporary file when not given and the load is too large to list its keys inline.
    :param max_inline_row_keys: loads of up to this many rows list their keys in the return
        value itself; larger ones write the manifest.
    :param fetch_size: rows fetched from the database (and checked) at a time.
    """

    template_fields: Sequence[str] = (
        "data_extension_key",
        "rows",
        "sql",
        "rejected_rows_path",
        "row_keys_path",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "rows": "py"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        data_extension_key: str,
        rows: Any = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        mode: Literal["insert", "upsert"] = "insert",
        sfmc_conn_id: str = SfmcHook.default_conn_name,
        on_invalid_rows: Literal["fail", "skip"] = "fail",
        dry_run: bool = False,
        batch_max_rows: int = 2_500,
        batch_max_bytes: int = 5_500_000,
        max_parallel_requests: int = 1,
        rejected_rows_path: str | None = None,
        row_keys_path: str | None = None,
        max_inline_row_keys: int = DEFAULT_MAX_INLINE_ROW_KEYS,
        fetch_size: int = DEFAULT_CHUNK_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (rows is None) == (sql is None):
            raise SfmcConfigurationError("Give either rows or sql (with sql_conn_id), not both.")
        if sql is not None and not sql_conn_id:
            raise SfmcConfigurationError("sql needs sql_conn_id, the connection to read it from.")
        if mode not in ("insert", "upsert"):
            raise SfmcConfigurationError(f"mode must be 'insert' or 'upsert', not {mode!r}.")
        if on_invalid_rows not in ("fail", "skip"):
            raise SfmcConfigurationError(
                f"on_invalid_rows must be 'fail' or 'skip', not {on_invalid_rows!r}."
            )
        if not 1 <= batch_max_rows <= MAX_ROWS_PER_REQUEST:
            raise SfmcConfigurationError(
                f"batch_max_rows must be between 1 and {MAX_ROWS_PER_REQUEST}, "
                f"not {batch_max_rows}."
            )
        if batch_max_bytes < MIN_BODY_BYTES:
            raise SfmcConfigurationError(
                f"batch_max_bytes must be at least {MIN_BODY_BYTES}, not {batch_max_bytes}."
            )
        if max_parallel_requests < 1:
            raise SfmcConfigurationError("max_parallel_requests must be at least 1.")
        if fetch_size < 1:
            raise SfmcConfigurationError("fetch_size must be at least 1.")
        self.data_extension_key = data_extension_key
        self.rows = rows
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.mode = mode
        self.sfmc_conn_id = sfmc_conn_id
        self.on_invalid_rows = on_invalid_rows
        self.dry_run = dry_run
        self.batch_max_rows = batch_max_rows
        self.batch_max_bytes = batch_max_bytes
        self.max_parallel_requests = max_parallel_requests
        self.rejected_rows_path = rejected_rows_path
        self.row_keys_path = row_keys_path
        self.max_inline_row_keys = max_inline_row_keys
        self.fetch_size = fetch_size

    @cached_property
    def hook(self) -> SfmcHook:
        return SfmcHook(sfmc_conn_id=self.sfmc_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        started = time.monotonic()
        schema = self.hook.get_data_extension_schema(self.data_extension_key)
        self.log.info(
            "Data Extension %s has %d fields; primary key: %s.",
            schema.key,
            len(schema.fields),
            ", ".join(schema.primary_key) or "none",
        )
        packer = RequestPacker(max_rows=self.batch_max_rows, max_bytes=self.batch_max_bytes)
        with RejectedRowsReport(self.rejected_rows_path) as report, RequestSpool() as spool:
            # The source is read once, in full, and closed before the first request is sent.
            with self._row_batches() as (batches, strict_columns):
                validator = RowValidator(
                    schema,
                    on_rejection=report.add,
                    max_row_bytes=packer.max_row_bytes,
                    strict_columns=strict_columns,
                )
                self._check_and_pack(batches, validator, packer, spool)
            report.close()
            self._handle_rejections(validator, report)
            if self.dry_run:
                self.log.info(
                    "Dry run: %d valid rows would be sent in %d requests; nothing was sent.",
                    spool.rows,
                    len(spool),
                )
                request_ids: list[str | None] = [None] * len(spool)
            elif not spool.requests:
                self.log.warning("No valid rows to send to Data Extension %s.", schema.key)
                request_ids = []
            else:
                request_ids = self._send(spool)
            result = self._result(schema, validator, report, spool, request_ids)
        elapsed = time.monotonic() - started
        self.log.info(
            "Done: %d rows read, %d submitted in %d requests, %d rejected, in %.1f s.",
            result["rows_read"],
            result["rows_submitted"],
            len(result["request_ids"]),
            result["rows_rejected"],
            elapsed,
        )
        return result

    # Reading

    @contextlib.contextmanager
    def _row_batches(self) -> Iterator[tuple[Iterator[RowBatch], bool]]:
        """Yield the row batches and whether every row has the same columns."""
        if self.sql is not None:
            with self._sql_batches() as batches:
                yield batches, True
            return
        rows = self.rows
        if _is_dataframe(rows):
            yield dataframe_batches(rows, chunk_size=self.fetch_size), True
        elif isinstance(rows, str):
            raise SfmcConfigurationError(
                "rows rendered to a string. Pass the upstream task's output (an XComArg) "
                "or set render_template_as_native_obj=True on the DAG."
            )
        elif isinstance(rows, Sequence) or _is_iterable_of_mappings(rows):
            yield record_batches(rows, chunk_size=self.fetch_size), False
        else:
            raise SfmcConfigurationError(
                f"rows must be a list of dicts or a pandas DataFrame, not {type(rows).__name__}."
            )

    @contextlib.contextmanager
    def _sql_batches(self) -> Iterator[Iterator[RowBatch]]:
        db_hook = BaseHook.get_connection(self.sql_conn_id).get_hook()
        if not isinstance(db_hook, DbApiHook):
            raise SfmcConfigurationError(
                f"Connection {self.sql_conn_id!r} is not a SQL database connection."
            )
        # PostgreSQL's drivers buffer a whole result client-side unless the cursor is named.
        server_side = getattr(db_hook, "conn_type", None) == "postgres"
        self.log.info(
            "Reading rows from connection %s in chunks of %d%s.",
            self.sql_conn_id,
            self.fetch_size,
            " through a server-side cursor" if server_side else "",
        )
        connection = db_hook.get_conn()
        try:
            with open_cursor(connection, server_side=server_side) as cursor:
                yield cursor_batches(cursor, self.sql, chunk_size=self.fetch_size)
        finally:
            connection.close()

    # Checking

    def _check_and_pack(
        self,
        batches: Iterator[RowBatch],
        validator: RowValidator,
        packer: RequestPacker,
        spool: RequestSpool,
    ) -> None:
        progress = _Progress()
        try:
            for batch in batches:
                valid = validator.check_batch(batch.columns, batch.rows)
                for request in packer.add_rows(valid):
                    spool.append(request)
                if progress.due():
                    self.log.info(
                        "Checked %d rows (%d rejected) at %.0f rows/s; %d requests packed.",
                        validator.rows_read,
                        validator.rows_rejected,
                        progress.rate(validator.rows_read),
                        len(spool),
                    )
        except SchemaMismatchError as error:
            raise SfmcConfigurationError(
                f"The rows do not fit Data Extension {self.data_extension_key}: {error}"
            ) from None
        last = packer.flush()
        if last is not None:
            spool.append(last)
        self.log.info(
            "Checked %d rows at %.0f rows/s: %d valid, %d rejected, packed in %d requests.",
            validator.rows_read,
            progress.rate(validator.rows_read),
            validator.rows_valid,
            validator.rows_rejected,
            len(spool),
        )

    def _handle_rejections(self, validator: RowValidator, report: RejectedRowsReport) -> None:
        if not validator.rows_rejected:
            return
        summary = summarize(report.first)
        if self.on_invalid_rows == "fail":
            raise SfmcError(
                f"{validator.rows_rejected} of {validator.rows_read} rows are invalid, so nothing "
                f"was sent (on_invalid_rows='fail'). First problems: {summary}. "
                f"Every rejected row is listed in {report.path}."
            )
        self.log.warning(
            "%d of %d rows are invalid and will not be sent. First problems: %s. "
            "Every rejected row is listed in %s.",
            validator.rows_rejected,
            validator.rows_read,
            summary,
            report.path,
        )

    # Sending

    def _send(self, spool: RequestSpool) -> list[str | None]:
        """Submit every spooled request, ``max_parallel_requests`` at a time; return their ids."""
        total_requests, total_rows = len(spool), spool.rows
        self.log.info(
            "Sending %d rows in %d requests (%s) to Data Extension %s, up to %d at a time.",
            total_rows,
            total_requests,
            self.mode,
            self.data_extension_key,
            self.max_parallel_requests,
        )
        request_ids: list[str | None] = [None] * total_requests
        pending = iter(spool)
        in_flight: dict[Any, SpooledRequest] = {}
        failure: tuple[SpooledRequest, BaseException] | None = None
        progress = _Progress()
        rows_sent = requests_sent = 0
        with ThreadPoolExecutor(
            max_workers=self.max_parallel_requests, thread_name_prefix="sfmc-de-send"
        ) as pool:

            def submit_next() -> bool:
                request = next(pending, None)
                if request is None:
                    return False
                # Only this thread reads the spool; the workers get the body as bytes.
                body = spool.body(request)
                future = pool.submit(
                    self.hook.submit_async_rows, self.data_extension_key, body, mode=self.mode
                )
                in_flight[future] = request
                return True

            while len(in_flight) < self.max_parallel_requests and submit_next():
                pass
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    request = in_flight.pop(future)
                    try:
                        request_ids[request.index] = future.result()
                    except Exception as error:
                        failure = failure or (request, error)
                        continue
                    rows_sent += request.rows
                    requests_sent += 1
                    self.log.debug(
                        "Request %d of %d accepted: %s.",
                        request.index + 1,
                        total_requests,
                        request_ids[request.index],
                    )
                if progress.due():
                    self.log.info(
                        "Sent %d of %d requests, %d of %d rows, at %.0f rows/s.",
                        requests_sent,
                        total_requests,
                        rows_sent,
                        total_rows,
                        progress.rate(rows_sent),
                    )
                # After a failure, let the requests in flight finish but start no new one.
                while (
                    failure is None
                    and len(in_flight) < self.max_parallel_requests
                    and submit_next()
                ):
                    pass
        if failure is not None:
            self._raise_send_failure(failure, request_ids, spool)
        self.log.info(
            "Sent %d rows in %d requests at %.0f rows/s.",
            rows_sent,
            requests_sent,
            progress.rate(rows_sent),
        )
        return request_ids

    def _raise_send_failure(
        self,
        failure: tuple[SpooledRequest, BaseException],
        request_ids: list[str | None],
        spool: RequestSpool,
    ) -> None:
        request, error = failure
        accepted = [request_id for request_id in request_ids if request_id is not None]
        rows_accepted = sum(
            spooled.rows for spooled in spool if request_ids[spooled.index] is not None
        )
        if accepted:
            self.log.error(
                "SFMC accepted %d requests (%d rows) before the load stopped: %s.",
                len(accepted),
                rows_accepted,
                ", ".join(accepted),
            )
        raise SfmcError(
            f"Request {request.index + 1} of {len(spool)} (rows from load row "
            f"{request.first_row}) failed: {error}. {len(accepted)} requests with "
            f"{rows_accepted} rows had been accepted and are being loaded; the rest were not "
            "sent. Run again with mode='upsert' to complete the load without duplicate-key "
            "failures."
        ) from error

    # Result

    def _result(
        self,
        schema: DataExtensionSchema,
        validator: RowValidator,
        report: RejectedRowsReport,
        spool: RequestSpool,
        request_ids: list[str | None],
    ) -> dict[str, Any]:
        row_keys = None
        row_keys_path = None
        sent = not self.dry_run
        if sent and spool.rows <= self.max_inline_row_keys:
            row_keys = {
                request_ids[request.index]: spool.keys(request) for request in spool.requests
            }
        if sent and spool.requests and (self.row_keys_path or row_keys is None):
            row_keys_path = self.row_keys_path or temporary_path("sfmc-de-row-keys-")
            write_row_keys_manifest(
                row_keys_path,
                ((request_ids[request.index], spool.keys(request)) for request in spool),
            )
            self.log.info("Wrote the primary keys of each request to %s.", row_keys_path)
        return {
            "data_extension_key": schema.key,
            "mode": self.mode,
            "request_ids": [request_id for request_id in request_ids if request_id is not None],
            "rows_read": validator.rows_read,
            "rows_valid": validator.rows_valid,
            "rows_submitted": spool.rows if sent else 0,
            "rows_rejected": validator.rows_rejected,
            "requests": [
                {
                    "request_id": request_ids[request.index],
                    "rows": request.rows,
                    "first_row": request.first_row,
                    "last_row": request.last_row,
                }
                for request in spool
            ],
            "primary_key": list(schema.primary_key),
            "row_keys": row_keys,
            "row_keys_path": row_keys_path,
            "rejected_rows_path": report.path,
            "dry_run": self.dry_run,
        }


class _Progress:
    """Time a phase and tell when another progress line is due."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.interval = PROGRESS_LOG_SECONDS

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def rate(self, count: int) -> float:
        return count / max(time.monotonic() - self.started, 1e-9)


def _is_dataframe(value: Any) -> bool:
    # pandas is imported only when a DataFrame can be here: it is slow to import.
    return type(value).__module__.startswith("pandas") and hasattr(value, "itertuples")


def _is_iterable_of_mappings(value: Any) -> bool:
    return hasattr(value, "__iter__") and not isinstance(value, Mapping | str | bytes)
