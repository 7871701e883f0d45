"""The simulator's data: seeded rows, the simulated clock, mutations and JSON encoding."""

from __future__ import annotations

import datetime as dt
import random
import threading
import typing as t
from collections import defaultdict
from decimal import Decimal

import msgspec

from wms_simulator import live
from wms_simulator.entities import ENTITIES, Entity

# The warehouse's local offset: every timestamp the simulator serves carries it.
WMS_TZ = dt.timezone(dt.timedelta(hours=-3))
LINES_PER_ORDER = 4
_CENTS = Decimal("0.01")
_QTY = Decimal("0.0001")
_CITIES = ("Sao Paulo", "Campinas", "Curitiba", "Santos", "Belo Horizonte", "Recife")
_ORDER_STATUSES = ((0, "Created"), (10, "Partly allocated"), (20, "Allocated"), (90, "Shipped"))
_INSERTABLE = (
    "facility",
    "item",
    "location",
    "container",
    "inventory",
    "order_hdr",
    "order_dtl",
    "allocation",
)
# The default layout: GNOS has DC01 and DC02, OTHR has DC90 (codes the tests and docs name).
_DEFAULT_FACILITIES = (("DC01", 1), ("DC02", 1), ("DC90", 2))
PROFILES = ("default", "live")


class ScopeError(ValueError):
    """A company/facility scope that the entity cannot be narrowed by."""


