"""The SFMC connection: OAuth tokens, and every REST call the provider makes, with retries."""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, fields
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
import tenacity
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_sfmc_de import __version__
from airflow_provider_sfmc_de.exceptions import (
    SfmcApiError,
    SfmcAuthError,
    SfmcConfigurationError,
)
from airflow_provider_sfmc_de.hooks._connection import SfmcConnectionSettings, load_connection
from airflow_provider_sfmc_de.hooks._http import (
    AccessTokenRejectedError,
    RetryPolicy,
    describe_failure,
    raise_for_answer,
    raise_for_token_answer,
    retry_arguments,
)
from airflow_provider_sfmc_de.hooks._tokens import (
    ACCESS_TOKENS,
    AccessToken,
    RefreshTokenStore,
    VariableRefreshTokenStore,
    interprocess_lock,
)
from airflow_provider_sfmc_de.hooks._urls import checked_rest_url
from airflow_provider_sfmc_de.schema import DataExtensionSchema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_USER_AGENT = f"airflow-provider-sfmc-de/{__version__}"
_SEARCH_PAGE_SIZE = 50
# What SFMC answers as expires_in; assumed when an answer leaves it out.
_DEFAULT_TOKEN_LIFETIME_SECONDS = 1079


class AsyncRequestState(enum.StrEnum):
    """Where an asynchronous rows request stands, normalised from SFMC's ``requestStatus``."""

    PENDING = "pending"
    EXECUTING = "executing"
    COMPLETE = "complete"
    ERROR = "error"
    NOT_FOUND = "not_found"


_SFMC_REQUEST_STATES = {
    "pending": AsyncRequestState.PENDING,
    "executing": AsyncRequestState.EXECUTING,
    "complete": AsyncRequestState.COMPLETE,
    "error": AsyncRequestState.ERROR,
}


@dataclass(frozen=True)
class AsyncRequestStatus:
    """The status of one asynchronous rows request.

    :param request_id: the id ``submit_async_rows`` returned.
    :param state: where the request stands.
    :param has_errors: whether some rows failed (their details are in the results).
    :param result_status: SFMC's ``resultStatus`` (``OK``, ``Has Errors``), when it gave one.
    """

    request_id: str
    state: AsyncRequestState
    has_errors: bool
    result_status: str | None

    @property
    def is_done(self) -> bool:
        """SFMC has stopped processing it (though ``Error`` has been seen to turn ``Complete``)."""
        return self.state in (AsyncRequestState.COMPLETE, AsyncRequestState.ERROR)

    @classmethod
    def from_api(cls, request_id: str, body: dict[str, Any]) -> AsyncRequestStatus:
        status = body.get("status")
        if not isinstance(status, dict):
            # Under load the status object is missing until the job is picked up; an unknown or
            # expired id is told by a resultMessage instead.
            codes = {m.get("resultCode") for m in body.get("resultMessages") or []}
            state = (
                AsyncRequestState.NOT_FOUND
                if "AsyncRequestStatusNotFound" in codes
                else AsyncRequestState.PENDING
            )
            return cls(request_id=request_id, state=state, has_errors=False, result_status=None)
        request_status = str(status.get("requestStatus") or "").lower()
        result_status = status.get("resultStatus")
        return cls(
            request_id=request_id,
            state=_SFMC_REQUEST_STATES.get(request_status, AsyncRequestState.PENDING),
            has_errors=bool(status.get("hasErrors")) or result_status == "Has Errors",
            result_status=result_status,
        )


@dataclass(frozen=True)
class AsyncRowResult:
    """The outcome of one submitted row, in submission order.

    :param status: ``OK`` or ``Error``.
    :param error_code: SFMC's ``errorCode`` for a failed row.
    :param message: SFMC's message for a failed row.
    """

    status: str
    error_code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.upper() == "OK"

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> AsyncRowResult:
        return cls(
            status=str(item.get("status") or "Error"),
            error_code=item.get("errorCode"),
            message=item.get("message"),
        )


