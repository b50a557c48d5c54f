"""Answers in SFMC's shapes: REST errors, OAuth errors and the async API's result messages."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from fastapi.responses import Response

DOCUMENTATION = (
    "https://developer.salesforce.com/docs/atlas.en-us.mc-apis.meta/mc-apis/error-handling.htm"
)
OAUTH_DOCUMENTATION = "https://developer.salesforce.com/docs"


class ApiError(Exception):
    """Stop handling a request and answer with ``body``; raised anywhere below a route."""

    def __init__(
        self, status_code: int, body: Any, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.body = body
        self.headers = headers


def json_response(
    body: Any, status_code: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        msgspec.json.encode(body),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def rest_error_body(message: str, errorcode: int, **extra: Any) -> dict[str, Any]:
    """The error shape of SFMC's REST API: ``message``, ``errorcode``, ``documentation``."""
    return {"message": message, "errorcode": errorcode, "documentation": DOCUMENTATION, **extra}


def rest_error(status_code: int, message: str, errorcode: int, **extra: Any) -> ApiError:
    return ApiError(status_code, rest_error_body(message, errorcode, **extra))


def oauth_error(status_code: int, error: str, description: str) -> ApiError:
    body = {"error": error, "error_description": description, "error_uri": OAUTH_DOCUMENTATION}
    return ApiError(status_code, body)


def new_request_id() -> str:
    return str(uuid.uuid4())


def result_messages(
    result_type: str, result_code: str, message: str, *, request_id: str | None = None
) -> dict[str, Any]:
    """The async API's answer when it refuses something: ``requestId`` and ``resultMessages``."""
    return {
        "requestId": request_id or new_request_id(),
        "resultMessages": [
            {
                "resultType": result_type,
                "resultClass": "Error",
                "resultCode": result_code,
                "message": message,
            }
        ],
    }


def not_authorized() -> ApiError:
    return rest_error(401, "Not Authorized", 0)


def insufficient_privileges() -> ApiError:
    return rest_error(403, "Insufficient privileges to complete this action.", 20002)
