"""How SFMC answers are read: which failures are worth retrying, and for how long."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import tenacity

from airflow_provider_sfmc_de.exceptions import (
    SfmcApiError,
    SfmcAuthError,
    SfmcRequestsBlockedError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

REQUESTS_BLOCKED = 50200
UNABLE_TO_SAVE_ROWS = 10006


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take and how a failed one is retried.

    :param timeout: seconds allowed for each HTTP request (connect, send, wait for the answer).
    :param max_attempts: attempts per request, the first one included.
    :param max_retry_wait: longest wait between two attempts, also the cap on ``Retry-After``.
    :param max_retry_time: seconds after the first attempt past which no new attempt starts.
    :param retry_base_wait: first backoff wait; it doubles with each attempt, with jitter.
    """

    timeout: float = 30.0
    max_attempts: int = 5
    max_retry_wait: float = 60.0
    max_retry_time: float = 300.0
    retry_base_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.timeout, self.max_retry_wait, self.max_retry_time, self.retry_base_wait) < 0:
            raise ValueError("timeouts and waits must not be negative")


class TransientApiError(SfmcApiError):
    """An answer worth retrying: rate limited (50100), a 5xx, or a transient 10006.

    :param reason: SFMC's own words, for the retry log line.
    :param retry_after: seconds SFMC asked us to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errorcode: int | str | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, errorcode=errorcode)
        self.reason = reason
        self.retry_after = retry_after


class AccessTokenRejectedError(SfmcAuthError):
    """A REST call answered 401: the access token is missing, expired or revoked."""


def is_retryable(error: BaseException) -> bool:
    """Retry transient answers and transport failures (timeouts, refused or dropped sockets)."""
    return isinstance(error, TransientApiError | httpx.TransportError)


def describe_failure(error: BaseException) -> str:
    """Say why an attempt failed, in words safe to log (no URL query, no header, no body)."""
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection was closed without an answer"
    if isinstance(error, httpx.TransportError):
        return f"network error ({type(error).__name__})"
    if isinstance(error, TransientApiError):
        code = f", errorcode {error.errorcode}" if error.errorcode is not None else ""
        return f"HTTP {error.status_code}{code}: {error.reason}"
    return str(error)


class _WaitForRetry(tenacity.wait.wait_base):
    """Wait what SFMC asks for after a 429, else back off exponentially with full jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.backoff = tenacity.wait_random_exponential(
            multiplier=policy.retry_base_wait, max=policy.max_retry_wait
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, TransientApiError) and error.retry_after is not None:
            return min(error.retry_after, self.policy.max_retry_wait)
        return self.backoff(retry_state)


def retry_arguments(
    policy: RetryPolicy, on_retry: Callable[[tenacity.RetryCallState], None]
) -> dict[str, Any]:
    """Arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike."""
    return {
        "retry": tenacity.retry_if_exception(is_retryable),
        "wait": _WaitForRetry(policy),
        "stop": tenacity.stop_after_attempt(policy.max_attempts)
        | tenacity.stop_before_delay(policy.max_retry_time),
        "before_sleep": on_retry,
        "reraise": True,
    }


def raise_for_answer(response: httpx.Response, *, what: str) -> None:
    """Raise the provider error an unsuccessful REST answer stands for; return on success.

    :param response: SFMC's answer.
    :param what: what was being done, for the message (``"GET /data/v1/…"``).
    """
    if response.is_success:
        return
    status = response.status_code
    body = _json_or_empty(response)
    message, errorcode = _message_and_code(body)
    reason = str(message or response.reason_phrase or "no message").rstrip(". ")
    text = f"{what} failed: {reason}"
    if status == 401:
        raise AccessTokenRejectedError(text, status_code=status, errorcode=errorcode)
    if status == 429 and errorcode == REQUESTS_BLOCKED:
        raise SfmcRequestsBlockedError(
            f"{text}. SFMC has blocked this client for a while; retrying now would prolong "
            "the block, so wait before running again and lower the request rate.",
            status_code=status,
            errorcode=errorcode,
        )
    if status == 429:
        raise TransientApiError(
            text,
            status_code=status,
            errorcode=errorcode,
            reason=reason,
            retry_after=_retry_after(response, body),
        )
    transient = status >= 500 or (
        errorcode == UNABLE_TO_SAVE_ROWS and not body.get("additionalErrors")
    )
    if transient:
        raise TransientApiError(text, status_code=status, errorcode=errorcode, reason=reason)
    raise SfmcApiError(text, status_code=status, errorcode=errorcode)


def raise_for_token_answer(response: httpx.Response, *, conn_id: str) -> dict[str, Any]:
    """Return a token answer's JSON, or raise for an OAuth error (``invalid_client``, …)."""
    body = _json_or_empty(response)
    if response.is_success and body.get("access_token"):
        return body
    if response.status_code == 429 or response.status_code >= 500:
        raise_for_answer(response, what="POST /v2/token")
    error = body.get("error") or body.get("errorcode")
    description = body.get("error_description") or body.get("message") or response.reason_phrase
    raise SfmcAuthError(
        f"SFMC refused a token for connection {conn_id!r}: {description}",
        status_code=response.status_code,
        errorcode=error,
    )


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message_and_code(body: dict[str, Any]) -> tuple[str | None, int | str | None]:
    if "message" in body or "errorcode" in body:
        return body.get("message"), body.get("errorcode")
    # The async API answers with resultMessages instead (unknown Data Extension, for example).
    for result in body.get("resultMessages") or []:
        if isinstance(result, dict) and result.get("resultClass", "Error") == "Error":
            return result.get("message"), result.get("resultCode")
    if "error" in body:
        return body.get("error_description"), body.get("error")
    return None, None


def _retry_after(response: httpx.Response, body: dict[str, Any]) -> float | None:
    for value in (response.headers.get("Retry-After"), body.get("retryAfter")):
        try:
            return max(float(value), 0.0)
        except (TypeError, ValueError):
            continue
    return None
