"""The provider is registered with Airflow, with the sfmc connection type and its form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields

from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from airflow_provider_sfmc_de.hooks._http import RetryPolicy
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook


def test_airflow_lists_the_connection_type_with_its_hook_and_fields():
    command = ["providers", "get", "airflow-provider-sfmc-de", "--full", "--output", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *command],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    # Airflow may log a line to stdout before the JSON document.
    (provider,) = json.loads(result.stdout[result.stdout.index("[{") :])
    (connection_type,) = provider["connection-types"]

    assert connection_type["connection-type"] == "sfmc"
    assert connection_type["hook-name"] == "Salesforce Marketing Cloud"
    assert connection_type["hook-class-name"] == "airflow_provider_sfmc_de.hooks.sfmc.SfmcHook"
    assert {"account_id", "grant_type", "refresh_token", "scope", "redirect_uri"} <= set(
        connection_type["conn-fields"]
    )
    # Every retry setting the hook reads from the extras is offered in the form.
    assert {setting.name for setting in fields(RetryPolicy)} <= set(connection_type["conn-fields"])


def test_the_connection_form_relabels_hides_and_masks():
    manager = ProvidersManager()
    hook = ProvidersManagerTaskRuntime().hooks["sfmc"]
    behaviour = manager.field_behaviours["sfmc"]
    widgets = manager.connection_form_widgets

    assert (hook.hook_class_name, hook.hook_name) == (
        f"{SfmcHook.__module__}.{SfmcHook.__qualname__}",
        SfmcHook.hook_name,
    )
    assert hook.connection_id_attribute_name == SfmcHook.conn_name_attr
    assert set(behaviour["hidden_fields"]) == {"port", "schema"}
    assert behaviour["relabeling"] == {
        "host": "Authentication base URI or subdomain",
        "login": "Client ID",
        "password": "Client Secret",
    }
    assert widgets["extra__sfmc__refresh_token"].is_sensitive
    assert not widgets["extra__sfmc__account_id"].is_sensitive
    grant_type = widgets["extra__sfmc__grant_type"].field["schema"]
    assert grant_type["enum"] == ["client_credentials", "authorization_code"]
    assert grant_type["default"] == "client_credentials"
