"""The WMS HTTP rules in one place: URLs, auth, retries, errors, pagination, scoping.

`WMSClient` is used by the streams (streams.py) and by other tools (e.g. the orchestrator's
counts): this module imports nothing from the Singer SDK.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import random
import re
import time
import types
import typing as t
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import msgspec
import requests
import urllib3

from tap_oracle_wms.auth import OAuth2ClientCredentials, build_auth
from tap_oracle_wms.errors import (
    WMSAuthError,
    WMSConfigError,
    WMSError,
    WMSPermissionError,
    WMSRequestError,
    WMSResponseError,
    WMSUnavailableError,
    printable,
)
from tap_oracle_wms.horizon import WMSClock
from tap_oracle_wms.pool import DEFAULT_PARALLEL_REQUESTS, MAX_PARALLEL_REQUESTS, RequestGate
from tap_oracle_wms.scope import (
    DIMENSIONS,
    Scope,
    refused_path_hint,
    resolve_scope,
    scope_codes,
    scope_properties,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator


logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1250
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
THROTTLING_STATUS = frozenset({429, 503, 504})  # these cut the tap's requests in flight
_DECODER = msgspec.json.Decoder()
_MAX_BACKOFF_S = 60.0
_MAX_RETRY_AFTER_S = 300.0
# A live WMS took 17-21 s per 1,000-row page: 300 s leaves room for 1,250-row pages on a
# loaded instance, while a dead connection still fails within minutes.
DEFAULT_REQUEST_TIMEOUT_S = 300.0


def safe_url(url: str) -> str:
    """Return a URL without any user:password part."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def network_problem(exc: Exception, url: str, timeout: float) -> str:
    """Say what went wrong on the network, naming the host: refused, timed out, not found."""
    host = urlsplit(url).netloc.rpartition("@")[2] or url
    text = str(exc).lower()
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text:
        return f"{host} timed out (no answer within {timeout:g} s, setting 'request_timeout')"
    if "refused" in text:
        return f"connection refused by {host} (nothing listens there: check 'base_url')"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or ("name resolution" in text)
    ):
        return f"host {host} not found (DNS): check 'base_url'"
    return f"{type(exc).__name__} talking to {host} (connection dropped or answer truncated)"


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """Return the WMS error `code` and `message` of a response, if it has them."""
    try:
        body = _DECODER.decode(response.content)
    except msgspec.DecodeError:
        return None, printable(response.text[:200]) or None
    if not isinstance(body, dict):
        return None, None
    message = body.get("message") or body.get("detail") or body.get("error_description")
    code = body.get("code") or body.get("error")
    return (printable(str(code)) if code else None), (printable(str(message)) if message else None)


