"""Company/facility scoping: which filter narrows each entity to the run's scope, or a refusal.

A scope is never skipped silently. Per dimension (company, facility), an entity is scoped by,
in this order: the user's `scope_paths` setting, its own `company_id` / `facility_id` field,
or a path the tap ships for the entities it knows (an order line reaches its facility through
its order). An entity with none of these is refused before any extraction, unless the user
lists it in `unscoped_entities`.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field

from tap_oracle_wms.errors import WMSConfigError

logger = logging.getLogger(__name__)

DIMENSIONS = (("company", "company_code"), ("facility", "facility_code"))
# Record properties carrying the run's codes, so shared tables can tell scopes apart.
SCOPE_PROPERTIES = {"company": "scope_company_code", "facility": "scope_facility_code"}

# Filters (ending in the related entity's `code`) for the entities the tap knows. The live
# `allocation` and `order_dtl` have no company or facility field at all.
BUILTIN_SCOPE_PATHS: dict[str, dict[str, str]] = {
    "allocation": {
        "company": "order_dtl_id__order_id__company_id__code",
        "facility": "order_dtl_id__order_id__facility_id__code",
    },
    "order_dtl": {
        "company": "order_id__company_id__code",
        "facility": "order_id__facility_id__code",
    },
    "order_hdr": {"company": "company_id__code", "facility": "facility_id__code"},
    "company": {"company": "code"},
    "facility": {"company": "parent_company_id__code", "facility": "code"},
    "location": {
        "company": "facility_id__parent_company_id__code",
        "facility": "facility_id__code",
    },
    "inventory": {
        "company": "facility_id__parent_company_id__code",
        "facility": "facility_id__code",
    },
}


@dataclass(frozen=True)
class Scope:
    """How one entity is narrowed: filter parameters, and where each one came from."""

    entity: str
    params: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # filter -> "own field", …
    unscoped: tuple[str, ...] = ()  # dimensions allowed to stay unscoped (unscoped_entities)

    @property
    def paths(self) -> list[str]:
        """Filters that traverse relations (not the entity's own field): the WMS may refuse."""
        return [p for p, source in self.sources.items() if source != "own field"]


def scope_codes(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """Return the run's scope: dimension -> code, for the codes that are set."""
    return {dim: str(config[key]) for dim, key in DIMENSIONS if config.get(key)}


def resolve_scope(
    config: t.Mapping[str, t.Any], entity: str, properties: t.Collection[str]
) -> Scope:
    """Return the scope filters of `entity`, or raise naming entity, scope and settings."""
    codes = scope_codes(config)
    user_paths = (config.get("scope_paths") or {}).get(entity) or {}
    if not isinstance(user_paths, t.Mapping):
        msg = f"Setting 'scope_paths': the value for '{entity}' must be an object like " + (
            '{"facility": "order_id__facility_id__code"}'
        )
        raise WMSConfigError(msg)
    allowed = entity in set(config.get("unscoped_entities") or ())
    params: dict[str, str] = {}
    sources: dict[str, str] = {}
    unscoped: list[str] = []
    for dim, code in codes.items():
        if user_paths.get(dim):
            path, source = str(user_paths[dim]), "setting scope_paths"
        elif f"{dim}_id" in properties:
            path, source = f"{dim}_id__code", "own field"
        elif BUILTIN_SCOPE_PATHS.get(entity, {}).get(dim):
            path, source = BUILTIN_SCOPE_PATHS[entity][dim], "built-in path"
        elif allowed:
            logger.warning(
                "Entity '%s' is extracted without %s scope (%s_code=%s): it is listed in "
                "setting 'unscoped_entities'",
                entity,
                dim,
                dim,
                code,
            )
            unscoped.append(dim)
            continue
        else:
            msg = (
                f"Entity '{entity}' cannot be scoped to {dim}_code={code!r}: it has no "
                f"{dim}_id field and no relation path is known. Set one in setting "
                f'\'scope_paths\' (e.g. {{"{entity}": {{"{dim}": "<relation>__{dim}_id__code"}}}}) '
                f"or list '{entity}' in setting 'unscoped_entities' to extract it without "
                f"{dim} scope"
            )
            raise WMSConfigError(msg)
        params[path] = code
        sources[path] = source
    return Scope(entity, params, sources, tuple(unscoped))


def refused_path_hint(scope: Scope, wms_message: str | None) -> str:
    """Words added to a 400 answer whose WMS message names a relation-path scope filter.

    Only the paths the message names: a 400 about another filter (say one from
    `entity_filters`) must not send the user to `scope_paths`.
    """
    named = [p for p in scope.paths if wms_message and p in wms_message]
    if not named:
        return ""
    which = ", ".join(f"'{p}' ({scope.sources[p]})" for p in named)
    return (
        f"entity '{scope.entity}' is scoped through {which}, which the WMS refused; "
        f"give a path it accepts in setting 'scope_paths'"
    )


def scope_properties(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """Record property -> code, for the codes this run is scoped to."""
    return {SCOPE_PROPERTIES[dim]: code for dim, code in scope_codes(config).items()}


def with_scope_properties(schema: dict, config: t.Mapping[str, t.Any]) -> dict:
    """Return `schema` with the run's scope properties declared (a copy when any are added)."""
    names = scope_properties(config)
    if not names:
        return schema
    properties = dict(schema.get("properties", {}))
    for name in names:
        properties[name] = {"type": ["string", "null"]}
    return {**schema, "properties": properties}
