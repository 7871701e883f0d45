"""The second runner mode: the same job through `meltano run`, with Meltano keeping the state.

Settings reach the plugins as Meltano's own environment variables (`TAP_ORACLE_WMS_<NAME>`,
`TARGET_GRUPONOS_ORACLE_<NAME>`); the state id gets the company and facility as its suffix, so
each facility has its own bookmarks. Counts come from the Singer SDK `record_count` metrics that
Meltano relays: the producer's are the extracted records, the consumer's the loaded ones.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from gruponos_meltano_native.config import ENV_PREFIX, GruponosMeltanoSettings
from gruponos_meltano_native.errors import ExtractError, LoadError, SettingsError
from gruponos_meltano_native.jobs import Job, RunScope
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.runners.child_guard import ChildGuard
from gruponos_meltano_native.runners.exit_messages import exit_message
from gruponos_meltano_native.runners.metric_lines import MARKER, add_to, record_count
from gruponos_meltano_native.runners.runner import PipeResult, ProgressCallback, StreamInfo

log = logging.getLogger(__name__)

TAP = "tap-oracle-wms"
TARGET = "target-gruponos-oracle"
_TELLING = re.compile(r"error|exception|failed|traceback", re.IGNORECASE)


def plugin_env(prefix: str, config: dict[str, Any]) -> dict[str, str]:
    """Meltano's environment variables for a plugin's settings (JSON for non-strings)."""
    return {
        f"{prefix}_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in config.items()
    }


def state_id_suffix(company: str, facility: str) -> str:
    """Return the state id suffix that keeps each company/facility's bookmarks apart."""
    return f"{company}-{facility}"


def meltano_executable(settings: GruponosMeltanoSettings) -> str:
    """Return the Meltano program to run; `SettingsError` naming the setting if not found."""
    name = settings.meltano_executable
    found = shutil.which(name)
    if found is None:
        raise SettingsError(
            f"{ENV_PREFIX}MELTANO_EXECUTABLE: {name!r} is not an executable on PATH (the "
            "README installs Meltano in its own venv: set this to its full path, e.g. "
            f"{ENV_PREFIX}MELTANO_EXECUTABLE=$PWD/.venv-meltano/bin/meltano)"
        )
    return os.path.abspath(found)  # Meltano runs in the project folder: no relative path


class MeltanoRunner:
    """Runs a job's extractor and loader with `meltano run` in the project folder."""

    def __init__(self, settings: GruponosMeltanoSettings, log_dir: Path, redact: Redactor) -> None:
        """Use the Meltano executable and project folder from `settings`."""
        self.settings = settings
        self.project_dir = Path(settings.meltano_project_dir or Path.cwd())
        self.log_dir = log_dir
        self.redact = redact

    def executable(self) -> str:
        """Return the Meltano program to run; `SettingsError` naming the setting if not found."""
        return meltano_executable(self.settings)

    def command(self, scope: RunScope) -> list[str]:
        """Return the `meltano run` command line for a job."""
        return [
            self.executable(),
            "--environment",
            self.settings.environment,
            "run",
            "--state-id-suffix",
            state_id_suffix(scope.company, scope.facility),
            scope.job.meltano_extractor,
            TARGET,
        ]

    def run(
        self,
        scope: RunScope,
        tap_config: dict[str, Any],
        target_config: dict[str, Any],
        on_progress: ProgressCallback | None = None,
    ) -> PipeResult:
        """Run the job; raise `ExtractError`/`LoadError` naming what Meltano reported.

        Should this process die (kill -9 included), Meltano and its plugins die with it.
        """
        with ChildGuard() as self._guard:
            return self._run(scope, tap_config, target_config, on_progress)

    def _run(
        self,
        scope: RunScope,
        tap_config: dict[str, Any],
        target_config: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> PipeResult:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **plugin_env("TAP_ORACLE_WMS", tap_config),
            **plugin_env("TARGET_GRUPONOS_ORACLE", target_config),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_COLOR": "1",
        }
        # Meltano masks secrets when printing config: those come from the orchestrator's own.
        effective_tap_config = {
            **self._effective_config(scope.job.meltano_extractor, env),
            **tap_config,
        }
        started = time.monotonic()
        extracted: dict[str, int] = {}
        loaded: dict[str, int] = {}
        states = 0
        tail: list[str] = []
        try:
            process = subprocess.Popen(
                self.command(scope),
                cwd=self.project_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExtractError(f"cannot start {self.settings.meltano_executable}: {exc}") from None
        self._guard.watch(process.pid)
        assert process.stdout is not None
        with (self.log_dir / "meltano.log").open("w", encoding="utf-8") as out:
            for raw in process.stdout:
                line = self.redact(raw.decode("utf-8", "replace").rstrip())
                out.write(line + "\n")
                tail = [*tail[-199:], line]
                increment = record_count(line)
                if increment is not None:
                    # Meltano names the plugin that wrote each relayed line (before the
                    # message, or as tags): the consumer's counts are the loaded ones.
                    before = line[: line.index(MARKER)]
                    consumer = TARGET in before or "consumer=True" in line
                    add_to(loaded if consumer else extracted, increment)
                    if on_progress:
                        on_progress(extracted, time.monotonic() - started)
                elif "state has been updated" in line.lower():
                    states += 1
        code = process.wait()
        duration = time.monotonic() - started
        if code != 0:
            # Meltano ends with its own summary; the plugin's error is further up.
            telling = [ln for ln in tail if _TELLING.search(ln)][-12:] or tail[-8:]
            error = ExtractError if "Extractor failed" in "\n".join(telling) else LoadError
            raise error(
                exit_message("meltano run", code, telling, detail=12)
                + f"\n(meltano's output: {self.log_dir / 'meltano.log'})"
            )
        return PipeResult(
            extracted=extracted,
            loaded=loaded,
            streams=self._streams(scope.job),
            states_committed=states,
            last_state=None,
            duration_seconds=duration,
            tap_exit=0,
            target_exit=0,
            tap_config=effective_tap_config,
        )

    def _effective_config(self, plugin: str, env: dict[str, str]) -> dict[str, Any]:
        # meltano.yml adds its own settings (e.g. entity_filters); the checks need the same.
        command = [self.executable(), "--environment", self.settings.environment]
        result = subprocess.run(
            [*command, "config", "print", plugin],
            cwd=self.project_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ExtractError(
                f"meltano config print {plugin} failed:\n{self.redact(result.stderr[-2000:])}"
            )
        return dict(json.loads(result.stdout))

    def _streams(self, job: Job) -> dict[str, StreamInfo]:
        # The catalog Meltano handed to the tap gives each stream's key and properties.
        path = self.project_dir / ".meltano" / "run" / job.meltano_extractor / "tap.properties.json"
        try:
            catalog = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        streams = {}
        for entry in catalog.get("streams", []):
            name = entry.get("tap_stream_id") or entry.get("stream")
            properties = (entry.get("schema") or {}).get("properties") or {}
            streams[name] = StreamInfo(list(entry.get("key_properties") or []), set(properties))
        return streams
