"""Every `GRUPONOS_MELTANO_*` name a user sets is a setting we know, or an error naming it.

pydantic-settings ignores names it does not know, so a typo (`…_ENVIROMENT=prod`) would
silently leave a run in `dev`. Forbidding extra fields would not help: it misses the
environment, and it would refuse the `.env` lines meant for Meltano (`TAP_ORACLE_WMS_*`,
which meltano.yml tells users to keep there). So the names with our prefix are compared,
case-insensitively as pydantic-settings reads them, with the names the settings model has.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel

from gruponos_meltano_native.errors import SettingsError


def known_names(model: type[BaseModel], prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
    """Return the variable names of `model`'s settings, and those that take nested keys.

    A group (`ORACLE_WMS`) is a name of its own (its fields as JSON) and gives one name per
    field (`ORACLE_WMS__BASE_URL`); a mapping field takes any key below it.
    """
    names: set[str] = set()
    open_ended: set[str] = set()
    for name, field in model.model_fields.items():
        for spelled in {name, field.alias or name}:
            full = (prefix + spelled).upper()
            names.add(full)
            annotation = field.annotation
            group = next(
                (
                    kind
                    for kind in (annotation, *typing.get_args(annotation))
                    if isinstance(kind, type) and issubclass(kind, BaseModel)
                ),
                None,
            )
            if group is not None:
                inner, nested = known_names(group, full + delimiter, delimiter)
                names |= inner
                open_ended |= nested
            elif dict in {typing.get_origin(kind) for kind in typing.get_args(annotation)}:
                open_ended.add(full)
    return names, open_ended


def unknown_names(
    given: Iterable[str], model: type[BaseModel], prefix: str, delimiter: str
) -> list[tuple[str, str | None]]:
    """Return each name with our prefix that `model` does not know, with its nearest known."""
    names, open_ended = known_names(model, prefix, delimiter)
    unknown = []
    for name in given:
        upper = name.upper()
        if not upper.startswith(prefix.upper()) or upper in names:
            continue
        if any(upper.startswith(base + delimiter) for base in open_ended):
            continue
        # Compared without the prefix, which every name shares.
        start = len(prefix)
        tails = sorted(known[start:] for known in names)
        nearest = difflib.get_close_matches(upper[start:], tails, n=1, cutoff=0.7)
        unknown.append((name, prefix.upper() + nearest[0] if nearest else None))
    return unknown


def check_setting_names(
    model: type[BaseModel],
    prefix: str,
    delimiter: str,
    env_file: Path | None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Raise `SettingsError` naming every unknown `prefix*` name in the environment or .env."""
    sources = [("the environment", list(os.environ if environ is None else environ))]
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        sources.append((str(env_file), list(dotenv_values(env_file))))
    problems = []
    for where, given in sources:
        for name, nearest in unknown_names(given, model, prefix, delimiter):
            hint = f"; did you mean {nearest}?" if nearest else ""
            problems.append(f"{name} (in {where}) is not a setting{hint}")
    if problems:
        raise SettingsError(
            "unknown settings:\n  "
            + "\n  ".join(problems)
            + "\n(the README's Settings section lists every setting)"
        )
