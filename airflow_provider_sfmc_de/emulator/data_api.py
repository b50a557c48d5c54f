"""The Data Extension REST endpoints: schema look-up, async rows, sync rowsets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from airflow_provider_sfmc_de.emulator.jobs import COMPLETE, AsyncJob
from airflow_provider_sfmc_de.emulator.responses import (
    ApiError,
    json_response,
    new_request_id,
    rest_error,
    result_messages,
)
from airflow_provider_sfmc_de.emulator.values import display_value
from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from airflow_provider_sfmc_de.emulator.config import DataExtensionDefinition
    from airflow_provider_sfmc_de.emulator.state import EmulatorState

READ = "data_extensions_read"
WRITE = "data_extensions_write"
MAX_ROWSET_PAGE_SIZE = 2500
MAX_RESULTS_PAGE_SIZE = 2500
SYNC_MAX_BODY_BYTES = 5_000_000

router = APIRouter()


class AsyncRowsBody(msgspec.Struct):
    """The shape of an async rows body; rows stay undecoded until the request is processed."""

    items: list[msgspec.Raw]


class RowsetItem(msgspec.Struct):
    keys: dict[str, Any] = msgspec.field(default_factory=dict)
    values: dict[str, Any] = msgspec.field(default_factory=dict)


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _extension_by_key(state: EmulatorState, key: str) -> DataExtensionDefinition:
    extension = state.extension_by_key(key)
    if extension is None:
        raise rest_error(404, f"Data Extension with key {key} was not found.", 10002)
    return extension


def _page_number(raw: str | None, name: str) -> int:
    if raw is None:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise rest_error(400, f"{name} must be a whole number of 1 or more.", 10001)
    return int(raw)


def _page_size(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise rest_error(400, f"{name} must be a whole number from 1 to {maximum}.", 10001)
    return int(raw)


def _summary(extension: DataExtensionDefinition, row_count: int) -> dict[str, Any]:
    return {
        "id": extension.id,
        "name": extension.name,
        "key": extension.key,
        "description": "",
        "isActive": True,
        "isSendable": False,
        "isTestable": False,
        "categoryId": 0,
        "fieldCount": len(extension.fields),
        "rowCount": row_count,
    }


@router.get("/data/v1/customobjects")
async def search_data_extensions(request: Request) -> Response:
    state = _state(request)
    state.authenticate(request, READ)
    term = request.query_params.get("$search", "").lower()
    page = _page_number(request.query_params.get("$page"), "$page")
    page_size = _page_size(request.query_params.get("$pageSize"), "$pageSize", 25, 500)
    matches = [
        extension
        for extension in state.config.data_extensions
        if term in extension.key.lower() or term in extension.name.lower()
    ]
    start = (page - 1) * page_size
    items = [
        _summary(extension, state.store.count(extension.key))
        for extension in matches[start : start + page_size]
    ]
    return json_response(
        {"count": len(matches), "page": page, "pageSize": page_size, "links": {}, "items": items}
    )


@router.get("/data/v1/customobjects/{extension_id}/fields")
async def data_extension_fields(request: Request, extension_id: str) -> Response:
    state = _state(request)
    state.authenticate(request, READ)
    extension = state.extension_by_id(extension_id)
    if extension is None:
        raise rest_error(404, f"Data Extension {extension_id} was not found.", 10002)
    fields = []
    for ordinal, field in enumerate(extension.fields):
        item: dict[str, Any] = {
            "name": field.name,
            "type": str(field.type),
            "length": field.length if field.length is not None else 0,
            "ordinal": ordinal,
            "isNullable": field.is_nullable,
            "isPrimaryKey": field.is_primary_key,
            "isTemplateField": False,
            "isInheritable": False,
            "isOverridable": True,
            "isHidden": False,
            "isReadOnly": False,
            "mustOverride": False,
        }
        if field.type is FieldType.DECIMAL:
            item["scale"] = field.scale
        if field.default_value is not None:
            item["defaultValue"] = field.default_value
        fields.append(item)
    return json_response({"id": extension.id, "fields": fields})


async def _submit(
    request: Request, extension: DataExtensionDefinition | None, reference: str, *, upsert: bool
) -> Response:
    """Accept an async rows request: check limits, decode, queue; no row is checked here."""
    state = _state(request)
    state.authenticate(request, WRITE)
    request_id = new_request_id()
    if extension is None:
        raise _refused(
            request_id,
            "CustomObjectNotFound",
            "Failed to resolve the Custom Object from the provided ObjectReferenceIdentifier "
            f"[{reference}].",
        )
    limits = state.config.limits
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(request_id, int(declared), limits.max_body_bytes)
    body = await request.body()
    if len(body) > limits.max_body_bytes:
        raise _too_large(request_id, len(body), limits.max_body_bytes)
    try:
        items = msgspec.json.decode(body, type=AsyncRowsBody).items
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise _refused(
            request_id,
            "InvalidRequestBody",
            f'The body must be {{"items": [{{field: value, ...}}, ...]}}: {error}',
        ) from None
    if not items:
        raise _refused(request_id, "NoItems", "The request holds no items.")
    if len(items) > limits.max_rows_per_request:
        raise _refused(
            request_id,
            "TooManyItems",
            f"The request holds {len(items)} items; at most {limits.max_rows_per_request} "
            "are allowed in one request.",
        )
    processing = state.config.processing
    state.processor.submit(
        AsyncJob(
            request_id=request_id,
            writer=state.writers[extension.key],
            upsert=upsert,
            body=body,
            row_count=len(items),
            pickup_due=time.monotonic() + processing.pickup_delay_seconds,
            executing_seconds=processing.executing_seconds,
        )
    )
    state.stats.count_async_request()
    return json_response({"requestId": request_id, "resultMessages": []}, 202)


def _too_large(request_id: str, size: int, limit: int) -> ApiError:
    return _refused(
        request_id,
        "RequestTooLarge",
        f"The request body is {size} bytes; at most {limit} bytes are allowed.",
        status_code=413,
    )


def _refused(
    request_id: str, result_code: str, message: str, *, status_code: int = 400
) -> ApiError:
    """An async rows request refused before it is queued, in the async API's answer shape."""
    return ApiError(
        status_code, result_messages("Validation", result_code, message, request_id=request_id)
    )


