"""OAuth over real HTTP: the three grants, their errors, consent page, codes, token checks."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator, run_emulator
from tests.emulator.conftest import fast_config, token_for

REDIRECT_URI = "http://127.0.0.1:8765/callback"


def post_token(emulator: Emulator, **body: str) -> httpx.Response:
    return httpx.post(f"{emulator.url}/v2/token", json=body)


def grant_body(emulator: Emulator, grant_type: str, **params: str) -> dict[str, str]:
    return {
        "grant_type": grant_type,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        **params,
    }


class FormReader(HTMLParser):
    """Collect a page's form action, method and the inputs a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.action = self.method = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.action, self.method = attributes["action"], attributes["method"]
        elif tag == "input":
            self.fields[attributes["name"]] = attributes.get("value") or ""
        elif tag == "button":
            self.buttons[attributes["value"]] = attributes["name"]


def consent(emulator: Emulator, decision: str = "allow", **query: str) -> httpx.Response:
    """Open the consent page, then submit its form the way a browser would."""
    params = {
        "response_type": "code",
        "client_id": emulator.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "data_extensions_read data_extensions_write offline",
        "state": "csrf-123",
        **query,
    }
    page = httpx.get(f"{emulator.url}/v2/authorize", params=params)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    form = FormReader()
    form.feed(page.text)
    assert form.method == "post"
    data = {**form.fields, form.buttons[decision]: decision}
    return httpx.post(f"{emulator.url}{form.action}", data=data)


def test_client_credentials_answer_has_the_documented_shape(shared_emulator: Emulator) -> None:
    answer = post_token(
        shared_emulator, **grant_body(shared_emulator, "client_credentials", account_id="100000001")
    )

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "soap_instance_url",
        "rest_instance_url",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1079
    assert body["scope"] == "data_extensions_read data_extensions_write offline"
    assert body["rest_instance_url"] == f"{shared_emulator.url}/"
    assert body["soap_instance_url"] == f"{shared_emulator.url}/"


def test_form_encoded_token_request_works(shared_emulator: Emulator) -> None:
    answer = httpx.post(
        f"{shared_emulator.url}/v2/token", data=grant_body(shared_emulator, "client_credentials")
    )

    assert answer.status_code == 200
    assert answer.json()["access_token"]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"account_id": "999"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "email_send"}, 400, "invalid_scope"),
        ({"grant_type": "refresh_token", "refresh_token": "never-issued"}, 400, "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "never-issued"}, 400, "invalid_grant"),
    ],
)
def test_token_errors(
    shared_emulator: Emulator, change: dict[str, str], status: int, error: str
) -> None:
    body = {**grant_body(shared_emulator, "client_credentials"), **change}

    answer = post_token(shared_emulator, **body)

    assert answer.status_code == status
    payload = answer.json()
    assert payload["error"] == error
    assert payload["error_description"]
    assert payload["error_uri"] == "https://developer.salesforce.com/docs"
    assert shared_emulator.client_secret not in answer.text


@pytest.fixture(scope="module")
def short_lived() -> Emulator:
    """Tokens and codes that expire quickly, and a second package limited to one grant."""
    config = fast_config(token_lifetime_seconds=0.3, authorization_code_lifetime_seconds=0.3)
    config["installed_packages"].append(
        {
            "client_id": "machine-only",
            "client_secret": "machine-secret",
            "account_id": "100000001",
            "scopes": ["data_extensions_read"],
            "grant_types": ["client_credentials"],
        }
    )
    with run_emulator(config) as emulator:
        yield emulator


