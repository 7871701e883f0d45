"""tap-oracle-wms: the Singer tap for Oracle WMS Cloud (lgfapi)."""

from __future__ import annotations

import logging
import sys
import typing as t

from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib.schema import Schema

from tap_oracle_wms.auth import DEFAULT_SCOPE
from tap_oracle_wms.client import DEFAULT_REQUEST_TIMEOUT_S, MAX_PAGE_SIZE, WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.errors import WMSConfigError, WMSError
from tap_oracle_wms.inputs import check_settings, check_state
from tap_oracle_wms.messages import BufferedSingerWriter
from tap_oracle_wms.pool import DEFAULT_PARALLEL_REQUESTS, MAX_PARALLEL_REQUESTS
from tap_oracle_wms.scope import with_scope_properties
from tap_oracle_wms.sdk import FencedTap
from tap_oracle_wms.streams import EntityStream

DEFAULT_ENTITIES = ["allocation", "order_hdr", "order_dtl"]


class TapOracleWMS(FencedTap):
    """Extracts Oracle WMS Cloud entities through the lgfapi REST API."""

    name = "tap-oracle-wms"
    message_writer_class = BufferedSingerWriter
    # Only what the tap does and its tests show; not BATCH messages nor structured
    # logging (neither used nor tested). Flattening is the SDK's (records are flat already:
    # a related object leaves as `x_id` and `x_id_key`).
    capabilities: t.ClassVar[list] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            required=True,
            description="Environment URL, e.g. https://a1.wms.ocs.oraclecloud.com/gnos_prod",
        ),
        th.Property("api_version", th.StringType, default="v10", description="lgfapi version"),
        th.Property(
            "auth_method",
            th.StringType,
            default="basic",
            allowed_values=["basic", "oauth2"],
            description="basic or oauth2",
        ),
        th.Property("username", th.StringType, description="WMS user (basic auth)"),
        th.Property(
            "password", th.StringType, secret=True, description="WMS password (basic auth)"
        ),
        th.Property("oauth_token_url", th.StringType, description="OAuth2 token endpoint (IDCS)"),
        th.Property("oauth_client_id", th.StringType, description="OAuth2 client id"),
        th.Property(
            "oauth_client_secret", th.StringType, secret=True, description="OAuth2 client secret"
        ),
        th.Property(
            "oauth_scope", th.StringType, default=DEFAULT_SCOPE, description="OAuth2 scope"
        ),
        th.Property(
            "company_code",
            th.StringType,
            description="Only this company: every entity is scoped (own field or relation "
            "path) or the run is refused; records carry scope_company_code",
        ),
        th.Property(
            "facility_code",
            th.StringType,
            description="Only this facility: every entity is scoped (own field or relation "
            "path) or the run is refused; records carry scope_facility_code",
        ),
        th.Property(
            "scope_paths",
            th.ObjectType(additional_properties=True),
            description='entity -> {"company": filter, "facility": filter} relation paths '
            'ending in the code, e.g. {"order_dtl": {"facility": "order_id__facility_id__code"}}; '
            "overrides own fields and built-in paths",
        ),
        th.Property(
            "unscoped_entities",
            th.ArrayType(th.StringType),
            default=[],
            description="Entities that may be extracted without the company/facility scope "
            "they cannot be narrowed by (otherwise the run is refused)",
        ),
        th.Property(
            "entities",
            th.ArrayType(th.StringType),
            default=DEFAULT_ENTITIES,
            description='Entities to extract; ["*"] = every entity the instance lists',
        ),
        th.Property(
            "entity_filters",
            th.ObjectType(additional_properties=True),
            description="entity -> extra query parameters",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=MAX_PAGE_SIZE,
            description=f"Records per page (at most {MAX_PAGE_SIZE})",
        ),
        th.Property(
            "page_mode",
            th.StringType,
            default="sequenced",
            allowed_values=["sequenced", "paged"],
            description="WMS pagination mode",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="First run: only records modified at or after this time",
        ),
        th.Property(
            "lookback_minutes",
            th.NumberType,
            default=5,
            description="Incremental runs re-read this many minutes before the bookmark "
            "(a resumed run's catch-up, before the first attempt's start)",
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=DEFAULT_REQUEST_TIMEOUT_S,
            description="Seconds per HTTP request (a live WMS took 17-21 s per 1,000-row page)",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=5,
            description="Retries of 429/5xx/timeouts/dropped connections",
        ),
        th.Property(
            "verify_ssl", th.BooleanType, default=True, description="Verify TLS certificates"
        ),
        th.Property(
            "max_parallel_requests",
            th.IntegerType(minimum=1, maximum=MAX_PARALLEL_REQUESTS),
            default=DEFAULT_PARALLEL_REQUESTS,
            description=(
                "Requests in flight for the whole tap; each entity is read as id ranges in "
                "parallel within this bound, fewer while the WMS throttles "
                f"(1 to {MAX_PARALLEL_REQUESTS})"
            ),
        ),
        th.Property(
            "emit_activate_version_messages",
            th.BooleanType,
            default=False,
            description="FULL_TABLE streams end with ACTIVATE_VERSION (written only after "
            "their last record, so only a completed full sync lets a target delete rows)",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the tap and check its settings; the WMS client is created on first use."""
        self._client: WMSClient | None = None
        super().__init__(*args, **kwargs)
        check_settings(self.config, self.config_jsonschema.get("properties", {}), self.name)

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Take the `--state`, refusing one the tap cannot use (naming stream and problem)."""
        check_state(state)
        super().load_state(state)

    @property
    def client(self) -> WMSClient:
        """The shared WMS client."""
        if self._client is None:
            self._client = WMSClient(self.config)
        return self._client

    def entity_names(self) -> list[str]:
        """Return the configured entities, checked against what the instance lists."""
        wanted = list(self.config.get("entities") or DEFAULT_ENTITIES)
        listed = self.client.list_entities()
        if wanted == ["*"]:
            return sorted(listed)
        unknown = [name for name in wanted if name not in listed]
        if unknown:
            msg = (
                f"Setting 'entities': {', '.join(repr(n) for n in unknown)} not listed by the "
                f"WMS instance at {self.client.api_url}"
            )
            raise WMSConfigError(msg)
        return wanted

    def discover_streams(self) -> list[EntityStream]:
        """One stream per configured entity."""
        client = self.client
        return [
            EntityStream(
                self, name, with_scope_properties(resolve_schema(client, name), self.config), client
            )
            for name in self.entity_names()
        ]

    def setup_mapper(self) -> None:
        """Declare this run's scope properties in an input catalog, then set up stream maps.

        A catalog discovered without `company_code`/`facility_code` (or cached by Meltano)
        lacks them, and records must carry them whenever the run is scoped.
        """
        for entry in self.input_catalog.streams if self.input_catalog else ():
            schema = with_scope_properties(entry.schema.to_dict(), self.config)
            entry.schema = Schema.from_dict(schema)
        super().setup_mapper()

    def before_sync(self) -> None:
        """Refuse the run before any extraction if its scope or catalog cannot hold.

        A selected entity that cannot be scoped, a company or facility code the WMS does
        not have (the run would extract nothing and pass), or a catalog selecting an
        entity the WMS does not list (it would be skipped without a word).
        """
        self._check_catalog()
        for stream in self.streams.values():
            if stream.selected and isinstance(stream, EntityStream):
                self.client.scope(stream.name, stream.schema.get("properties", {}))
        self.client.check_scope_codes()

    def _check_catalog(self) -> None:
        catalog = self.input_catalog
        if catalog is None:
            return
        for entry in catalog.streams:
            root = entry.metadata.root
            selected = root.selected or (root.selected is None and root.selected_by_default)
            if not selected or entry.tap_stream_id in self.streams:
                continue
            listed = self.client.list_entities()
            if entry.tap_stream_id not in listed:
                msg = (
                    f"The catalog selects entity '{entry.tap_stream_id}', which the WMS "
                    f"instance at {self.client.api_url} does not list: deselect it or fix "
                    "its name"
                )
                raise WMSConfigError(msg)
            msg = (
                f"The catalog selects entity '{entry.tap_stream_id}', which is not in "
                "setting 'entities': add it there to extract it"
            )
            raise WMSConfigError(msg)


def cli() -> None:
    """Run the tap's CLI; a WMS error ends with one clear log line and exit code 1."""
    try:
        TapOracleWMS.cli()
    except WMSError as exc:
        logging.getLogger(TapOracleWMS.name).error("%s", exc)  # no traceback: the cause is named
        sys.exit(1)


if __name__ == "__main__":
    cli()