class SfmcHook(BaseHook):
    """Talk to Salesforce Marketing Cloud's REST API through an ``sfmc`` connection.

    Access tokens are shared by every hook of the process that uses the same connection, account
    and scope, and renewed shortly before they expire. For the authorization-code grant, each
    refresh token SFMC answers with is stored at once in the Airflow Variable
    ``sfmc_refresh_token_<conn_id>``, which is preferred over the connection's ``refresh_token``.

    Retry settings left as None are read from the connection's extra fields of the same name,
    then fall back to the defaults.

    :param sfmc_conn_id: the ``sfmc`` connection to use.
    :param timeout: seconds allowed for each HTTP request (default 30).
    :param max_attempts: attempts per request, the first one included (default 5).
    :param max_retry_wait: longest wait between attempts, also the cap on Retry-After (default 60).
    :param max_retry_time: seconds after which no new attempt starts (default 300).
    :param retry_base_wait: first exponential backoff wait, before jitter (default 1).
    :param refresh_token_store: where rotated refresh tokens are kept; the connection's
        Variable when None.
    """

    conn_name_attr = "sfmc_conn_id"
    default_conn_name = "sfmc_default"
    conn_type = "sfmc"
    hook_name = "Salesforce Marketing Cloud"

    def __init__(
        self,
        sfmc_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_wait: float | None = None,
        max_retry_time: float | None = None,
        retry_base_wait: float | None = None,
        refresh_token_store: RefreshTokenStore | None = None,
    ) -> None:
        super().__init__()
        self.sfmc_conn_id = sfmc_conn_id
        self._retry_overrides = {
            "timeout": timeout,
            "max_attempts": max_attempts,
            "max_retry_wait": max_retry_wait,
            "max_retry_time": max_retry_time,
            "retry_base_wait": retry_base_wait,
        }
        self._refresh_token_store = refresh_token_store

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sfmc_conn_id={self.sfmc_conn_id!r})"

    # Connection and settings

    @cached_property
    def settings(self) -> SfmcConnectionSettings:
        """The checked connection; its secrets are registered with Airflow's log masker."""
        settings = SfmcConnectionSettings.from_connection(load_connection(self.sfmc_conn_id))
        mask_secret(settings.client_secret)
        if settings.refresh_token:
            mask_secret(settings.refresh_token)
        return settings

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        values: dict[str, Any] = {}
        for setting in fields(RetryPolicy):
            value = self._retry_overrides.get(setting.name)
            if value is None:
                value = self.settings.extras.get(setting.name)
            if value in (None, ""):
                continue
            cast = int if setting.name == "max_attempts" else float
            try:
                values[setting.name] = cast(value)
            except (TypeError, ValueError):
                raise SfmcConfigurationError(
                    f"Connection {self.sfmc_conn_id!r}: {setting.name} must be a number, "
                    f"not {value!r}."
                ) from None
        try:
            return RetryPolicy(**values)
        except ValueError as error:
            raise SfmcConfigurationError(f"Connection {self.sfmc_conn_id!r}: {error}.") from None

    @cached_property
    def refresh_token_store(self) -> RefreshTokenStore:
        return self._refresh_token_store or VariableRefreshTokenStore(self.sfmc_conn_id)

    def get_conn(self) -> httpx.Client:
        """Return the HTTP client this hook sends its requests with (thread-safe)."""
        return self._client

    @cached_property
    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.retry_policy.timeout, headers={"User-Agent": _USER_AGENT})

    # Tokens

    def get_access_token(self) -> AccessToken:
        """Return a valid access token, from the process-wide cache when it holds a fresh one."""
        return ACCESS_TOKENS.get(self.settings.cache_key, self._fetch_access_token)

    def exchange_authorization_code(self, code: str, *, redirect_uri: str) -> AccessToken:
        """Redeem an authorization code from the sign-in page and store its refresh token.

        :param code: the ``code`` SFMC passed to the redirect URI.
        :param redirect_uri: the redirect URI the authorize URL named, exactly.
        """
        settings = self.settings
        body = self._token_request_body("authorization_code", code=code, redirect_uri=redirect_uri)
        token, answer = self._request_token(body)
        refresh_token = answer.get("refresh_token")
        if not refresh_token:
            raise SfmcAuthError(
                "SFMC signed you in but gave no refresh token: add the offline scope to the "
                "installed package and to the connection's scope, then sign in again."
            )
        with interprocess_lock(self._refresh_lock_name):
            self.refresh_token_store.write(refresh_token)
        ACCESS_TOKENS.put(settings.cache_key, token)
        return token

    def _fetch_access_token(self) -> AccessToken:
        settings = self.settings
        if settings.grant_type == "client_credentials":
            self.log.info(
                "Requesting an SFMC access token for connection %s (client credentials).",
                settings.conn_id,
            )
            token, _ = self._request_token(self._token_request_body("client_credentials"))
            return token
        return self._refresh_access_token()

    @property
    def _refresh_lock_name(self) -> str:
        settings = self.settings
        return f"{settings.auth_url} {settings.client_id} {self.refresh_token_store.name}"

    def _refresh_access_token(self) -> AccessToken:
        """Redeem the newest refresh token; store the one SFMC rotates it into at once."""
        settings = self.settings
        store = self.refresh_token_store
        with interprocess_lock(self._refresh_lock_name):
            tried: set[str] = set()
            candidate = self._read_refresh_token() or settings.refresh_token
            if not candidate:
                raise SfmcConfigurationError(
                    f"Connection {settings.conn_id!r} uses the authorization-code grant but has no "
                    f"refresh token. {self._sign_in_advice}"
                )
            while candidate:
                tried.add(candidate)
                try:
                    return self._redeem_refresh_token(candidate)
                except SfmcAuthError as error:
                    if error.errorcode != "invalid_grant":
                        raise
                pause = min(self.retry_policy.retry_base_wait, self.retry_policy.max_retry_wait)
                self.log.warning(
                    "SFMC refused the refresh token of connection %s (invalid_grant); another "
                    "worker may have rotated it, so reading %s again in %.2f s.",
                    settings.conn_id,
                    store.name,
                    pause,
                )
                # A worker on another machine stores its new token just after SFMC answers it.
                time.sleep(pause)
                candidate = next(
                    (
                        token
                        for token in (self._read_refresh_token(), settings.refresh_token)
                        if token and token not in tried
                    ),
                    None,
                )
        raise SfmcAuthError(
            f"SFMC refused every refresh token known for connection {settings.conn_id!r}: it "
            f"has expired, been revoked or been used up. {self._sign_in_advice}",
            status_code=400,
            errorcode="invalid_grant",
        )

    @property
    def _sign_in_advice(self) -> str:
        return (
            f"Sign in again with `sfmc-de authorize --conn-id {self.sfmc_conn_id}`; it stores "
            f"a new refresh token in the {self.refresh_token_store.name}."
        )

    def _read_refresh_token(self) -> str | None:
        token = self.refresh_token_store.read()
        if token:
            mask_secret(token)
        return token

    def _redeem_refresh_token(self, refresh_token: str) -> AccessToken:
        self.log.info(
            "Requesting an SFMC access token for connection %s (refresh token).",
            self.settings.conn_id,
        )
        body = self._token_request_body("refresh_token", refresh_token=refresh_token)
        token, answer = self._request_token(body)
        rotated = answer.get("refresh_token")
        if rotated and rotated != refresh_token:
            try:
                self.refresh_token_store.write(rotated)
            except Exception:
                # The old token is used up: without the new one the next run cannot sign in.
                self.log.exception(
                    "Could not store the new refresh token in %s; this run goes on, but the next "
                    "one will need `sfmc-de authorize --conn-id %s`.",
                    self.refresh_token_store.name,
                    self.sfmc_conn_id,
                )
            else:
                self.log.info(
                    "Stored the rotated refresh token in %s.", self.refresh_token_store.name
                )
        return token

    def _token_request_body(self, grant_type: str, **grant_fields: str) -> dict[str, str]:
        settings = self.settings
        body = {
            "grant_type": grant_type,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            **grant_fields,
        }
        if settings.account_id:
            body["account_id"] = settings.account_id
        if settings.scope:
            body["scope"] = settings.scope
        return body

    def _request_token(self, body: dict[str, str]) -> tuple[AccessToken, dict[str, Any]]:
        settings = self.settings
        response = self._send(
            "POST",
            f"{settings.auth_url}/v2/token",
            what="POST /v2/token",
            check=partial(raise_for_token_answer, conn_id=settings.conn_id),
            json=body,
        )
        answer = response.json()
        mask_secret(answer["access_token"])
        if answer.get("refresh_token"):
            mask_secret(answer["refresh_token"])
        token = AccessToken(
            value=answer["access_token"],
            rest_instance_url=checked_rest_url(answer.get("rest_instance_url", "")),
            expires_in=float(answer.get("expires_in", _DEFAULT_TOKEN_LIFETIME_SECONDS)),
            scope=answer.get("scope"),
        )
        return token, answer

    # HTTP

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        check: Callable[[httpx.Response], Any],
        **request: Any,
    ) -> httpx.Response:
        """Send one request, retried per the policy; ``check`` raises for a failed answer."""

        def attempt() -> httpx.Response:
            response = self._client.request(method, url, **request)
            check(response)
            return response

        retrying = tenacity.Retrying(
            **retry_arguments(self.retry_policy, partial(self._log_retry, what))
        )
        try:
            return retrying(attempt)
        except httpx.TransportError as error:
            raise self._unreachable(what, error) from error

    def _call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **request: Any
    ) -> dict[str, Any]:
        """Send a REST request with a bearer token; on 401 get a new token and retry once."""
        what = f"{method} {path}"

        def send(token: AccessToken) -> dict[str, Any]:
            response = self._send(
                method,
                token.rest_instance_url + path,
                what=what,
                check=partial(raise_for_answer, what=what),
                headers={**(headers or {}), "Authorization": f"Bearer {token.value}"},
                **request,
            )
            return _json_body(response, what)

        token = self.get_access_token()
        try:
            return send(token)
        except AccessTokenRejectedError:
            self._drop_rejected_token(token, what)
        return send(self.get_access_token())

    def _log_retry(self, what: str, retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        self.log.warning(
            "%s failed (%s); retrying in %.2f s (attempt %d of %d).",
            what,
            describe_failure(error) if error else "unknown reason",
            retry_state.upcoming_sleep,
            retry_state.attempt_number + 1,
            self.retry_policy.max_attempts,
        )

    def _drop_rejected_token(self, token: AccessToken, what: str) -> None:
        ACCESS_TOKENS.discard(self.settings.cache_key, token)
        self.log.warning(
            "%s was refused with HTTP 401: the access token has expired or been revoked; "
            "getting a new one and retrying once.",
            what,
        )

    def _unreachable(self, what: str, error: httpx.TransportError) -> SfmcApiError:
        return SfmcApiError(
            f"{what} failed: {describe_failure(error)}; gave up after the retries allowed "
            f"(max_attempts={self.retry_policy.max_attempts}, "
            f"max_retry_time={self.retry_policy.max_retry_time:g} s)."
        )

    def _iter_pages(
        self, path: str, params: Callable[[int], dict[str, Any]]
    ) -> Iterator[list[dict[str, Any]]]:
        """GET every page of a paged answer and yield its items; ``params`` names page n."""
        page = 1
        while True:
            answer = self._call("GET", path, params=params(page))
            items = answer.get("items") or []
            yield items
            if _is_last_page(answer, page, items):
                return
            page += 1

    # REST methods

    def get_data_extension_schema(self, key: str) -> DataExtensionSchema:
        """Fetch the fields of the Data Extension whose customer key is ``key``.

        :param key: the Data Extension's external (customer) key, matched exactly.
        """
        data_extension = self._find_data_extension(key)
        answer = self._call("GET", f"/data/v1/customobjects/{quote(data_extension['id'])}/fields")
        return DataExtensionSchema.from_api(
            key=key,
            id=data_extension["id"],
            name=data_extension.get("name") or key,
            fields=answer.get("fields") or [],
        )

    def _find_data_extension(self, key: str) -> dict[str, Any]:
        near_misses: list[str] = []
        pages = self._iter_pages(
            "/data/v1/customobjects",
            lambda page: {"$search": key, "$page": page, "$pageSize": _SEARCH_PAGE_SIZE},
        )
        for items in pages:
            for item in items:
                if item.get("key") == key:
                    return item
                if str(item.get("key", "")).lower() == key.lower():
                    near_misses.append(item["key"])
        hint = f" Keys match exactly: did you mean {near_misses[0]!r}?" if near_misses else ""
        raise SfmcApiError(
            f"No Data Extension with the customer key {key!r} was found.{hint}",
            status_code=404,
        )

    def submit_async_rows(
        self, key: str, body: bytes, *, mode: Literal["insert", "upsert"] = "insert"
    ) -> str:
        """Queue rows for a Data Extension and return SFMC's request id.

        :param key: the Data Extension's customer key.
        :param body: the encoded JSON ``{"items": [...]}``.
        :param mode: ``insert`` (POST) or ``upsert`` (PUT: update rows whose primary key exists).
        """
        methods = {"insert": "POST", "upsert": "PUT"}
        if mode not in methods:
            raise SfmcConfigurationError(f"mode must be 'insert' or 'upsert', not {mode!r}.")
        answer = self._call(
            methods[mode],
            _async_rows_path(key),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        return _request_id(answer, key)

    def get_async_status(self, request_id: str) -> AsyncRequestStatus:
        """Return where an asynchronous rows request stands.

        :param request_id: the id ``submit_async_rows`` returned.
        """
        answer = self._call("GET", f"/data/v1/async/{quote(request_id)}/status")
        return AsyncRequestStatus.from_api(request_id, answer)

    def iter_async_results(self, request_id: str) -> Iterator[AsyncRowResult]:
        """Yield the result of every row of a finished request, all pages, in submission order.

        :param request_id: the id ``submit_async_rows`` returned.
        """
        path = f"/data/v1/async/{quote(request_id)}/results"
        for items in self._iter_pages(path, lambda page: {"page": page}):
            yield from (AsyncRowResult.from_api(item) for item in items)

    def iter_rows(self, key: str, *, page_size: int = 2500) -> Iterator[dict[str, Any]]:
        """Yield every row of a Data Extension (keys and values merged), page by page.

        :param key: the Data Extension's customer key.
        :param page_size: rows per request (SFMC allows up to 2500).
        """
        path = f"/data/v1/customobjectdata/key/{quote(key, safe='')}/rowset"
        for items in self._iter_pages(path, lambda page: {"$page": page, "$pageSize": page_size}):
            for item in items:
                yield {**(item.get("keys") or {}), **(item.get("values") or {})}

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials by getting an access token; report the REST host it is for."""
        try:
            token = self.get_access_token()
        except Exception as error:
            return False, str(error)
        account = self.settings.account_id or "the package's default business unit"
        return True, (
            f"Connected: SFMC issued an access token for account {account}, "
            f"REST calls go to {token.rest_instance_url}."
        )


class SfmcAsyncHook(SfmcHook):
    """The status and results calls of :class:`SfmcHook` on ``httpx.AsyncClient``, for triggers.

    Tokens come from the same process-wide cache as the sync hook's (fetched in a worker thread),
    so a trigger and a task in one process share one token; requests, retries and errors
    behave as in the sync hook, and it takes the same arguments.
    """

    async def get_async_status(self, request_id: str) -> AsyncRequestStatus:  # type: ignore[override]
        """Return where an asynchronous rows request stands.

        :param request_id: the id ``submit_async_rows`` returned.
        """
        await self._load_settings()
        async with self._async_client() as client:
            answer = await self._acall(client, "GET", f"/data/v1/async/{quote(request_id)}/status")
        return AsyncRequestStatus.from_api(request_id, answer)

    async def get_async_results(self, request_id: str) -> list[AsyncRowResult]:
        """Return the result of every row of a finished request, all pages, in submission order.

        :param request_id: the id ``submit_async_rows`` returned.
        """
        results: list[AsyncRowResult] = []
        page = 1
        await self._load_settings()
        async with self._async_client() as client:
            while True:
                answer = await self._acall(
                    client,
                    "GET",
                    f"/data/v1/async/{quote(request_id)}/results",
                    params={"page": page},
                )
                items = answer.get("items") or []
                results.extend(AsyncRowResult.from_api(item) for item in items)
                if _is_last_page(answer, page, items):
                    return results
                page += 1

    def _async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.retry_policy.timeout, headers={"User-Agent": _USER_AGENT}
        )

    async def _load_settings(self) -> None:
        # Reading the connection is a blocking call to Airflow: keep it off the event loop.
        await asyncio.to_thread(lambda: self.retry_policy)

    async def _acall(
        self, client: httpx.AsyncClient, method: str, path: str, **request: Any
    ) -> dict[str, Any]:
        what = f"{method} {path}"

        async def send(token: AccessToken) -> dict[str, Any]:
            response = await self._asend(
                client,
                method,
                token.rest_instance_url + path,
                what=what,
                headers={"Authorization": f"Bearer {token.value}"},
                **request,
            )
            return _json_body(response, what)

        # Tokens may need Airflow Variables and a file lock: keep them off the event loop.
        token = await asyncio.to_thread(self.get_access_token)
        try:
            return await send(token)
        except AccessTokenRejectedError:
            self._drop_rejected_token(token, what)
        return await send(await asyncio.to_thread(self.get_access_token))

    async def _asend(
        self, client: httpx.AsyncClient, method: str, url: str, *, what: str, **request: Any
    ) -> httpx.Response:
        async def attempt() -> httpx.Response:
            response = await client.request(method, url, **request)
            raise_for_answer(response, what=what)
            return response

        retrying = tenacity.AsyncRetrying(
            **retry_arguments(self.retry_policy, partial(self._log_retry, what))
        )
        try:
            return await retrying(attempt)
        except httpx.TransportError as error:
            raise self._unreachable(what, error) from error


def _async_rows_path(key: str) -> str:
    return f"/data/v1/async/dataextensions/key:{quote(key, safe='')}/rows"


def _request_id(answer: dict[str, Any], key: str) -> str:
    request_id = answer.get("requestId")
    if not request_id:
        raise SfmcApiError(f"SFMC accepted rows for Data Extension {key!r} but gave no requestId.")
    return str(request_id)


def _is_last_page(answer: dict[str, Any], page: int, items: list[Any]) -> bool:
    if not items:
        return True
    page_size = int(answer.get("pageSize") or len(items))
    return page * page_size >= int(answer.get("count") or 0)


def _json_body(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise SfmcApiError(
            f"{what} answered HTTP {response.status_code} with a body that is not JSON.",
            status_code=response.status_code,
        ) from None
    return body if isinstance(body, dict) else {"items": body}
