"""Authentication settings and the OAuth2 token endpoint's failures, as the user meets them."""

from __future__ import annotations

import pytest
import requests
import responses
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.errors import WMSAuthError, WMSConfigError, WMSUnavailableError

BASE = "https://wms.example.com/gnos_test"
API = f"{BASE}/wms/lgfapi/v10/entity/"
TOKEN_URL = "https://idcs.example.com/oauth2/v1/token"
SECRET = "s3cret-client"


def oauth_config(**overrides) -> dict:
    config = {
        "base_url": BASE,
        "auth_method": "oauth2",
        "oauth_token_url": TOKEN_URL,
        "oauth_client_id": "cid",
        "oauth_client_secret": SECRET,
        "max_retries": 0,
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"username": "reader"}, "auth_method 'basic' needs the settings username and password"),
        ({"password": "p"}, "auth_method 'basic' needs the settings username and password"),
        (
            {"auth_method": "oauth2", "oauth_client_id": "cid"},
            "auth_method 'oauth2' needs the settings oauth_token_url, oauth_client_secret",
        ),
        ({"auth_method": "kerberos"}, "auth_method must be 'basic' or 'oauth2', not 'kerberos'"),
    ],
)
def test_incomplete_auth_settings_are_refused_naming_what_is_missing(settings, named):
    with pytest.raises(WMSConfigError) as caught:
        WMSClient({"base_url": BASE, **settings})
    assert named in str(caught.value)


@responses.activate
def test_an_unreachable_token_endpoint_is_named_without_the_secret():
    responses.post(TOKEN_URL, body=requests.ConnectionError("connection refused"))
    with pytest.raises(WMSUnavailableError) as caught:
        WMSClient(oauth_config()).list_entities()
    message = str(caught.value)
    assert "Cannot reach the OAuth2 token endpoint (ConnectionError)" in message
    assert TOKEN_URL in message and SECRET not in message
    assert not [call for call in responses.calls if call.request.url.startswith(API)]


@responses.activate
def test_a_token_endpoint_answering_something_else_than_json_is_a_refusal():
    responses.post(TOKEN_URL, status=502, body="<html>Bad Gateway</html>")
    with pytest.raises(WMSAuthError) as caught:
        WMSClient(oauth_config()).list_entities()
    message = str(caught.value)
    assert "OAuth2 token request refused" in message and "502" in message
    assert SECRET not in message


@responses.activate
def test_the_configured_oauth_scope_is_requested_and_the_token_lifetime_defaults_to_an_hour():
    responses.post(
        TOKEN_URL,
        json={"access_token": "tok"},  # no expires_in: an hour
        match=[
            responses.matchers.urlencoded_params_matcher(
                {"grant_type": "client_credentials", "scope": "urn:custom:scope"}
            )
        ],
    )
    responses.get(API, json={"order_hdr": f"{API}order_hdr/"})
    client = WMSClient(oauth_config(oauth_scope="urn:custom:scope"))
    assert client.list_entities() == {"order_hdr": f"{API}order_hdr/"}
    assert client.list_entities() == {"order_hdr": f"{API}order_hdr/"}
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1
