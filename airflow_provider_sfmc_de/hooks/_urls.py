"""Which hosts may receive SFMC credentials: Marketing Cloud's own, or a loopback emulator."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError

if TYPE_CHECKING:
    from urllib.parse import SplitResult

_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_AUTH_HOST = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})\.auth\.marketingcloudapis\.com$")
_REST_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.rest\.marketingcloudapis\.com$")


def is_loopback(hostname: str) -> bool:
    """Tell whether ``hostname`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def auth_base_url(host: str) -> str:
    """Return the authentication base URI for a connection's host field.

    The host is either the tenant subdomain (``mc563885gzs27c5t9-63k636ttgm``), the
    authentication base URI shown on the installed package
    (``https://<subdomain>.auth.marketingcloudapis.com/``), or a loopback URL such as the local
    emulator's, where plain http is allowed. Anything else is refused, so that the client secret
    is never sent to a host that is not Marketing Cloud.
    """
    value = (host or "").strip().rstrip("/")
    if not value:
        raise SfmcConfigurationError(
            "The SFMC connection has no host: set it to the tenant subdomain or to the "
            "authentication base URI of the installed package."
        )
    if _SUBDOMAIN.match(value.lower()):
        return f"https://{value.lower()}.auth.marketingcloudapis.com"
    if "://" not in value:
        value = f"https://{value}" if _AUTH_HOST.match(value.lower()) else f"http://{value}"
    base_url = _trusted_base_url(urlsplit(value), _AUTH_HOST)
    if base_url:
        return base_url
    raise SfmcConfigurationError(
        f"Refusing SFMC host {host!r}: use the tenant subdomain, "
        "https://<subdomain>.auth.marketingcloudapis.com/, or a loopback URL for the emulator."
    )


def checked_rest_url(url: str) -> str:
    """Return the ``rest_instance_url`` of a token answer if it may receive the access token."""
    base_url = _trusted_base_url(urlsplit((url or "").strip()), _REST_HOST)
    if base_url:
        return base_url
    raise SfmcConfigurationError(
        f"Refusing the REST instance URL {url!r} given by the token endpoint: it is neither "
        "https://<subdomain>.rest.marketingcloudapis.com/ nor a loopback URL."
    )


def _trusted_base_url(parts: SplitResult, sfmc_host: re.Pattern[str]) -> str | None:
    """The base URL of a Marketing Cloud host over https, or of a loopback one; else None."""
    hostname = (parts.hostname or "").lower()
    if parts.scheme == "https" and sfmc_host.match(hostname) and parts.port in (None, 443):
        return f"https://{hostname}"
    if parts.scheme in ("http", "https") and is_loopback(hostname):
        return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    return None