@router.post("/data/v1/async/dataextensions/key:{key}/rows")
async def insert_rows_by_key(request: Request, key: str) -> Response:
    extension = _state(request).extension_by_key(key)
    return await _submit(request, extension, f"Id: , Key: {key}", upsert=False)


@router.put("/data/v1/async/dataextensions/key:{key}/rows")
async def upsert_rows_by_key(request: Request, key: str) -> Response:
    extension = _state(request).extension_by_key(key)
    return await _submit(request, extension, f"Id: , Key: {key}", upsert=True)


@router.post("/data/v1/async/dataextensions/{extension_id}/rows")
async def insert_rows_by_id(request: Request, extension_id: str) -> Response:
    extension = _state(request).extension_by_id(extension_id)
    return await _submit(request, extension, f"Id: {extension_id}, Key: ", upsert=False)


@router.put("/data/v1/async/dataextensions/{extension_id}/rows")
async def upsert_rows_by_id(request: Request, extension_id: str) -> Response:
    extension = _state(request).extension_by_id(extension_id)
    return await _submit(request, extension, f"Id: {extension_id}, Key: ", upsert=True)


def _status_not_found(request_id: str) -> Response:
    return json_response(
        result_messages(
            "Operational",
            "AsyncRequestStatusNotFound",
            "Unable to locate an Async Request Status Record for the provided RequestId: "
            f"{request_id}",
        )
    )


@router.get("/data/v1/async/{request_id}/status")
async def async_status(request: Request, request_id: str) -> Response:
    state = _state(request)
    state.authenticate(request, READ, WRITE)
    job = state.processor.jobs.get(request_id)
    if job is None:
        return _status_not_found(request_id)
    job.status_polls += 1
    if job.status_polls <= state.faults.polls("missing_status"):
        return json_response({"requestId": new_request_id()})
    request_state = job.state()
    status: dict[str, Any] = {
        "callDateTime": job.call_time,
        "hasErrors": False,
        "requestStatus": request_state,
        "requestId": job.request_id,
    }
    if job.pickup_time is not None:
        status["pickupDateTime"] = job.pickup_time
    if request_state == COMPLETE:
        job.complete_polls += 1
        status["hasErrors"] = job.error_count > 0
        status["completionDateTime"] = job.completion_time
        if job.complete_polls <= state.faults.polls("transient_error"):
            status["requestStatus"] = "Error"
            status["resultStatus"] = "Error"
        else:
            status["resultStatus"] = "Has Errors" if job.error_count else "OK"
    return json_response({"status": status, "requestId": new_request_id()})


