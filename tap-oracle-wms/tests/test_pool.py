"""The request gate: one bound for the whole tap, cut on throttling, recovering slowly."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests
import responses
from tap_oracle_wms import client as client_module
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.errors import WMSConfigError
from tap_oracle_wms.pool import RECOVERY_ROUNDS, RequestGate

API = "https://wms.example.com/gnos_test/wms/lgfapi/v10/entity/"
LOGIN = {"base_url": "https://wms.example.com/gnos_test", "username": "u", "password": "p"}


def test_never_more_requests_in_flight_than_the_limit():
    gate = RequestGate(3)
    over = []

    def worker() -> None:
        for _ in range(20):
            gate.acquire()
            if gate.in_flight > gate.limit:
                over.append(gate.in_flight)
            time.sleep(0.001)
            gate.release()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not over and gate.peak <= 3 and gate.in_flight == 0


def test_a_burst_of_throttling_answers_cuts_the_limit_once():
    gate = RequestGate(8)
    tickets = [gate.acquire() for _ in range(8)]
    for ticket in tickets:  # eight answers to requests sent at the same limit
        gate.throttled(ticket, "HTTP 429")
        gate.release()
    assert gate.limit == 4 and gate.cuts == 1
    newer = gate.acquire()
    gate.release()
    gate.throttled(newer, "HTTP 503")  # a request sent after the cut: a new signal
    assert gate.limit == 2
    for _ in range(3):
        ticket = gate.acquire()
        gate.release()
        gate.throttled(ticket, "HTTP 503")
    assert gate.limit == 1  # never below one


def test_the_limit_recovers_one_step_per_rounds_of_successes():
    gate = RequestGate(8)
    gate.throttled(gate.acquire(), "HTTP 429")
    gate.release()
    assert gate.limit == 4
    for _ in range(RECOVERY_ROUNDS * 4 - 1):
        gate.succeeded()
    assert gate.limit == 4
    gate.succeeded()
    assert gate.limit == 5
    for _ in range(RECOVERY_ROUNDS * 5):
        gate.succeeded()
    assert gate.limit == 6
    for _ in range(1000):
        gate.succeeded()
    assert gate.limit == 8  # back to the ceiling, never above


def test_a_lower_limit_holds_back_requests_until_slots_free():
    gate = RequestGate(4)
    held = [gate.acquire() for _ in range(4)]
    gate.throttled(held[0], "HTTP 429")  # limit 2 while 4 are still in flight
    admitted = threading.Event()

    def another() -> None:
        gate.acquire()
        admitted.set()

    thread = threading.Thread(target=another, daemon=True)
    thread.start()
    gate.release()
    gate.release()
    assert not admitted.wait(0.2)  # still 2 in flight: at the new limit
    gate.release()
    assert admitted.wait(5)
    assert gate.in_flight == 2


def test_retry_after_pauses_new_requests_but_not_the_retry():
    gate = RequestGate(4)
    ticket = gate.acquire()
    gate.release()
    gate.throttled(ticket, "HTTP 429", retry_after=0.3)
    started = time.monotonic()
    gate.acquire()
    assert time.monotonic() - started >= 0.29  # the pause's floor, not a speed goal
    gate.release()
    gate.throttled(gate.acquire(), "HTTP 429", retry_after=60)
    gate.release()
    retry = threading.Thread(target=gate.acquire, kwargs={"wait_pause": False}, daemon=True)
    retry.start()
    retry.join(10)
    assert not retry.is_alive()  # a 60 s pause did not hold back the retry


def test_throttling_and_recovery_are_logged(caplog):
    gate = RequestGate(4)
    with caplog.at_level(logging.INFO, logger="tap_oracle_wms.pool"):
        gate.throttled(gate.acquire(), "HTTP 429", retry_after=0.01)
        gate.release()
        for _ in range(RECOVERY_ROUNDS * 2):
            gate.succeeded()
    text = caplog.text
    assert "WMS throttling (HTTP 429): the tap now sends at most 2 requests at a time" in text
    assert "(was 4); new requests wait 0.01s (Retry-After)" in text
    assert "up to 3 requests in flight (of 4)" in text


def test_settings_outside_1_to_16_are_refused():
    with pytest.raises(ValueError, match="1 to 16"):
        RequestGate(17)
    config = {**LOGIN, "max_parallel_requests": 0}
    with pytest.raises(WMSConfigError, match="max_parallel_requests"):
        WMSClient({**config, "max_parallel_requests": 20})
    assert WMSClient(config).gate.ceiling == 4  # unset (0/None) means the default


@responses.activate
def test_the_client_reports_throttling_and_timeouts_to_its_gate(monkeypatch):
    monkeypatch.setattr(client_module.time, "sleep", lambda _: None)
    responses.get(API, status=429, json={"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "1"})
    responses.get(API, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(API, status=409, json={"code": "CONFLICT"})
    responses.get(API, json={"item": f"{API}item/"})
    client = WMSClient({**LOGIN, "max_parallel_requests": 8})
    assert client.list_entities() == {"item": f"{API}item/"}
    assert client.gate.limit == 2  # cut by the 429, then by the timeout; not by the 409
    assert client.gate.in_flight == 0
