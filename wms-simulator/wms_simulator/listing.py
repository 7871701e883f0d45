"""List requests: parameter checks, both page modes and their envelopes, `fields`."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from wms_simulator.errors import WMSHTTPError
from wms_simulator.query import QueryError
from wms_simulator.state import SimulatorState, cursor_token
from wms_simulator.store import encode

MAX_PAGE_SIZE = 1250
DEFAULT_PAGE_SIZE = 100  # the WMS default is the user's "rows per page" (10 to 125)


def list_page(state: SimulatorState, entity: str, query: str) -> tuple[int, bytes]:
    """Answer `GET …/entity/{entity}/?{query}`: status and body."""
    # A repeated parameter: only the last one counts.
    params = dict(parse_qsl(query, keep_blank_values=True))
    page_size = int_param(params, "page_size", DEFAULT_PAGE_SIZE)
    if page_size < 1:
        raise WMSHTTPError(400, "VALIDATION_ERROR", "page_size must be positive")
    page_size = min(page_size, MAX_PAGE_SIZE)
    mode = params.get("page_mode", "paged")
    if mode not in ("paged", "sequenced"):
        raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid page_mode '{mode}'")
    empty_code = params.get("empty_response_http_code", "404")
    if empty_code not in ("200", "204", "404"):
        raise WMSHTTPError(400, "VALIDATION_ERROR", "empty_response_http_code: 200, 204 or 404")
    if params.get("format", "json") != "json":
        raise WMSHTTPError(400, "VALIDATION_ERROR", "Only format=json is simulated")
    if "values_list" in params:  # its answer shape is undocumented: refuse, don't guess
        raise WMSHTTPError(400, "VALIDATION_ERROR", "values_list is not simulated")
    fields = [f for f in params.get("fields", "").split(",") if f]
    for name in fields:
        if name not in state.store.entities[entity].by_name and name != "url":
            raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid field '{name}' in fields")
    base = state.store.entity_url(entity)
    kept = "&".join(p for p in query.split("&") if p and p.split("=")[0] not in ("page", "cursor"))
    try:
        if mode == "sequenced" and params.get("cursor"):
            sid, ids, offset = state.resolve_cursor(params["cursor"])
        else:
            if mode == "sequenced" and state.cursor_ignores_ordering:
                # Whether a live sequenced cursor honours `ordering` is unconfirmed: this
                # plays one that does not (ids in storage order, whatever was asked).
                params = {k: v for k, v in params.items() if k != "ordering"}
            ids = state.ids_for(entity, params)
            sid = state.snapshot(ids) if mode == "sequenced" else ""
            offset = 0
    except QueryError as exc:
        raise WMSHTTPError(400, "VALIDATION_ERROR", str(exc)) from exc
    if not ids:
        if empty_code == "404":
            raise WMSHTTPError(404, "NOT_FOUND", f"No {entity} records match the query")
        if empty_code == "204":
            return 204, b""
    if mode == "sequenced":
        nxt = (
            _link(base, kept, f"cursor={cursor_token(sid, offset + page_size)}")
            if offset + page_size < len(ids)
            else None
        )
        prev = (
            _link(base, kept, f"cursor={cursor_token(sid, max(0, offset - page_size))}")
            if offset > 0
            else None
        )
        head: dict = {"next_page": nxt, "previous_page": prev}
    else:
        page = int_param(params, "page", 1)
        count = len(ids)
        pages = max(1, math.ceil(count / page_size))
        if page < 1 or page > pages:
            raise WMSHTTPError(404, "NOT_FOUND", f"Invalid page '{page}'")
        offset = (page - 1) * page_size
        head = {
            "result_count": count,
            "page_count": pages,
            "page_nbr": page,
            "next_page": _link(base, kept, f"page={page + 1}") if page < pages else None,
            "previous_page": _link(base, kept, f"page={page - 1}") if page > 1 else None,
        }
    chunk = ids[offset : offset + page_size]
    state.capacity.hold(len(chunk))
    store = state.store
    if fields:  # the slow path: only asked-for fields, encoded per request
        wanted = set(fields)
        rows = [
            encode(
                {
                    k: v
                    for k, v in store.to_json_obj(entity, store.rows[entity][i]).items()
                    if k in wanted
                }
            )
            for i in chunk
        ]
    else:
        rows = [store.encoded(entity, i) for i in chunk]
    return 200, encode(head)[:-1] + b',"results":[' + b",".join(rows) + b"]}"


def _link(base: str, kept: str, extra: str) -> str:
    """Return a list URL that keeps the caller's parameters and adds `extra`."""
    return f"{base}?{kept}&{extra}" if kept else f"{base}?{extra}"


def int_param(params: dict[str, str], name: str, default: int) -> int:
    """Return an integer query parameter; 400 when it is not one."""
    try:
        return int(params.get(name) or default)
    except ValueError as exc:
        raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid {name} '{params[name]}'") from exc
