"""WMSClient edge cases against mocked HTTP (`responses`): retries, errors, OAuth2, paging."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import msgspec
import pytest
import requests
import responses
from responses import matchers
from tap_oracle_wms import client as client_module
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.errors import (
    WMSAuthError,
    WMSConfigError,
    WMSPermissionError,
    WMSRequestError,
    WMSResponseError,
    WMSUnavailableError,
)
from tap_oracle_wms.messages import ENCODER
from tap_oracle_wms.records import RecordCodec

BASE = "https://wms.example.com/gnos_test"
API = f"{BASE}/wms/lgfapi/v10/entity/"
SECRET = "s3cret-pass"
TOKEN_URL = "https://idcs.example.com/oauth2/v1/token"


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    return slept


def make_client(**overrides) -> WMSClient:
    config = {"base_url": BASE, "username": "reader", "password": SECRET, "max_retries": 3}
    config.update(overrides)
    return WMSClient(config)


def wms_error(status: int, code: str, message: str, **kwargs) -> dict:
    return {
        "status": status,
        "json": {"reference": "r-1", "code": code, "message": message},
        **kwargs,
    }


@responses.activate
def test_retries_429_and_503_honouring_retry_after(waits):
    responses.get(
        API, **wms_error(429, "TOO_MANY_REQUESTS", "slow down"), headers={"Retry-After": "7"}
    )
    responses.get(
        API, **wms_error(503, "SERVICE_UNAVAILABLE", "busy"), headers={"Retry-After": "2"}
    )
    responses.get(API, json={"item": f"{API}item/"})
    assert make_client().list_entities() == {"item": f"{API}item/"}
    assert waits == [7.0, 2.0]


@responses.activate
def test_5xx_without_retry_after_backs_off_exponentially_with_jitter(waits):
    for _ in range(3):
        responses.get(API, status=502, body="bad gateway")
    responses.get(API, json={})
    make_client().list_entities()
    base = WMSClient.BACKOFF_BASE_S
    assert len(waits) == 3
    assert all(0 <= w <= base * 2**i for i, w in enumerate(waits))


@responses.activate
def test_truncated_body_connection_reset_and_timeout_are_retried(waits):
    responses.get(API, body='{"item": "https://wms.exa')
    responses.get(API, body=requests.exceptions.ConnectionError("Connection reset by peer"))
    responses.get(API, body=requests.exceptions.ChunkedEncodingError("IncompleteRead"))
    responses.get(API, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(API, json={"item": "x"})
    assert make_client(max_retries=4).list_entities() == {"item": "x"}
    assert len(waits) == 4


@responses.activate
def test_tls_failure_and_unusable_base_url_stop_at_once(waits):
    responses.get(API, body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(WMSRequestError, match="verify_ssl"):
        make_client().list_entities()
    with pytest.raises(WMSConfigError, match="base_url"):
        make_client(base_url="wms.example.com/gnos").list_entities()
    assert waits == []


@responses.activate
def test_a_pasted_api_url_is_cut_back_to_the_environment_url():
    responses.get(API, json={"item": "x"})
    assert make_client(base_url=f"{API}").list_entities() == {"item": "x"}


@responses.activate
def test_gives_up_after_max_retries(waits):
    responses.get(API, status=503, json={"code": "SERVICE_UNAVAILABLE", "message": "busy"})
    with pytest.raises(WMSUnavailableError) as caught:
        make_client(max_retries=2).list_entities()
    assert len(responses.calls) == 3 and len(waits) == 2
    assert "HTTP 503" in str(caught.value) and API in str(caught.value)


@responses.activate
def test_400_stops_with_wms_code_message_url_and_no_retry(waits):
    responses.get(f"{API}item/", **wms_error(400, "VALIDATION_ERROR", "Invalid filter field 'x'"))
    codec = RecordCodec("item", {"properties": {"id": {"type": "integer"}}}, ["id"])
    with pytest.raises(WMSRequestError) as caught:
        list(make_client().pages("item", {"x": "1"}, codec.decoder))
    text = str(caught.value)
    assert "HTTP 400" in text and "VALIDATION_ERROR" in text and "Invalid filter field 'x'" in text
    assert f"{API}item/" in text and SECRET not in text
    assert (caught.value.status, caught.value.code) == (400, "VALIDATION_ERROR")
    assert len(responses.calls) == 1 and waits == []


@responses.activate
def test_401_and_403_name_the_problem_without_the_secret(waits):
    responses.get(API, **wms_error(401, "AUTHENTICATION_FAILED", "Invalid credentials"))
    with pytest.raises(WMSAuthError) as caught:
        make_client().list_entities()
    assert "AUTHENTICATION_FAILED" in str(caught.value) and SECRET not in str(caught.value)
    responses.replace(responses.GET, API, **wms_error(403, "PERMISSION_DENIED", "no access"))
    with pytest.raises(WMSPermissionError) as denied:
        make_client().list_entities()
    assert "lgfapi_read_access" in str(denied.value) and waits == []


def oauth_client() -> WMSClient:
    return make_client(
        auth_method="oauth2",
        oauth_token_url=TOKEN_URL,
        oauth_client_id="cid",
        oauth_client_secret=SECRET,
        username=None,
        password=None,
    )


@responses.activate
def test_oauth2_token_is_cached_and_refreshed_once_on_401():
    responses.post(
        TOKEN_URL,
        json={"access_token": "tok-1", "expires_in": 3600},
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "client_credentials",
                    "scope": "urn:resource:fusion:scm:logistics:wms:lgfapi/",
                }
            )
        ],
    )
    bearer = matchers.header_matcher({"Authorization": "Bearer tok-1"})
    responses.get(f"{API}a/describe/", json={"fields": {}}, match=[bearer])
    responses.get(f"{API}b/describe/", json={"fields": {}}, match=[bearer])
    client = oauth_client()
    client.describe("a")
    client.describe("b")
    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1
    # The token expires early on the server side: one 401, then a new token works.
    responses.post(TOKEN_URL, json={"access_token": "tok-2", "expires_in": 3600})
    responses.get(
        API,
        status=401,
        json={"code": "AUTHENTICATION_FAILED", "message": "expired"},
        match=[bearer],
    )
    responses.get(
        API, json={"x": "y"}, match=[matchers.header_matcher({"Authorization": "Bearer tok-2"})]
    )
    assert client.list_entities() == {"x": "y"}


@responses.activate
def test_oauth2_second_401_and_refused_token_are_errors_without_secret():
    responses.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    responses.get(API, status=401, json={"code": "AUTHENTICATION_FAILED", "message": "no"})
    with pytest.raises(WMSAuthError):
        oauth_client().list_entities()
    responses.replace(
        responses.POST,
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": "bad client"},
    )
    with pytest.raises(WMSAuthError) as caught:
        oauth_client().list_entities()
    assert "invalid_client" in str(caught.value) and SECRET not in str(caught.value)
    assert TOKEN_URL in str(caught.value)


@responses.activate
def test_404_on_first_page_is_empty_and_repeated_next_page_is_a_loop():
    codec = RecordCodec("item", {"properties": {"id": {"type": "integer"}}}, ["id"])
    responses.get(f"{API}item/", status=404, json={"code": "NOT_FOUND", "message": "none"})
    assert list(make_client().pages("item", {}, codec.decoder)) == []
    nxt = f"{API}order_dtl/?cursor=abc"
    responses.get(f"{API}order_dtl/", json={"results": [{"id": 1}], "next_page": nxt})
    responses.get(nxt, json={"results": [{"id": 2}], "next_page": nxt})
    with pytest.raises(WMSResponseError, match="Pagination loop"):
        list(make_client().pages("order_dtl", {}, codec.decoder))


@responses.activate
def test_count_uses_paged_result_count_and_the_extraction_scope():
    # The run's SCHEMA properties decide scoping (item: company_id, no facility_id), with no
    # discovery request; `item` is allowed without facility scope, so only the company
    # filter goes out, in the planner's one-row request asking only for `id`.
    responses.get(
        f"{API}item/",
        json={
            "result_count": 42,
            "page_count": 42,
            "page_nbr": 1,
            "next_page": None,
            "previous_page": None,
            "results": [{"id": 1}],
        },
        match=[
            matchers.query_param_matcher(
                {
                    "company_id__code": "GNOS",
                    "status_id__lt": "50",
                    "page_mode": "paged",
                    "page_size": "1",
                    "fields": "id",
                    "ordering": "id",
                }
            )
        ],
    )
    client = make_client(
        company_code="GNOS",
        facility_code="DC01",
        entity_filters={"item": {"status_id__lt": 50}},
        unscoped_entities=["item"],
    )
    assert client.count("item", {"id", "company_id", "company_id_key"}) == 42
    assert len(responses.calls) == 1
    # An entity that cannot be scoped is refused, not counted unscoped.
    with pytest.raises(WMSConfigError) as refused:
        client.count("order_status", {"id"})
    message = str(refused.value)
    assert "'order_status'" in message and "company_code='GNOS'" in message
    assert "scope_paths" in message and "unscoped_entities" in message


def test_record_codec_shapes_records_for_sql():
    schema = {
        "properties": {
            "id": {"type": "integer"},
            "order_id": {"type": ["integer", "null"]},
            "order_id_key": {"type": ["string", "null"]},
            "status_id": {"type": ["integer", "null"]},
            "ord_qty": {"type": ["number", "null"]},
            "price": {"type": ["number", "null"]},
            "mod_ts": {"type": ["string", "null"], "format": "date-time"},
            "hazmat_flg": {"type": ["boolean", "null"]},
            "note": {"type": ["string", "null"]},
        }
    }
    codec = RecordCodec("order_dtl", schema, [p for p in schema["properties"] if p != "note"])
    page = codec.decoder.decode(
        b'{"next_page":null,"results":[{"id":7,"order_id":{"id":3,"key":"ORD3","url":"u"},'
        b'"status_id":10,"ord_qty":"12.3400","price":0.10000000000000000001,'
        b'"mod_ts":"2026-01-02T03:04:05.123456-03:00","hazmat_flg":false,"note":"x",'
        b'"order_dtl_set":{"result_count":1,"url":"u"},"url":"u"},'
        b'{"id":8,"order_id":null,"status_id":null,"ord_qty":null,"price":null,'
        b'"mod_ts":null,"hazmat_flg":null}]}'
    )
    first, second = (codec.convert(r) for r in page.results)
    assert first == {
        "id": 7,
        "order_id": 3,
        "order_id_key": "ORD3",
        "status_id": 10,
        "ord_qty": Decimal("12.3400"),
        "price": Decimal("0.10000000000000000001"),
        "mod_ts": "2026-01-02T03:04:05.123456-03:00",
        "hazmat_flg": False,
    }
    assert second["order_id"] is None and second["order_id_key"] is None
    encoded = ENCODER.encode(first)
    # Decimals leave as JSON numbers with every digit the WMS sent.
    assert b'"ord_qty":12.3400' in encoded and b'"price":0.10000000000000000001' in encoded
    assert msgspec.json.decode(encoded)["mod_ts"].endswith("-03:00")


@responses.activate
def test_entity_list_as_an_object_or_a_list():
    responses.get(API, json=["item", {"name": "order_hdr", "url": f"{API}order_hdr/"}])
    assert make_client().list_entities() == {"item": f"{API}item/", "order_hdr": f"{API}order_hdr/"}
    responses.replace(responses.GET, API, json="nope")
    with pytest.raises(WMSResponseError, match="entity list"):
        make_client().list_entities()


@responses.activate
def test_a_related_object_without_id_names_stream_record_and_field():
    responses.get(f"{API}order_dtl/describe/", status=404)
    responses.get(
        f"{API}order_dtl/",
        json={
            "next_page": None,
            "results": [{"id": 4, "order_id": {"id": 1}}, {"id": 5, "order_id": {"key": "X"}}],
        },
    )
    client = make_client()
    schema = resolve_schema(client, "order_dtl")
    codec = RecordCodec("order_dtl", schema, list(schema["properties"]))
    with pytest.raises(WMSResponseError) as failure:
        list(client.pages("order_dtl", {}, codec.decoder))
    message = str(failure.value)
    assert "stream 'order_dtl', record id 5 (record 2 of the page), field 'order_id'" in message
    assert "missing required field `id`" in message


@responses.activate
def test_a_failed_sample_page_does_not_fail_discovery(caplog, waits):
    responses.get(
        f"{API}order_hdr/describe/",
        json={"fields": {"id": {"type": "PrimaryKey"}, "order_nbr": {"type": "string"}}},
    )
    responses.get(f"{API}order_hdr/", **wms_error(400, "VALIDATION_ERROR", "no sampling"))
    with caplog.at_level("WARNING"):
        schema = resolve_schema(make_client(), "order_hdr")
    assert set(schema["properties"]) == {"id", "order_nbr"}
    assert "sample page failed" in caplog.text and "'order_hdr'" in caplog.text


def test_the_client_needs_no_singer_sdk():
    """The orchestration and other tools reuse the WMS rules without the SDK."""
    code = (
        "import sys, tap_oracle_wms.client; "
        "sys.exit(any(m.split('.')[0] == 'singer_sdk' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