@router.get("/data/v1/async/{request_id}/results")
async def async_results(request: Request, request_id: str) -> Response:
    state = _state(request)
    state.authenticate(request, READ, WRITE)
    job = state.processor.jobs.get(request_id)
    if job is None:
        return _status_not_found(request_id)
    params = request.query_params
    page = _page_number(params.get("page", params.get("$page")), "page")
    page_size = _page_size(
        params.get("pageSize", params.get("$pageSize")),
        "pageSize",
        state.config.results_page_size,
        MAX_RESULTS_PAGE_SIZE,
    )
    results = job.results if job.state() == COMPLETE and job.results is not None else []
    start = (page - 1) * page_size
    items = [
        {"status": "OK", "errorCode": None, "message": None}
        if result is None
        else {"status": "Error", "errorCode": result.error_code, "message": result.message}
        for result in results[start : start + page_size]
    ]
    return json_response(
        {
            "page": page,
            "pageSize": page_size,
            "count": len(results),
            "requestId": job.request_id,
            "items": items,
        }
    )


@router.get("/data/v1/customobjectdata/key/{key}/rowset")
async def read_rowset(request: Request, key: str) -> Response:
    state = _state(request)
    state.authenticate(request, READ)
    extension = _extension_by_key(state, key)
    params = request.query_params
    page = _page_number(params.get("$page"), "$page")
    page_size = _page_size(
        params.get("$pageSize"), "$pageSize", MAX_ROWSET_PAGE_SIZE, MAX_ROWSET_PAGE_SIZE
    )
    rows = state.store.read(extension.key, offset=(page - 1) * page_size, limit=page_size)
    total = state.store.count(extension.key)
    key_names = set(extension.primary_key)
    types = {field.name: field.type for field in extension.fields}
    items = []
    for row in rows:
        shown = {name: display_value(types[name], value) for name, value in row.items()}
        items.append(
            {
                "keys": {name: value for name, value in shown.items() if name in key_names},
                "values": {name: value for name, value in shown.items() if name not in key_names},
            }
        )
    request_token = new_request_id()
    links = {"self": f"/v1/customobjectdata/token/{request_token}/rowset?$page={page}"}
    if page * page_size < total:
        links["next"] = f"/v1/customobjectdata/token/{request_token}/rowset?$page={page + 1}"
    return json_response(
        {
            "links": links,
            "requestToken": request_token,
            "tokenExpireDateUtc": None,
            "customObjectId": extension.id,
            "customObjectKey": extension.key,
            "pageSize": page_size,
            "page": page,
            "count": total,
            "top": 0,
            "items": items,
        }
    )


@router.post("/hub/v1/dataevents/key:{key}/rowset")
async def upsert_rowset(request: Request, key: str) -> Response:
    """Synchronous upsert: rows up to the first bad one are saved, the rest are refused."""
    state = _state(request)
    state.authenticate(request, WRITE)
    extension = _extension_by_key(state, key)
    body = await request.body()
    if len(body) > SYNC_MAX_BODY_BYTES:
        raise rest_error(
            413,
            f"The request body is {len(body)} bytes; at most {SYNC_MAX_BODY_BYTES} are allowed.",
            10000,
        )
    try:
        rows = msgspec.json.decode(body, type=list[RowsetItem])
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise rest_error(
            400, f'The body must be [{{"keys": {{...}}, "values": {{...}}}}, ...]: {error}', 10000
        ) from None
    items = [{**row.keys, **row.values} for row in rows]
    writer = state.writers[extension.key]
    results = writer.write(items, upsert=True, stop_at_first_failure=True)
    failure = next((result for result in results if result is not None), None)
    if failure is not None:
        raise rest_error(
            400,
            f"Unable to save rows for data extension ID {extension.id}",
            10006,
            additionalErrors=[
                {"message": failure.message, "errorcode": 10000, "documentation": ""}
            ],
        )
    return json_response(msgspec.to_builtins(rows))
