"""The simulated entities: their fields, as the WMS describes them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    """One field of a simulated entity.

    Kinds: id, int, str, decimal, bool, ts, date; "rel" is a related object {id,key,url};
    "set" a {result_count,url} link to child rows; "status" a bare integer (the WMS sends
    status_id without an object); "ref" a related object whose entity is not simulated
    (its `key` comes from `keys`, by id: 1 is keys[0]).
    """

    name: str
    kind: str
    max_length: int | None = None
    target: str | None = None  # entity a "rel" points to, or the child entity of a "set"
    via: str | None = None  # for a "set": the child's field that points back here
    nullable: bool = True
    keys: tuple[str, ...] = ()  # for a "ref": the related rows' keys
    blank_url: bool = False  # the related object's `url` is "" (seen live for type_id)

    @property
    def related(self) -> str:
        """The entity a "rel" or "ref" points to, or the child entity of a "set"."""
        if self.target is None:
            raise ValueError(f"field {self.name!r} ({self.kind}) names no related entity")
        return self.target

    @property
    def child_link(self) -> tuple[str, str]:
        """For a "set": the child entity and its field that points back here."""
        if self.via is None:
            raise ValueError(f"field {self.name!r} ({self.kind}) names no field pointing back")
        return self.related, self.via


@dataclass(frozen=True)
class Entity:
    """A simulated entity: ordered fields, the field giving related objects their `key`."""

    name: str
    fields: tuple[Field, ...]
    key_field: str | None = None
    # Live shapes: a key joined from several fields ("ORDER_NBR,LINE"; a dotted name
    # follows a relation), or always "" (as live `inventory` keys are).
    key_fields: tuple[str, ...] = ()
    blank_key: bool = False
    company_path: tuple[str, ...] = ()
    facility_path: tuple[str, ...] = ()
    by_name: dict[str, Field] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        """Index fields by name."""
        self.by_name.update({f.name: f for f in self.fields})

    @property
    def has_mod_ts(self) -> bool:
        """Whether rows track modification time."""
        return "mod_ts" in self.by_name


def _audit() -> tuple[Field, ...]:
    return (
        Field("create_user", "str", 30),
        Field("create_ts", "ts"),
        Field("mod_user", "str", 30),
        Field("mod_ts", "ts"),
    )


def _id() -> Field:
    return Field("id", "id", nullable=False)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "company",
            (
                _id(),
                Field("code", "str", 25, nullable=False),
                Field("name", "str", 100),
                Field("address_1", "str", 100),
                Field("city", "str", 40),
                Field("country_code", "str", 2),
                Field("active_flg", "bool"),
                *_audit(),
            ),
            key_field="code",
            company_path=("id",),
        ),
        Entity(
            "facility",
            (
                _id(),
                Field("code", "str", 25, nullable=False),
                Field("name", "str", 100),
                Field("parent_company_id", "rel", target="company", nullable=False),
                Field("time_zone", "str", 40),
                Field("active_flg", "bool"),
                *_audit(),
            ),
            key_field="code",
            company_path=("parent_company_id",),
            facility_path=("id",),
        ),
        Entity(
            "item",
            (
                _id(),
                Field("company_id", "rel", target="company", nullable=False),
                Field("code", "str", 25, nullable=False),
                Field("description", "str", 100),
                Field("barcode", "str", 40),
                Field("unit_cost", "decimal"),
                Field("unit_weight", "decimal"),
                Field("unit_volume", "decimal"),
                Field("std_case_qty", "decimal"),
                Field("hazmat_flg", "bool"),
                Field("status_id", "status"),
                *_audit(),
            ),
            key_field="code",
            company_path=("company_id",),
        ),
        Entity(
            "location",
            (
                _id(),
                Field("facility_id", "rel", target="facility", nullable=False),
                Field("locn_str", "str", 30, nullable=False),
                Field("barcode", "str", 40),
                Field("locn_type", "str", 10),
                Field("max_units", "decimal"),
                Field("max_weight", "decimal"),
                Field("allow_multi_sku_flg", "bool"),
                *_audit(),
            ),
            key_field="locn_str",
            company_path=("facility_id", "parent_company_id"),
            facility_path=("facility_id",),
        ),
        Entity(
            "container",
            (
                _id(),
                Field("facility_id", "rel", target="facility", nullable=False),
                Field("company_id", "rel", target="company", nullable=False),
                Field("container_nbr", "str", 50, nullable=False),
                Field("container_type", "str", 1),
                Field("status_id", "status"),
                Field("curr_location_id", "rel", target="location"),
                Field("weight", "decimal"),
                Field("volume", "decimal"),
                *_audit(),
            ),
            key_field="container_nbr",
            company_path=("company_id",),
            facility_path=("facility_id",),
        ),
        Entity(
            "inventory",
            (
                _id(),
                Field("facility_id", "rel", target="facility", nullable=False),
                Field("item_id", "rel", target="item", nullable=False),
                Field("location_id", "rel", target="location"),
                Field("container_id", "rel", target="container"),
                Field("batch_nbr", "str", 50),
                Field("expiry_date", "date"),
                Field("curr_qty", "decimal"),
                Field("orig_qty", "decimal"),
                Field("pack_qty", "decimal"),
                *_audit(),
            ),
            company_path=("facility_id", "parent_company_id"),
            facility_path=("facility_id",),
        ),
        Entity(
            "order_hdr",
            (
                _id(),
                Field("company_id", "rel", target="company", nullable=False),
                Field("facility_id", "rel", target="facility", nullable=False),
                Field("order_nbr", "str", 50, nullable=False),
                Field("order_type", "str", 10),
                Field("status_id", "status"),
                Field("ord_date", "date"),
                Field("req_ship_date", "date"),
                Field("cust_name", "str", 100),
                Field("cust_city", "str", 40),
                Field("total_orig_ord_qty", "decimal"),
                Field("order_dtl_set", "set", target="order_dtl", via="order_id"),
                *_audit(),
            ),
            key_field="order_nbr",
            company_path=("company_id",),
            facility_path=("facility_id",),
        ),
        Entity(
            "order_dtl",
            (
                _id(),
                Field("order_id", "rel", target="order_hdr", nullable=False),
                Field("seq_nbr", "int", nullable=False),
                Field("item_id", "rel", target="item", nullable=False),
                Field("ord_qty", "decimal"),
                Field("orig_ord_qty", "decimal"),
                Field("alloc_qty", "decimal"),
                Field("unit_sale_price", "decimal"),
                Field("status_id", "status"),
                Field("cust_field_1", "str", 50),
                Field("allocation_set", "set", target="allocation", via="order_dtl_id"),
                *_audit(),
            ),
            company_path=("order_id", "company_id"),
            facility_path=("order_id", "facility_id"),
        ),
        Entity(
            "allocation",
            (
                _id(),
                Field("facility_id", "rel", target="facility", nullable=False),
                Field("order_dtl_id", "rel", target="order_dtl", nullable=False),
                Field("item_id", "rel", target="item", nullable=False),
                Field("from_inventory_id", "rel", target="inventory"),
                Field("to_container_id", "rel", target="container"),
                Field("alloc_qty", "decimal"),
                Field("packed_qty", "decimal"),
                Field("status_id", "status"),
                *_audit(),
            ),
            company_path=("facility_id", "parent_company_id"),
            facility_path=("facility_id",),
        ),
        # A small lookup table without audit fields: extracted FULL_TABLE.
        Entity(
            "order_status",
            (_id(), Field("description", "str", 50)),
        ),
    )
}


DEFAULT_TYPE_WORDS = {
    "id": "integer",
    "int": "integer",
    "status": "integer",
    "str": "string",
    "decimal": "decimal",
    "bool": "boolean",
    "ts": "datetime",
    "date": "date",
    "rel": "relation",
    "ref": "relation",
    "set": "set",
}


def describe(
    entity: Entity,
    type_words: dict[str, str] | None = None,
    omit: frozenset[str] = frozenset(),
) -> dict:
    """Return the `describe/` answer: filterable parameters and per-field metadata.

    `type_words` maps field kinds to the `type` words served; `omit` names fields left out
    (as a live `describe/` left out fields its records carry).
    """
    words = type_words or DEFAULT_TYPE_WORDS
    fields: dict[str, dict] = {}
    for f in entity.fields:
        if f.name in omit:
            continue
        meta: dict = {
            "type": words[f.kind],
            "allow_blank": f.nullable,
            "required": "N" if f.nullable else "Y",
            "default": None,
        }
        if f.max_length:
            meta["max_length"] = f.max_length
        if f.target and type_words is None:
            meta["related_entity"] = f.target
        fields[f.name] = meta
    return {
        "parameters": [f.name for f in entity.fields if f.kind != "set" and f.name not in omit],
        "fields": fields,
    }
