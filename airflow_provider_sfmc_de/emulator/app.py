"""Build the emulator's ASGI app from a config."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response

from airflow_provider_sfmc_de.emulator import admin, data_api, oauth
from airflow_provider_sfmc_de.emulator.config import parse_config
from airflow_provider_sfmc_de.emulator.middleware import CallMiddleware
from airflow_provider_sfmc_de.emulator.responses import ApiError, json_response
from airflow_provider_sfmc_de.emulator.state import EmulatorState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Any

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any]) -> CallMiddleware:
    """Return the emulator as an ASGI app; its state starts and stops with the app."""
    state = EmulatorState(parse_config(config))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = state.config
        log.info(
            "Emulating %d installed package(s) and Data Extensions %s; rows kept %s.",
            len(config.installed_packages),
            ", ".join(extension.key for extension in config.data_extensions) or "(none)",
            f"in {config.storage.path}" if config.storage.path else "in memory",
        )
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="SFMC emulator",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = state
    app.include_router(oauth.router)
    app.include_router(data_api.router)
    app.include_router(admin.router)

    @app.exception_handler(ApiError)
    async def answer_api_error(request: Request, error: ApiError) -> Response:
        if isinstance(error.body, str):
            return Response(error.body, status_code=error.status_code, headers=error.headers)
        return json_response(error.body, error.status_code, headers=error.headers)

    return CallMiddleware(app, state)