class WMSClient:
    """HTTP access to one WMS environment's lgfapi, with every WMS rule the tap follows."""

    BACKOFF_BASE_S = 0.5

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        """Prepare a keep-alive session; nothing is requested yet."""
        self.config = config
        # The environment URL; a pasted API URL (…/wms/lgfapi/v10/entity/) is cut back to it.
        base = str(config["base_url"]).split("/wms/lgfapi/")[0].rstrip("/")
        self.api_url = f"{base}/wms/lgfapi/{config.get('api_version') or 'v10'}/entity/"
        self.timeout = float(config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT_S)
        self.max_retries = int(config.get("max_retries", 5))
        self.verify = bool(config.get("verify_ssl", True))
        self.page_size = min(int(config.get("page_size") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)
        self.page_mode = config.get("page_mode") or "sequenced"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.auth = build_auth(config, self.session, self.timeout, self.verify)
        parallel = int(config.get("max_parallel_requests") or DEFAULT_PARALLEL_REQUESTS)
        if not 1 <= parallel <= MAX_PARALLEL_REQUESTS:
            msg = f"Setting 'max_parallel_requests' must be 1 to {MAX_PARALLEL_REQUESTS}"
            raise WMSConfigError(msg)
        # One gate for every thread of this client: the bound holds for the whole tap.
        self.gate = RequestGate(parallel)
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, parallel))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._entities: dict[str, str] | None = None
        # The `Date` header of the latest answer: the WMS's own clock (see `wms_clock`).
        self.server_date: str | None = None
        self.clock = WMSClock()  # the WMS's clock at the run's start: bookmarks stop there

    # -- requests ----------------------------------------------------------------------
    @staticmethod
    def _retry_after(response: requests.Response | None) -> float | None:
        """Seconds a Retry-After header asks for (capped), or None."""
        header = response.headers.get("Retry-After") if response is not None else None
        if header:
            try:
                return min(max(float(header), 0.0), _MAX_RETRY_AFTER_S)
            except ValueError:
                pass  # an HTTP date: fall back to backoff
        return None

    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds before retry `attempt`: Retry-After when given, else backoff with jitter."""
        retry_after = self._retry_after(response)
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(_MAX_BACKOFF_S, self.BACKOFF_BASE_S * 2**attempt))

    def _fetch(
        self, url: str, params: t.Mapping[str, t.Any] | None, attempt: int = 0
    ) -> tuple[requests.Response, bytes]:
        """GET one URL through the request gate; the response and, for a 200, its body.

        A 200 body is read in one call rather than requests' 10 KiB chunks (a page is
        about 1 MB), then the connection goes back to the pool for the next page. A
        throttling answer or a timeout tells the gate, which slows the whole tap down.
        """
        ticket = self.gate.acquire(wait_pause=attempt == 0)  # a retry waited already
        try:
            response = self.session.get(
                url, params=params, timeout=self.timeout, verify=self.verify, stream=True
            )
            if response.status_code == 200:
                body = response.raw.read(decode_content=True)
                response.raw.release_conn()
            else:
                body = response.content
        except requests.exceptions.Timeout:
            self.gate.throttled(ticket, "request timed out")
            raise
        finally:
            self.gate.release()
        date = response.headers.get("Date")
        self.clock.saw(date)
        self.server_date = date or self.server_date
        status = response.status_code
        if status in THROTTLING_STATUS:
            self.gate.throttled(ticket, f"HTTP {status}", self._retry_after(response))
        elif status < 500 and status != 409:
            self.gate.succeeded()
        return response, body

    def get(
        self,
        url: str,
        params: t.Mapping[str, t.Any] | None = None,
        decoder: msgspec.json.Decoder | None = None,
        *,
        not_found_ok: bool = False,
    ) -> t.Any:
        """GET and decode JSON, retrying what is transient; None for an accepted 404."""
        refreshed = False
        attempt = 0
        while True:
            response: requests.Response | None = None
            problem: str
            try:
                response, body = self._fetch(url, params, attempt)
            except (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
            ) as exc:
                msg = f"Setting 'base_url' does not give a usable URL ({type(exc).__name__})"
                raise WMSConfigError(msg, url=safe_url(url)) from None
            except requests.exceptions.SSLError:
                msg = "TLS certificate verification failed (see setting 'verify_ssl')"
                raise WMSRequestError(msg, url=safe_url(url)) from None
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                problem = network_problem(exc, url, self.timeout)
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return (decoder or _DECODER).decode(body)
                    except msgspec.ValidationError as exc:
                        msg = f"Unexpected data in the WMS answer: {_locate(exc, body, url)}"
                        raise WMSResponseError(msg, url=safe_url(response.url)) from None
                    except msgspec.DecodeError:
                        problem = "truncated or malformed JSON body"
                elif status in (204, 404) and not_found_ok:
                    return None
                elif (
                    status == 401
                    and not refreshed
                    and isinstance(self.session.auth, OAuth2ClientCredentials)
                ):
                    self.session.auth.invalidate()  # the token may have expired early
                    refreshed = True
                    continue
                elif status in RETRYABLE_STATUS:
                    problem = f"HTTP {status}"
                else:
                    raise self._error(response) from None
            if attempt >= self.max_retries:
                tries = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
                msg = f"Giving up after {tries} (setting 'max_retries' is {attempt}): {problem}"
                target = safe_url(response.url if response is not None else url)
                raise WMSUnavailableError(msg, url=target)
            wait = self._wait(attempt, response)
            logger.warning(
                "Retrying %s in %.2fs: attempt %d of %d failed: %s",
                safe_url(url),
                wait,
                attempt + 1,
                self.max_retries + 1,
                problem,
            )
            time.sleep(wait)
            attempt += 1

    @staticmethod
    def _error(response: requests.Response) -> WMSError:
        code, message = _error_body(response)
        status = response.status_code
        kind: type[WMSError] = WMSRequestError
        text = "The WMS refused the request"
        if status == 401:
            kind, text = WMSAuthError, "The WMS rejected the credentials (check auth settings)"
        elif status == 403:
            kind = WMSPermissionError
            text = "The WMS user lacks permission (lgfapi_read_access is needed)"
        elif status == 400:
            text = "The WMS refused a filter or parameter"
        return kind(text, url=safe_url(response.url), status=status, code=code, wms_message=message)

    def wms_clock(self) -> dt.datetime | None:
        """Return the WMS's time at its latest answer (its `Date` header), if it sent one.

        The header counts whole seconds: the value is rounded down, so every change the WMS
        had committed before that answer was written is at or before it.
        """
        if not self.server_date:
            return None
        try:
            return email.utils.parsedate_to_datetime(self.server_date)
        except (TypeError, ValueError):
            return None

    # -- entities ------------------------------------------------------------------------
    def list_entities(self) -> dict[str, str]:
        """Every entity the instance lists: name -> URL."""
        if self._entities is None:
            self._entities = _entity_list(self.get(self.api_url), self.api_url, self.entity_url)
        return self._entities

    def entity_url(self, entity: str) -> str:
        """Return the list URL of an entity."""
        return f"{self.api_url}{entity}/"

    def describe(self, entity: str) -> t.Any:
        """Return the entity's `describe/` answer, or None when unavailable."""
        try:
            return self.get(f"{self.entity_url(entity)}describe/", not_found_ok=True)
        except (WMSRequestError, WMSResponseError) as exc:
            logger.info("Entity '%s': describe failed (%s)", entity, exc)
            return None

    def sample(self, entity: str) -> list[dict]:
        """Return a few records of the entity (for schema inference)."""
        body = self.get(self.entity_url(entity), {"page_size": 10}, not_found_ok=True)
        results = body.get("results") if isinstance(body, dict) else None
        return [r for r in results or [] if isinstance(r, dict)]

    # -- queries -------------------------------------------------------------------------
    def scope(self, entity: str, properties: t.Collection[str]) -> Scope:
        """Return the company/facility scope filters of `entity` (refusing what cannot be scoped).

        `properties` are the entity's fields (its stream's schema's).
        """
        return resolve_scope(self.config, entity, properties)

    def scope_params(self, entity: str, properties: t.Collection[str]) -> dict[str, t.Any]:
        """Return the filters a FULL run of `entity` sends: scoping and entity_filters."""
        params: dict[str, t.Any] = dict(self.scope(entity, properties).params)
        extra = (self.config.get("entity_filters") or {}).get(entity) or {}
        for name, value in extra.items():
            value = _param_value(value)
            if params.get(str(name), value) != value:
                # The scope must win, and silently dropping either value would hide it.
                msg = (
                    f"Setting 'entity_filters' gives '{entity}' the filter {name}={value!r}, "
                    f"which contradicts the run's scope ({name}={params[str(name)]!r}): "
                    f"remove it (the tap scopes '{entity}' itself)"
                )
                raise WMSConfigError(msg)
            params[str(name)] = value
        return params

    def scope_values(self) -> dict[str, str]:
        """Return the `scope_company_code` / `scope_facility_code` values records carry."""
        return scope_properties(self.config)

    def check_scope_codes(self) -> None:
        """Refuse a company or facility code the WMS does not have, listing those it has.

        Otherwise a mistyped code extracts nothing and the run passes on empty figures.
        Asked of the WMS's own `company` and `facility` entities (where it lists them),
        each narrowed as extraction would be.
        """
        codes = scope_codes(self.config)
        listed = self.list_entities()
        for dim, setting in DIMENSIONS:
            if dim not in codes or dim not in listed:
                continue
            within = {"company_code": codes.get("company")} if dim == "facility" else {}
            if self._has_any(dim, {**within, setting: codes[dim]}):
                continue
            known = self._codes(dim, within)
            owner = f" in company {codes['company']!r}" if within.get("company_code") else ""
            has = f"it has: {known}" if known else f"it has no {dim}{owner}"
            msg = (
                f"Unknown {dim} {codes[dim]!r} (setting '{setting}'): the WMS's '{dim}' "
                f"entity has no such code{owner}; {has}. Fix the code: nothing was extracted"
            )
            raise WMSConfigError(msg, url=self.entity_url(dim))

    def _scoped_page(self, dim: str, config: dict[str, t.Any], size: int) -> t.Any:
        params = resolve_scope(config, dim, ()).params
        query = {**params, "page_mode": "paged", "page_size": size}
        if size > 1:
            query["fields"] = "code"
        return self.get(self.entity_url(dim), query, not_found_ok=True)

    def _has_any(self, dim: str, config: dict[str, t.Any]) -> bool:
        body = self._scoped_page(dim, config, 1)  # the WMS answers 404 when nothing matches
        return bool(isinstance(body, dict) and (body.get("result_count") or body.get("results")))

    def _codes(self, dim: str, config: dict[str, t.Any], most: int = 20) -> str:
        """Return the codes of `dim` the WMS lists within `config`'s scope, for a message."""
        try:
            body = self._scoped_page(dim, config, most)
        except WMSError:
            return ""  # the message stands without the list
        rows = body.get("results") if isinstance(body, dict) else None
        codes = sorted(
            printable(str(r["code"])) for r in rows or [] if isinstance(r, dict) and r.get("code")
        )
        more = ", …" if isinstance(body, dict) and (body.get("result_count") or 0) > most else ""
        return ", ".join(codes) + more

    def explain_refusal(
        self, exc: WMSError, entity: str, properties: t.Collection[str]
    ) -> WMSError:
        """Return a 400 answer's error naming the relation-path scope filter it refused.

        Only when the WMS's message names one of the scope paths; any other 400 is left
        as the WMS gave it.
        """
        if exc.status != 400:
            return exc
        hint = refused_path_hint(self.scope(entity, properties), exc.wms_message)
        if not hint:
            return exc
        return WMSRequestError(
            f"The WMS refused a filter or parameter: {hint}",
            url=exc.url,
            status=exc.status,
            code=exc.code,
            wms_message=exc.wms_message,
        )

    def count(self, entity: str, properties: t.Collection[str]) -> int:
        """How many records a FULL run of `entity` with this config extracts (same scope).

        One one-row paged request asking only for `id`, as the partition planner's;
        `properties` are the entity's fields (the run's SCHEMA), which the scope needs.
        """
        params = self.scope_params(entity, properties)
        params.update({"page_mode": "paged", "page_size": 1, "fields": "id", "ordering": "id"})
        try:
            body = self.get(self.entity_url(entity), params, not_found_ok=True)
        except WMSRequestError as exc:
            raise self.explain_refusal(exc, entity, properties) from None
        if body is None:
            return 0
        count = body.get("result_count") if isinstance(body, dict) else None
        if not isinstance(count, int):
            msg = f"No result_count in the paged answer for '{entity}'"
            raise WMSResponseError(msg, url=self.entity_url(entity))
        return count

    def pages(
        self,
        entity: str,
        params: t.Mapping[str, t.Any],
        decoder: msgspec.json.Decoder,
        *,
        prefetch: bool = True,
    ) -> Iterator[t.Any]:
        """Every page of a list, following `next_page` exactly as given.

        A 404 (or 204) on the first page of a known entity is an empty result. A `next_page`
        seen before stops the run: the WMS would serve the same pages forever. With
        `prefetch`, the next page is fetched in a helper thread while the caller works on
        the current one (at most one page ahead, so memory stays flat); without, when the
        caller asks for it (for callers reading several lists on threads of their own).
        """
        query: dict[str, t.Any] = {
            **params,
            "page_size": self.page_size,
            "page_mode": self.page_mode,
        }
        seen: set[str] = set()
        pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="wms-prefetch")
            if prefetch
            else _OnDemand()
        )
        try:
            pending = pool.submit(
                self.get, self.entity_url(entity), query, decoder, not_found_ok=True
            )
            while True:
                page = pending.result()
                if page is None:
                    return
                next_url = page.next_page
                if next_url:
                    if next_url in seen:
                        msg = f"Pagination loop on '{entity}': next_page repeats an earlier page"
                        raise WMSResponseError(msg, url=safe_url(next_url))
                    seen.add(next_url)
                    # A later page answering 404 is not "empty": the default raises.
                    pending = pool.submit(self.get, next_url, None, decoder)
                yield page
                if not next_url:
                    return
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


