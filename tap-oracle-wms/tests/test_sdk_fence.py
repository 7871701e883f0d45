"""The SDK fence: the private singer-sdk names the tap relies on are checked at start-up."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from singer_sdk import Tap
from singer_sdk.io_base import SingerWriter
from singer_sdk.streams import Stream
from tap_oracle_wms import messages as messages_module
from tap_oracle_wms import sdk
from tap_oracle_wms import streams as streams_module
from tap_oracle_wms import tap as tap_module
from tap_oracle_wms.errors import IncompatibleSDKError


def test_the_check_names_every_missing_method_and_constructor_attribute():
    class Renamed:
        def __init__(self) -> None:
            self._tap = None

        def _write_schema_message(self) -> None: ...

    with pytest.raises(IncompatibleSDKError) as caught:
        sdk.check(
            {Renamed: ("_write_schema_message", "_write_record_message")},
            {Renamed: ("_tap", "_stream_version")},
        )
    message = str(caught.value)
    assert "lacks Renamed._write_record_message, Renamed._stream_version;" in message
    assert 'pip install "singer-sdk>=0.54,<0.55"' in message
    sdk.check()  # the installed SDK has them all


@pytest.mark.parametrize(
    ("module", "cls", "name"),
    [
        ("singer_sdk.streams", "Stream", "_increment_stream_state"),
        ("singer_sdk", "Tap", "_reset_state_progress_markers"),
    ],
)
def test_an_incompatible_sdk_stops_the_command_at_start_with_one_line(module, cls, name):
    script = (
        f"from {module} import {cls}\n"
        f"del {cls}.{name}\n"
        "from tap_oracle_wms.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "--about"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tap-oracle-wms: needs singer-sdk 0.54.x, but the installed singer-sdk "
        f"{sdk._sdk_version()} lacks {cls}.{name}; install the tested "
        'series: pip install "singer-sdk>=0.54,<0.55"'
    ]


def test_flattening_takes_the_sdk_path_and_leaves_flat_records_as_they_are(
    sim, config_for, run_tap
):
    plain = run_tap(config_for(sim, entities=["order_hdr"]))
    flat = run_tap(
        config_for(sim, entities=["order_hdr"], flattening_enabled=True, flattening_max_depth=2)
    )
    assert plain.returncode == flat.returncode == 0, flat.stderr
    # Sorted: id ranges read in parallel arrive in no fixed order between runs.
    flat_records = sorted(flat.records["order_hdr"], key=lambda r: r["id"])
    assert flat_records == sorted(plain.records["order_hdr"], key=lambda r: r["id"])
    assert len(flat.records["order_hdr"]) == sim.count("order_hdr")


def _private_names_used(tree: ast.AST) -> set[str]:
    """`_name`s a module defines as methods or reads as attributes (not dunders)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _sdk_private_names() -> set[str]:
    """Private names of the singer-sdk classes the tap builds on (methods and attributes)."""
    names: set[str] = set()
    for cls in (Tap, Stream, SingerWriter):
        for klass in cls.__mro__:
            if klass.__module__.startswith("singer_sdk"):
                names |= {n for n in vars(klass) if n.startswith("_")}
                init = vars(klass).get("__init__")
                if init is not None:
                    source = inspect.getsource(init)
                    names |= set(re.findall(r"self\.(_[a-z]\w*)\s*[:=]", source))
    return {n for n in names if not n.startswith("__")}


def test_only_the_fence_module_uses_private_sdk_names():
    package = Path(sdk.__file__).parent
    sdk_names = _sdk_private_names()
    offenders = {}
    # The simulator is a WMS server of its own: it holds no SDK object.
    for path in sorted(package.glob("*.py")):
        if path.name == "sdk.py":
            continue
        used = _private_names_used(ast.parse(path.read_text())) & sdk_names
        if used:
            offenders[str(path.relative_to(package))] = sorted(used)
    assert not offenders, f"private singer-sdk names outside sdk.py: {offenders}"
    # And everything the fence module uses is listed (so it is checked at import).
    listed = {n for names in sdk.PRIVATE_METHODS.values() for n in names}
    listed |= {n for names in sdk.PRIVATE_ATTRIBUTES.values() for n in names}
    fence_uses = _private_names_used(ast.parse(Path(sdk.__file__).read_text())) & sdk_names
    assert fence_uses <= listed, sorted(fence_uses - listed)


def test_no_class_of_the_tap_overrides_what_the_sdk_declares_final():
    overridden = []
    for module in (tap_module, streams_module, sdk, messages_module):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and cls.__module__ == module.__name__):
                continue
            for base in cls.__mro__[1:]:
                if not base.__module__.startswith("singer_sdk"):
                    continue
                for name, value in vars(base).items():
                    target = getattr(value, "fget", value)
                    if getattr(target, "__final__", False) and name in vars(cls):
                        overridden.append(f"{cls.__name__}.{name} ({base.__name__})")
    assert not overridden, f"overrides of final SDK methods: {overridden}"
