"""Access tokens shared by every hook of a process, and where rotated refresh tokens are kept."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from airflow_provider_sfmc_de.hooks._connection import in_task_context

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator

# Renew this long before SFMC says the token expires, but never more than a fifth of its life,
# so that a request started with a cached token does not arrive with an expired one.
_RENEWAL_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class AccessToken:
    """An OAuth access token and the REST host it is valid for; its value stays out of reprs.

    :param value: the bearer token.
    :param rest_instance_url: the checked REST base URL the token is for.
    :param expires_in: seconds the token is valid for, from when it was obtained.
    :param scope: the scopes SFMC granted.
    :param obtained_at: ``time.monotonic()`` when the answer arrived.
    """

    value: str = field(repr=False)
    rest_instance_url: str
    expires_in: float
    scope: str | None = None
    obtained_at: float = field(default_factory=time.monotonic)

    @property
    def renew_at(self) -> float:
        margin = min(_RENEWAL_MARGIN_SECONDS, self.expires_in / 5)
        return self.obtained_at + self.expires_in - margin

    def is_fresh(self) -> bool:
        return time.monotonic() < self.renew_at


class TokenCache:
    """Access tokens by key, with at most one token request in flight per key.

    One instance serves the whole process, so every hook and thread using the same connection,
    account and scope shares one token instead of asking SFMC for its own.
    """

    def __init__(self) -> None:
        self._tokens: dict[Hashable, AccessToken] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, fetch: Callable[[], AccessToken]) -> AccessToken:
        """Return the cached token for ``key`` while it is fresh, else the one ``fetch`` gets."""
        token = self._tokens.get(key)
        if token is not None and token.is_fresh():
            return token
        with self._lock_for(key):
            # Another thread may have fetched one while this one waited for the lock.
            token = self._tokens.get(key)
            if token is not None and token.is_fresh():
                return token
            token = fetch()
            self._tokens[key] = token
            return token

    def put(self, key: Hashable, token: AccessToken) -> None:
        with self._lock_for(key):
            self._tokens[key] = token

    def discard(self, key: Hashable, token: AccessToken) -> None:
        """Forget ``token`` unless another thread has already replaced it with a newer one."""
        with self._guard:
            if self._tokens.get(key) is token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()

    def _lock_for(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


ACCESS_TOKENS = TokenCache()


class RefreshTokenStore(Protocol):
    """Where the newest refresh token of a connection is kept between runs.

    ``name`` says where, for messages (``"Airflow Variable 'sfmc_refresh_token_x'"``).
    """

    name: str

    def read(self) -> str | None: ...

    def write(self, refresh_token: str) -> None: ...


def refresh_token_variable(conn_id: str) -> str:
    """Name of the Airflow Variable that keeps the newest refresh token of ``conn_id``."""
    return f"sfmc_refresh_token_{conn_id}"


class VariableRefreshTokenStore:
    """Keep the newest refresh token in an Airflow Variable named after the connection.

    Tasks cannot write connections in Airflow 3, but they can write Variables; and a Variable is
    seen by every worker, so a token rotated by one task is the one the next task starts from.
    Inside a task or trigger the Task SDK is used; elsewhere (the ``sfmc-de authorize``
    command, a script) the metadata database is used directly.

    :param conn_id: the connection whose token this is.
    """

    def __init__(self, conn_id: str) -> None:
        self.key = refresh_token_variable(conn_id)
        self.name = f"Airflow Variable {self.key!r}"

    def read(self) -> str | None:
        if in_task_context():
            from airflow.sdk import Variable
            from airflow.sdk.execution_time.cache import SecretCache

            # A cached value could be a token another worker has already used.
            SecretCache.invalidate_variable(self.key)
            value = Variable.get(self.key, default=None)
        else:
            from airflow.models import Variable as VariableModel

            value = VariableModel.get(self.key, default_var=None)
        return value or None

    def write(self, refresh_token: str) -> None:
        description = "Newest SFMC refresh token; written by airflow-provider-sfmc-de."
        if in_task_context():
            from airflow.sdk import Variable

            Variable.set(self.key, refresh_token, description=description)
        else:
            from airflow.models import Variable as VariableModel

            VariableModel.set(self.key, refresh_token, description=description)


@contextlib.contextmanager
def interprocess_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock shared by every process of this machine for ``name``.

    Refreshing a rotating token must be done by one process at a time: the second would
    otherwise present a refresh token the first has just used up.
    """
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    path = Path(tempfile.gettempdir()) / f"airflow-provider-sfmc-de-{digest}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
