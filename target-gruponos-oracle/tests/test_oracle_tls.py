"""python-oracledb thin mode really negotiates TLS, through the target's own settings.

No Oracle server runs here, but a TLS listener does: `openssl s_server` with a CA, a server
certificate and PEM wallets (`ewallet.pem`) written by these tests. The assertions are on
the server's side: the cipher it negotiated, the client certificate it verified (mutual
TLS), and the connect packet (the connect descriptor) it received *after* the handshake.
Known behaviour planned for: s_server quits when its stdin closes, so stdin stays a pipe
until the test is done; after a good handshake the client waits for the database's answer,
so the test closes the server once the connect packet arrived.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gruponos_testing.postgres import skip_or_fail
from target_gruponos_oracle import database_rules
from target_gruponos_oracle.errors import SettingsError

from .conftest import EXECUTABLE

WALLET_PASSWORD = "Wallet_pw_1"
SERVER_DN = "CN=localhost,O=GrupoNOS Test"


@dataclass(frozen=True)
class Pki:
    folder: Path
    one_way: Path  # ewallet.pem holding the CA only
    mutual: Path  # ewallet.pem: encrypted client key, client certificate, CA
    other_ca: Path  # ewallet.pem holding a CA that did not sign the server
    sso_only: Path  # cwallet.sso and nothing else


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    if shutil.which("openssl") is None:
        skip_or_fail("openssl", "not on PATH")
    folder = tmp_path_factory.mktemp("pki")
    new_key = ["req", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    _openssl(
        *new_key, "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA", cwd=folder
    )
    _openssl(
        *new_key, "-x509", "-keyout", "o.key", "-out", "other.pem", "-subj", "/CN=Other", cwd=folder
    )
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, subject, extra in (
        ("server", "/CN=localhost/O=GrupoNOS Test", ["-extfile", "san.cnf"]),
        ("client", "/CN=loader", []),
    ):
        _openssl(
            *new_key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=folder
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=folder,
        )  # fmt: skip
    _openssl(
        "pkcs8", "-topk8", "-in", "client.key", "-out", "client.enc.key",
        "-passout", f"pass:{WALLET_PASSWORD}", "-v2", "aes-256-cbc", cwd=folder,
    )  # fmt: skip
    ca = (folder / "ca.pem").read_text()
    wallets = {}
    for name, parts in (
        ("one_way", [ca]),
        ("mutual", [(folder / f).read_text() for f in ("client.enc.key", "client.pem")] + [ca]),
        ("other_ca", [(folder / "other.pem").read_text()]),
    ):
        wallets[name] = folder / name
        wallets[name].mkdir()
        (wallets[name] / "ewallet.pem").write_text("".join(parts))
    sso = folder / "sso_only"
    sso.mkdir()
    (sso / "cwallet.sso").write_bytes(b"\xa1\xf8N\x00")
    return Pki(folder, sso_only=sso, **wallets)


class Listener:
    """`openssl s_server` for one connection, its output collected as it comes."""

    def __init__(self, pki: Pki, *, mutual: bool) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = ["openssl", "s_server", "-accept", str(self.port), "-naccept", "1"]
        command += ["-cert", "server.pem", "-key", "server.key"]
        if mutual:
            command += ["-Verify", "1", "-CAfile", "ca.pem"]
        # stdin stays an open pipe: s_server quits when it closes.
        self.process = subprocess.Popen(
            command, cwd=pki.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.output = b""
        self.wait_for(b"ACCEPT")

    def wait_for(
        self, text: bytes, timeout: float = 10, until: threading.Thread | None = None
    ) -> bool:
        """Collect output until `text` appears (False: timeout, or `until` ended first)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.05)
            if ready:
                chunk = self.process.stdout.read1(65536)  # type: ignore[attr-defined]
                if not chunk:
                    break
                self.output += chunk
            elif until is not None and not until.is_alive():
                break
        return text in self.output

    def close(self) -> None:
        """Close stdin (s_server then quits and closes the client's connection)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.output += self.process.stdout.read()


@contextlib.contextmanager
def listener(pki: Pki, *, mutual: bool = False) -> Iterator[Listener]:
    server = Listener(pki, mutual=mutual)
    try:
        yield server
    finally:
        server.close()


def connect_through(server: Listener, config: dict) -> BaseException | None:
    """Connect with the target's settings; once the connect packet arrived, close the server.

    Returns what the connection attempt raised (after a good handshake: the server closing
    the connection, since no database answers).
    """
    outcome: dict[str, BaseException] = {}

    def attempt() -> None:
        engine = database_rules(config).create_engine()
        try:
            with engine.connect():
                pass
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc
        finally:
            engine.dispose()

    client = threading.Thread(target=attempt, daemon=True)
    client.start()
    server.wait_for(b"(CONNECT_DATA=", until=client)
    server.close()
    client.join(timeout=30)
    assert not client.is_alive(), "the client still waits after the server closed"
    return outcome.get("error")


def _settings(server: Listener, **settings: object) -> dict:
    return {
        "host": "localhost",
        "port": server.port,
        "service_name": "GNOSDB_HIGH",
        "protocol": "tcps",
        "username": "wms_etl",
        "password": "db-pass-1",
        **settings,
    }


def test_one_way_tls_negotiates_with_the_wallets_ca_then_sends_the_connect_packet(pki):
    with listener(pki) as server:
        error = connect_through(server, _settings(server, wallet_location=str(pki.one_way)))
    log = server.output.decode("latin-1")
    assert "CIPHER is TLS_" in log  # the handshake completed, per the server
    after = log.partition("CIPHER is")[2]
    packet = after[after.index("(DESCRIPTION=") :]
    assert "(PROTOCOL=tcps)" in packet
    assert "(SERVICE_NAME=GNOSDB_HIGH)" in packet
    assert "(SSL_SERVER_DN_MATCH=ON)" in packet
    # No database answered: the server closed the connection, nothing TLS-related failed.
    assert error is not None
    assert not isinstance(error, SettingsError)
    assert "DPY-4011" in str(error)


def test_mutual_tls_with_a_pem_wallet_its_password_and_a_full_dsn(pki):
    with listener(pki, mutual=True) as server:
        dsn = (
            "(DESCRIPTION=(RETRY_COUNT=2)(RETRY_DELAY=1)"
            f"(ADDRESS=(PROTOCOL=TCPS)(HOST=localhost)(PORT={server.port}))"
            "(CONNECT_DATA=(SERVICE_NAME=GNOSDB_LOW))"
            f'(SECURITY=(SSL_SERVER_DN_MATCH=YES)(SSL_SERVER_CERT_DN="{SERVER_DN}")))'
        )
        config = {
            "dsn": dsn,
            "username": "wms_etl",
            "password": "db-pass-1",
            "wallet_location": str(pki.mutual),
            "wallet_password": WALLET_PASSWORD,
        }
        error = connect_through(server, config)
    log = server.output.decode("latin-1")
    assert "depth=0 CN = loader" in log  # the server verified the wallet's certificate
    assert "CIPHER is TLS_" in log
    assert "(SERVICE_NAME=GNOSDB_LOW)" in log.partition("CIPHER is")[2]
    assert error is not None and not isinstance(error, SettingsError)


def test_a_certificate_signed_by_another_ca_names_wallet_location(pki):
    with listener(pki) as server:
        error = connect_through(server, _settings(server, wallet_location=str(pki.other_ca)))
    assert isinstance(error, SettingsError)
    assert "`wallet_location`" in str(error)
    assert "not signed by" in str(error)
    assert "CONNECT_DATA" not in server.output.decode("latin-1")  # nothing sent in clear


def test_a_certificate_with_another_dn_names_ssl_server_cert_dn(pki):
    with listener(pki) as server:
        config = _settings(
            server, wallet_location=str(pki.one_way), ssl_server_cert_dn="CN=elsewhere"
        )
        error = connect_through(server, config)
    assert isinstance(error, SettingsError)
    assert "`ssl_server_cert_dn`" in str(error)
    assert "CN=elsewhere" in str(error)
    assert "CONNECT_DATA" not in server.output.decode("latin-1")


def test_the_right_dn_is_accepted(pki):
    with listener(pki) as server:
        config = _settings(server, wallet_location=str(pki.one_way), ssl_server_cert_dn=SERVER_DN)
        error = connect_through(server, config)
    assert "(SERVICE_NAME=GNOSDB_HIGH)" in server.output.decode("latin-1")
    assert not isinstance(error, SettingsError)


def test_mutual_tls_without_a_client_certificate_names_the_wallet_settings(pki):
    with listener(pki, mutual=True) as server:
        error = connect_through(server, _settings(server, wallet_location=str(pki.one_way)))
    assert isinstance(error, SettingsError)
    assert "mutual TLS" in str(error)
    assert "`wallet_location`" in str(error) and "`wallet_password`" in str(error)


def test_a_wallet_folder_with_only_cwallet_sso_is_refused_saying_why(pki):
    with pytest.raises(SettingsError, match=r"cwallet\.sso but no ewallet\.pem.*thin mode"):
        database_rules({"dsn": "gnosdb_high", "wallet_location": str(pki.sso_only)}).create_engine()


def test_the_target_process_reports_a_tls_failure_as_one_line_without_secrets(pki, h, tmp_path):
    with listener(pki) as server:
        config = _settings(
            server,
            wallet_location=str(pki.mutual),
            wallet_password=WALLET_PASSWORD,
            ssl_server_cert_dn="CN=elsewhere",
        )
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        schema = h.schema("orders", {"id": {"type": "integer"}})
        result = subprocess.run(
            [str(EXECUTABLE), "--config", str(config_path)],
            input=json.dumps(schema) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("target-gruponos-oracle: settings: TLS:")
    assert "`ssl_server_cert_dn`" in last
    assert WALLET_PASSWORD not in result.stderr
    assert "db-pass-1" not in result.stderr