def test_grant_type_not_allowed_for_the_package(short_lived: Emulator) -> None:
    answer = post_token(
        short_lived,
        grant_type="refresh_token",
        refresh_token="x",
        client_id="machine-only",
        client_secret="machine-secret",
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "unauthorized_client"


def test_refresh_tokens_are_single_use_and_rotated(shared_emulator: Emulator) -> None:
    first = shared_emulator.issue_refresh_token()

    answer = post_token(
        shared_emulator, **grant_body(shared_emulator, "refresh_token", refresh_token=first)
    )
    assert answer.status_code == 200
    second = answer.json()["refresh_token"]
    assert second != first
    assert answer.json()["access_token"]

    reused = post_token(
        shared_emulator, **grant_body(shared_emulator, "refresh_token", refresh_token=first)
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    rotated = post_token(
        shared_emulator, **grant_body(shared_emulator, "refresh_token", refresh_token=second)
    )
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] not in (first, second)


def test_consent_form_redirects_with_code_and_state_then_code_exchanges_once(
    shared_emulator: Emulator,
) -> None:
    redirect = consent(shared_emulator)

    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["csrf-123"]
    code = query["code"][0]

    exchange = grant_body(
        shared_emulator, "authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    answer = post_token(shared_emulator, **exchange)
    assert answer.status_code == 200
    tokens = answer.json()
    assert tokens["refresh_token"]
    assert tokens["scope"] == "data_extensions_read data_extensions_write offline"
    reuse = post_token(shared_emulator, **exchange)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_redirect_uri(shared_emulator: Emulator) -> None:
    code = parse_qs(urlsplit(consent(shared_emulator).headers["location"]).query)["code"][0]

    answer = post_token(
        shared_emulator,
        **grant_body(
            shared_emulator, "authorization_code", code=code, redirect_uri="http://elsewhere/cb"
        ),
    )

    assert answer.json()["error"] == "invalid_grant"


def test_denied_consent_redirects_with_access_denied(shared_emulator: Emulator) -> None:
    redirect = consent(shared_emulator, decision="deny")

    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["csrf-123"]}


def test_unregistered_redirect_uri_is_refused_without_redirect(shared_emulator: Emulator) -> None:
    answer = httpx.get(
        f"{shared_emulator.url}/v2/authorize",
        params={
            "response_type": "code",
            "client_id": shared_emulator.client_id,
            "redirect_uri": "https://attacker.example/steal",
            "state": "s",
        },
    )

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "not registered" in answer.text


def test_codes_are_short_lived(short_lived: Emulator) -> None:
    emulator = short_lived
    code = parse_qs(urlsplit(consent(emulator).headers["location"]).query)["code"][0]
    time.sleep(0.4)

    answer = post_token(
        emulator, **grant_body(emulator, "authorization_code", code=code, redirect_uri=REDIRECT_URI)
    )

    assert answer.json()["error"] == "invalid_grant"


def test_missing_invalid_and_revoked_tokens_answer_401_errorcode_0(
    shared_emulator: Emulator,
) -> None:
    url = f"{shared_emulator.url}/data/v1/customobjects"
    token = token_for(shared_emulator)["access_token"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    missing = httpx.get(url)
    invalid = httpx.get(url, headers={"Authorization": "Bearer not-a-token"})
    shared_emulator.revoke_tokens()
    revoked = httpx.get(url, headers={"Authorization": f"Bearer {token}"})

    for answer in (missing, invalid, revoked):
        assert answer.status_code == 401
        assert answer.json()["errorcode"] == 0
        assert answer.json()["message"] == "Not Authorized"


def test_expired_token_answers_401(short_lived: Emulator) -> None:
    emulator = short_lived
    token = token_for(emulator)["access_token"]
    time.sleep(0.4)

    answer = httpx.get(
        f"{emulator.url}/data/v1/customobjects", headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 401


def test_missing_scope_answers_403(shared_emulator: Emulator) -> None:
    token = token_for(shared_emulator, scope="data_extensions_read")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    read = httpx.get(f"{shared_emulator.url}/data/v1/customobjects", headers=headers)
    write = httpx.post(
        f"{shared_emulator.url}/data/v1/async/dataextensions/key:Demo_Customers/rows",
        headers=headers,
        json={"items": [{"SubscriberKey": "x", "EmailAddress": "x@example.com"}]},
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["message"] == "Insufficient privileges to complete this action."
