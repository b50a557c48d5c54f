"""Admin endpoints under ``/_emulator/``: counters, fault switches, tokens, stored rows.

They need no token: the emulator binds the loopback interface unless told otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from airflow_provider_sfmc_de.emulator.auth import Grant
from airflow_provider_sfmc_de.emulator.faults import FaultSpecError
from airflow_provider_sfmc_de.emulator.responses import ApiError, json_response
from airflow_provider_sfmc_de.emulator.values import plain_value

if TYPE_CHECKING:
    from airflow_provider_sfmc_de.emulator.state import EmulatorState

ADMIN_PREFIX = "/_emulator"
router = APIRouter(prefix=ADMIN_PREFIX)


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as error:
        raise ApiError(400, {"error": f"The body is not valid JSON: {error}"}) from None


@router.get("/stats")
async def stats(request: Request) -> Response:
    state = _state(request)
    return json_response(state.stats.snapshot(state.store.counts()))


@router.post("/reset-stats")
async def reset_stats(request: Request) -> Response:
    _state(request).stats.reset()
    return json_response({"reset": True})


@router.get("/faults")
async def current_faults(request: Request) -> Response:
    return json_response({"faults": _state(request).faults.current()})


@router.post("/faults")
async def replace_faults(request: Request) -> Response:
    state = _state(request)
    try:
        state.faults.replace(await _json_body(request))
    except FaultSpecError as error:
        raise ApiError(400, {"error": str(error)}) from None
    return json_response({"faults": state.faults.current()})


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    state = _state(request)
    state.faults.clear()
    return json_response({"faults": {}})


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request) -> Response:
    return json_response({"revoked": _state(request).auth.revoke_access_tokens()})


@router.post("/refresh-tokens")
async def issue_refresh_token(request: Request) -> Response:
    """A valid refresh token without going through the browser consent, for tests."""
    state = _state(request)
    params = await _json_body(request)
    if not isinstance(params, dict):
        raise ApiError(400, {"error": "The body must be a JSON object."})
    client_id = params.get("client_id") or state.config.installed_packages[0].client_id
    package = state.packages.get(client_id)
    if package is None:
        raise ApiError(400, {"error": f"Unknown client_id {client_id!r}."})
    scope = params.get("scope")
    scopes = tuple(scope.split()) if scope is not None else tuple(package.scopes)
    account_id = str(params.get("account_id") or package.account_id)
    token = state.auth.issue_refresh_token(Grant(package.client_id, account_id, scopes))
    return json_response({"refresh_token": token})


@router.get("/data-extensions/{key}/rows")
async def stored_rows(request: Request, key: str) -> Response:
    state = _state(request)
    extension = state.extension_by_key(key)
    if extension is None:
        raise ApiError(404, {"error": f"Unknown Data Extension {key!r}."})
    types = {field.name: field.type for field in extension.fields}
    rows = [
        {name: plain_value(types[name], value) for name, value in row.items()}
        for row in state.store.read(extension.key)
    ]
    return json_response({"count": len(rows), "items": rows})
