"""``/v2/token`` and ``/v2/authorize``: SFMC's OAuth 2.0 endpoints for v2 installed packages."""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_sfmc_de.emulator.auth import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    GRANT_TYPES,
    Grant,
)
from airflow_provider_sfmc_de.emulator.responses import ApiError, json_response, oauth_error

if TYPE_CHECKING:
    from airflow_provider_sfmc_de.emulator.config import InstalledPackage
    from airflow_provider_sfmc_de.emulator.state import EmulatorState

log = logging.getLogger(__name__)
router = APIRouter()


async def _read_params(request: Request) -> dict[str, str]:
    """Read a JSON or form-encoded body into string parameters."""
    body = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            params = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            raise oauth_error(400, "invalid_request", "The body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise oauth_error(400, "invalid_request", "The body must be a JSON object.")
        return {name: str(value) for name, value in params.items() if value is not None}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _requested_scopes(
    requested: str | None, allowed: tuple[str, ...] | list[str]
) -> tuple[str, ...]:
    """Omitted scope means all the package's scopes; an empty string means none."""
    if requested is None:
        return tuple(allowed)
    scopes = tuple(dict.fromkeys(requested.split()))
    refused = [scope for scope in scopes if scope not in allowed]
    if refused:
        raise oauth_error(
            400, "invalid_scope", f"The scope(s) {' '.join(refused)} are not granted to the client."
        )
    return scopes


def _account_id(package: InstalledPackage, requested: str | None) -> str:
    if requested and requested != package.account_id:
        raise oauth_error(
            401, "invalid_client", "The client is not installed in the requested business unit."
        )
    return package.account_id


@router.post("/v2/token")
async def token(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    params = await _read_params(request)
    grant_type = params.get("grant_type", "")
    state.stats.count_token_request(grant_type or "none")
    if grant_type not in GRANT_TYPES:
        raise oauth_error(
            400,
            "unsupported_grant_type",
            "Use client_credentials, authorization_code or refresh_token.",
        )
    package = state.packages.get(params.get("client_id", ""))
    if package is None or params.get("client_secret") != package.client_secret:
        raise oauth_error(
            401,
            "invalid_client",
            "Client authentication failed. Make sure that the client ID and client secret are "
            "valid and that the client is allowed to use this grant type.",
        )
    if grant_type not in package.grant_types:
        raise oauth_error(
            400, "unauthorized_client", f"The client may not use the {grant_type} grant type."
        )
    account_id = _account_id(package, params.get("account_id"))

    if grant_type == CLIENT_CREDENTIALS:
        scopes = _requested_scopes(params.get("scope"), package.scopes)
        grant = Grant(package.client_id, account_id, scopes)
    else:
        grant = _redeem(state, grant_type, params, package)

    base_url = str(request.base_url)
    body: dict[str, Any] = {
        "access_token": state.auth.issue_access_token(grant),
        "token_type": "Bearer",
        "expires_in": int(state.config.token_lifetime_seconds),
        "scope": " ".join(grant.scopes),
        "soap_instance_url": base_url,
        "rest_instance_url": base_url,
    }
    if grant_type != CLIENT_CREDENTIALS:
        body["refresh_token"] = state.auth.issue_refresh_token(grant)
    log.info("Issued a token to client %s (grant %s).", grant.client_id, grant_type)
    return json_response(body, headers={"Cache-Control": "no-store"})


def _redeem(
    state: EmulatorState, grant_type: str, params: dict[str, str], package: InstalledPackage
) -> Grant:
    """Use up the code or refresh token of an authorization-code or refresh-token request."""
    if grant_type == AUTHORIZATION_CODE:
        if not params.get("code"):
            raise oauth_error(400, "invalid_request", "The code parameter is missing.")
        grant = state.auth.redeem_code(params["code"], params.get("redirect_uri"))
        problem = (
            "The authorization code is invalid, expired, already used or was issued for "
            "another redirect URI."
        )
    else:
        if not params.get("refresh_token"):
            raise oauth_error(400, "invalid_request", "The refresh_token parameter is missing.")
        grant = state.auth.redeem_refresh_token(params["refresh_token"])
        problem = "The refresh token is invalid or was already used."
    if grant is None or grant.client_id != package.client_id:
        raise oauth_error(400, "invalid_grant", problem)
    if "scope" in params:
        scopes = _requested_scopes(params["scope"], grant.scopes)
        grant = Grant(grant.client_id, grant.account_id, scopes)
    return grant


class _ConsentRequest:
    """A checked authorization request, from the query string or the consent form."""

    def __init__(self, state: EmulatorState, params: dict[str, str]) -> None:
        self.params = params
        package = state.packages.get(params.get("client_id", ""))
        if package is None:
            raise _consent_refused("The client_id is not an installed package of this account.")
        self.package: InstalledPackage = package
        self.redirect_uri = params.get("redirect_uri", "")
        # Never redirect to an address the package did not register: that would leak the code.
        if self.redirect_uri not in self.package.redirect_uris:
            raise _consent_refused("The redirect_uri is not registered for this installed package.")
        self.state_value = params.get("state")

    def redirect(self, **answer: str) -> RedirectResponse:
        if self.state_value is not None:
            answer["state"] = self.state_value
        separator = "&" if "?" in self.redirect_uri else "?"
        return RedirectResponse(self.redirect_uri + separator + urlencode(answer), status_code=302)

    def scopes(self) -> tuple[str, ...]:
        return _requested_scopes(self.params.get("scope"), self.package.scopes)


def _consent_refused(reason: str) -> ApiError:
    page = (
        "<!doctype html><title>Authorization refused</title><h1>Authorization refused</h1>"
        f"<p>{html.escape(reason)}</p>"
    )
    return ApiError(400, page, headers={"content-type": "text/html; charset=utf-8"})


def _check_consent_request(
    state: EmulatorState, params: dict[str, str]
) -> _ConsentRequest | RedirectResponse:
    request = _ConsentRequest(state, params)
    if params.get("response_type") != "code":
        return request.redirect(error="unsupported_response_type")
    if AUTHORIZATION_CODE not in request.package.grant_types:
        return request.redirect(error="unauthorized_client")
    try:
        request.scopes()
    except ApiError:
        return request.redirect(error="invalid_scope")
    return request


@router.get("/v2/authorize")
async def authorize_page(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    checked = _check_consent_request(state, dict(request.query_params))
    if isinstance(checked, RedirectResponse):
        return checked
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in checked.params.items()
    )
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in checked.scopes())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Marketing Cloud emulator: allow access</title></head>
<body>
<h1>Allow access to Marketing Cloud?</h1>
<p>The application <strong>{html.escape(checked.package.client_id)}</strong> asks for access to
business unit <strong>{html.escape(checked.package.account_id)}</strong> with these scopes:</p>
<ul>{scopes or "<li>(none)</li>"}</ul>
<form method="post" action="/v2/authorize">{hidden}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>"""
    return HTMLResponse(page)


@router.post("/v2/authorize")
async def authorize_decision(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    form = await _read_params(request)
    decision = form.pop("decision", "")
    checked = _check_consent_request(state, form)
    if isinstance(checked, RedirectResponse):
        return checked
    if decision != "allow":
        return checked.redirect(error="access_denied")
    grant = Grant(checked.package.client_id, checked.package.account_id, checked.scopes())
    code = state.auth.issue_code(grant, checked.redirect_uri)
    return checked.redirect(code=code)
