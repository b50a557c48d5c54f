"""Errors raised by the provider; none of them ever carries a secret."""

from __future__ import annotations

from airflow.exceptions import AirflowException


class SfmcError(AirflowException):
    """Base class of every error this provider raises."""


class SfmcConfigurationError(SfmcError):
    """The connection or an argument is unusable as given (a foreign host, a missing field)."""


class SfmcApiError(SfmcError):
    """SFMC answered with an error.

    :param message: SFMC's message, or a description of what failed.
    :param status_code: the HTTP status, when there was an answer.
    :param errorcode: SFMC's ``errorcode`` (REST) or ``error`` (OAuth), when it gave one.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, errorcode: int | str | None = None
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.errorcode = errorcode
        details = ", ".join(
            part
            for part in (
                f"HTTP {status_code}" if status_code is not None else "",
                f"errorcode {errorcode}" if errorcode is not None else "",
            )
            if part
        )
        super().__init__(f"{message} ({details})" if details else message)


class SfmcAuthError(SfmcApiError):
    """A token could not be had: bad credentials, or a refresh token that no longer works."""


class SfmcRequestsBlockedError(SfmcApiError):
    """SFMC blocked this client for a while (errorcode 50200): retrying would prolong it."""
