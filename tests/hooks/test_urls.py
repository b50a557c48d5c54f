"""Only Marketing Cloud hosts, or loopback ones, ever receive credentials."""

from __future__ import annotations

import pytest

from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError
from airflow_provider_sfmc_de.hooks._urls import auth_base_url, checked_rest_url

SUBDOMAIN = "mc563885gzs27c5t9-63k636ttgm"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (SUBDOMAIN, f"https://{SUBDOMAIN}.auth.marketingcloudapis.com"),
        (
            f"https://{SUBDOMAIN}.auth.marketingcloudapis.com/",
            f"https://{SUBDOMAIN}.auth.marketingcloudapis.com",
        ),
        (
            f"{SUBDOMAIN}.auth.marketingcloudapis.com",
            f"https://{SUBDOMAIN}.auth.marketingcloudapis.com",
        ),
        ("http://127.0.0.1:54321", "http://127.0.0.1:54321"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("127.0.0.1:54321", "http://127.0.0.1:54321"),
    ],
)
def test_accepted_hosts(host, expected):
    assert auth_base_url(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "https://evil.example.com",
        f"http://{SUBDOMAIN}.auth.marketingcloudapis.com",  # plain http off loopback
        f"https://{SUBDOMAIN}.auth.marketingcloudapis.com.evil.example.com",
        f"https://{SUBDOMAIN}.auth.marketingcloudapis.com:8443",
        "http://10.0.0.5:8080",
        "ftp://127.0.0.1",
        "",
    ],
)
def test_refused_hosts(host):
    with pytest.raises(SfmcConfigurationError):
        auth_base_url(host)


def test_rest_instance_url_must_be_marketing_cloud_or_loopback():
    assert checked_rest_url(f"https://{SUBDOMAIN}.rest.marketingcloudapis.com/") == (
        f"https://{SUBDOMAIN}.rest.marketingcloudapis.com"
    )
    assert checked_rest_url("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    for url in (
        "https://evil.example.com/",
        f"http://{SUBDOMAIN}.rest.marketingcloudapis.com/",
        f"https://{SUBDOMAIN}.auth.marketingcloudapis.com/",
        "",
    ):
        with pytest.raises(SfmcConfigurationError, match="REST instance URL"):
            checked_rest_url(url)