class _OnDemand:
    """Stands in for the prefetch thread: a call is made when its result is asked for."""

    def submit(self, fn: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Return an object whose `result()` makes the call."""
        return types.SimpleNamespace(result=functools.partial(fn, *args, **kwargs))

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing runs in the background."""


_RESULT_PATH = re.compile(r"\$\.results\[(\d+)\]\.?([A-Za-z0-9_]*)")


def _locate(exc: msgspec.ValidationError, body: bytes, url: str) -> str:
    """Name the stream, record id and field of a value that did not fit (when on a record)."""
    found = _RESULT_PATH.search(str(exc))
    if not found:
        return str(exc)
    index, field = int(found.group(1)), found.group(2)
    try:
        record = _DECODER.decode(body)["results"][index]
        record_id = record.get("id") if isinstance(record, dict) else None
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
        record_id = None
    stream = url.split("/entity/")[-1].split("/")[0] if "/entity/" in url else "?"
    problem = str(exc).split(" - at ")[0]
    where = f"record id {record_id} (record {index + 1} of the page)"
    return f"stream '{stream}', {where}, field '{field}': {problem}"


def _entity_list(body: t.Any, url: str, entity_url: t.Callable[[str], str]) -> dict[str, str]:
    """Read the entity list: a JSON object name -> URL, or a list of names or of objects."""
    if isinstance(body, dict):
        return {str(k): str(v) for k, v in body.items()}
    if isinstance(body, list):
        entities: dict[str, str] = {}
        for item in body:
            if isinstance(item, str):
                entities[item] = entity_url(item)
            elif isinstance(item, dict) and item.get("name"):
                entities[str(item["name"])] = str(item.get("url") or entity_url(item["name"]))
        if entities or not body:
            return entities
    msg = "The entity list is neither a JSON object nor a list of entities"
    raise WMSResponseError(msg, url=url)


def _param_value(value: t.Any) -> str:
    """Return a filter value as the WMS expects it (lists comma-joined, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_param_value(v) for v in value)
    return str(value)


def utc_param(value: dt.datetime) -> str:
    """Return a timestamp filter value in UTC with an explicit offset."""
    return value.astimezone(dt.UTC).isoformat()
