"""OAuth 2.0 as SFMC's v2 installed packages do it: access tokens, authorization codes and
single-use, rotating refresh tokens. Tokens are random strings kept in memory; none is logged."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
GRANT_TYPES = (CLIENT_CREDENTIALS, AUTHORIZATION_CODE, REFRESH_TOKEN)


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token or code allows: which client, which business unit, which scopes."""

    client_id: str
    account_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _IssuedCode:
    grant: Grant
    redirect_uri: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class _IssuedToken:
    grant: Grant
    expires_at: float


class TokenAuthority:
    """Issue and check access tokens, authorization codes and refresh tokens.

    :param token_lifetime_seconds: how long an access token is valid.
    :param code_lifetime_seconds: how long an authorization code can be exchanged.
    """

    def __init__(self, *, token_lifetime_seconds: float, code_lifetime_seconds: float) -> None:
        self.token_lifetime_seconds = token_lifetime_seconds
        self.code_lifetime_seconds = code_lifetime_seconds
        self._lock = threading.Lock()
        self._access_tokens: dict[str, _IssuedToken] = {}
        self._refresh_tokens: dict[str, Grant] = {}
        self._codes: dict[str, _IssuedCode] = {}

    def issue_access_token(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._access_tokens[token] = _IssuedToken(
                grant, time.monotonic() + self.token_lifetime_seconds
            )
        return token

    def check_access_token(self, token: str) -> Grant | None:
        """Return the grant of a valid token; ``None`` when unknown, expired or revoked."""
        issued = self._access_tokens.get(token)
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        return issued.grant

    def revoke_access_tokens(self) -> int:
        with self._lock:
            revoked = len(self._access_tokens)
            self._access_tokens.clear()
        return revoked

    def issue_refresh_token(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh_tokens[token] = grant
        return token

    def redeem_refresh_token(self, token: str) -> Grant | None:
        """Use up a refresh token: each one is good for one exchange only."""
        with self._lock:
            return self._refresh_tokens.pop(token, None)

    def issue_code(self, grant: Grant, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _IssuedCode(
                grant, redirect_uri, time.monotonic() + self.code_lifetime_seconds
            )
        return code

    def redeem_code(self, code: str, redirect_uri: str | None) -> Grant | None:
        """Use up an authorization code; ``None`` when unknown, used, expired or when the
        redirect URI differs from the one it was issued for."""
        with self._lock:
            issued = self._codes.pop(code, None)
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        if redirect_uri != issued.redirect_uri:
            return None
        return issued.grant
