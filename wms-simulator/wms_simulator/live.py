"""The live profile: entity shapes and `describe/` as observed on a production WMS (2025).

See wms-lgf-api.md, "Observed on a live instance". Compared with the default profile:
`allocation` and `order_dtl` have no company or facility field (they reach them only through
`order_dtl_id → order_id`); `order_hdr` carries `company_id` / `facility_id` but its
`describe/` does not list them; the field sets are the live ones with the `cust_*` families;
relation keys may be "" (inventory) or composite (`ORDER_NBR,LINE`); related `url`s are
absolute with an explicit `:443` or blank; decimals arrive as integer-looking strings; and
the `type` words of `describe/` for ids and relations are not any common word.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from wms_simulator.entities import DEFAULT_TYPE_WORDS, ENTITIES, Entity, Field

# Lookup relations whose entities the simulator does not serve: their keys by id.
# id 8 is "LPN Reapro", as in the captured allocation records.
ALLOC_TYPES = (
    "Unit Pick",
    "Full LPN",
    "Case Pick",
    "Cross Dock",
    "Replenish",
    "Kit",
    "Wave",
    "LPN Reapro",
)
UOMS = ("UNIT", "CASE", "PACK", "PALLET")
LPN_TYPES = ("STD", "PALLET", "TOTE")
ORDER_TYPES = ("STD", "RUSH", "XFER", "ECOM")
SHIP_VIAS = ("TRUCK", "COURIER", "PICKUP")
PAYMENT_METHODS = ("PREPAID", "COLLECT")

# Field counts of each `cust_*` family on order_hdr and order_dtl.
CUST_FAMILIES = (
    ("cust_field", "str", 5),
    ("cust_date", "date", 5),
    ("cust_decimal", "decimal", 5),
    ("cust_number", "int", 5),
    ("cust_short_text", "str", 12),
    ("cust_long_text", "str", 3),
)


def _audit() -> tuple[Field, ...]:
    return (
        Field("create_user", "str", 30),
        Field("create_ts", "ts"),
        Field("mod_user", "str", 30),
        Field("mod_ts", "ts"),
    )


def cust_fields() -> tuple[Field, ...]:
    """Return the `cust_*` families, in the WMS's order."""
    fields = []
    for prefix, kind, count in CUST_FAMILIES:
        length = 255 if prefix == "cust_long_text" else 50 if kind == "str" else None
        fields += [Field(f"{prefix}_{n}", kind, length) for n in range(1, count + 1)]
    return tuple(fields)


def _ref(name: str, target: str, keys: tuple[str, ...] = (), blank_url: bool = False) -> Field:
    return Field(name, "ref", target=target, keys=keys, blank_url=blank_url)


LIVE_ALLOCATION = Entity(
    "allocation",
    (
        Field("id", "id", nullable=False),
        *_audit(),
        Field("order_dtl_id", "rel", target="order_dtl", nullable=False),
        Field("from_inventory_id", "rel", target="inventory"),
        Field("to_inventory_id", "rel", target="inventory"),
        _ref("type_id", "allocation_type", ALLOC_TYPES, blank_url=True),
        _ref("alloc_uom_id", "uom", UOMS),
        _ref("cartonize_uom_id", "uom", UOMS),
        _ref("wave_id", "wave"),
        _ref("task_id", "task"),
        Field("status_id", "status"),
        Field("alloc_qty", "decimal"),
        Field("packed_qty", "decimal"),
        Field("task_seq_nbr", "int"),
        Field("pick_user", "str", 30),
        Field("picked_ts", "ts"),
        Field("pick_locn_str", "str", 50),
        Field("final_oblpn_nbr", "str", 50),
        Field("is_picking_flg", "bool"),
        _ref("ob_lpn_type_id", "lpn_type", LPN_TYPES),
        _ref("mhe_system_id", "mhe_system"),
    ),
    company_path=("order_dtl_id", "order_id", "company_id"),
    facility_path=("order_dtl_id", "order_id", "facility_id"),
)