class Store:
    """All rows of all entities, plus the simulated clock.

    Rows are plain dicts of Python values (related fields hold the target id); each row's
    JSON form is encoded once and cached until the row changes.
    """

    def __init__(
        self,
        orders: int,
        seed: int,
        start: dt.datetime | None = None,
        profile: str = "default",
        facilities: int | None = None,
    ) -> None:
        """Seed `orders` orders (with ~4 lines each) and everything they refer to.

        `profile` "live" serves the shapes observed on a live instance (see live.py).
        `facilities`: each company gets that many (GNOS: DC01, DC02, ...; OTHR: DC90, DC91,
        ...), with the orders, locations, containers and inventory spread evenly over them;
        None keeps the default layout (GNOS: DC01, DC02; OTHR: DC90).
        """
        if profile not in PROFILES:
            raise ValueError(f"unknown simulator profile {profile!r} (one of {PROFILES})")
        self.live = profile == "live"
        self.entities: dict[str, Entity] = live.LIVE_ENTITIES if self.live else ENTITIES
        # (child entity, field) pairs that a parent's *_set field counts.
        self.set_links = {
            (f.target, f.via)
            for e in self.entities.values()
            for f in e.fields
            if f.kind == "set" and f.target in self.entities
        }
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.start = (start or dt.datetime.now(dt.UTC)).astimezone(WMS_TZ)
        self.offset = dt.timedelta()
        # Served values that differ from the row's (an `id` the rows are keyed by cannot change).
        self._served: dict[tuple[str, int], dict[str, t.Any]] = {}
        self.version = 0  # bumped on every mutation; query caches key on it
        self.rows: dict[str, dict[int, dict]] = {name: {} for name in self.entities}
        self.children: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self._encoded: dict[str, dict[int, bytes]] = {name: {} for name in self.entities}
        self._next_id = {name: 1 for name in self.entities}
        self.base_url = ""  # set by the server once its port is known
        self.display_url = ""  # base of record and related `url`s (live: https, :443)
        self._related_objs: dict[tuple[str, int], dict] = {}
        self._inserting = False  # new rows are stamped "now" rather than in the past
        # (entity, related field, target id) -> ids: lets seeding pick parents quickly.
        self._by_ref: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        self._seed(orders, facilities)

    # -- clock -----------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Return the simulated current time (WMS offset)."""
        return self.start + self.offset

    def advance(self, minutes: float) -> None:
        """Move the simulated clock forward."""
        with self.lock:
            self.offset += dt.timedelta(minutes=minutes)

    # -- seeding ---------------------------------------------------------------------
    def _past(self, days: float = 30) -> tuple[dt.datetime, dt.datetime]:
        """Return a (create_ts, mod_ts) pair in the past, mod_ts not after now."""
        now = self.now()
        create = now - dt.timedelta(seconds=self.rng.uniform(3600, days * 86400))
        age = (now - create).total_seconds()
        mod = create + dt.timedelta(seconds=self.rng.uniform(0, min(5 * 86400, age - 1)))
        return create, mod

    def _audit(self) -> dict:
        if self._inserting:
            now = self.now()
            return {
                "create_user": "SIMULATOR",
                "create_ts": now,
                "mod_user": "SIMULATOR",
                "mod_ts": now,
            }
        create, mod = self._past()
        return {"create_user": "WMSLOAD", "create_ts": create, "mod_user": "WMSLOAD", "mod_ts": mod}

    def _add(self, entity: str, row: dict) -> int:
        row_id = self._next_id[entity]
        self._next_id[entity] = row_id + 1
        row["id"] = row_id
        spec = self.entities[entity]
        if spec.has_mod_ts and "mod_ts" not in row:
            row.update(self._audit())
        if self.live:
            live.fill(entity, row)
            row = {k: v for k, v in row.items() if k in spec.by_name}
        self.rows[entity][row_id] = row
        for f in spec.fields:
            if f.kind == "rel" and row.get(f.name) is not None:
                self._by_ref[(entity, f.name, row[f.name])].append(row_id)
            if (entity, f.name) in self.set_links and row.get(f.name) is not None:
                self.children[(entity, f.name)][row[f.name]] += 1
                self._encoded[f.related].pop(row[f.name], None)  # its *_set count changed
        return row_id

    def _seed(self, orders: int, facilities: int | None) -> None:
        for code, name, city in (("GNOS", "GrupoNOS", "Sao Paulo"), ("OTHR", "Other Co", "Recife")):
            self._add(
                "company",
                {
                    "code": code,
                    "name": name,
                    "address_1": "Rua 1",
                    "city": city,
                    "country_code": "BR",
                    "active_flg": True,
                },
            )
        layout: tuple[tuple[str, int], ...] = _DEFAULT_FACILITIES
        if facilities is not None:
            if facilities < 1:
                raise ValueError("facilities must be at least 1")
            layout = tuple(
                (f"DC{first + n:02d}", company)
                for company, first in ((1, 1), (2, 90))
                for n in range(facilities)
            )
        for code, company in layout:
            self._new_facility(company, code)
        for status_id, description in _ORDER_STATUSES:
            self.rows["order_status"][status_id] = {"id": status_id, "description": description}
        self._next_id["order_status"] = 100
        for _ in range(max(20, orders // 5)):
            self._new_item(self.rng.choice((1, 1, 1, 2)))
        ids = list(self.rows["facility"])
        # The default layout keeps its historical weights (DC01 and DC02 twice DC90's orders).
        order_weights = (1, 1, 2, 2, 3) if facilities is None else ids
        for facility in ids:
            for _ in range(max(10, orders * 3 // (20 * len(ids)))):
                self._new_location(facility)
        for _ in range(max(10, orders // 4)):
            self._new_container(self.rng.choice(ids))
        for _ in range(max(20, orders // 2)):
            self._new_inventory(self.rng.choice(ids))
        for _ in range(orders):
            self._new_order(self.rng.choice(order_weights))

    # -- row factories (also used by insert) ------------------------------------------
    def _pick(self, entity: str, where: tuple[str, int] | None = None) -> int | None:
        """Return a random existing row id of `entity`, optionally with related field == id."""
        ids = list(self.rows[entity]) if where is None else self._by_ref.get((entity, *where))
        return self.rng.choice(ids) if ids else None

    def _company_of(self, facility: int) -> int:
        company: int = self.rows["facility"][facility]["parent_company_id"]
        return company

    def _dec(self, low: float, high: float, quantum: Decimal = _QTY) -> Decimal:
        return Decimal(str(self.rng.uniform(low, high))).quantize(quantum)

    def _new_item(self, company: int) -> int:
        n = self._next_id["item"]
        return self._add(
            "item",
            {
                "company_id": company,
                "code": f"ITM{n:06d}",
                "description": f"Item number {n}",
                "barcode": f"789{n:010d}",
                "unit_cost": self._dec(1, 500, _CENTS),
                "unit_weight": self._dec(0.1, 30),
                "unit_volume": self._dec(0.001, 2),
                "std_case_qty": Decimal(self.rng.choice((1, 6, 12, 24))),
                "hazmat_flg": self.rng.random() < 0.05,
                "status_id": 1,
            },
        )

    def _new_facility(self, company: int, code: str) -> int:
        return self._add(
            "facility",
            {
                "code": code,
                "name": f"Distribution center {code}",
                "parent_company_id": company,
                "time_zone": "America/Sao_Paulo",
                "active_flg": True,
            },
        )

    def _new_location(self, facility: int) -> int:
        n = self._next_id["location"]
        return self._add(
            "location",
            {
                "facility_id": facility,
                "locn_str": f"A-{n // 100:02d}-{n % 100:02d}",
                "barcode": f"L{n:08d}",
                "locn_type": self.rng.choice(("ACTIVE", "RESERVE")),
                "max_units": Decimal(self.rng.choice((100, 500, 1000))),
                "max_weight": self._dec(100, 2000, _CENTS),
                "allow_multi_sku_flg": self.rng.random() < 0.3,
            },
        )

    def _new_container(self, facility: int) -> int:
        n = self._next_id["container"]
        return self._add(
            "container",
            {
                "facility_id": facility,
                "company_id": self._company_of(facility),
                "container_nbr": f"LPN{n:09d}",
                "container_type": self.rng.choice("IO"),
                "status_id": self.rng.choice((10, 20, 30)),
                "curr_location_id": self._pick("location", ("facility_id", facility)),
                "weight": self._dec(1, 500),
                "volume": self._dec(0.01, 3),
            },
        )

    def _new_inventory(self, facility: int) -> int:
        n = self._next_id["inventory"]
        qty = Decimal(self.rng.randint(1, 500))
        create, _ = self._past()
        return self._add(
            "inventory",
            {
                "facility_id": facility,
                "item_id": self._pick("item", ("company_id", self._company_of(facility))),
                "location_id": self._pick("location", ("facility_id", facility)),
                "container_id": self._pick("container", ("facility_id", facility))
                if self.rng.random() < 0.5
                else None,
                "batch_nbr": f"B{n:07d}" if self.rng.random() < 0.4 else None,
                "expiry_date": (create + dt.timedelta(days=self.rng.randint(30, 720))).date()
                if self.rng.random() < 0.4
                else None,
                "curr_qty": qty,
                "orig_qty": qty,
                "pack_qty": Decimal(1),
            },
        )

    def _new_order(self, facility: int) -> int:
        n = self._next_id["order_hdr"]
        company = self._company_of(facility)
        audit = self._audit()
        order = self._add(
            "order_hdr",
            {
                "company_id": company,
                "facility_id": facility,
                "order_nbr": f"ORD{n:08d}",
                "order_type": self.rng.choice(("STD", "RUSH", "XFER")),
                "status_id": self.rng.choice(_ORDER_STATUSES)[0],
                "ord_date": audit["create_ts"].date(),
                "req_ship_date": (
                    audit["create_ts"] + dt.timedelta(days=self.rng.randint(1, 7))
                ).date(),
                "cust_name": f"Customer {self.rng.randint(1, 5000)}",
                "cust_city": self.rng.choice(_CITIES),
                "total_orig_ord_qty": Decimal(0),
                **audit,
            },
        )
        total = Decimal(0)
        for seq in range(1, LINES_PER_ORDER + 1):
            line = self._new_order_dtl(order, seq, audit)
            total += self.rows["order_dtl"][line]["orig_ord_qty"]
        self.rows["order_hdr"][order]["total_orig_ord_qty"] = total
        return order

    def _new_order_dtl(self, order: int, seq: int, audit: dict | None = None) -> int:
        hdr = self.rows["order_hdr"][order]
        qty = Decimal(self.rng.randint(1, 40))
        allocated = qty if self.rng.random() < 0.75 else Decimal(0)
        line = self._add(
            "order_dtl",
            {
                "order_id": order,
                "seq_nbr": seq,
                "item_id": self._pick("item", ("company_id", hdr["company_id"])),
                "ord_qty": qty,
                "orig_ord_qty": qty,
                "alloc_qty": allocated,
                "unit_sale_price": self._dec(1, 900, _CENTS),
                "status_id": hdr["status_id"],
                "cust_field_1": None if seq % 2 else f"PO-{order}-{seq}",
                **(audit or self._audit()),
            },
        )
        if allocated:
            self._new_allocation(line)
        return line

    def _new_allocation(self, line: int) -> int:
        dtl = self.rows["order_dtl"][line]
        facility = self.rows["order_hdr"][dtl["order_id"]]["facility_id"]
        return self._add(
            "allocation",
            {
                "facility_id": facility,
                "order_dtl_id": line,
                "item_id": dtl["item_id"],
                "from_inventory_id": self._pick("inventory", ("facility_id", facility)),
                "to_container_id": None,
                "alloc_qty": dtl["alloc_qty"],
                "packed_qty": Decimal(0),
                "status_id": 10,
                # Seeded allocations share their line's audit fields; one added now is
                # stamped now, as the WMS stamps every row it creates.
                **(
                    self._audit()
                    if self._inserting
                    else {k: dtl[k] for k in ("create_user", "create_ts", "mod_user", "mod_ts")}
                ),
            },
        )

    # -- scope -----------------------------------------------------------------------
    def resolve(self, entity: str, row: dict, path: tuple[str, ...]) -> dict | None:
        """Follow related fields from `row`; the row at the end of `path` (or None)."""
        current: dict | None = row
        name = entity
        for step in path:
            if current is None:
                return None
            if step == "id":
                continue
            target = self.entities[name].by_name[step].target
            assert target is not None
            current = self.rows[target].get(current[step]) if current[step] else None
            name = target
        return current

    def in_scope(self, entity: str, company: str | None, facility: str | None) -> list[int]:
        """Ids of `entity` rows under the given company/facility codes."""
        spec = self.entities[entity]
        checks: list[tuple[tuple[str, ...], str]] = []
        for code, path, what in (
            (company, spec.company_path, "company"),
            (facility, spec.facility_path, "facility"),
        ):
            if code is None:
                continue
            if not path:
                raise ScopeError(f"entity '{entity}' cannot be scoped by {what}")
            checks.append((path, code))
        return [
            row_id
            for row_id, row in self.rows[entity].items()
            if all((self.resolve(entity, row, p) or {}).get("code") == c for p, c in checks)
        ]

    # -- mutations -------------------------------------------------------------------
    def set_value(self, entity: str, row_id: int, name: str, value: t.Any) -> None:
        """Give one row's field `value`, as a data-entry error would (filters see it too).

        `id` only changes what is served: rows are keyed by their id.
        """
        self._require(entity)
        with self.lock:
            row = self.rows[entity][row_id]
            if name == "id":
                self._served.setdefault((entity, row_id), {})[name] = value
            else:
                row[name] = value
            self._encoded[entity].pop(row_id, None)
            self.version += 1

    def touch(
        self, entity: str, count: int, company: str | None, facility: str | None
    ) -> list[int]:
        """Modify `count` existing rows now; their ids."""
        self._require(entity, "touch")
        with self.lock:
            candidates = self.in_scope(entity, company, facility)
            chosen = sorted(self.rng.sample(candidates, min(count, len(candidates))))
            now = self.now()
            for row_id in chosen:
                row = self.rows[entity][row_id]
                row["mod_ts"] = now
                row["mod_user"] = "SIMULATOR"
                if "status_id" in row:
                    row["status_id"] = (row["status_id"] or 0) + 1
                self._encoded[entity].pop(row_id, None)
            self.version += 1
            return chosen

    def insert(
        self, entity: str, count: int, company: str | None, facility: str | None
    ) -> list[int]:
        """Add `count` new rows created now (orders come with their lines); their ids."""
        self._require(entity, "insert")
        with self.lock:
            self._inserting = True
            try:
                ids = [self._insert_one(entity, company, facility) for _ in range(count)]
            finally:
                self._inserting = False
            self.version += 1
            return ids

    def _insert_one(self, entity: str, company: str | None, facility: str | None) -> int:
        if entity == "facility":
            return self._insert_facility(company, facility)
        facilities = self.in_scope("facility", company, facility)
        if not facilities:
            raise ScopeError(f"no facility matches company={company!r} facility={facility!r}")
        fac = self.rng.choice(facilities)
        if entity == "order_hdr":
            row_id = self._new_order(fac)
        elif entity == "order_dtl":
            order = self._pick("order_hdr", ("facility_id", fac))
            if order is None:
                order = self._new_order(fac)
            seq = 1 + self.children[("order_dtl", "order_id")][order]
            row_id = self._new_order_dtl(order, seq)
        elif entity == "allocation":
            line = self._pick("order_dtl")
            if line is None:
                raise ScopeError("no order_dtl to allocate")
            row_id = self._new_allocation(line)
        else:
            row_id = {
                "item": lambda: self._new_item(self._company_of(fac)),
                "location": lambda: self._new_location(fac),
                "container": lambda: self._new_container(fac),
                "inventory": lambda: self._new_inventory(fac),
            }[entity]()
        return row_id

    def _insert_facility(self, company: str | None, code: str | None) -> int:
        """Add a facility to `company` (code: `code`, or the next free DCnn) with locations."""
        companies = self.in_scope("company", company, None)
        if company is None or not companies:
            raise ScopeError(f"a new facility needs an existing company, not {company!r}")
        taken = {row["code"] for row in self.rows["facility"].values()}
        if code is None:
            code = next(f"DC{n:02d}" for n in range(1, 1000) if f"DC{n:02d}" not in taken)
        elif code in taken:
            raise ScopeError(f"facility {code!r} exists")
        row_id = self._new_facility(companies[0], code)
        for _ in range(10):
            self._new_location(row_id)
        return row_id

    def delete(
        self, entity: str, count: int, company: str | None, facility: str | None
    ) -> list[int]:
        """Purge `count` rows no other row refers to (as the WMS purges them); their ids."""
        self._require(entity)
        with self.lock:
            referenced = {
                target_id
                for (other, name, target_id), ids in self._by_ref.items()
                if ids and self.entities[other].by_name[name].target == entity
            }
            candidates = [
                i for i in self.in_scope(entity, company, facility) if i not in referenced
            ]
            chosen = sorted(self.rng.sample(candidates, min(count, len(candidates))))
            for row_id in chosen:
                row = self.rows[entity].pop(row_id)
                self._encoded[entity].pop(row_id, None)
                for f in self.entities[entity].fields:
                    parent = row.get(f.name)
                    if f.kind != "rel" or parent is None:
                        continue
                    self._by_ref[(entity, f.name, parent)].remove(row_id)
                    if (entity, f.name) in self.set_links:
                        self.children[(entity, f.name)][parent] -= 1
                        self._encoded[f.related].pop(parent, None)  # its *_set count changed
            self.version += 1
            return chosen

    def count(self, entity: str, company: str | None, facility: str | None) -> int:
        """Return the true number of rows in scope."""
        self._require(entity)
        with self.lock:
            if company is None and facility is None:
                return len(self.rows[entity])
            return len(self.in_scope(entity, company, facility))

    def _require(self, entity: str, action: str = "") -> None:
        spec = self.entities.get(entity)
        if spec is None:
            raise KeyError(f"unknown entity '{entity}'")
        if (action == "touch" and not spec.has_mod_ts) or (
            action == "insert" and entity not in _INSERTABLE
        ):
            raise ScopeError(f"the simulator cannot {action} entity '{entity}'")

    # -- encoding --------------------------------------------------------------------
    def entity_url(self, entity: str) -> str:
        """Return the list URL of an entity."""
        return f"{self.base_url}/entity/{entity}/"

    def _related(self, target: str, target_id: int) -> dict:
        """Return the {id,key,url} object for a related row (cached: keys never change)."""
        obj = self._related_objs.get((target, target_id))
        if obj is None:
            obj = {
                "id": target_id,
                "key": self._key(target, target_id),
                "url": self._url(target, target_id),
            }
            self._related_objs[(target, target_id)] = obj
        return obj

    def _key(self, target: str, target_id: int) -> str:
        spec = self.entities[target]
        row = self.rows[target].get(target_id, {})
        if spec.blank_key:
            return ""
        if spec.key_fields:  # composite, e.g. "ORD00000001,2"
            parts = []
            for name in spec.key_fields:
                hop, _, field = name.rpartition(".")
                source: dict | None = row
                if hop:
                    parent = row.get(hop)
                    related = self.rows[spec.by_name[hop].related]
                    source = related.get(parent) if parent is not None else None
                parts.append(str((source or {}).get(field, "")))
            return ",".join(parts)
        key = row.get(spec.key_field) if spec.key_field else None
        return key if key is not None else str(target_id)

    def _url(self, entity: str, row_id: int) -> str:
        """Return a record's `url`: live ones are absolute with `:443`, no trailing slash."""
        if self.live:
            return f"{self.display_url}/entity/{entity}/{row_id}"
        return f"{self.entity_url(entity)}{row_id}/"

    def to_json_obj(self, entity: str, row: dict) -> dict:
        """Return a row as the WMS serves it: related objects, set links, decimals as strings."""
        out: dict = {}
        for f in self.entities[entity].fields:
            value = row.get(f.name)
            if f.kind == "rel":
                out[f.name] = None if value is None else self._related(f.related, value)
            elif f.kind == "ref":
                out[f.name] = (
                    None if value is None else self._ref(f.related, f.keys, f.blank_url, value)
                )
            elif f.kind == "set":
                child, via = f.child_link
                out[f.name] = {
                    "result_count": self.children[(child, via)].get(row["id"], 0),
                    "url": f"{self.entity_url(child)}?{via}={row['id']}",
                }
            else:
                out[f.name] = value
        out["url"] = self._url(entity, row["id"])
        return out

    def _ref(self, target: str, keys: tuple[str, ...], blank_url: bool, ref_id: int) -> dict:
        """Return the related object of an entity the simulator does not serve."""
        key = keys[ref_id - 1] if 0 < ref_id <= len(keys) else str(ref_id)
        return {"id": ref_id, "key": key, "url": "" if blank_url else self._url(target, ref_id)}

    def warm(self) -> None:
        """Encode every row ahead of requests, so even a first extraction is served fast."""
        for entity, rows in self.rows.items():
            for row_id in list(rows):
                self.encoded(entity, row_id)

    def encoded(self, entity: str, row_id: int) -> bytes:
        """Return the cached JSON bytes of one row."""
        cache = self._encoded[entity]
        data = cache.get(row_id)
        if data is None:
            served = self.to_json_obj(entity, self.rows[entity][row_id])
            served.update(self._served.get((entity, row_id), {}))
            data = _ENCODER.encode(served)
            cache[row_id] = data
        return data


_ENCODER = msgspec.json.Encoder()  # Decimal → JSON string: the WMS sends decimals quoted


def encode(obj: object) -> bytes:
    """JSON bytes as the simulator serves them."""
    return _ENCODER.encode(obj)
