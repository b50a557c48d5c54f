"""Read an ``sfmc`` Airflow connection into checked settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError
from airflow_provider_sfmc_de.hooks._urls import auth_base_url

if TYPE_CHECKING:
    from airflow.sdk import Connection

GrantType = Literal["client_credentials", "authorization_code"]
GRANT_TYPES: tuple[GrantType, ...] = ("client_credentials", "authorization_code")
CONN_TYPE = "sfmc"


@dataclass(frozen=True)
class SfmcConnectionSettings:
    """What the hook needs from a connection; secrets are kept out of the repr.

    :param conn_id: the Airflow connection id.
    :param auth_url: the checked authentication base URI, without a trailing slash.
    :param client_id: the installed package's client id.
    :param client_secret: the installed package's client secret.
    :param account_id: the business unit's MID, or None for the package's default one.
    :param grant_type: ``client_credentials`` or ``authorization_code``.
    :param refresh_token: the refresh token held in the connection (authorization code only).
    :param scope: space-separated scopes to ask for, or None for all of the package's.
    :param redirect_uri: the redirect URI registered on the package (authorization code only).
    :param extras: the remaining extra fields, for the retry settings.
    """

    conn_id: str
    auth_url: str
    client_id: str
    client_secret: str = field(repr=False)
    account_id: str | None = None
    grant_type: GrantType = "client_credentials"
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    redirect_uri: str | None = None
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_connection(cls, conn: Connection) -> SfmcConnectionSettings:
        extras = conn.extra_dejson

        def extra(name: str) -> Any:
            value = extras.get(name, extras.get(f"extra__{CONN_TYPE}__{name}"))
            return value.strip() if isinstance(value, str) else value

        if not conn.login or not conn.password:
            raise SfmcConfigurationError(
                f"Connection {conn.conn_id!r} needs the installed package's Client ID (login) "
                "and Client Secret (password)."
            )
        grant_type = extra("grant_type") or "client_credentials"
        if grant_type not in GRANT_TYPES:
            raise SfmcConfigurationError(
                f"Connection {conn.conn_id!r} has grant_type {grant_type!r}; "
                f"use one of {', '.join(GRANT_TYPES)}."
            )
        account_id = extra("account_id")
        if account_id not in (None, "") and not str(account_id).isdigit():
            raise SfmcConfigurationError(
                f"Connection {conn.conn_id!r} has account_id {account_id!r}: the MID is a number."
            )
        return cls(
            conn_id=conn.conn_id,
            auth_url=auth_base_url(conn.host or ""),
            client_id=conn.login,
            client_secret=conn.password,
            account_id=str(account_id) if account_id not in (None, "") else None,
            grant_type=grant_type,
            refresh_token=extra("refresh_token") or None,
            scope=extra("scope") or None,
            redirect_uri=extra("redirect_uri") or None,
            extras=extras,
        )

    @property
    def cache_key(self) -> tuple[str, ...]:
        """Tokens are shared per connection, host, package, account and scope."""
        return (
            self.conn_id,
            self.auth_url,
            self.client_id,
            self.account_id or "",
            self.scope or "",
            self.grant_type,
        )


def in_task_context() -> bool:
    """Whether this runs inside a task or trigger, where Airflow is reached through the Task SDK."""
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def load_connection(conn_id: str) -> Connection:
    """Fetch a connection inside a task or trigger (Task SDK) or outside one (secrets backends)."""
    if in_task_context():
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    from airflow.models import Connection as ConnectionModel

    return ConnectionModel.get_connection_from_secrets(conn_id)