LIVE_ORDER_DTL = Entity(
    "order_dtl",
    (
        Field("id", "id", nullable=False),
        *_audit(),
        Field("order_id", "rel", target="order_hdr", nullable=False),
        Field("seq_nbr", "int", nullable=False),
        Field("item_id", "rel", target="item", nullable=False),
        Field("status_id", "status"),
        Field("ord_qty", "decimal"),
        Field("orig_ord_qty", "decimal"),
        Field("alloc_qty", "decimal"),
        Field("sale_price", "decimal"),
        Field("cost", "decimal"),
        Field("unit_declared_value", "decimal"),
        _ref("uom_id", "uom", UOMS),
        _ref("ordered_uom_id", "uom", UOMS),
        Field("ordered_uom_qty", "decimal"),
        _ref("batch_number_id", "batch_number"),
        _ref("invn_attr_id", "inventory_attribute"),
        _ref("ob_lpn_type_id", "lpn_type", LPN_TYPES),
        _ref("orig_order_ref_id", "order_hdr"),
        Field("po_nbr", "str", 50),
        Field("serial_nbr", "str", 50),
        Field("shipment_nbr", "str", 50),
        Field("spl_instr", "str", 255),
        Field("lock_code", "str", 10),
        Field("voucher_nbr", "str", 50),
        Field("voucher_amount", "decimal"),
        Field("voucher_exp_date", "date"),
        *cust_fields(),
        Field("allocation_set", "set", target="allocation", via="order_dtl_id"),
    ),
    key_fields=("order_id.order_nbr", "seq_nbr"),
    company_path=("order_id", "company_id"),
    facility_path=("order_id", "facility_id"),
)

_ADDRESS = ("name", "addr", "addr2", "addr3", "city", "state", "zip", "country", "phone_nbr")

LIVE_ORDER_HDR = Entity(
    "order_hdr",
    (
        Field("id", "id", nullable=False),
        *_audit(),
        Field("company_id", "rel", target="company", nullable=False),
        Field("facility_id", "rel", target="facility", nullable=False),
        Field("order_nbr", "str", 50, nullable=False),
        _ref("order_type_id", "order_type", ORDER_TYPES),
        Field("status_id", "rel", target="order_status"),
        Field("ord_date", "date"),
        Field("req_ship_date", "date"),
        Field("sched_ship_date", "date"),
        Field("start_ship_date", "date"),
        Field("stop_ship_date", "date"),
        Field("exp_date", "date"),
        Field("order_shipped_ts", "ts"),
        Field("priority", "int"),
        Field("ref_nbr", "str", 50),
        Field("route_nbr", "str", 50),
        Field("sales_order_nbr", "str", 50),
        Field("customer_po_nbr", "str", 50),
        *(Field(f"cust_{part}", "str", 100) for part in _ADDRESS),
        *(Field(f"shipto_{part}", "str", 100) for part in _ADDRESS),
        Field("currency_code", "str", 3),
        Field("orig_sale_price", "decimal"),
        Field("total_orig_ord_qty", "decimal"),
        Field("stop_ship_flg", "bool"),
        _ref("ship_via_id", "ship_via", SHIP_VIAS),
        Field("dest_facility_id", "rel", target="facility"),
        Field("destination_company_id", "rel", target="company"),
        Field("shipto_facility_id", "rel", target="facility"),
        Field("stage_location_id", "rel", target="location"),
        _ref("payment_method_id", "payment_method", PAYMENT_METHODS),
        _ref("duties_payment_method_id", "payment_method", PAYMENT_METHODS),
        _ref("customs_broker_contact_id", "contact"),
        _ref("work_order_kit_id", "work_order_kit"),
        *cust_fields(),
        Field("order_dtl_set", "set", target="order_dtl", via="order_id"),
        Field("order_instructions_set", "set", target="order_instructions", via="order_id"),
        Field("order_lock_set", "set", target="order_lock", via="order_id"),
    ),
    key_field="order_nbr",
    company_path=("company_id",),
    facility_path=("facility_id",),
)

