"""meltano.yml declares exactly what each plugin's `--about` says: the same capabilities,
the same settings, each of a matching kind, secrets sensitive, options with the values the
plugin accepts. Both plugins run as real processes."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from .conftest import BIN, REPO

PLUGINS = [("extractors", "tap-oracle-wms"), ("loaders", "target-gruponos-oracle")]


def _declared(kind: str, name: str) -> dict[str, Any]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    return next(p for p in project["plugins"][kind] if p["name"] == name)


def _about(executable: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(BIN / executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def _meltano_kinds(schema: dict[str, Any]) -> set[str]:
    """The Meltano setting kinds that fit a plugin's JSON Schema for one setting."""
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types) - {"null"}
    if "enum" in schema:
        return {"options"}
    if types == {"string"}:
        return {"date_iso8601"} if schema.get("format") in ("date", "date-time") else {"string"}
    names = {"integer": "integer", "number": "decimal", "boolean": "boolean"}
    names |= {"object": "object", "array": "array"}
    return {names[t] for t in types if t in names} or {"object"}


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_meltano_yml_declares_what_the_plugin_says_about_itself(kind, name):
    declared = _declared(kind, name)
    about = _about(name)
    assert set(declared["capabilities"]) == set(about["capabilities"])

    properties = about["settings"]["properties"]
    names = [s["name"] for s in declared["settings"]]
    assert sorted(n for n in set(names) if names.count(n) > 1) == [], "declared twice"
    settings = {s["name"]: s for s in declared["settings"]}
    assert sorted(set(settings) - set(properties)) == [], "declared, unknown to the plugin"
    assert sorted(set(properties) - set(settings)) == [], "the plugin's, not declared"
    for setting, schema in properties.items():
        entry = settings[setting]
        assert entry.get("kind", "string") in _meltano_kinds(schema), setting
        assert bool(entry.get("sensitive")) == bool(schema.get("secret")), setting
        if "enum" in schema:
            assert [o.get("value") for o in entry["options"]] == schema["enum"], setting
