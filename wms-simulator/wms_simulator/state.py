"""Sessions and cursors: credentials, OAuth2 tokens, cached queries and sequenced snapshots."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections import OrderedDict

from wms_simulator.capacity import Capacity
from wms_simulator.errors import WMSHTTPError
from wms_simulator.faults import Faults
from wms_simulator.query import CONTROL_PARAMS, Query
from wms_simulator.store import Store

_CACHE_SIZE = 64
# Parameters that change how results are paged or shown, not which rows match.
_PAGING = CONTROL_PARAMS - {"ordering"}


class SimulatorState:
    """Everything the request handlers share: data, credentials, tokens, caches, faults."""

    def __init__(
        self, store: Store, credentials: dict[str, str], oauth: dict[str, str], token_ttl: float
    ) -> None:
        """Bind the store and credentials."""
        self.store = store
        self.credentials = credentials  # username -> password; "noaccess" lacks read access
        self.oauth = oauth
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.api_requests = 0
        self.faults = Faults()
        self.capacity = Capacity()
        self.cursor_ignores_ordering = False  # sequenced cursors: ids in storage order
        self.lock = threading.Lock()
        self._queries: OrderedDict[tuple, tuple[int, list[int]]] = OrderedDict()
        self._snapshots: OrderedDict[str, list[int]] = OrderedDict()

    def ids_for(self, entity: str, params: dict[str, str]) -> list[int]:
        """Return matching ids in order, cached per query until the data changes."""
        key = (entity, tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)))
        with self.lock:
            hit = self._queries.get(key)
            if hit and hit[0] == self.store.version:
                self._queries.move_to_end(key)
                return hit[1]
        with self.store.lock:
            version = self.store.version
            ids = Query(self.store, entity, params).run()
        with self.lock:
            self._queries[key] = (version, ids)
            while len(self._queries) > _CACHE_SIZE:
                self._queries.popitem(last=False)
        return ids

    def snapshot(self, ids: list[int]) -> str:
        """Register an ordered id list for a sequenced extraction; its id."""
        sid = secrets.token_hex(8)
        with self.lock:
            self._snapshots[sid] = ids
            while len(self._snapshots) > _CACHE_SIZE:
                self._snapshots.popitem(last=False)
        return sid

    def resolve_cursor(self, token: str) -> tuple[str, list[int], int]:
        """Snapshot id, ids and offset behind an opaque cursor token."""
        try:
            sid, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            ids = self._snapshots[sid]
            return sid, ids, int(offset)
        except (ValueError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
            raise WMSHTTPError(400, "VALIDATION_ERROR", "Invalid or expired cursor") from exc

    def issue_token(self) -> str:
        """Issue a new bearer token."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_ttl
            self.token_requests += 1
        return token

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token is known and unexpired."""
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()


def cursor_token(sid: str, offset: int) -> str:
    """Return the opaque token for a position in a snapshot."""
    return base64.urlsafe_b64encode(f"{sid}:{offset}".encode()).decode()