LIVE_ENTITIES: dict[str, Entity] = {
    **ENTITIES,
    "allocation": LIVE_ALLOCATION,
    "order_dtl": LIVE_ORDER_DTL,
    "order_hdr": LIVE_ORDER_HDR,
    "inventory": dataclasses.replace(ENTITIES["inventory"], blank_key=True, by_name={}),
}

# `describe/` type words: ids and relations get words no client could guess.
LIVE_TYPE_WORDS = {
    **DEFAULT_TYPE_WORDS,
    "id": "PrimaryKey",
    "rel": "ModelRef",
    "ref": "ModelRef",
    "set": "ReverseRef",
}
# Fields a live `describe/` did not list although records carry them.
DESCRIBE_OMITS = {"order_hdr": frozenset({"company_id", "facility_id"})}


def _cust_values(row: dict) -> None:
    """Fill the `cust_*` families: mostly empty, as blank strings and nulls both occur."""
    i = row["id"]
    for prefix, kind, count in CUST_FAMILIES:
        for n in range(1, count + 1):
            name = f"{prefix}_{n}"
            if name in row:
                continue
            if n > 1:
                row[name] = "" if kind == "str" and (i + n) % 2 else None
            elif kind == "str":
                row[name] = f"{prefix.upper()}-{i}" if i % 3 == 0 else ("" if i % 3 else None)
            elif kind == "decimal":
                row[name] = Decimal(i % 9)
            elif kind == "int":
                row[name] = i % 11
            else:
                row[name] = row.get("ord_date") if i % 4 == 0 else None


def fill(entity: str, row: dict) -> None:
    """Give a row built by the default seeding its live fields (in place)."""
    i = row["id"]
    if entity == "order_hdr":
        row["order_type_id"] = ORDER_TYPES.index(row.pop("order_type", "STD")) + 1
        ship = row.get("req_ship_date")
        row.update(
            sched_ship_date=ship,
            start_ship_date=row.get("ord_date"),
            stop_ship_date=ship + dt.timedelta(days=3) if ship else None,
            exp_date=None,
            order_shipped_ts=row.get("mod_ts") if row.get("status_id") == 90 else None,
            priority=i % 5,
            ref_nbr="",
            route_nbr=f"R{i % 40:03d}" if i % 2 else None,
            sales_order_nbr=f"SO{i:08d}",
            customer_po_nbr=f"PO{i}" if i % 3 else "",
            cust_addr=f"Rua {i % 300}",
            currency_code="BRL",
            orig_sale_price=Decimal(i % 1000),
            stop_ship_flg=False,
            ship_via_id=1 + i % len(SHIP_VIAS),
            payment_method_id=1 + i % 2 if i % 4 else None,
        )
        for part in _ADDRESS:
            row.setdefault(f"cust_{part}", "" if i % 2 else None)
            row[f"shipto_{part}"] = row[f"cust_{part}"]
        _cust_values(row)
    elif entity == "order_dtl":
        price = row.pop("unit_sale_price", None)
        row.update(
            sale_price=price,
            cost=Decimal(int(price * Decimal("0.6"))) if price is not None else None,
            unit_declared_value=Decimal(0),
            uom_id=1,
            ordered_uom_id=1,
            ordered_uom_qty=row.get("ord_qty"),
            ob_lpn_type_id=1 if i % 3 == 0 else None,
            po_nbr="",
            serial_nbr="",
            shipment_nbr=None,
            spl_instr="",
            lock_code="",
            voucher_nbr="",
            voucher_amount=Decimal(0),
            voucher_exp_date=None,
        )
        _cust_values(row)
    elif entity == "allocation":
        row.update(
            to_inventory_id=None,
            type_id=8 if i % 4 else 1 + i % len(ALLOC_TYPES),
            alloc_uom_id=1,
            cartonize_uom_id=None if i % 2 else 2,
            task_seq_nbr=0,
            pick_user="",
            picked_ts=None,
            pick_locn_str=f"DE-0-0-{i % 10}",
            final_oblpn_nbr="",
            is_picking_flg=False,
        )
