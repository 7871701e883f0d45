"""Real alert receivers on loopback, for tests of alerting (webhook, Slack, SMTP).

with http_receiver() as hook:          # any JSON POST, e.g. webhook or Slack
    ... hook.url ...; hook.requests    # [(path, payload), ...]
with smtp_server(username="u", password="p") as smtp:
    ... smtp.port ...; smtp.messages   # [email.message.EmailMessage, ...]

`kill_process_tree` ends a run the worst way (SIGKILL to it and all it started); `wait_for`
polls for a file a running process is to write.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class HttpReceiver:
    """A running receiver: its URL and every JSON request it got."""

    url: str
    requests: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200


@contextlib.contextmanager
def http_receiver(path: str = "/hook") -> Iterator[HttpReceiver]:
    """Run an HTTP server on loopback that records JSON POSTs; yields its state."""
    received: list[tuple[str, Any]] = []
    state = HttpReceiver(url="", requests=received)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload: Any = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            received.append((self.path, payload))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    # aiosmtpd's controller needs a concrete port; the kernel picks one that is free now.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    """A running SMTP server: where it listens and the messages it accepted."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextlib.contextmanager
def smtp_server(
    username: str | None = None,
    password: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    implicit_tls: bool = False,
) -> Iterator[SmtpServer]:
    """Run an aiosmtpd server on loopback.

    With a cert it requires STARTTLS (or, with `implicit_tls`, speaks TLS from the start, as
    on port 465); with a username it requires that login.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    state = SmtpServer(host="127.0.0.1", port=0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            state.messages.append(message)
            return "250 OK"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        if ok:
            state.logins.append(username or "")
        return AuthResult(success=ok)

    kwargs: dict[str, Any] = {}
    if username is not None:
        # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS connection is encrypted anyway.
        starttls = tls_cert is not None and not implicit_tls
        kwargs.update(authenticator=authenticator, auth_require_tls=starttls)
    if tls_cert is not None and tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_cert), str(tls_key))
        if implicit_tls:
            kwargs.update(ssl_context=context)
        else:
            kwargs.update(tls_context=context, require_starttls=True)
    state.port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=state.port, **kwargs)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


def wait_for(
    paths: Callable[[], list[Path]], process: subprocess.Popen[str], what: str
) -> list[Path]:
    """Poll `paths` until it finds something; fail if `process` ends first or after 60 s."""
    deadline = time.monotonic() + 60
    while not (found := paths()):
        assert process.poll() is None, f"the run ended before {what} appeared"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.02)
    return found


def descendants(pid: int) -> list[int]:
    """Return the pids of every process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_process_tree(process: subprocess.Popen[str]) -> None:
    """SIGKILL the orchestrator and everything it started (the worst way a run can end)."""
    tree = descendants(process.pid)
    process.kill()
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=60)
