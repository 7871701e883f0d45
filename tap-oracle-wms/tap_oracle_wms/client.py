"""The WMS HTTP rules in one place: URLs, auth, retries, errors, pagination, scoping.

`WMSClient` is used by the streams and by other tools (e.g. the orchestrator's counts);
`WMSStream` is the stream base that turns pages into Singer records cheaply.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import msgspec
import requests
import urllib3
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from singer_sdk.streams import Stream

from tap_oracle_wms.auth import OAuth2ClientCredentials, build_auth
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.errors import (
    WMSAuthError,
    WMSConfigError,
    WMSError,
    WMSPermissionError,
    WMSRequestError,
    WMSResponseError,
    WMSUnavailableError,
)
from tap_oracle_wms.messages import ENCODER, BufferedSingerWriter
from tap_oracle_wms.records import RecordCodec
from tap_oracle_wms.scope import (
    SCOPE_PROPERTIES,
    Scope,
    refused_path_hint,
    resolve_scope,
    scope_properties,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1250
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
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


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """Return the WMS error `code` and `message` of a response, if it has them."""
    try:
        body = _DECODER.decode(response.content)
    except msgspec.DecodeError:
        return None, response.text[:200] or None
    if not isinstance(body, dict):
        return None, None
    message = body.get("message") or body.get("detail") or body.get("error_description")
    code = body.get("code") or body.get("error")
    return (str(code) if code else None), (str(message) if message else None)


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
        self._entities: dict[str, str] | None = None
        self._schemas: dict[str, dict] = {}

    # -- requests ----------------------------------------------------------------------
    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds before retry `attempt`: Retry-After when given, else backoff with jitter."""
        header = response.headers.get("Retry-After") if response is not None else None
        if header:
            try:
                return min(max(float(header), 0.0), _MAX_RETRY_AFTER_S)
            except ValueError:
                pass  # an HTTP date: fall back to backoff
        return random.uniform(0, min(_MAX_BACKOFF_S, self.BACKOFF_BASE_S * 2**attempt))

    def _fetch(
        self, url: str, params: t.Mapping[str, t.Any] | None
    ) -> tuple[requests.Response, bytes]:
        """GET one URL; the response and, for a 200, its whole body.

        A 200 body is read in one call rather than requests' 10 KiB chunks (a page is
        about 1 MB), then the connection goes back to the pool for the next page.
        """
        response = self.session.get(
            url, params=params, timeout=self.timeout, verify=self.verify, stream=True
        )
        if response.status_code != 200:
            return response, response.content
        body = response.raw.read(decode_content=True)
        response.raw.release_conn()
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
                response, body = self._fetch(url, params)
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
                problem = f"{type(exc).__name__} (connection dropped, timed out or truncated)"
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
                msg = f"Giving up after {attempt + 1} attempts: {problem}"
                target = safe_url(response.url if response is not None else url)
                raise WMSUnavailableError(msg, url=target)
            wait = self._wait(attempt, response)
            logger.warning(
                "Retrying %s in %.2fs (attempt %d of %d): %s",
                safe_url(url),
                wait,
                attempt + 1,
                self.max_retries,
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

    def schema(self, entity: str) -> dict:
        """Return the entity's schema (cached)."""
        if entity not in self._schemas:
            self._schemas[entity] = resolve_schema(self, entity)
        return self._schemas[entity]

    # -- queries -------------------------------------------------------------------------
    def scope(self, entity: str, properties: t.Collection[str] | None = None) -> Scope:
        """Return the company/facility scope filters of `entity` (refusing what cannot be scoped).

        `properties` are the entity's fields (default: its discovered schema's).
        """
        if properties is None:
            properties = self.schema(entity).get("properties", {})
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

    def explain_refusal(
        self, exc: WMSError, entity: str, properties: t.Collection[str]
    ) -> WMSError:
        """Return a 400 answer's error naming the relation-path scope filters it carried."""
        if exc.status != 400:
            return exc
        hint = refused_path_hint(self.scope(entity, properties))
        if not hint:
            return exc
        return WMSRequestError(
            f"The WMS refused a filter or parameter: {hint}",
            url=exc.url,
            status=exc.status,
            code=exc.code,
            wms_message=exc.wms_message,
        )

    def count(self, entity: str) -> int:
        """How many records a FULL run of `entity` with this config extracts (same scope)."""
        properties = self.schema(entity).get("properties", {})
        params = self.scope_params(entity, properties)
        params.update({"page_mode": "paged", "page_size": 1})
        try:
            body = self.get(self.entity_url(entity), params, not_found_ok=True)
        except WMSRequestError as exc:
            raise self.explain_refusal(exc, entity, properties) from None
        if body is None:
            return 0
        if not isinstance(body, dict) or not isinstance(body.get("result_count"), int):
            msg = f"No result_count in the paged answer for '{entity}'"
            raise WMSResponseError(msg, url=self.entity_url(entity))
        return body["result_count"]

    def pages(
        self, entity: str, params: t.Mapping[str, t.Any], decoder: msgspec.json.Decoder
    ) -> Iterator[t.Any]:
        """Every page of a list, following `next_page` exactly as given.

        A 404 (or 204) on the first page of a known entity is an empty result. A `next_page`
        seen before stops the run: the WMS would serve the same pages forever. The next
        page is fetched in a helper thread while the caller works on the current one
        (at most one page ahead, so memory stays flat).
        """
        query: dict[str, t.Any] = {
            **params,
            "page_size": self.page_size,
            "page_mode": self.page_mode,
        }
        seen: set[str] = set()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wms-prefetch")
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
    return f"stream '{stream}', record id {record_id}, field '{field}': {problem}"


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


def parse_timestamp(text: str) -> dt.datetime:
    """Return an ISO 8601 timestamp as an aware datetime (UTC when it has no offset)."""
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def utc_param(value: dt.datetime) -> str:
    """Return a timestamp filter value in UTC with an explicit offset."""
    return value.astimezone(dt.timezone.utc).isoformat()


def not_after(earlier: str, later: str) -> bool:
    """Whether timestamp `earlier` is at or before `later`, parsing only when it must.

    ISO 8601 strings of the same length with the same offset compare correctly as text
    (the WMS writes one offset and one precision): no datetime is built on that path.
    """
    if len(earlier) == len(later) and earlier[-6:] == later[-6:]:
        return earlier <= later
    return parse_timestamp(earlier) <= parse_timestamp(later)


class WMSStream(Stream):
    """A stream reading one WMS entity through `WMSClient`, with a fast record path.

    Records are decoded straight into typed structs, converted by a function compiled
    once per stream, and written as pre-framed RECORD lines; the SDK still drives
    selection, state, STATE messages and metrics.
    """

    # Requests ask for (mod_ts, id) order; whether the WMS honours it is checked as records
    # arrive (see `_increment_stream_state`), so the SDK's own sort check is not used.
    is_sorted = True

    def __init__(self, tap: t.Any, name: str, schema: dict, client: WMSClient) -> None:
        """Bind the entity's schema and the shared client."""
        self.client = client
        super().__init__(tap=tap, name=name, schema=schema)
        self.primary_keys = ["id"]
        self._frame: tuple[bytes, bytes] | None = None
        self._bookmark: dt.datetime | None = None  # the saved or newest mod_ts, as an instant
        self._key: str | None = None  # the replication key of this run (None: not incremental)
        self._max: str | None = None  # the greatest replication key value seen
        self._ordered = True  # every record so far came at or after the one before
        # Set when records arrive out of order by design (e.g. id ranges read in parallel):
        # the bookmark then waits for the end as when disorder is detected.
        self._held = False
        self._complete = False  # every page of the stream was read

    @property
    def metadata(self) -> t.Any:
        """Standard metadata, with the scope properties always included (never deselected)."""
        md = super().metadata
        for name in SCOPE_PROPERTIES.values():
            entry = md.get(("properties", name))
            if entry is not None:
                entry.inclusion = "automatic"
        return md

    # -- what to request ---------------------------------------------------------------
    def request_params(self, context: Context | None) -> dict[str, t.Any]:
        """Return filters and ordering for this run; subclasses add replication filters."""
        return self.client.scope_params(self.name, self.schema.get("properties", {}))

    # -- records -----------------------------------------------------------------------
    def _selected_properties(self) -> list[str]:
        mask = self.mask
        return [
            name
            for name in self.effective_schema.get("properties", {})
            if mask.get(("properties", name), True)
        ]

    def get_records(self, context: Context | None) -> Iterator[dict]:
        """Return converted records of every page."""
        codec = RecordCodec(
            self.name,
            self.effective_schema,
            self._selected_properties(),
            self.client.scope_values(),
        )
        saved = self.stream_state.get("replication_key_value") if self.incremental else None
        self._bookmark = parse_timestamp(saved) if saved else None
        self._key = self.replication_key if self.incremental else None
        self._max, self._ordered, self._complete = None, True, False
        if self._stream_version is not None:
            # The SDK's version counts whole seconds: two full syncs in one second would
            # share it and the second could not tell the first one's rows from its own.
            self._stream_version = time.time_ns() // 1_000_000
        convert = codec.convert
        params = self.request_params(context)
        try:
            for page in self.client.pages(self.name, params, codec.decoder):
                if self._frame is not None:
                    self._frame = (self._frame[0], self._suffix())
                for raw in page.results:
                    yield convert(raw)
        except WMSRequestError as exc:
            properties = self.schema.get("properties", {})
            raise self.client.explain_refusal(exc, self.name, properties) from None
        self._complete = True
        if self._stream_version is not None and self.emit_activate_version_messages:
            # Every record of this full-table sync has been written: only now may the
            # target treat rows of older versions as gone from the WMS.
            self._write_activate_version_message(self._stream_version)

    def _suffix(self) -> bytes:
        extracted = ENCODER.encode(dt.datetime.now(dt.timezone.utc))
        version = f',"version":{self._stream_version}' if self._stream_version else ""
        return f'{version},"time_extracted":{extracted.decode()}}}\n'.encode()

    def _write_activate_version_message(self, full_table_version: int) -> None:
        """Write ACTIVATE_VERSION only once the stream's records are complete.

        The SDK writes it when a FULL_TABLE stream starts, before any record: a target
        then deletes (or marks deleted) every row of older versions at once, and a run
        that fails halfway leaves most of the table marked deleted. Holding the message
        until the last page has been read means only a completed full sync leads to
        deletions; the RECORDs still carry the version from the start.
        """
        if self._complete:
            super()._write_activate_version_message(full_table_version)

    def _write_schema_message(self) -> None:
        """Write SCHEMA, and decide whether records can take the fast path."""
        super()._write_schema_message()
        maps = self.stream_maps
        fast = (
            isinstance(self._tap.message_writer, BufferedSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not self.config.get("flattening_enabled")
        )
        if fast:
            prefix = b'{"type":"RECORD","stream":' + ENCODER.encode(maps[0].stream_alias)
            self._frame = (prefix + b',"record":', self._suffix())
            self._write_record = self._tap.message_writer.write_record
        else:
            self._frame = None

    def _write_record_message(self, record: dict) -> None:
        """Write one RECORD: pre-framed when no stream map needs the SDK's path."""
        frame = self._frame
        if frame is None:
            super()._write_record_message(record)
            return
        self._write_record(frame[0], record, frame[1])
        self.state_manager.is_flushed = False

    def _process_record(
        self,
        record: dict,
        child_context: t.Any = None,
        partition_context: t.Any = None,
    ) -> None:
        """No child streams and no partitions: nothing to do per record."""

    # -- state -------------------------------------------------------------------------
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: the bookmark comes from the WMS's own clock, not ours."""
        return

    @property
    def incremental(self) -> bool:
        """Whether this run is incremental (a catalog may force FULL_TABLE)."""
        return self.replication_method == REPLICATION_INCREMENTAL and bool(self.replication_key)

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """Track the greatest replication key value, and whether records arrive in order.

        One string comparison per record (see `not_after`): a record older than one
        already seen shows the WMS did not honour `ordering` (unconfirmed for sequenced
        cursors), and from then on mid-run bookmarks are held.
        """
        key = self._key
        if key is None:
            return
        value = latest_record.get(key)
        if value is None:
            return
        top = self._max
        # `not_after`, its text fast path inlined: this runs once per record.
        if top is None or (
            top <= value
            if len(top) == len(value) and top[-6:] == value[-6:]
            else not_after(top, value)
        ):
            self._max = value
        elif self._ordered:
            self._ordered = False
            logger.warning(
                "Stream '%s': records arrive out of %s order (%s after %s); the bookmark "
                "stays at its starting value until every page is read",
                self.name,
                key,
                value,
                top,
            )

    def _write_state_message(self) -> None:
        """Move the bookmark where a resumed run cannot skip a record, then write STATE.

        In order, every record not yet received is at or after the greatest value seen.
        Out of order, nothing is known about them until the stream completes, so the
        bookmark only moves at the end (to the greatest value seen).
        """
        value = self._max if (self._ordered and not self._held) or self._complete else None
        if value is not None and self._key is not None:
            moment = parse_timestamp(value)
            # Compared as instants (offsets may differ), and never moved back.
            if self._bookmark is None or moment >= self._bookmark:
                self._bookmark = moment
                state = self.stream_state
                state["replication_key"] = self._key
                state["replication_key_value"] = value
        super()._write_state_message()
